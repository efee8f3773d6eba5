"""The recorder: grades.csv, Gradescope results.json, feedback.html and the nbgrader gradebook.

The course is made with nbgrader's own Gradebook API (what `nbgrader generate_assignment` would
store), the results by hand, so these tests need neither nbgrader's converters nor the sandbox.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3

import nbformat
import pytest

from autograder.authoring.course import Course, CourseError, grade_cells, open_gradebook
from autograder.config import GradingConfig
from autograder.grading.intake import prepare
from autograder.recording.feedback import feedback_html, results_json
from autograder.recording.recorder import Recorder, RecorderError
from autograder.results import CheckResult, SubmissionResult
from tests.support.released_notebook import NB, answered, released_notebook, write_submission

CONFIG = GradingConfig(assignment="normalization", notebooks=(NB,))
NOTEBOOK = NB.removesuffix(".ipynb")


def make_recorder(tmp_path, course) -> Recorder:
    return Recorder(tmp_path / "out", course, CONFIG, grade_cells(course.db_url, "normalization"),
                    {NB: released_notebook()})


def result_for(student, bn_scores=(1.0, 1.0), ln_score=2.0, output="") -> SubmissionResult:
    checks = [
        CheckResult("batchnorm_forward: train-mode mean/std", "batchnorm_forward",
                    "batchnorm_forward", bn_scores[0], 2.0,
                    "passed" if bn_scores[0] == 2.0 else "failed", output,
                    None if bn_scores[0] == 2.0 else "unbiased_variance",
                    id="batchnorm_forward.train_stats"),
        CheckResult("batchnorm_forward: float32 preserved", "batchnorm_forward",
                    "batchnorm_forward", bn_scores[1], 2.0,
                    "passed" if bn_scores[1] == 2.0 else "error", "TypeError: boom",
                    id="batchnorm_forward.float32"),
        CheckResult("layernorm_forward: matches reference (hidden inputs)", "layernorm_forward",
                    "layernorm_forward", ln_score, 2.0, "passed" if ln_score == 2 else "failed",
                    id="layernorm_forward.reference_hidden"),
    ]
    return SubmissionResult(student, checks, ["a problem <b>bold</b>"], 1.5)


def submission(tmp_path, student, answers=None):
    nb = answered(released_notebook(), answers or {})
    folder = write_submission(tmp_path / "subs" / student, nb)
    return prepare(student, folder, (NB,), {NB: released_notebook()})


def gradebook_rows(course, student):
    """(grade_id, auto_score, manual_score, needs_manual_grade) and comments of a submission."""
    gb = open_gradebook(course.db_url)
    try:
        sub = gb.find_submission("normalization", student)
        grades = sorted((g.name, g.auto_score, g.manual_score, g.needs_manual_grade)
                        for nb in sub.notebooks for g in nb.grades)
        comments = sorted((c.name, c.auto_comment, c.manual_comment)
                          for nb in sub.notebooks for c in nb.comments)
        count = len(gb.assignment_submissions("normalization"))
        return grades, comments, count
    finally:
        gb.close()


def test_results_json_follows_the_gradescope_schema():
    data = results_json(result_for("alice"), manual_points=4)
    assert data["score"] == pytest.approx(1 + 1 + 2)
    assert "graded by the course staff" in data["output"] and "a problem" in data["output"]
    assert len(data["tests"]) == 3
    for test in data["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed") and test["visibility"] == "visible"
        assert isinstance(test["score"], float) and test["score"] <= test["max_score"]
    assert data["tests"][0]["output"].startswith("Likely mistake: unbiased variance")
    assert data["tests"][1]["status"] == "failed"  # "error" is a failure for Gradescope
    assert sum(t["score"] for t in data["tests"]) == pytest.approx(data["score"])
    json.dumps(data)


def test_feedback_html_escapes_student_controlled_text():
    evil = "Traceback: <script>alert('x')</script> & \"quotes\""
    page = feedback_html(result_for("alice", output=evil), "normalization",
                         [("inline_question_1", "<img src=x onerror=alert(1)>")], 4)
    assert "<script>" not in page and "<img" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;" in page
    assert "Likely mistake: unbiased variance" in page
    assert "Autograded score: <b>4 / 6</b>" in page
    assert page.index("Problems with your submission") < page.index("Checks of your code")
    # No external assets; links only to places in the page itself (href="#...").
    assert not re.search(r"<(link|script|img|iframe)\b|<[^>]*\s(src=|href=(?!\"#))", page)


def test_record_writes_csv_json_html_gradebook_and_course_files(tmp_path, course):
    recorder = make_recorder(tmp_path, course)
    sub = submission(tmp_path, "alice", {"inline_question_1": "Because."})
    try:
        recorder.record(result_for("alice", bn_scores=(2.0, 2.0)), sub)
    finally:
        sub.cleanup()
    rows = recorder.finish()
    assert [r.student for r in rows] == ["alice"]

    out = tmp_path / "out"
    lines = (out / "grades.csv").read_text().splitlines()
    # columns are the checks' ids, not their titles (which are for people, and translatable)
    assert lines[0] == ("student,batchnorm_forward.train_stats,batchnorm_forward.float32,"
                        "layernorm_forward.reference_hidden,total,max_total")
    assert lines[1] == "alice,2,2,2,6,6"
    assert json.loads((out / "alice" / "results.json").read_text())["score"] == 6
    assert "alice" in (out / "alice" / "feedback.html").read_text()

    grades, comments, count = gradebook_rows(course, "alice")
    assert count == 1
    assert grades == [
        ("batchnorm_forward", 3.0, None, False),  # 4 points of checks, capped at the cell's 3
        ("inline_question_1", None, None, True),  # answered: for the TAs
        ("inline_question_2", 0.0, None, False),  # untouched placeholder: no response
        ("layernorm_forward", 2.0, None, False),
    ]
    assert comments == [("inline_question_1", None, None),
                        ("inline_question_2", "No response.", None)]

    graded = json.loads((course.autograded_dir("alice") / NB).read_text())
    nbformat.validate(nbformat.from_dict(graded))
    cells = {c["metadata"]["nbgrader"]["grade_id"]: c for c in graded["cells"]
             if "nbgrader" in c["metadata"]}
    assert "".join(cells["inline_question_1"]["source"]).endswith("Because.")
    assert "4 / 4 points for batchnorm_forward" in cells["batchnorm_forward"]["outputs"][0]["text"]
    assert (course.submitted_dir("alice") / "assignment" / "layers.py").is_file()
    assert (course.submitted_dir("alice") / NB).is_file()


def test_regrading_is_idempotent_and_keeps_unchanged_ta_grades(tmp_path, course):
    answers = {"inline_question_1": "Because.", "inline_question_2": "Small layers."}
    runs = []
    for _ in range(2):
        recorder = make_recorder(tmp_path, course)
        sub = submission(tmp_path / "a", "bob", answers)
        try:
            recorder.record(result_for("bob"), sub)
        finally:
            sub.cleanup()
        recorder.finish()
        runs.append((gradebook_rows(course, "bob"), (tmp_path / "out" / "grades.csv").read_text(),
                     (tmp_path / "out" / "bob" / "results.json").read_text()))
    assert runs[0] == runs[1]  # the same rows and files, no duplicates
    first = runs[0][0]
    assert first[2] == 1

    # A TA grades both answers; the student resubmits with answer 2 changed.
    gb = open_gradebook(course.db_url)
    try:
        for question, score in (("inline_question_1", 1.5), ("inline_question_2", 2.0)):
            grade = gb.find_grade(question, NOTEBOOK, "normalization", "bob")
            grade.manual_score = score
            comment = gb.find_comment(question, NOTEBOOK, "normalization", "bob")
            comment.manual_comment = f"TA on {question}"
        gb.db.commit()
    finally:
        gb.close()
    recorder = make_recorder(tmp_path, course)
    sub = submission(tmp_path / "b", "bob", {**answers, "inline_question_2": "Changed."})
    try:
        recorder.record(result_for("bob"), sub)
    finally:
        sub.cleanup()
    recorder.finish()
    grades, comments, count = gradebook_rows(course, "bob")
    assert count == 1
    assert ("inline_question_1", None, 1.5, False) in grades  # same answer: TA grade kept
    assert ("inline_question_2", None, None, True) in grades  # changed: needs grading again
    assert ("inline_question_1", None, "TA on inline_question_1") in comments
    assert any("inline_question_2 was dropped" in w for w in recorder.warnings)
    rows_now = [g for g in grades if not g[0].startswith("inline")]
    assert rows_now == [g for g in first[0] if not g[0].startswith("inline")]


def test_grades_csv_keeps_other_students_and_column_order(tmp_path, course):
    for student in ("carol", "dave"):
        recorder = make_recorder(tmp_path, course)
        sub = submission(tmp_path, student)
        try:
            recorder.record(result_for(student, ln_score=1.0 if student == "dave" else 2.0), sub)
        finally:
            sub.cleanup()
        recorder.finish()
    lines = (tmp_path / "out" / "grades.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["student", "carol", "dave"]
    assert lines[2].endswith(",1,3,6")


def test_grades_csv_written_before_check_ids_gets_its_title_columns_renamed(tmp_path, course):
    """A grades.csv of a version that headed columns with check titles: the kept row of a
    student not graded again lands under the ids, and no title column is left."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "grades.csv").write_text(
        "student,batchnorm_forward: train-mode mean/std,batchnorm_forward: float32 preserved,"
        "layernorm_forward: matches reference (hidden inputs),total,max_total\n"
        "erin,1.5,2,0,3.5,6\n", encoding="utf-8")
    recorder = make_recorder(tmp_path, course)
    sub = submission(tmp_path, "frank")
    try:
        recorder.record(result_for("frank"), sub)
    finally:
        sub.cleanup()
    recorder.finish()
    lines = (out / "grades.csv").read_text().splitlines()
    assert lines == ["student,batchnorm_forward.train_stats,batchnorm_forward.float32,"
                     "layernorm_forward.reference_hidden,total,max_total",
                     "erin,1.5,2,0,3.5,6",
                     "frank,1,1,2,4,6"]


