"""Intake of submissions, in the trusted parent: safe unzip, find the work, read the notebooks.

Nothing here executes or imports student code. A submission (a folder or a ``.zip`` named after
the student) becomes a clean working folder::

    <workdir>/assignment/*.py        the student's package (Python files only)
    <workdir>/<notebook>.ipynb       the notebooks found, byte for byte

plus a `Submission` record: the notebooks as read (and, for the course, with nbgrader's cell
metadata restored from the released notebook), the inline answers found, and the problems found,
in words for the student.

Zip safety: entries with ``..``, absolute paths, drive letters or symbolic links are skipped and
reported; the number of entries, the total uncompressed size and each file's size are capped
(checked on the declared sizes first, then on the bytes actually written, since declared sizes can
lie); a corrupt zip is reported, not raised. A single top-level folder (or any nesting) is
handled by looking for the folder that holds ``assignment/`` or a notebook.

Notebooks whose cells lost their nbgrader metadata (Google Colab can do this when it saves) are
detected: nbgrader itself would silently score them 0. Their cells are matched against the
released notebook by content and position, so the inline answers are usually still found.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import shutil
import stat
import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.grading.layouts import STUDENT_ID_RE  # noqa: F401 - student ids: folder names, gradebook keys
from autograder.sandbox.containment import size_text
from autograder.sandbox.runner import MAX_SOURCE_BYTES

#: Skipped quietly wherever they are: caches and OS litter.
_LITTER_DIRS = {"__pycache__", ".ipynb_checkpoints", "__MACOSX", ".git", ".venv", "venv"}
_LITTER_FILES = {".DS_Store", "Thumbs.db"}

#: Output types kept in the notebook copy the TAs see (no HTML/JavaScript from student files).
_SAFE_OUTPUT_TYPES = ("text/plain", "image/png", "image/jpeg", "text/latex", "text/markdown")


class IntakeError(Exception):
    """A problem with the submissions folder as a whole (not with one student's submission)."""


@dataclass(frozen=True)
class IntakeLimits:
    max_entries: int = 5000
    max_total_bytes: int = 300 * 2**20
    max_file_bytes: int = 100 * 2**20
    # one .py file of assignment/: the runner's limit, so that what intake accepts is graded
    max_package_file_bytes: int = MAX_SOURCE_BYTES


@dataclass
class Answer:
    """An inline answer (manual grade cell) of the released notebook, as found in the submission."""

    grade_id: str
    found: str  # "metadata" | "position" | "missing"
    text: str = ""
    answered: bool = False  # differs from the released placeholder


@dataclass
class NotebookIntake:
    name: str
    status: str  # "ok" | "missing" | "invalid" | "stripped"
    message: str = ""
    path: Path | None = None  # in the working folder
    notebook: dict | None = None  # for the course: metadata restored, unsafe outputs dropped
    answers: dict[str, Answer] = field(default_factory=dict)


@dataclass
class Submission:
    student: str
    origin: Path
    workdir: Path
    name: str | None = None  # the student's full name, where the submission layout gives it
    has_package: bool = False
    notebooks: dict[str, NotebookIntake] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# Finding the submissions
# --------------------------------------------------------------------------------------------------


def discover(submissions: Path | str, assignment: str = "normalization"):
    """Every submission in ``submissions`` as an `autograder.grading.layouts.Roster` (plain folders
    and zips, nbgrader's submitted/ tree, Canvas's and Moodle's bulk downloads), with the notes the
    instructor should read (duplicates, ids that disagree, files skipped).

    Raises IntakeError when the folder is missing or nothing in it can be told apart.
    """
    from autograder.grading.layouts import LayoutError, read_roster

    try:
        return read_roster(submissions, assignment)
    except LayoutError as exc:
        raise IntakeError(str(exc)) from None


# --------------------------------------------------------------------------------------------------
# Getting the files into a working folder
# --------------------------------------------------------------------------------------------------


def _is_litter(parts: tuple[str, ...]) -> bool:
    return bool(_LITTER_DIRS.intersection(parts)) or parts[-1] in _LITTER_FILES or (
        parts[-1].startswith("._")  # macOS resource forks
    ) or parts[-1].endswith((".pyc", ".pyo"))


def _is_data(parts: tuple[str, ...]) -> bool:
    return "datasets" in parts[:-1] or parts[-1].endswith(".tar.gz")


def _unsafe_name(name: str) -> str | None:
    """Why a zip entry name is unsafe to extract, or None."""
    if "\x00" in name:
        return "contains a NUL character"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "is an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "climbs out of the folder (..)"
    return None


def extract_zip(zip_path: Path, dest: Path, limits: IntakeLimits) -> list[str]:
    """Extract a student's zip safely into ``dest``; return the problems, in words.

    Never writes outside ``dest``; stops at the first cap exceeded (the zip is then not used).
    """
    problems: list[str] = []
    name = zip_path.name
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return [f"{name} is not a readable zip file ({exc}); create it again with "
                "`python collect_submission.py` and resubmit"]
    skipped_data = 0
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            return [f"{name} has {len(infos)} entries, more than the {limits.max_entries} "
                    "allowed; submit only your notebook(s) and assignment/ "
                    "(collect_submission.py does that)"]
        declared = 0
        plan = []
        for info in infos:
            entry = info.filename
            why = _unsafe_name(entry)
            if why:
                problems.append(f"{name}: ignored the entry {entry!r}: its name {why}")
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                problems.append(f"{name}: ignored {entry!r}: symbolic links are not accepted")
                continue
            parts = tuple(p for p in PurePosixPath(entry.replace("\\", "/")).parts if p != ".")
            if not parts or info.is_dir() or _is_litter(parts):
                continue
            if _is_data(parts):
                skipped_data += 1
                continue
            if info.file_size > limits.max_file_bytes:
                return problems + [
                    f"{name}: {entry} would unpack to {info.file_size} bytes, more than the "
                    f"{limits.max_file_bytes} allowed for one file; the zip was not used"
                ]
            declared += info.file_size
            plan.append((info, parts))
        if declared > limits.max_total_bytes:
            return problems + [
                f"{name} would unpack to {declared} bytes, more than the {limits.max_total_bytes} "
                "allowed (a zip bomb, or data files?); the zip was not used"
            ]
        written = 0
        for info, parts in plan:
            target = dest.joinpath(*parts)
            try:
                target.resolve().relative_to(dest.resolve())
            except ValueError:  # pragma: no cover - _unsafe_name rejects these first
                problems.append(f"{name}: ignored {info.filename!r}: outside the folder")
                continue
            if target.exists() and target.is_dir():
                problems.append(f"{name}: ignored {info.filename!r}: a folder has that name")
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as source, target.open("wb") as sink:
                    remaining = min(limits.max_file_bytes, limits.max_total_bytes - written)
                    while True:
                        chunk = source.read(1 << 16)
                        if not chunk:
                            break
                        remaining -= len(chunk)
                        written += len(chunk)
                        if remaining < 0:
                            return problems + [
                                f"{name}: {info.filename} unpacks to more bytes than the zip "
                                "declares and than allowed (a zip bomb?); the zip was not used"
                            ]
                        sink.write(chunk)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError,
                    NotImplementedError, RuntimeError) as exc:
                # RuntimeError: encrypted entries; NotImplementedError: unknown compression.
                problems.append(f"{name}: could not unpack {info.filename} ({exc}); that file "
                                "is missing from your submission")
                target.unlink(missing_ok=True)
    if skipped_data:
        problems.append(f"{name}: ignored {skipped_data} data file(s) (datasets/ is not graded)")
    return problems


