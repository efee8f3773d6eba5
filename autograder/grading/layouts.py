"""Which file is whose: the submission layouts the grader reads, recognised automatically.

Runs in the trusted parent and opens nothing but folder listings and, in a zip, the small
``normlab-submission.json`` that ``collect_submission.py`` writes (the id the student gave).

* **plain**: ``<id>/`` or ``<id>.zip``; ``collect_submission.py`` names its zip
  ``<assignment>_<id>.zip``, and that prefix is dropped;
* **nbgrader**: ``submitted/<id>/<assignment>/`` (what ``nbgrader collect`` and the exchange
  leave), the folder given or its ``submitted/`` inside;
* **Canvas**: the bulk download, one flat folder of
  ``<name>_<userid>_<submissionid>_<original file name>`` (``<name>_LATE_<userid>_...`` when
  late); the student is the Canvas user id;
* **Moodle**: ``<Full Name>_<id>_assignsubmission_file_/<file>`` folders, or the same prefix
  on flat files; the student is the Moodle participant id, the name is kept for the gradebook.

A student found twice (two uploads, a zip and a folder) is graded once, on the newest upload
(highest submission id) or, where nothing tells which is newer, not at all, and the instructor
is told. A recorded id that disagrees with the file name is reported, never merged silently:
the LMS knows who uploaded, so its id is used.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

#: Student ids become folder names and gradebook keys.
STUDENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$")
#: The member of a submission zip that says whose it is (written by collect_submission.py).
IDENTITY_FILE = "normlab-submission.json"
_IDENTITY_MAX_BYTES = 4096

_CANVAS = re.compile(r"^(?P<name>[a-z0-9]+)_(?:(?P<late>LATE)_)?(?P<user>\d+)_(?P<sub>\d+)_"
                     r"(?P<file>.+)$")
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<user>\d+)_assignsubmission_(?:file|onlinetext)_"
                     r"(?P<file>.*)$")
_IGNORED = {"__pycache__", ".ipynb_checkpoints", "__MACOSX", ".git", ".DS_Store", "Thumbs.db"}


class LayoutError(Exception):
    """The folder of submissions cannot be read as any layout (the message says what to do)."""


@dataclass
class Found:
    """One student's submission as found: ``path`` is a folder or a zip."""

    student: str
    path: Path
    name: str | None = None  # full name, where the layout gives one (Moodle)
    late: bool = False
    layout: str = "plain"
    recorded: str | None = None  # the id inside the zip, if any
    claimed: str | None = None  # the id in the zip's own file name, if any


@dataclass
class Roster:
    """Everything found in a folder of submissions, and what the instructor should know."""

    layout: str
    found: list[Found] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # duplicates, disagreements, skipped files

    def pairs(self) -> list[tuple[str, Path]]:
        return [(f.student, f.path) for f in self.found]


