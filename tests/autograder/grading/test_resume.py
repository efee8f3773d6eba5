"""Faults and data: a killed grading run resumes without grading anyone twice or losing anyone;
unchanged submissions are skipped, changed ones graded again; a corrupt, locked or busy
gradebook or output folder is a clear error with nothing written.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import cli
from autograder.authoring.course import Course
from autograder.config import REPO_ROOT, load_config
from autograder.grading.job import grade_submission
from autograder.grading.pipeline import grade_all
from autograder.recording import recorder
from autograder.recording.journal import Journal
from tests.support.grading_fixtures import (
    ASSIGNMENT,
    csv_rows,
    fake_grader,
    gradebook_scores,
    journal_lines,
    make_course,
    make_submissions,
    write_config,
)
from tests.support.job_helpers import SOLUTIONS, STUBS, make_submission


@pytest.fixture
def config(tmp_path):
    return load_config(write_config(tmp_path / "release.toml"))


def few_submissions(folder: Path, names=("ann", "ben", "cat", "dan")) -> Path:
    for i, name in enumerate(names):
        make_submission(folder, STUBS if i % 2 else SOLUTIONS, name=name)
    return folder


class Counting:
    """`fake_grader`, remembering whom it graded."""

    def __init__(self):
        self.graded: list[str] = []

    def __call__(self, student, workdir, config):
        self.graded.append(student)
        return fake_grader(student, workdir, config)


def run(subs, out, config, course, grader=None, **options):
    grader = grader or Counting()
    stats: dict = {}
    rows, failures = grade_all(subs, out, config, course, progress=False, job=grader,
                               echo=lambda *a: None, stats=stats, **options)
    return rows, failures, grader, stats


def assert_complete(out: Path, course: Course, students):
    """Every student's outputs whole, no leftovers of interrupted writes, one gradebook
    submission each, and the journal's last word on each is a commit."""
    for student in students:
        assert sorted(p.name for p in (out / student).iterdir()) == ["feedback.html",
                                                                      "results.json"]
        assert (course.autograded_dir(student) / "BatchNormalization.ipynb").is_file()
        assert (course.submitted_dir(student) / "assignment").is_dir()
    assert list((out / ".normlab" / "tmp").iterdir()) == []
    assert not (course.root / recorder.COURSE_TMP).exists() or \
        list((course.root / recorder.COURSE_TMP).iterdir()) == []
    assert not list(out.rglob("*.partial")) and not list(course.root.rglob("*.partial"))
    assert set(gradebook_scores(course)) == set(students)
    last = {r["student"]: r["event"] for r in journal_lines(out)}
    assert last == dict.fromkeys(students, "commit")
    assert [line.split(",")[0] for line in csv_rows(out)[1:]] == sorted(students)