def copy_folder(source: Path, dest: Path, limits: IntakeLimits) -> list[str]:
    """Copy a submission folder without following symbolic links, with the zip's caps."""
    problems: list[str] = []
    total = count = 0
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        parts = rel.parts
        if _is_litter(parts) or _is_data(parts):
            continue
        if path.is_symlink():
            problems.append(f"ignored {rel.as_posix()}: symbolic links are not accepted")
            continue
        if any((source / Path(*parts[:i])).is_symlink() for i in range(1, len(parts))):
            continue  # inside a linked folder, reported above
        if not path.is_file():
            continue
        size = path.stat().st_size
        count += 1
        total += size
        if count > limits.max_entries or total > limits.max_total_bytes \
                or size > limits.max_file_bytes:
            return problems + [
                f"the submission folder is larger than allowed ({limits.max_entries} files, "
                f"{limits.max_total_bytes} bytes); submit only your notebook(s) and assignment/"
            ]
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return problems


def _find_root(base: Path, notebooks: tuple[str, ...]) -> Path:
    """The shallowest folder under ``base`` holding ``assignment/`` or a configured notebook."""
    wanted = {n.lower() for n in notebooks}
    best = None
    for path in sorted(base.rglob("*"), key=lambda p: (len(p.parts), str(p))):
        if path.is_dir() and path.name == "assignment" and any(path.glob("*.py")) or (
            path.is_file() and path.name.lower() in wanted
        ):
            best = path.parent
            break
    return best or base


