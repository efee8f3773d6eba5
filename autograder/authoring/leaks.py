"""The leak scan: what a student release must not contain, and `scan_release`, which looks.

`Secrets.collect` gathers the secrets of a release: the lines of the selected solution regions
of ``solutions/`` (less the lines the generated stubs also have: those are given code), the lines
between solution or hidden-test markers in the source notebooks, the digests of every file of
``solutions/`` and ``autograder/``, and the points the grade cells must have. `scan_release`
reads every file of the written folder and of its zip and lists each finding (an empty list: the
release may be handed out); `autograder.authoring.release` refuses a release with any.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from autograder.authoring import stubgen
from autograder.authoring.regions import find_regions
from autograder.config import REPO_ROOT

SOLUTIONS_DIR = REPO_ROOT / "solutions"
AUTOGRADER_DIR = REPO_ROOT / "autograder"

_MARKER_STRINGS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
_FORBIDDEN_DIRS = ("solutions", "autograder", "references", "__pycache__", ".git")
_FORBIDDEN_SUFFIXES = (".pyc", ".pyo", ".npz", ".npy", ".pkl", ".pickle", ".db")
_IMPORT_RE = re.compile(r"^\s*(?:from|import)\s+(solutions|autograder)\b", re.MULTILINE)
_MIN_SECRET_LINE = 16  # shorter lines (`dx = dxc`, `else:`) are too common to call a leak


def is_autograded(cell: dict) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution") and not meta.get("task")


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)




def _norm(line: str) -> str:
    return " ".join(line.split())


def _solution_lines(solutions_dir: Path, tasks: Iterable[str], given_text: str) -> dict[str, str]:
    """Normalised lines of the selected solution regions -> where they come from.

    Lines that also occur in the generated (given) package are scaffolding, not answers.
    """
    tasks = set(tasks)
    given = {_norm(line) for line in given_text.splitlines()}
    secret: dict[str, str] = {}
    for path in sorted(solutions_dir.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        rel = path.relative_to(solutions_dir)
        module = ".".join(rel.with_suffix("").parts)
        lines = source.splitlines()
        for region in find_regions(source, module, filename=str(rel)):
            if not region.selected_by(tasks):
                continue
            for number in range(region.begin + 1, region.end):
                text = _norm(lines[number - 1])
                if len(text) < _MIN_SECRET_LINE or text.startswith("#") or text in given:
                    continue
                secret.setdefault(text, f"solutions/{rel.as_posix()}:{number} ({region.key})")
    return secret


def _notebook_secret_lines(notebooks: dict[str, dict]) -> dict[str, str]:
    """Lines between solution or hidden-test markers in the source notebooks."""
    secret: dict[str, str] = {}
    for name, nb in notebooks.items():
        for index, cell in enumerate(nb["cells"]):
            inside = None
            for line in cell_source(cell).splitlines():
                stripped = line.strip()
                if stripped.startswith("### BEGIN"):
                    inside = stripped
                    continue
                if stripped.startswith("### END"):
                    inside = None
                    continue
                text = _norm(line)
                if inside and len(text) >= _MIN_SECRET_LINE:
                    kind = "hidden test" if "HIDDEN" in inside else "solution"
                    secret.setdefault(text, f"{name} cell {index} ({kind})")
    return secret


def _notebook_lines(data: bytes) -> list[str] | None:
    """Every line of a notebook's cell sources and text outputs; None if it is not a notebook."""
    try:
        nb = json.loads(data.decode("utf-8"))
        cells = nb["cells"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    lines = []
    for cell in cells:
        lines += cell_source(cell).splitlines()
        for output in cell.get("outputs", []) or []:
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            lines += ("".join(text) if isinstance(text, list) else str(text)).splitlines()
    return lines


@dataclass
class Secrets:
    """What `scan_release` looks for."""

    lines: dict[str, str]  # normalised secret line -> its origin
    digests: dict[str, str]  # sha256 of a secret file -> its path
    points: dict[str, float] | None  # expected points of autograded grade cells, if known

    @classmethod
    def collect(
        cls,
        source_notebooks: dict[str, dict],
        tasks: Iterable[str],
        points: dict[str, float] | None,
        solutions_dir: Path = SOLUTIONS_DIR,
        autograder_dir: Path = AUTOGRADER_DIR,
    ) -> Secrets:
        """The secrets of a release of ``tasks``.

        The given code (lines that are not secrets even inside a region) is what the stub
        generator makes, generated here afresh: never read from the folder being checked, or a
        leaked answer there would count as given.
        """
        tasks = set(tasks)
        given_text = "\n".join(
            stubgen.make_stub(path.read_text(encoding="utf-8"),
                              ".".join(path.relative_to(solutions_dir).with_suffix("").parts),
                              tasks)
            for path in sorted(solutions_dir.rglob("*.py")) if "__pycache__" not in path.parts
        )
        lines = _solution_lines(solutions_dir, tasks, given_text)
        lines.update(_notebook_secret_lines(source_notebooks))
        digests = {}
        for root in (solutions_dir, autograder_dir):
            for path in sorted(root.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    digests[hashlib.sha256(path.read_bytes()).hexdigest()] = str(
                        path.relative_to(root.parent)
                    )
        return cls(lines, digests, points)


def _scan_file(rel: str, data: bytes, secrets: Secrets) -> Iterator[str]:
    parts = rel.split("/")
    bad_dirs = [p for p in parts[:-1] if p in _FORBIDDEN_DIRS]
    if bad_dirs:
        yield f"{rel}: lies in a {bad_dirs[0]}/ folder"
    if rel.endswith(_FORBIDDEN_SUFFIXES):
        yield f"{rel}: data or bytecode files are never released"
    digest = hashlib.sha256(data).hexdigest()
    if digest in secrets.digests:
        yield f"{rel}: is a copy of {secrets.digests[digest]}"
    text = data.decode("utf-8", errors="replace")
    for marker in _MARKER_STRINGS:
        if marker in text:
            yield f"{rel}: contains the marker {marker!r}"
    if rel.endswith(".ipynb"):
        lines = _notebook_lines(data)
        if lines is None:
            yield f"{rel}: is not a readable notebook"
            lines = []
        code = "\n".join(lines)
    else:
        lines = text.splitlines()
        code = text if rel.endswith(".py") else ""
    for match in _IMPORT_RE.finditer(code):
        yield f"{rel}: imports the instructors' {match.group(1)} package ({match.group(0).strip()})"
    for line in lines:
        origin = secrets.lines.get(_norm(line))
        if origin:
            yield f"{rel}: contains `{line.strip()}`, a line of {origin}"


def _released_points(rel: str, data: bytes) -> dict[str, float]:
    nb = json.loads(data.decode("utf-8"))
    return {
        cell["metadata"]["nbgrader"]["grade_id"]: float(cell["metadata"]["nbgrader"]["points"])
        for cell in nb["cells"]
        if is_autograded(cell)
    }


def tree_files(tree: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(tree.rglob("*")):
        rel = path.relative_to(tree).as_posix()
        if path.is_symlink():
            files[rel] = b""  # reported by scan_release
        elif path.is_file():
            files[rel] = path.read_bytes()
    return files


def scan_release(tree: Path, zip_path: Path | None, secrets: Secrets) -> list[str]:
    """Everything wrong with a written release (empty list: it may be handed out)."""
    tree = Path(tree)
    problems: list[str] = []
    files = tree_files(tree)
    for path in sorted(tree.rglob("*")):
        if path.is_symlink():
            problems.append(f"{path.relative_to(tree).as_posix()}: is a symbolic link")
    for rel, data in files.items():
        problems += _scan_file(rel, data, secrets)
    if secrets.points is not None:
        for rel, data in files.items():
            if rel.endswith(".ipynb") and "/" not in rel:
                try:
                    have = _released_points(rel, data)
                except (ValueError, KeyError):
                    continue  # already reported as not readable
                for grade_id, points in sorted(have.items()):
                    want = secrets.points.get(grade_id)
                    if want is None or abs(want - points) > 1e-9:
                        problems.append(
                            f"{rel}: grade cell {grade_id} is worth {points:g} points, the "
                            f"checks give {want if want is not None else 'none'}"
                        )
    if zip_path is not None:
        problems += _scan_zip(Path(zip_path), tree.name, files, secrets)
    return problems


def _scan_zip(zip_path: Path, top: str, files: dict[str, bytes], secrets: Secrets) -> list[str]:
    problems = []
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = {}
            for info in archive.infolist():
                if info.is_dir():
                    continue
                name = info.filename
                if not name.startswith(top + "/"):
                    problems.append(f"{zip_path.name}: {name} is outside the {top}/ folder")
                    continue
                members[name[len(top) + 1 :]] = archive.read(info)
    except zipfile.BadZipFile as exc:
        return [f"{zip_path.name}: not a readable zip ({exc})"]
    for rel, data in members.items():
        problems += [f"{zip_path.name}: {p}" for p in _scan_file(rel, data, secrets)]
    if set(members) != set(files):
        only_zip = sorted(set(members) - set(files))
        only_tree = sorted(set(files) - set(members))
        problems.append(
            f"{zip_path.name} differs from the folder: only in the zip {only_zip}, only in the "
            f"folder {only_tree}"
        )
    changed = sorted(rel for rel in set(members) & set(files) if members[rel] != files[rel])
    if changed:
        problems.append(f"{zip_path.name}: content differs from the folder for {changed}")
    return problems
