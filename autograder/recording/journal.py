"""The grading journal: which student's outputs are complete, and for which submission.

A grading run can be killed at any moment (Ctrl-C, SIGKILL, a rebooted node). What a student's
grade consists of lives in several places (gradebook rows, ``OUT/<student>/``, the course's
``submitted/`` and ``autograded/`` folders, a row of ``grades.csv``) that cannot change in one
atomic step. The recorder therefore writes them in this order::

    journal: begin <student> <key>      (nothing of the student is trusted from here on)
    gradebook rows                      one transaction
    OUT/<student>/                      built in OUT/.normlab/tmp, then renamed into place
    course/submitted|autograded/...     built in course/.normlab-tmp, then renamed into place
    grades.csv                          rewritten to a temporary file, then renamed
    journal: commit <student> <key>     the student's commit marker

and a later run trusts a student only when the journal's *last* line for the student is a
``commit`` (a ``begin`` without one means "interrupted: grade again", which replaces every piece).
The journal is ``OUT/.normlab/journal.jsonl``: one JSON object per line, appended and fsync'ed;
a line cut short by a crash is ignored. It is compacted (one line per student) when opened.

The ``key`` of a commit is `submission_key`: a hash of the grader's code and configuration
(`grader_fingerprint`) and of the submission's content as handed in (`origin_digest`), so an
unchanged submission is skipped by the next run and a resubmission or a new grader version is
graded again. ``OUT/.normlab/lock`` (an ``flock``) keeps two runs from writing the same OUT.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import os
import shutil
from pathlib import Path

from autograder.config import REPO_ROOT, GradingConfig

STATE_DIR = ".normlab"
JOURNAL_NAME = "journal.jsonl"
LOCK_NAME = "lock"
TMP_NAME = "tmp"
#: Bump when the meaning of the outputs changes without any file below changing.
FORMAT = 1

#: The code that decides a grade or writes what the student and the TAs see: every module of
#: these packages of ``autograder/`` (all but ``authoring/``, which builds releases), their data
#: files (the hidden references), and the shared modules beside them.
GRADER_PACKAGES = ("grading", "sandbox", "judging", "assignments", "recording")
GRADER_FILES = ("results.py", "config.py")


class JournalError(Exception):
    """The journal cannot be used (another run holds OUT, unwritable folder, ...)."""


@functools.lru_cache(maxsize=4)
def code_fingerprint(root: Path = REPO_ROOT) -> str:
    """Hash of the grader's code, hidden references and solutions (read once per process)."""
    digest = hashlib.sha256(f"normlab-grader {FORMAT}\0".encode())
    files = [root / "autograder" / name for name in GRADER_FILES]
    for package in GRADER_PACKAGES:
        files += sorted(p for p in (root / "autograder" / package).rglob("*")
                        if p.suffix in (".py", ".npz") and "__pycache__" not in p.parts)
    files += sorted((root / "solutions").rglob("*.py"))
    for path in files:
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def grader_fingerprint(config: GradingConfig, release_notebooks: dict[str, dict],
                       root: Path = REPO_ROOT) -> str:
    """Hash of everything besides the submission that a grade depends on."""
    digest = hashlib.sha256(code_fingerprint(root).encode() + b"\0")
    settings = {
        "assignment": config.assignment,
        "tasks": sorted(config.tasks),
        "notebooks": list(config.notebooks),
        "points": sorted(config.points.items()),
        "limits": dataclasses.asdict(config.limits),
        "seed": config.seed,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode() + b"\0")
    digest.update(json.dumps(release_notebooks, sort_keys=True).encode() + b"\0")
    return digest.hexdigest()


def origin_digest(origin: Path) -> str:
    """Hash of a submission as handed in: a zip's bytes, or a folder's files (not followed links,
    skipping the caches and data sets intake skips too)."""
    from autograder.grading.intake import is_data, is_litter

    origin = Path(origin)
    digest = hashlib.sha256()
    if origin.is_file():
        digest.update(b"zip\0")
        with origin.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()
    digest.update(b"folder\0")
    for folder, dirs, files in os.walk(origin):
        dirs.sort()
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]):
            path = Path(folder) / name
            rel = path.relative_to(origin)
            if is_litter(rel.parts) or is_data(rel.parts):
                continue
            digest.update(rel.as_posix().encode() + b"\0")
            if path.is_symlink():
                digest.update(b"link\0" + os.readlink(path).encode() + b"\0")
            elif path.is_file():
                with path.open("rb") as fh:
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
                digest.update(b"\0")
    return digest.hexdigest()


def submission_key(fingerprint: str, origin: Path) -> str:
    return hashlib.sha256(f"{fingerprint}\0{origin_digest(origin)}".encode()).hexdigest()[:32]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_tmp(folder: Path) -> list[str]:
    """Remove what interrupted runs left in a temporary folder (entries ``<name>.<pid>.<x>``
    of processes that are gone); return the names removed."""
    removed = []
    if not folder.is_dir():
        return removed
    for entry in sorted(folder.iterdir()):
        parts = entry.name.split(".")
        pid = int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None
        if pid is not None and pid != os.getpid() and _pid_alive(pid):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return removed


class Journal:
    """``OUT/.normlab/journal.jsonl`` and the lock of OUT; see the module docstring."""

    def __init__(self, out: Path):
        self.dir = Path(out) / STATE_DIR
        self.path = self.dir / JOURNAL_NAME
        self.tmp = self.dir / TMP_NAME
        self.last: dict[str, dict] = {}
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = (self.dir / LOCK_NAME).open("a+")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.seek(0)
            holder = self._lock.read().strip() or "another process"
            self._lock.close()
            raise JournalError(
                f"another grading run ({holder}) is writing to {out}; wait for it to finish "
                "(two runs must not share an output folder)") from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(f"pid {os.getpid()}\n")
        self._lock.flush()
        self.removed = clean_tmp(self.tmp)
        self.tmp.mkdir(exist_ok=True)
        self._read()
        self._compact()
        self._fh = self.path.open("a", encoding="utf-8")

    def _read(self) -> None:
        if not self.path.is_file():
            return
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
                student = record["student"]
                if record.get("event") not in ("begin", "commit") or not isinstance(student, str):
                    continue
            except (ValueError, KeyError, TypeError):
                continue  # cut short by a crash
            self.last[student] = record

    def _compact(self) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        with partial.open("w", encoding="utf-8") as fh:
            for student in sorted(self.last):
                fh.write(json.dumps(self.last[student], sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        partial.replace(self.path)

    def _append(self, record: dict) -> None:
        self._fh.write(json.dumps(record, sort_keys=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.last[record["student"]] = record

    # ------------------------------------------------------------------------------ public

    def committed(self, student: str) -> dict | None:
        """The commit record of the student, or None (never graded, or interrupted)."""
        record = self.last.get(student)
        return record if record is not None and record["event"] == "commit" else None

    def interrupted(self) -> list[str]:
        """Students whose last grading began and never committed."""
        return sorted(s for s, r in self.last.items() if r["event"] == "begin")

    def begin(self, student: str, key: str | None) -> None:
        self._append({"event": "begin", "student": student, "key": key})

    def commit(self, student: str, key: str | None, row: dict) -> None:
        self._append({"event": "commit", "student": student, "key": key, "row": row})

    def tmp_dir(self, name: str) -> Path:
        """A fresh folder in OUT/.normlab/tmp (same file system as OUT, for atomic renames)."""
        path = self.tmp / f"{name}.{os.getpid()}.{os.urandom(4).hex()}"
        path.mkdir()
        return path

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._fh.close()
        with contextlib.suppress(OSError, ValueError):
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