@pytest.mark.parametrize("lock", ["EXCLUSIVE", "IMMEDIATE"])  # no reads / reads but no writes
def test_locked_gradebook_is_a_clear_error_and_writes_nothing(tmp_path, course, lock):
    locked = Course.at(course.root, "normalization",
                       f"sqlite:///{course.root / 'gradebook.db'}?timeout=0.2")
    recorder = make_recorder(tmp_path, locked)
    recorder._gb()  # opened before the lock, as in a long grading run
    holder = sqlite3.connect(course.root / "gradebook.db")
    holder.execute(f"BEGIN {lock}")
    sub = submission(tmp_path, "erin", {"inline_question_1": "x"})
    try:
        with pytest.raises(RecorderError, match="locked by another program"):
            recorder.record(result_for("erin"), sub)
    finally:
        holder.rollback()
        holder.close()
        sub.cleanup()
        recorder.close()
    gb = open_gradebook(course.db_url)
    try:
        assert gb.assignment_submissions("normalization") == []
        assert [s.id for s in gb.students] == []
    finally:
        gb.close()
    assert not (tmp_path / "out" / "erin").exists()
    assert not course.autograded_dir("erin").exists()


def test_corrupt_gradebook_is_a_clear_error(tmp_path):
    path = tmp_path / "gradebook.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CourseError, match="not a readable SQLite database"):
        open_gradebook(f"sqlite:///{path}")


