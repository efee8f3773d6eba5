"""The only writer of grades: CSV, Gradescope JSON, HTML feedback and the nbgrader gradebook.

``Recorder.record(result, submission)`` consumes one student's `SubmissionResult` (computed
anywhere: in this process, a worker, a Dask task) and the parent's intake `Submission`, and
writes

* ``OUT/<student>/results.json`` (Gradescope schema) and ``OUT/<student>/feedback.html``;
* the gradebook rows of the student's submission, in ONE transaction: the student is created or
  updated, a previous submission of the assignment is replaced (so grading again gives the same
  rows, never duplicates), each autograded grade cell gets ``auto_score`` = the sum of the scores
  of the checks that credit its grade_id (capped at the cell's points), and the inline questions
  are left for the TAs (an unanswered one is scored 0 with the comment "No response.", as
  nbgrader's autograde does);
* ``course/submitted/<student>/<assignment>/`` (what was handed in: notebooks and assignment/)
  and ``course/autograded/<student>/<assignment>/<nb>.ipynb`` (the notebook with nbgrader's cell
  metadata restored and the check results as the output of each autograded cell, in the words
  of `autograder.recording.render`), which is the file formgrader shows the TAs.

``OUT/grades.csv`` (one row per student, one column per check, headed by the check's stable id; rows
of students graded before and not now are kept, and columns a version before ids headed by the
check's title are renamed to its id) is rewritten after every student; ``Recorder.finish()`` writes
it a last time and returns the rows for the terminal table.

Crash safety (see `autograder.recording.journal`): each student's writes are bracketed by a
``begin`` and a ``commit`` line in ``OUT/.normlab/journal.jsonl``, and every folder is built in a
temporary folder and renamed into place, so a run killed at any point leaves, per student, either
the previous complete outputs or a ``begin`` without ``commit`` that the next run grades again.
A second run on the same OUT at the same time is refused (``OUT/.normlab/lock``).

TA grades survive regrading: a manual score, extra credit or comment a TA gave is carried over to
the new rows when what it grades is unchanged (the answer's text for an inline question, the
student's ``assignment/*.py`` for an autograded cell); otherwise it is dropped and reported.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from autograder.authoring.course import Course, CourseError, describe_db_error, open_gradebook
from autograder.config import GradingConfig
from autograder.grading.intake import Submission
from autograder.judging.assignment import catalogue
from autograder.recording.feedback import feedback_html, results_json
from autograder.recording.journal import Journal, JournalError, clean_tmp
from autograder.recording.render import cell_output, fmt
from autograder.results import SubmissionResult

CSV_NAME = "grades.csv"
COURSE_TMP = ".normlab-tmp"


class RecorderError(Exception):
    """A grade could not be written (gradebook locked or corrupt, ...); nothing partial was kept."""


@dataclass
class Row:
    student: str
    scores: dict[str, float]  # check id -> score
    tasks: dict[str, tuple[float, float]]  # task -> (score, max)
    total: float
    max_total: float

    def to_record(self) -> dict:
        return {"scores": self.scores, "tasks": {t: list(v) for t, v in self.tasks.items()},
                "total": self.total, "max_total": self.max_total}

    @classmethod
    def from_record(cls, student: str, record: dict) -> Row:
        return cls(student, dict(record["scores"]),
                   {t: (float(v[0]), float(v[1])) for t, v in record["tasks"].items()},
                   float(record["total"]), float(record["max_total"]))


@dataclass
class _Kept:
    manual_score: float | None = None
    extra_credit: float | None = None
    manual_comment: str | None = None


def _answer_text(nb: dict | None, grade_id: str) -> str | None:
    for cell in (nb or {}).get("cells", []):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            source = cell.get("source", "")
            return "".join(source) if isinstance(source, list) else source
    return None


def _package_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")) if folder.is_dir() else []:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _swap_in(new: Path, target: Path, trash: Path) -> None:
    """Put the folder ``new`` at ``target`` by renames (``trash``: same file system, for the
    previous ``target``, deleted afterwards). A crash in between leaves ``target`` missing, never
    half-written; the journal then says the student must be graded again."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists() or target.is_symlink():
        old = trash / f"old-{target.name}.{os.getpid()}.{os.urandom(4).hex()}"
        os.rename(target, old)
    os.rename(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _read_csv(path: Path, renamed: dict[str, str]) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The columns (checks only) and rows of an existing grades.csv, each column named in
    ``renamed`` (a check's title, as versions before check ids wrote it) renamed to its value."""
    if not path.is_file():
        return [], {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = [renamed.get(c, c) for c in (reader.fieldnames or [])
                   if c not in ("student", "total", "max_total")]
        rows = {row["student"]: {renamed.get(k, k): v for k, v in row.items()}
                for row in reader if row.get("student")}
    return list(dict.fromkeys(columns)), rows


@dataclass
class Recorder:
    out: Path
    course: Course
    config: GradingConfig
    cells: dict[str, dict[str, dict]]  # course.grade_cells(): notebook -> grade_id -> info
    release_notebooks: dict[str, dict] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _gradebook: object = None

    def __post_init__(self):
        self.out = Path(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        try:
            self.journal = Journal(self.out)
        except JournalError as exc:
            raise RecorderError(str(exc)) from exc
        self.course_tmp = self.course.root / COURSE_TMP
        clean_tmp(self.course_tmp)
        (self.out / (CSV_NAME + ".partial")).unlink(missing_ok=True)
        titles = {check.title: check.id for check in catalogue(self.config.assignment)}
        self._csv_columns, self._csv_rows = _read_csv(self.out / CSV_NAME, titles)
        self._in_gradebook: set[str] | None = None

    # ----------------------------------------------------------------------------- public API

    @property
    def manual_points(self) -> float:
        return sum(info["max_score"] for nb in self.cells.values() for info in nb.values()
                   if info["manual"])

    def record(self, result: SubmissionResult, submission: Submission,
               key: str | None = None) -> None:
        """Write everything of one student, then its commit marker (``key``: see
        `journal.submission_key`); raise RecorderError if the gradebook refuses (nothing of the
        student is written then)."""
        student = result.student
        if student != submission.student:
            raise RecorderError(f"result of {student!r} given with the submission of "
                                f"{submission.student!r}")
        answers = []
        for nb in submission.notebooks.values():
            for answer in nb.answers.values():
                how = {"metadata": "found", "position": "found by its position"}.get(answer.found)
                if how is None:
                    answers.append((answer.grade_id, "not found in your notebook"))
                else:
                    answers.append((answer.grade_id, how + ("" if answer.answered
                                                            else ", but not answered")))
            if nb.status in ("missing", "invalid"):
                answers.append((nb.name, "could not be read: " + nb.message))
        kept = self._previous_ta_grades(student, submission)
        tasks: dict[str, tuple[float, float]] = {}
        for check in result.checks:
            got, out_of = tasks.get(check.task, (0.0, 0.0))
            tasks[check.task] = (got + check.score, out_of + check.max_score)
        row = Row(student, {c.id or c.name: c.score for c in result.checks}, tasks, result.score,
                  result.max_score)

        self.journal.begin(student, key)
        self._write_gradebook(result, submission, kept)  # first: it is the one that can refuse
        staging = self.journal.tmp_dir(student)
        (staging / "results.json").write_text(
            json.dumps(results_json(result, self.manual_points), indent=2) + "\n",
            encoding="utf-8")
        (staging / "feedback.html").write_text(
            feedback_html(result, self.config.assignment, answers, self.manual_points),
            encoding="utf-8")
        _swap_in(staging, self.out / student, self.journal.tmp)
        self._write_course_files(result, submission)
        self.rows = [r for r in self.rows if r.student != student]
        self.rows.append(row)
        self._set_csv_row(row)
        self._write_csv()
        self.journal.commit(student, key, row.to_record())
        if self._in_gradebook is not None:
            self._in_gradebook.add(student)

    def up_to_date(self, student: str, key: str) -> Row | None:
        """The recorded row of ``student`` if it was committed for ``key`` and every output of it
        is still there (results, feedback, grades.csv row, gradebook submission); else None."""
        record = self.journal.committed(student)
        if record is None or record.get("key") != key:
            return None
        folder = self.out / student
        if not ((folder / "results.json").is_file() and (folder / "feedback.html").is_file()
                and student in self._csv_rows and student in self._gradebook_students()):
            return None
        try:
            return Row.from_record(student, record["row"])
        except (KeyError, TypeError, ValueError):
            return None

    def _gradebook_students(self) -> set[str]:
        """Students with a submission of the assignment in the gradebook (one query per run)."""
        if self._in_gradebook is None:
            from nbgrader.api import Assignment, SubmittedAssignment
            from sqlalchemy.exc import SQLAlchemyError

            db = self._gb().db
            try:
                found = db.query(SubmittedAssignment.student_id).join(Assignment).filter(
                    Assignment.name == self.config.assignment).all()
            except SQLAlchemyError as exc:
                db.rollback()
                raise RecorderError(describe_db_error(exc, self.course.db_url)) from exc
            self._in_gradebook = {student for (student,) in found}
        return self._in_gradebook

    def _set_csv_row(self, row: Row) -> None:
        for name in row.scores:
            if name not in self._csv_columns:
                self._csv_columns.append(name)
        self._csv_rows[row.student] = {
            "student": row.student,
            **{name: fmt(score) for name, score in row.scores.items()},
            "total": fmt(row.total),
            "max_total": fmt(row.max_total),
        }

    def _write_csv(self) -> None:
        path = self.out / CSV_NAME
        partial = path.with_name(path.name + ".partial")
        columns = ["student", *self._csv_columns, "total", "max_total"]
        with partial.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, columns, restval="", extrasaction="ignore")
            writer.writeheader()
            for student in sorted(self._csv_rows):
                writer.writerow(self._csv_rows[student])
        partial.replace(path)

    def finish(self) -> list[Row]:
        """Write grades.csv (merged with rows of students not graded in this run); close."""
        self._write_csv()
        self.close()
        return self.rows

    def close(self) -> None:
        if self._gradebook is not None:
            self._gradebook.close()
            self._gradebook = None
        self.journal.close()

    # ------------------------------------------------------------------------------ gradebook

    def _gb(self):
        if self._gradebook is None:
            try:
                self._gradebook = open_gradebook(self.course.db_url)
            except CourseError as exc:
                raise RecorderError(str(exc)) from exc
        return self._gradebook

    def _previous_ta_grades(self, student: str, submission: Submission) -> dict:
        """What TAs entered for this student before, keyed (notebook, grade_id), if still valid."""
        from nbgrader.api import MissingEntry

        gb = self._gb()
        try:
            previous = gb.find_submission(self.config.assignment, student)
        except MissingEntry:
            return {}
        except Exception as exc:  # noqa: BLE001 - database errors in words
            gb.db.rollback()
            raise RecorderError(describe_db_error(exc, self.course.db_url)) from exc
        old_code = _package_digest(self.course.submitted_dir(student) / "assignment")
        new_code = _package_digest(submission.workdir / "assignment")
        kept: dict[tuple[str, str], _Kept] = {}
        for snb in previous.notebooks:
            name = f"{snb.name}.ipynb"
            old_nb_path = self.course.autograded_dir(student) / name
            try:
                old_nb = json.loads(old_nb_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old_nb = None
            intake = submission.notebooks.get(name)
            new_nb = intake.notebook if intake else None
            entries: dict[str, _Kept] = {}
            for grade in snb.grades:
                if grade.manual_score is not None or grade.extra_credit is not None:
                    entries.setdefault(grade.name, _Kept()).manual_score = grade.manual_score
                    entries[grade.name].extra_credit = grade.extra_credit
            for comment in snb.comments:
                if comment.manual_comment:
                    entries.setdefault(comment.name, _Kept()).manual_comment = (
                        comment.manual_comment)
            for grade_id, entry in entries.items():
                info = self.cells.get(snb.name, {}).get(grade_id, {})
                if info.get("manual"):
                    same = (old_nb is not None and _answer_text(old_nb, grade_id) is not None
                            and _answer_text(old_nb, grade_id) == _answer_text(new_nb, grade_id))
                else:
                    same = old_code == new_code
                if same:
                    kept[(snb.name, grade_id)] = entry
                else:
                    self.warnings.append(
                        f"{student}: a TA grade/comment on {grade_id} was dropped because the "
                        "submission changed; it needs grading again"
                    )
        return kept

    def _write_gradebook(self, result: SubmissionResult, submission: Submission,
                         kept: dict) -> None:
        from nbgrader.api import (
            Assignment,
            Student,
            SubmittedAssignment,
        )
        from sqlalchemy.exc import SQLAlchemyError

        gb = self._gb()
        db = gb.db
        student = result.student
        auto: dict[str, float] = {}
        for check in result.checks:
            auto[check.grade_id] = auto.get(check.grade_id, 0.0) + check.score
        known = {gid for nb in self.cells.values() for gid in nb}
        for grade_id in sorted(set(auto) - known):
            message = (f"checks credit grade_id {grade_id!r}, which no grade cell of the "
                       "gradebook has; those points are in grades.csv but not in the gradebook")
            if message not in self.warnings:
                self.warnings.append(message)
        try:
            assignment = db.query(Assignment).filter(
                Assignment.name == self.config.assignment).one_or_none()
            if assignment is None:
                raise RecorderError(
                    f"assignment {self.config.assignment!r} is not in the gradebook; run the "
                    "release first with the same --course/--db"
                )
            row = db.get(Student, student)
            first, last = _display_name(student, getattr(submission, "name", None))
            if row is None:
                db.add(Student(id=student, first_name=first, last_name=last))
            elif row.last_name in (None, "") or (submission.name and row.last_name == student):
                row.first_name, row.last_name = first, last  # never a TA's edit
            old = db.query(SubmittedAssignment).filter(
                SubmittedAssignment.assignment_id == assignment.id,
                SubmittedAssignment.student_id == student,
            ).one_or_none()
            if old is not None:
                for snb in list(old.notebooks):
                    for grade in list(snb.grades):
                        db.delete(grade)
                    for comment in list(snb.comments):
                        db.delete(comment)
                    db.delete(snb)
                db.delete(old)
                db.flush()
            submitted = SubmittedAssignment(assignment=assignment, student_id=student)
            with db.no_autoflush:
                self._add_rows(submitted, assignment, submission, auto, kept)
            db.add(submitted)  # after the rows exist: adding cascades to notebooks and grades
            db.commit()
        except RecorderError:
            db.rollback()
            raise
        except SQLAlchemyError as exc:
            db.rollback()
            raise RecorderError(f"{student}: {describe_db_error(exc, self.course.db_url)}") \
                from exc

    def _add_rows(self, submitted, assignment, submission: Submission, auto: dict,
                  kept: dict) -> None:
        """Grade and Comment rows of every notebook, as nbgrader's add_submission makes them."""
        from nbgrader.api import Comment, Grade, SubmittedNotebook

        for notebook in assignment.notebooks:
            snb = SubmittedNotebook(notebook=notebook, assignment=submitted)
            intake = submission.notebooks.get(f"{notebook.name}.ipynb")
            answers = intake.answers if intake else {}
            solution_ids = {c.name for c in notebook.solution_cells}
            for cell in notebook.grade_cells:
                grade = Grade(cell_id=cell.id, notebook=snb)
                if cell.name in solution_ids:  # an inline question: for the TAs
                    answer = answers.get(cell.name)
                    if answer is not None and answer.found != "missing" \
                            and not answer.answered:
                        grade.auto_score = 0.0
                        grade.needs_manual_grade = False
                    else:
                        grade.auto_score = None
                        grade.needs_manual_grade = True
                elif cell.name in auto:
                    grade.auto_score = min(auto[cell.name], float(cell.max_score))
                    grade.needs_manual_grade = False
                else:
                    grade.auto_score = None
                    grade.needs_manual_grade = True
                entry = kept.get((notebook.name, cell.name))
                if entry is not None:
                    grade.manual_score = entry.manual_score
                    grade.extra_credit = entry.extra_credit
                    if entry.manual_score is not None:
                        grade.needs_manual_grade = False
            for cell in notebook.solution_cells:
                comment = Comment(cell_id=cell.id, notebook=snb)
                answer = answers.get(cell.name)
                if answer is not None and answer.found != "missing" and not answer.answered:
                    comment.auto_comment = "No response."
                elif answer is not None and answer.found == "missing":
                    comment.auto_comment = "The answer cell was not found in the submission."
                entry = kept.get((notebook.name, cell.name))
                if entry is not None:
                    comment.manual_comment = entry.manual_comment
            for cell in notebook.task_cells:
                Comment(cell_id=cell.id, notebook=snb)
                Grade(cell_id=cell.id, notebook=snb, needs_manual_grade=True)

    # --------------------------------------------------------------------------- course files

    def _write_course_files(self, result: SubmissionResult, submission: Submission) -> None:
        student = result.student
        self.course_tmp.mkdir(parents=True, exist_ok=True)
        staging = self.course_tmp / f"{student}.{os.getpid()}.{os.urandom(4).hex()}"
        submitted = staging / "submitted"
        autograded = staging / "autograded"
        for folder in (submitted, autograded):
            folder.mkdir(parents=True)
        for path in sorted(submission.workdir.rglob("*")):
            rel = path.relative_to(submission.workdir)
            if path.is_file() and not path.is_symlink() and rel.parts[0] != "_unpacked":
                (submitted / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, submitted / rel)

        by_cell: dict[str, list] = {}
        for check in result.checks:
            by_cell.setdefault(check.grade_id, []).append(check)
        for name, release in self.release_notebooks.items():
            intake = submission.notebooks.get(name)
            if intake is not None and intake.notebook is not None:
                nb = json.loads(json.dumps(intake.notebook))
            else:
                nb = json.loads(json.dumps(release))
                why = intake.message if intake is not None else f"{name} was not submitted"
                for cell in nb["cells"]:
                    meta = cell.get("metadata", {}).get("nbgrader", {})
                    if meta.get("solution"):
                        cell["source"] = f"*(No answer: {why})*"
            for cell in nb["cells"]:
                meta = cell.get("metadata", {}).get("nbgrader", {})
                if meta.get("grade") and not meta.get("solution") and cell["cell_type"] == "code":
                    grade_id = meta.get("grade_id")
                    cell["outputs"] = [{"output_type": "stream", "name": "stdout",
                                        "text": cell_output(grade_id, by_cell.get(grade_id, []))}]
                    cell["execution_count"] = None
            (autograded / name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
        _swap_in(submitted, self.course.submitted_dir(student), self.course_tmp)
        _swap_in(autograded, self.course.autograded_dir(student), self.course_tmp)
        shutil.rmtree(staging, ignore_errors=True)


def _display_name(student: str, name: str | None) -> tuple[str, str]:
    """(first, last) for the gradebook: formgrader shows "last, first" beside the id, and
    "None, None" where there is no name. Without a name: the id and a dash."""
    if name and name.strip():
        parts = name.split()
        return " ".join(parts[:-1]) or "-", parts[-1]
    return "-", student