# ------------------------------------------------------------------------------------------------
# Resume after a crash at any point of a student's writes (simulated in this process)
# ------------------------------------------------------------------------------------------------


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so no handler of the grader catches it."""


CRASH_POINTS = {
    "after the gradebook transaction": ("_write_gradebook", "after"),
    "before the course files": ("_write_course_files", "before"),
    "before grades.csv": ("_write_csv", "before"),
}


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_crash_mid_student_is_graded_again_and_nobody_twice(tmp_path, course, config,
                                                              template_gradebook,
                                                              monkeypatch, point):
    subs = few_submissions(tmp_path / "subs")
    out = tmp_path / "out"
    method, when = CRASH_POINTS[point]
    original = getattr(recorder.Recorder, method)

    def crashing(self, *args, **kwargs):
        student = getattr(args[0], "student", None) if args else None
        busy = student or next((r["student"] for r in reversed(journal_lines(out))
                                if r["event"] == "begin"), None)
        if busy == "cat" and when == "before":
            raise Killed
        value = original(self, *args, **kwargs)
        if busy == "cat":
            raise Killed
        return value

    monkeypatch.setattr(recorder.Recorder, method, crashing)
    with pytest.raises(Killed):
        run(subs, out, config, course)
    monkeypatch.undo()
    assert {r["student"]: r["event"] for r in journal_lines(out)} == {
        "ann": "commit", "ben": "commit", "cat": "begin"}

    rows, failures, grader, stats = run(subs, out, config, course)
    assert grader.graded == ["cat", "dan"]  # cat again (interrupted), ann and ben skipped
    assert stats["skipped"] == 2 and failures == []
    assert_complete(out, course, ["ann", "ben", "cat", "dan"])
    fresh_rows, _, _, _ = run(subs, tmp_path / "fresh", config,
                              make_course(tmp_path / "fresh-course", template_gradebook))
    assert [(r.student, r.scores) for r in rows] == [(r.student, r.scores) for r in fresh_rows]


@pytest.mark.slow
def test_sigkill_mid_batch_then_rerun_grades_everyone_exactly_once(tmp_path, course, config):
    """The real thing: `python -m autograder grade` with sandboxed jobs, SIGKILLed as soon as
    the first student is committed, then run again."""
    subs = tmp_path / "subs"
    for name in ("ref1", "ref2", "ref3"):
        make_submission(subs, SOLUTIONS, name=name)
    make_submission(subs, STUBS, name="stubs")
    made = make_submissions(tmp_path / "more")
    os.rename(made["mistake"], subs / "mistake")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out),
               "--course", str(course.root), "--config", str(config.path), "--no-progress"]
    proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    journal = out / ".normlab" / "journal.jsonl"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if journal.is_file() and '"commit"' in journal.read_text():
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stderr.close()
    before = {r["student"]: r for r in journal_lines(out)}
    committed = {s for s, r in before.items() if r["event"] == "commit"}
    assert 1 <= len(committed) < 5, before

    grader = Counting()

    def real(student, workdir, config):
        grader.graded.append(student)
        return grade_submission(student, workdir, config)

    rows, failures, _, stats = run(subs, out, config, course, grader=real)
    assert failures == []
    everyone = {"mistake", "ref1", "ref2", "ref3", "stubs"}
    assert set(grader.graded) == everyone - committed  # nobody twice, nobody lost
    assert len(grader.graded) == len(set(grader.graded))
    assert_complete(out, course, sorted(everyone))
    totals = {r.student: (r.total, r.max_total) for r in rows}
    full = totals["ref1"][1]
    assert totals["ref1"] == totals["ref2"] == totals["ref3"] == (full, full)
    assert totals["stubs"][0] == 0 and 0 < totals["mistake"][0] < full
    results = {s: json.loads((out / s / "results.json").read_text())["score"] for s in everyone}
    assert results == {s: totals[s][0] for s in everyone}
    by_student = {line.split(",", 1)[0]: line.split(",", 1)[1] for line in csv_rows(out)[1:]}
    assert by_student["ref1"] == by_student["ref2"] == by_student["ref3"]  # check by check


# ------------------------------------------------------------------------------------------------
# Skipping, regrading, idempotence
# ------------------------------------------------------------------------------------------------


def test_unchanged_are_skipped_changed_are_graded_again_force_grades_all(tmp_path, course,
                                                                          config):
    subs = few_submissions(tmp_path / "subs")
    out = tmp_path / "out"
    first, _, grader, _ = run(subs, out, config, course)
    assert grader.graded == ["ann", "ben", "cat", "dan"]
    snapshot = (csv_rows(out), gradebook_scores(course))

    again, _, grader, stats = run(subs, out, config, course)
    assert grader.graded == [] and stats["skipped"] == 4
    assert [(r.student, r.scores) for r in again] == [(r.student, r.scores) for r in first]
    assert (csv_rows(out), gradebook_scores(course)) == snapshot

    (subs / "ben" / "assignment" / "layers.py").write_text("# resubmitted\n")
    _, _, grader, _ = run(subs, out, config, course)
    assert grader.graded == ["ben"]
    assert csv_rows(out) != snapshot[0]

    (out / "dan" / "results.json").unlink()  # an output gone: graded again
    _, _, grader, _ = run(subs, out, config, course)
    assert grader.graded == ["dan"]

    _, _, grader, _ = run(subs, out, config, course, force=True)
    assert grader.graded == ["ann", "ben", "cat", "dan"]
    forced = csv_rows(out)
    _, _, grader, _ = run(subs, out, config, course, force=True)
    assert csv_rows(out) == forced  # regrading is idempotent
    assert_complete(out, course, ["ann", "ben", "cat", "dan"])

    other = load_config(write_config(tmp_path / "seed.toml", seed=7))
    _, _, grader, _ = run(subs, out, other, course)
    assert grader.graded == ["ann", "ben", "cat", "dan"]  # another configuration


def test_a_failed_job_is_retried_by_the_next_run(tmp_path, course, config):
    subs = few_submissions(tmp_path / "subs", ("ann", "ben"))
    out = tmp_path / "out"

    def flaky(student, workdir, config):
        if student == "ben":
            raise RuntimeError("the grading machine hiccuped")
        return fake_grader(student, workdir, config)

    rows, failures, _, _ = run(subs, out, config, course, grader=flaky)
    assert [r.student for r in rows] == ["ann"] and len(failures) == 1
    _, failures, grader, _ = run(subs, out, config, course)
    assert grader.graded == ["ben"] and failures == []


# ------------------------------------------------------------------------------------------------
# A gradebook or output folder that cannot be used
# ------------------------------------------------------------------------------------------------


def _grade_cli(subs, out, course, config, *extra):
    return cli.main(["grade", str(subs), "--out", str(out), "--course", str(course.root),
                     "--config", str(config.path), "--no-progress", *extra])


def test_corrupt_gradebook_exits_non_zero_and_writes_nothing(tmp_path, course, config, capsys):
    subs = few_submissions(tmp_path / "subs", ("ann",))
    db = course.root / "gradebook.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\x13garbage" * 400)
    before = db.read_bytes()
    code = _grade_cli(subs, tmp_path / "out", course, config)
    err = capsys.readouterr().err
    assert code == 2
    assert "not a readable SQLite database" in err and "Restore it from a backup" in err
    assert not (tmp_path / "out").exists()
    assert db.read_bytes() == before
    assert not (course.root / "submitted").exists() and not (course.root / "autograded").exists()


@pytest.mark.parametrize("lock", ["IMMEDIATE", "EXCLUSIVE"])  # writes blocked / reads too
def test_locked_gradebook_waits_for_the_busy_timeout_then_a_clear_error(tmp_path,
                                                                         template_gradebook,
                                                                         config, capsys, lock):
    subs = few_submissions(tmp_path / "subs", ("ann",))
    db = tmp_path / "course" / "gradebook.db"
    course = make_course(tmp_path / "course", template_gradebook, f"sqlite:///{db}?timeout=1")
    holder = sqlite3.connect(db)
    holder.execute(f"BEGIN {lock}")
    started = time.monotonic()
    try:
        code = cli.main(["grade", str(subs), "--out", str(tmp_path / "out"), "--course",
                         str(course.root), "--db", course.db_url, "--config", str(config.path),
                         "--no-progress", "--workers", "1"])
    finally:
        elapsed = time.monotonic() - started
        holder.rollback()
        holder.close()
    err = capsys.readouterr().err
    assert code == 2
    assert "locked by another program" in err and "nothing of this student was written" in err
    assert elapsed >= 1.0  # it waited for the busy timeout
    assert not (tmp_path / "out" / "ann").exists()
    assert not course.autograded_dir("ann").exists()
    assert gradebook_scores(Course.at(course.root, ASSIGNMENT)) == {}
    journal = tmp_path / "out" / ".normlab" / "journal.jsonl"
    assert not journal.exists() or '"commit"' not in journal.read_text()


def test_a_second_run_on_the_same_output_folder_is_refused(tmp_path, course, config, capsys):
    subs = few_submissions(tmp_path / "subs", ("ann",))
    holder = Journal(tmp_path / "out")
    try:
        code = _grade_cli(subs, tmp_path / "out", course, config)
    finally:
        holder.close()
    assert code == 2
    assert "another grading run" in capsys.readouterr().err
    assert not (tmp_path / "out" / "ann").exists()


def test_journal_ignores_a_line_cut_short_and_cleans_leftovers(tmp_path):
    out = tmp_path / "out"
    journal = Journal(out)
    journal.commit("ann", "k1", {"scores": {}, "tasks": {}, "total": 1, "max_total": 1})
    journal.begin("ben", "k2")
    journal.close()
    with (out / ".normlab" / "journal.jsonl").open("a") as fh:
        fh.write('{"event": "commit", "student": "ben", "ke')  # the crash, mid-line
    leftover = out / ".normlab" / "tmp" / "ben.999999999.abcd"
    leftover.mkdir(parents=True)
    journal = Journal(out)
    try:
        assert journal.committed("ann")["key"] == "k1"
        assert journal.committed("ben") is None and journal.interrupted() == ["ben"]
        assert not leftover.exists()
        journal.commit("ben", "k2", {"scores": {}, "tasks": {}, "total": 0, "max_total": 1})
    finally:
        journal.close()
    lines = (out / ".normlab" / "journal.jsonl").read_text().splitlines()
    assert [json.loads(line)["student"] for line in lines] == ["ann", "ben", "ben"]