def test_missing_assignment_in_gradebook_says_run_the_release(course):
    with pytest.raises(CourseError, match="run `python -m autograder release` first"):
        grade_cells(course.db_url, "another_assignment")


def test_record_brackets_each_student_with_a_journal_begin_and_commit(tmp_path, course):
    from autograder.recording.journal import Journal

    recorder = make_recorder(tmp_path, course)
    sub = submission(tmp_path, "gil")
    try:
        recorder.record(result_for("gil"), sub, key="k-1")
        assert recorder.up_to_date("gil", "k-1").total == recorder.rows[0].total
        assert recorder.up_to_date("gil", "k-2") is None  # another submission or grader
    finally:
        sub.cleanup()
    recorder.finish()
    lines = [json.loads(line) for line in
             (tmp_path / "out" / ".normlab" / "journal.jsonl").read_text().splitlines()]
    assert [(r["event"], r["student"], r["key"]) for r in lines] == [
        ("begin", "gil", "k-1"), ("commit", "gil", "k-1")]
    assert lines[1]["row"]["total"] == 4.0
    assert (tmp_path / "out" / "grades.csv").read_text().splitlines()[1].startswith("gil,")

    (tmp_path / "out" / "gil" / "feedback.html").unlink()  # an output lost: not up to date
    recorder = make_recorder(tmp_path, course)
    try:
        assert recorder.up_to_date("gil", "k-1") is None
    finally:
        recorder.close()
    assert Journal(tmp_path / "out").committed("gil")["key"] == "k-1"


def test_grades_csv_is_rewritten_after_every_student(tmp_path, course):
    """A run killed after a student leaves that student's row in grades.csv."""
    recorder = make_recorder(tmp_path, course)
    for student in ("hal", "ida"):
        sub = submission(tmp_path, student)
        try:
            recorder.record(result_for(student), sub)
        finally:
            sub.cleanup()
        rows = (tmp_path / "out" / "grades.csv").read_text().splitlines()
        assert rows[-1].startswith(f"{student},")
    recorder.close()  # no finish(): as after a kill


def test_a_new_recorder_removes_what_a_dead_run_left_half_written(tmp_path, course):
    recorder = make_recorder(tmp_path, course)
    recorder.close()
    dead = tmp_path / "out" / ".normlab" / "tmp" / "joe.999999999.ab12"
    dead.mkdir()
    (dead / "results.json").write_text("{half")
    alive = tmp_path / "out" / ".normlab" / "tmp" / f"kim.{os.getppid()}.cd34"
    alive.mkdir()
    course_dead = course.root / ".normlab-tmp" / "joe.999999999.ef56"
    course_dead.mkdir(parents=True)
    (tmp_path / "out" / "grades.csv.partial").write_text("student\n")
    recorder = make_recorder(tmp_path, course)
    recorder.close()
    assert not dead.exists() and not course_dead.exists()
    assert alive.exists()  # another live process's (pid) work is not touched
    assert not (tmp_path / "out" / "grades.csv.partial").exists()