def _find_notebook(root: Path, name: str) -> tuple[Path | None, str]:
    """Where the notebook ``name`` is, and a note if it was found by a looser rule."""
    exact = root / name
    if exact.is_file():
        return exact, ""
    candidates = sorted(
        (p for p in root.rglob("*.ipynb") if not _is_litter(p.relative_to(root).parts)),
        key=lambda p: (len(p.parts), str(p)),
    )
    for path in candidates:
        if path.name == name or path.name.lower() == name.lower():
            return path, f"found {name} at {path.relative_to(root).as_posix()}"
    stem = Path(name).stem.lower()
    similar = [p for p in candidates if stem in p.stem.lower()]  # "Copy of X", "X (1)"
    if len(similar) == 1:
        rel = similar[0].relative_to(root).as_posix()
        return similar[0], f"{name} was not found; used {rel} instead"
    return None, ""


# --------------------------------------------------------------------------------------------------
# Notebooks
# --------------------------------------------------------------------------------------------------


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _nbmeta(cell: dict) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    value = meta.get("nbgrader") if isinstance(meta, dict) else None
    return value if isinstance(value, dict) else {}


def _is_manual(meta: dict) -> bool:
    return bool(meta.get("grade")) and bool(meta.get("solution")) or bool(meta.get("task"))


def _key(cell: dict) -> tuple[str, str]:
    return cell.get("cell_type", ""), " ".join(_source(cell).split())


def match_cells(release: dict, student: dict) -> dict[int, tuple[int, str]]:
    """Map each release cell that has nbgrader metadata to a student cell.

    ``{release index: (student index, how)}`` with ``how`` "metadata" (same grade_id, the first
    cell of the student's with it), "content" (identical text) or "position" (the cell of the
    same type between the same matched neighbours).
    """
    rcells, scells = release["cells"], student["cells"]
    pairs: dict[int, tuple[int, str]] = {}
    used: set[int] = set()
    by_id: dict[str, int] = {}
    for j, cell in enumerate(scells):
        grade_id = _nbmeta(cell).get("grade_id")
        if grade_id and grade_id not in by_id:
            by_id[grade_id] = j
    for i, cell in enumerate(rcells):
        grade_id = _nbmeta(cell).get("grade_id")
        j = by_id.get(grade_id) if grade_id else None
        if j is not None and scells[j].get("cell_type") == cell.get("cell_type"):
            pairs[i] = (j, "metadata")
            used.add(j)

    # Anchors: identical cells in the same order (questions, given code, untouched answers).
    matcher = difflib.SequenceMatcher(
        None, [_key(c) for c in rcells], [_key(c) for c in scells], autojunk=False
    )
    anchors: dict[int, int] = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            i, j = block.a + k, block.b + k
            if j in used and pairs.get(i, (None,))[0] != j:
                continue
            anchors[i] = j
            if _nbmeta(rcells[i]) and i not in pairs:
                pairs[i] = (j, "content")
                used.add(j)
    for i, (j, _) in pairs.items():
        anchors.setdefault(i, j)

    # Position: an unmatched cell between two anchors takes the student cell of its type there.
    ordered = sorted(anchors.items())
    for i, cell in enumerate(rcells):
        if i in pairs or not _nbmeta(cell):
            continue
        before = [(a, b) for a, b in ordered if a < i]
        after = [(a, b) for a, b in ordered if a > i]
        lo_r, lo_s = before[-1] if before else (-1, -1)
        hi_r, hi_s = after[0] if after else (len(rcells), len(scells))
        if hi_s <= lo_s:
            continue
        waiting = [k for k in range(lo_r + 1, hi_r) if _nbmeta(rcells[k]) and k not in pairs]
        candidates = [
            j for j in range(lo_s + 1, hi_s)
            if j not in used and scells[j].get("cell_type") == cell.get("cell_type")
            and not _nbmeta(scells[j]).get("grade_id")
        ]
        if not candidates:
            continue
        if len(waiting) == len(candidates):
            j = candidates[waiting.index(i)]
        elif len(waiting) == 1:
            first = _source(cell).strip().splitlines()[:1]
            same_start = [j for j in candidates
                          if first and _source(scells[j]).strip().startswith(first[0])]
            j = (same_start or candidates)[0]
        else:
            continue
        pairs[i] = (j, "position")
        used.add(j)
    return pairs


