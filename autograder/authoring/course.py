"""The nbgrader course directory the grader keeps for formgrader, and its gradebook.

Layout (nbgrader's own, so formgrader started in the course directory finds everything:
``python -m autograder formgrader``)::

    course/
      nbgrader_config.py              written by the release: db_url, root
      gradebook.db                    SQLite gradebook (default; any SQLAlchemy URL with --db)
      source/<assignment>/<nb>.ipynb  the source notebooks (solutions, hidden tests, points)
      release/<assignment>/<nb>.ipynb what `nbgrader generate_assignment` made of them
      submitted/<student>/<assignment>/   the student's notebooks and assignment/*.py, as handed in
      autograded/<student>/<assignment>/  the notebook formgrader shows the TAs

nbgrader behaviours handled here:

* A new gradebook runs the ``alembic`` executable from ``PATH`` to stamp its schema version, so a
  grader started as ``.venv/bin/python`` without an activated venv fails with "No such file or
  directory: 'alembic'" (and leaves a half-initialised database behind). `tool_env` and
  `ensure_tools_on_path` put the interpreter's own ``bin`` folder first on ``PATH``.
* Concurrent SQLite writers fail with "database is locked"; the default URL carries a busy timeout
  (``?timeout=30``) and the grader has a single writer (`autograder.recording.recorder`).
* SQLAlchemy 2 wants an explicit driver in the URL (``postgresql+psycopg2://...``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from autograder.authoring import TEMPLATES

DEFAULT_TIMEOUT_SECONDS = 30
GRADEBOOK_NAME = "gradebook.db"


class CourseError(Exception):
    """A problem with the course directory or the gradebook, in words an instructor can act on."""


def default_db_url(course_dir: Path | str) -> str:
    """SQLite gradebook inside the course directory, with a busy timeout against lock errors."""
    path = Path(course_dir).resolve() / GRADEBOOK_NAME
    return f"sqlite:///{path}?timeout={DEFAULT_TIMEOUT_SECONDS}"


def check_db_url(url: str) -> str:
    """Reject URLs SQLAlchemy 2 would misread, with the fix; return the URL unchanged."""
    scheme = url.split(":", 1)[0] if ":" in url else ""
    if not scheme:
        raise CourseError(
            f"--db {url!r} is not a database URL; use e.g. sqlite:////abs/path/gradebook.db "
            "or postgresql+psycopg2://user@host/dbname"
        )
    if scheme == "postgres":
        raise CourseError(
            f"--db {url!r}: SQLAlchemy 2 does not know the scheme 'postgres'; write "
            "postgresql+psycopg2://... (the driver spelled out)"
        )
    return url


def _bin_dir() -> str:
    return str(Path(sys.executable).parent)


def tool_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment whose PATH starts with this interpreter's bin folder (nbgrader, alembic)."""
    env = dict(os.environ if base is None else base)
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    if not parts or parts[0] != _bin_dir():
        parts.insert(0, _bin_dir())
    env["PATH"] = os.pathsep.join(parts)
    return env


def ensure_tools_on_path() -> None:
    """Make ``alembic`` findable for nbgrader's Gradebook in this process."""
    if shutil.which("alembic") is None or not os.environ.get("PATH", "").startswith(_bin_dir()):
        os.environ["PATH"] = tool_env()["PATH"]