def recorded_id(path: Path) -> str | None:
    """The student id ``collect_submission.py`` wrote into the zip ``path``, or None."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = [i for i in zf.infolist()
                       if i.filename.rsplit("/", 1)[-1] == IDENTITY_FILE
                       and i.file_size <= _IDENTITY_MAX_BYTES]
            if not members:
                return None
            data = json.loads(zf.read(min(members, key=lambda i: i.filename.count("/"))))
    except (OSError, zipfile.BadZipFile, ValueError, KeyError, RuntimeError):
        return None
    student = data.get("student") if isinstance(data, dict) else None
    return student if isinstance(student, str) and STUDENT_ID_RE.match(student) else None


def _entries(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir()
                  if not p.name.startswith(".") and p.name not in _IGNORED)


def _nbgrader_root(root: Path, assignment: str) -> Path | None:
    for base in (root, root / "submitted"):
        if not base.is_dir():
            continue
        students = [p for p in _entries(base) if p.is_dir() and not p.is_symlink()]
        if students and all((p / assignment).is_dir() for p in students):
            return base
    return None


def read_roster(root: Path | str, assignment: str) -> Roster:
    """Every submission in ``root``, whichever layout it is in (see the module docstring).

    Raises `LayoutError` for a missing folder, or one where no submission can be told apart.
    """
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: no such folder of submissions")
    base = _nbgrader_root(root, assignment)
    if base is not None:
        found = [Found(p.name, p / assignment, layout="nbgrader") for p in _entries(base)]
        return _checked(Roster("nbgrader"), found)
    entries = _entries(root)
    if entries and any(_MOODLE.match(p.name) for p in entries):
        return _lms(Roster("moodle"), entries, _MOODLE, assignment)
    if entries and all(_CANVAS.match(p.name) for p in entries if p.is_file()) \
            and any(_CANVAS.match(p.name) for p in entries):
        return _lms(Roster("canvas"), entries, _CANVAS, assignment)
    return _plain(Roster("plain"), entries, assignment)


def _plain(roster: Roster, entries: list[Path], assignment: str) -> Roster:
    found = []
    for path in entries:
        if path.is_symlink():
            roster.notes.append(f"{path.name}: a symbolic link, not read (copy the submission "
                                f"instead)")
            continue
        if path.is_dir():
            found.append(Found(path.name, path))
        elif path.is_file() and path.suffix.lower() == ".zip":
            student = _zip_id(path.name, assignment) or path.stem
            found.append(Found(student, path, recorded=recorded_id(path), claimed=student))
    return _checked(roster, found)


def _zip_id(file_name: str, assignment: str) -> str | None:
    """``ada`` from ``normalization_ada.zip`` (collect_submission.py's name), else None."""
    stem, dot, ext = file_name.rpartition(".")
    prefix = f"{assignment}_"
    if dot and ext.lower() == "zip" and stem.startswith(prefix) and len(stem) > len(prefix):
        return stem[len(prefix):]
    return None


def _lms(roster: Roster, entries: list[Path], pattern: re.Pattern, assignment: str) -> Roster:
    by_user: dict[str, list[tuple[int, Found]]] = {}
    for path in entries:
        m = pattern.match(path.name)
        if m is None or path.is_symlink():
            roster.notes.append(f"{path.name}: not a {roster.layout} submission file, skipped")
            continue
        target = path
        if path.is_dir():  # Moodle's "download submissions in folders"
            inner = [p for p in _entries(path) if not p.is_symlink()]
            zips = [p for p in inner if p.suffix.lower() == ".zip" and p.is_file()]
            target = zips[0] if len(zips) == 1 else path
        elif path.suffix.lower() != ".zip":
            roster.notes.append(f"{path.name}: not a zip; students submit the zip that "
                                f"collect_submission.py writes, so this file was skipped")
            continue
        name = m.group("name")
        full = name.replace("_", " ") if roster.layout == "moodle" else None
        sub = int(m.groupdict().get("sub") or 0)
        found = Found(m.group("user"), target, name=full, late=bool(m.groupdict().get("late")),
                      layout=roster.layout,
                      recorded=recorded_id(target) if target.is_file() else None,
                      claimed=_zip_id(target.name if target != path else m.group("file"),
                                      assignment))
        by_user.setdefault(found.student, []).append((sub, found))
    chosen = []
    for user, uploads in sorted(by_user.items()):
        uploads.sort(key=lambda u: u[0])
        if len(uploads) > 1:
            names = ", ".join(f.path.name for _, f in uploads)
            if uploads[-1][0] == uploads[-2][0]:
                roster.notes.append(f"student {user}: {len(uploads)} uploads ({names}) and "
                                    f"nothing says which is the newest: NOT graded; keep one")
                continue
            roster.notes.append(f"student {user}: {len(uploads)} uploads ({names}); graded "
                                f"the newest, {uploads[-1][1].path.name}")
        chosen.append(uploads[-1][1])
    return _checked(roster, chosen)


def _checked(roster: Roster, found: list[Found]) -> Roster:
    """Valid ids, each once; a zip whose recorded id disagrees with its file name, or whose
    recorded id another upload carries too, noted."""
    seen: dict[str, Found] = {}
    twice: set[str] = set()
    for f in found:
        if not STUDENT_ID_RE.match(f.student):
            roster.notes.append(f"{f.path.name}: {f.student!r} is not a student id (letters, "
                                f"digits and _.@+- only), skipped")
            continue
        if f.recorded and f.claimed and f.recorded != f.claimed:
            roster.notes.append(f"{f.path.name}: its file name says {f.claimed}, but the zip "
                                f"says it is {f.recorded}'s work; graded as {f.student}: check "
                                f"who submitted it")
        if f.student in seen or f.student in twice:
            other = seen.pop(f.student, None)
            names = f"{other.path.name} and {f.path.name}" if other else f.path.name
            roster.notes.append(f"student {f.student}: {names} (more than one submission); "
                                f"none of them was graded: keep one")
            twice.add(f.student)
            continue
        seen[f.student] = f
    by_recorded: dict[str, list[Found]] = {}
    for f in seen.values():
        if f.recorded:
            by_recorded.setdefault(f.recorded, []).append(f)
    for recorded, same in sorted(by_recorded.items()):
        if len(same) > 1:
            roster.notes.append(f"the zips of {', '.join(f.student for f in same)} all say they "
                                f"are {recorded}'s work: check for a shared submission")
    roster.found = sorted(seen.values(), key=lambda f: f.student)
    if not roster.found and found:
        raise LayoutError("no submission could be told apart in this folder: "
                          + "; ".join(roster.notes[:5]))
    return roster