def _safe_outputs(cell: dict) -> None:
    """Keep only plain outputs (text, images) in the copy the TAs open in their browser."""
    if cell.get("cell_type") != "code":
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
        return
    kept = []
    for output in cell.get("outputs", []) or []:
        if not isinstance(output, dict):
            continue
        kind = output.get("output_type")
        if kind in ("stream", "error"):
            kept.append(output)
        elif kind in ("display_data", "execute_result"):
            data = {k: v for k, v in (output.get("data") or {}).items() if k in _SAFE_OUTPUT_TYPES}
            if data:
                kept.append({**output, "data": data})
    cell["outputs"] = kept


def restore_notebook(release: dict, student: dict, pairs: dict[int, tuple[int, str]]) -> dict:
    """The student's notebook with nbgrader metadata of the release cells restored.

    Matched cells get the release cell's nbgrader metadata (and lock flags); locked cells that
    are not answers get the release text back (as nbgrader's OverwriteCells does); nbgrader
    metadata on unmatched student cells is removed; release cells with metadata that have no
    match are inserted after their matched predecessor, so formgrader can show every grade cell.
    """
    out = copy.deepcopy(student)
    rcells = release["cells"]
    cells = out["cells"]
    by_student = {j: i for i, (j, _) in pairs.items()}
    for j, cell in enumerate(cells):
        if not isinstance(cell, dict):
            cells[j] = {"cell_type": "raw", "metadata": {}, "source": ""}
            cell = cells[j]
        cell.setdefault("metadata", {})
        if not isinstance(cell["metadata"], dict):
            cell["metadata"] = {}
        cell["metadata"].pop("nbgrader", None)
        if j in by_student:
            source_cell = rcells[by_student[j]]
            meta = copy.deepcopy(_nbmeta(source_cell))
            cell["metadata"]["nbgrader"] = meta
            for flag in ("deletable", "editable"):
                if flag in source_cell.get("metadata", {}):
                    cell["metadata"][flag] = source_cell["metadata"][flag]
            if meta.get("locked") and not meta.get("solution"):
                cell["source"] = source_cell.get("source", "")
        _safe_outputs(cell)
    # Insert the release cells that are missing, after the cell matched to their predecessor.
    inserts: dict[int, list[dict]] = {}
    last = -1
    for i, rcell in enumerate(rcells):
        if i in pairs:
            last = pairs[i][0]
            continue
        if not _nbmeta(rcell):
            continue
        missing = copy.deepcopy(rcell)
        missing["id"] = uuid.uuid4().hex[:8]
        if _is_manual(_nbmeta(rcell)):
            missing["source"] = "*(This answer cell was not found in the submission.)*"
        _safe_outputs(missing)
        inserts.setdefault(last, []).append(missing)
    result = list(inserts.get(-1, []))
    for j, cell in enumerate(cells):
        result.append(cell)
        result.extend(inserts.get(j, []))
    seen: set[str] = set()
    for cell in result:
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not cell_id or cell_id in seen:
            cell["id"] = uuid.uuid4().hex[:8]
        seen.add(cell["id"])
    out["cells"] = result
    out.setdefault("metadata", {})
    out.setdefault("nbformat", 4)
    out["nbformat_minor"] = max(int(out.get("nbformat_minor", 5) or 5), 5)
    return out


