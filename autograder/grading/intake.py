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

import json
import logging
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.grading.layouts import STUDENT_ID_RE  # noqa: F401 - student ids: folder names, gradebook keys
from autograder.grading.notebooks import NotebookIntake, read_notebook
from autograder.sandbox.containment import size_text

log = logging.getLogger(__name__)

#: Skipped quietly wherever they are: caches and OS litter.
_LITTER_DIRS = {"__pycache__", ".ipynb_checkpoints", "__MACOSX", ".git", ".venv", "venv"}
_LITTER_FILES = {".DS_Store", "Thumbs.db"}

#: The student's package as the sandboxed child gets it (`copy_package`; the runner places this
#: copy into the job folder as it is): .py files of at most MAX_SOURCE_BYTES each, at most
#: MAX_PACKAGE_FILES files and MAX_PACKAGE_BYTES in all, in folders at most MAX_PACKAGE_DEPTH
#: deep whose names are Python identifiers.
MAX_SOURCE_BYTES = 1 * 2**20
MAX_PACKAGE_BYTES = 16 * 2**20
MAX_PACKAGE_FILES = 300
MAX_PACKAGE_DEPTH = 4


class IntakeError(Exception):
    """A problem with the submissions folder as a whole (not with one student's submission)."""


@dataclass(frozen=True)
class IntakeLimits:
    max_entries: int = 5000
    max_total_bytes: int = 300 * 2**20
    max_file_bytes: int = 100 * 2**20
    # assignment/, the copy the child gets (what intake accepts is what is graded)
    max_package_file_bytes: int = MAX_SOURCE_BYTES
    max_package_files: int = MAX_PACKAGE_FILES
    max_package_bytes: int = MAX_PACKAGE_BYTES
    max_package_depth: int = MAX_PACKAGE_DEPTH


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


def is_litter(parts: tuple[str, ...]) -> bool:
    return bool(_LITTER_DIRS.intersection(parts)) or parts[-1] in _LITTER_FILES or (
        parts[-1].startswith("._")  # macOS resource forks
    ) or parts[-1].endswith((".pyc", ".pyo"))


def is_data(parts: tuple[str, ...]) -> bool:
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
            if not parts or info.is_dir() or is_litter(parts):
                continue
            if is_data(parts):
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
        if is_litter(parts) or is_data(parts):
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


def _child_importable(rel: PurePosixPath | Path, max_depth: int) -> bool:
    """Whether the child gets ``rel`` (a .py file of the package): no hidden file, no hidden or
    cache folder, folders that are Python identifiers, at most ``max_depth`` of them."""
    *folders, name = rel.parts
    return not name.startswith(".") and len(folders) <= max_depth and all(
        f.isidentifier() and f != "__pycache__" for f in folders)


def copy_package(package: Path, dest: Path, limits: IntakeLimits) -> list[str]:
    """The one copy of the student's package: what the sandboxed child gets, as it gets it.

    Regular ``.py`` files only (no links, no litter), each at most ``max_package_file_bytes``
    (a larger one is a problem, in words for the student), where the child can import them
    (`_child_importable`); at most ``max_package_files`` files and ``max_package_bytes`` in all,
    in name order (the rest is left out). Returns the problems.
    """
    problems: list[str] = []
    dest.mkdir()
    files = total = 0
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if is_litter(rel.parts) or path.is_symlink() or not path.is_file():
            continue
        size = path.stat().st_size
        if size > limits.max_package_file_bytes:
            problems.append(f"assignment/{rel.as_posix()} is larger than "
                            f"{size_text(limits.max_package_file_bytes)} and was not graded")
            continue
        if not _child_importable(rel, limits.max_package_depth):
            continue
        files += 1
        total += size
        if files > limits.max_package_files or total > limits.max_package_bytes:
            log.info("package too big, the rest is not copied: %s", path)
            break
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest / rel)
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
        (p for p in root.rglob("*.ipynb") if not is_litter(p.relative_to(root).parts)),
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
        sub.problems += copy_package(package, target, limits)
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
        intake = read_notebook(copied, name, release, limits.max_file_bytes)
        sub.notebooks[name] = intake
        if intake.message:
            sub.problems.append(intake.message)
    shutil.rmtree(unpacked, ignore_errors=True)
    return sub