@dataclass(frozen=True)
class Course:
    """An nbgrader course directory and its gradebook URL."""

    root: Path
    assignment: str
    db_url: str

    @classmethod
    def at(cls, root: Path | str, assignment: str, db_url: str | None = None) -> Course:
        root = Path(root).resolve()
        return cls(root, assignment, check_db_url(db_url or default_db_url(root)))

    @property
    def source_dir(self) -> Path:
        return self.root / "source" / self.assignment

    @property
    def release_dir(self) -> Path:
        return self.root / "release" / self.assignment

    def submitted_dir(self, student: str) -> Path:
        return self.root / "submitted" / student / self.assignment

    def autograded_dir(self, student: str) -> Path:
        return self.root / "autograded" / student / self.assignment

    def write_config(self) -> Path:
        """Write ``nbgrader_config.py`` (``templates/nbgrader_config.py``) so nbgrader and
        formgrader started here use this gradebook."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "nbgrader_config.py"
        text = (TEMPLATES / "nbgrader_config.py").read_text(encoding="utf-8")
        path.write_text(text.replace('"@@ROOT@@"', repr(str(self.root)))
                        .replace('"@@DB_URL@@"', repr(self.db_url)), encoding="utf-8")
        return path

    def generate_assignment(self, log_tail: int = 40) -> str:
        """Run `nbgrader generate_assignment` (source/ -> release/, gradebook rows); return its log.

        nbgrader can log an error and still exit 0 (exceptions in hooks are swallowed), so the
        caller must verify what was written; this raises only on a non-zero exit status.
        """
        command = [
            sys.executable, "-m", "nbgrader", "generate_assignment", self.assignment,
            "--force",
            f"--CourseDirectory.root={self.root}",
            f"--CourseDirectory.db_url={self.db_url}",
        ]
        proc = subprocess.run(
            command, cwd=self.root, env=tool_env(), capture_output=True, text=True, check=False
        )
        log = (proc.stdout or "") + (proc.stderr or "")
        if proc.returncode != 0 or "[GenerateAssignmentApp | ERROR]" in log:
            tail = "\n".join(log.splitlines()[-log_tail:])
            raise CourseError(
                f"nbgrader generate_assignment failed (exit status {proc.returncode}):\n{tail}"
            )
        return log


def state_dir() -> Path:
    """Where the grader remembers things between commands: ``$NORMLAB_HOME``, else
    ``$XDG_CONFIG_HOME/normlab``, else ``~/.config/normlab``."""
    if os.environ.get("NORMLAB_HOME"):
        return Path(os.environ["NORMLAB_HOME"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "normlab"


def _courses_file() -> Path:
    return state_dir() / "courses.json"


def record_course(course: Course) -> Path:
    """Remember ``course`` as the course of its assignment, for `grade` and `formgrader`."""
    path = _courses_file()
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    known = known if isinstance(known, dict) else {}
    known[course.assignment] = {"root": str(course.root), "db_url": course.db_url}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(known, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return path


def recorded(assignment: str) -> Course | None:
    """The course the last `release` of ``assignment`` recorded, if its folder still exists."""
    try:
        entry = json.loads(_courses_file().read_text(encoding="utf-8"))[assignment]
        course = Course(Path(entry["root"]), assignment, str(entry["db_url"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return course if course.root.is_dir() else None


def recorded_course(assignment: str = "normalization") -> Path:
    """The folder of the recorded course, or `CourseError` with the command to run."""
    course = recorded(assignment)
    if course is None:
        raise CourseError(
            f"no course of {assignment!r} is recorded (in {_courses_file()}): make the release "
            f"first, `python -m autograder release --out build/release`, or name the course "
            f"folder with --course DIR")
    return course.root


def describe_db_error(exc: BaseException, url: str) -> str:
    """A database exception in words, with what to do about it."""
    text = str(getattr(exc, "orig", None) or exc)
    shown = _safe_url(url)
    if "locked" in text:
        return (
            f"the gradebook {shown} is locked by another program (a running formgrader saving a "
            "grade, another grading run?). Wait for it or stop it, then run the command again; "
            "nothing of this student was written"
        )
    if "not a database" in text or "malformed" in text or "file is encrypted" in text:
        return (
            f"the gradebook {shown} is not a readable SQLite database (corrupt?): {text}. Restore "
            "it from a backup, or move it away and run the release again to start a new one"
        )
    if "unable to open" in text:
        return f"cannot open the gradebook {shown}: {text} (does its folder exist, writable?)"
    return f"gradebook {shown}: {type(exc).__name__}: {text}"


def _safe_url(url: str) -> str:
    """The URL without a password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return url.split("@")[-1]


def open_gradebook(url: str):
    """Open nbgrader's Gradebook, turning database errors into `CourseError`."""
    ensure_tools_on_path()
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return Gradebook(url)
    except SQLAlchemyError as exc:
        raise CourseError(describe_db_error(exc, url)) from exc
    except FileNotFoundError as exc:  # pragma: no cover - alembic missing despite the PATH fix
        raise CourseError(f"cannot create the gradebook {_safe_url(url)}: {exc}") from exc


def grade_cells(url: str, assignment: str) -> dict[str, dict[str, dict]]:
    """``{notebook: {grade_id: {"max_score", "cell_type", "manual"}}}`` from the gradebook.

    ``manual`` is True for cells graded by people (solution cells that are also grade cells, and
    task cells); False for the autograded test cells.
    """
    from nbgrader.api import MissingEntry
    from sqlalchemy.exc import SQLAlchemyError

    gb = open_gradebook(url)
    try:
        try:
            found = gb.find_assignment(assignment)
        except MissingEntry:
            raise CourseError(
                f"assignment {assignment!r} is not in the gradebook {_safe_url(url)}; run "
                "`python -m autograder release` first (with the same --course and --db)"
            ) from None
        cells: dict[str, dict[str, dict]] = {}
        for notebook in found.notebooks:
            solution_ids = {c.name for c in notebook.solution_cells}
            entry = cells.setdefault(notebook.name, {})
            for cell in notebook.grade_cells:
                entry[cell.name] = {
                    "max_score": float(cell.max_score),
                    "cell_type": cell.cell_type,
                    "manual": cell.name in solution_ids,
                }
            for cell in notebook.task_cells:
                entry[cell.name] = {
                    "max_score": float(cell.max_score),
                    "cell_type": "markdown",
                    "manual": True,
                }
        return cells
    except SQLAlchemyError as exc:
        raise CourseError(describe_db_error(exc, url)) from exc
    finally:
        gb.close()