def read_notebook(path: Path, name: str, release: dict | None, limits: IntakeLimits
                  ) -> NotebookIntake:
    """Validate a submitted notebook without executing it, and find its inline answers."""
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        return NotebookIntake(name, "invalid", f"{name} is {size} bytes, more than allowed", path)
    raw = path.read_bytes()
    try:
        nb = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return NotebookIntake(name, "invalid", f"{name} is not a text file (not UTF-8), so not "
                              "a notebook; save it again from Jupyter and resubmit", path)
    except json.JSONDecodeError as exc:
        return NotebookIntake(
            name, "invalid",
            f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}), so it "
            "is not a notebook Jupyter can open; was it saved completely? Your inline answers "
            "could not be read.", path,
        )
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return NotebookIntake(name, "invalid", f"{name} is JSON but not a Jupyter notebook (no "
                              "list of cells); your inline answers could not be read.", path)
    nb["cells"] = [c for c in nb["cells"] if isinstance(c, dict)]
    if release is None:
        return NotebookIntake(name, "ok", "", path, nb)

    rcells = release["cells"]
    pairs = match_cells(release, nb)
    manual = {i: _nbmeta(c)["grade_id"] for i, c in enumerate(rcells)
              if _nbmeta(c).get("grade_id") and _is_manual(_nbmeta(c))}
    graded_ids = {_nbmeta(c).get("grade_id") for c in rcells if _nbmeta(c).get("grade")}
    kept_ids = {_nbmeta(c).get("grade_id") for c in nb["cells"]} & graded_ids
    answers = {}
    for i, grade_id in manual.items():
        if i in pairs:
            j, how = pairs[i]
            text = _source(nb["cells"][j])
            answered = " ".join(text.split()) != " ".join(_source(rcells[i]).split())
            answers[grade_id] = Answer(grade_id, "metadata" if how == "metadata" else "position",
                                       text, answered)
        else:
            answers[grade_id] = Answer(grade_id, "missing")

    status, message = "ok", ""
    lost = [a.grade_id for a in answers.values() if a.found == "missing"]
    if graded_ids and not kept_ids:
        status = "stripped"
        if not manual:
            outcome = "there were no inline answers to match"
        elif not lost:
            outcome = "your inline answers were matched by position"
        elif len(lost) == len(manual):
            outcome = "your inline answers could not be matched"
        else:
            outcome = (f"your inline answers were matched by position, except "
                       f"{', '.join(lost)}, which could not be matched")
        message = (
            f"{name}: your notebook lost its nbgrader cell metadata (Colab can do this when it "
            f"saves); {outcome}. Your code in assignment/ is graded as usual. Next time, copy "
            "your answers into a fresh copy of the released notebook before submitting."
        )
    elif lost:
        message = (f"{name}: the answer cell(s) {', '.join(lost)} are missing (deleted or "
                   "re-created?), so those inline answers could not be found")
    restored = restore_notebook(release, nb, pairs)
    return NotebookIntake(name, status, message, path, restored, answers)


# --------------------------------------------------------------------------------------------------
# One submission
# --------------------------------------------------------------------------------------------------


def load_release_notebooks(release_dir: Path, names: tuple[str, ...]) -> dict[str, dict]:
    notebooks = {}
    for name in names:
        path = Path(release_dir) / name
        if not path.is_file():
            raise IntakeError(f"{path}: the released notebook is missing; run the release first")
        notebooks[name] = json.loads(path.read_text(encoding="utf-8"))
    return notebooks


def prepare(
    student: str,
    origin: Path,
    notebook_names: tuple[str, ...],
    release_notebooks: dict[str, dict] | None = None,
    *,
    limits: IntakeLimits = IntakeLimits(),
    tmp_root: Path | None = None,
) -> Submission:
    """Unpack/copy one submission into a fresh working folder and read its notebooks.

    Never raises for problems of the submission itself: they end up in ``problems``.
    """
    origin = Path(origin)
    workdir = Path(tempfile.mkdtemp(prefix=f"normlab-{student}-", dir=tmp_root))
    sub = Submission(student, origin, workdir)
    unpacked = workdir / "_unpacked"
    unpacked.mkdir()
    if origin.is_dir():
        sub.problems += copy_folder(origin, unpacked, limits)
    else:
        sub.problems += extract_zip(origin, unpacked, limits)
    unreadable = bool(sub.problems) and not any(p.is_file() for p in unpacked.rglob("*"))
    root = _find_root(unpacked, notebook_names)

    package = root / "assignment"
    if package.is_dir():
        target = workdir / "assignment"
        target.mkdir()
        for path in sorted(package.rglob("*.py")):
            rel = path.relative_to(package)
            if _is_litter(rel.parts) or path.is_symlink():
                continue
            if path.stat().st_size > limits.max_package_file_bytes:
                sub.problems.append(f"assignment/{rel.as_posix()} is larger than "
                                    f"{size_text(limits.max_package_file_bytes)} and was not "
                                    f"graded")
                continue
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / rel)
        sub.has_package = any(target.glob("*.py"))
    # No assignment/: the grading job says so (and scores every check 0).

    for name in notebook_names:
        path, note = _find_notebook(root, name)
        if path is None:
            if unreadable:  # said above: the whole submission could not be read
                sub.notebooks[name] = NotebookIntake(name, "missing", (
                    f"{name} could not be read because the submission could not be unpacked"))
                continue
            sub.notebooks[name] = NotebookIntake(name, "missing", (
                f"{name} is missing from the submission: your inline answers could not be "
                "graded (your code in assignment/ is graded as usual)"
            ))
            sub.problems.append(sub.notebooks[name].message)
            continue
        if note:
            sub.problems.append(note)
        copied = workdir / name
        shutil.copyfile(path, copied)
        release = (release_notebooks or {}).get(name)
        intake = read_notebook(copied, name, release, limits)
        sub.notebooks[name] = intake
        if intake.message:
            sub.problems.append(intake.message)
    shutil.rmtree(unpacked, ignore_errors=True)
    return sub
