"""``python -m autograder``: the grade table, failure handling, and release + grade end to end.

The end-to-end test runs the real pipeline: nbgrader generate_assignment, the sandboxed job on
the demo's sample submissions, the recorder and the gradebook.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import cli, demo
from autograder.authoring import stubgen
from autograder.authoring.course import open_gradebook
from autograder.config import REPO_ROOT, load_config
from autograder.grading.pipeline import grade_all
from autograder.recording import summary
from autograder.recording.recorder import Row
from autograder.results import CheckResult, SubmissionResult

CONFIG = load_config()
NB = CONFIG.notebooks[0]


def test_format_table_is_compact_with_a_legend():
    rows = [
        Row("alice", {}, {"batchnorm_forward": (10.0, 10.0), "layernorm_forward": (3.5, 7.0)},
            13.5, 17.0),
        Row("bob", {}, {"batchnorm_forward": (0.0, 10.0)}, 0.0, 17.0),
    ]
    table = summary.format_table(rows)
    lines = table.splitlines()
    assert lines[0].split() == ["student", "total", "[1]", "[2]"]
    assert lines[2].split() == ["alice", "13.5/17", "10", "3.5"]
    assert lines[3].split() == ["bob", "0/17", "0", "-"]
    assert "[1] batchnorm_forward (10)" in table and "[2] layernorm_forward (7)" in table
    assert max(len(line) for line in lines) <= 100
    assert summary.format_table([]) == "(no students graded)"


def test_the_table_keeps_assignment_order_and_fits_100_columns():
    """Columns in the order of the assignment whatever order the rows list them in (a skipped
    student's row comes back from grades.csv), split into blocks that fit."""
    order = list(summary._task_order())
    full = {t: (10.25, 10.25) for t in order}
    rows = [Row("a-student-with-a-long-id", {}, dict(reversed(list(full.items()))), 1.0, 2.0),
            Row("bob", {}, dict(sorted(full.items())), 1.0, 2.0)]
    table = summary.format_table(rows)
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert sum(line.startswith("student") for line in lines) >= 2  # more than one block
    legend = table[table.index("tasks:"):]
    assert [legend.index(f"] {t} (") for t in order] == sorted(
        legend.index(f"] {t} (") for t in order)
    assert summary.format_table(rows) == summary.format_table(rows[::-1])


def crashing_for_ben(student, workdir, config):
    """A stand-in grading job (no student code runs) that crashes on ben."""
    if student == "ben":
        raise RuntimeError("the grader broke")
    score = 1.0 if (Path(workdir) / "assignment" / "layers.py").is_file() else 0.0
    check = CheckResult("batchnorm_forward: fake", "batchnorm_forward", "batchnorm_forward",
                        score, 1.0, "passed" if score else "failed")
    return SubmissionResult(student, [check], [])


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    code = cli.main(["release", "--out", str(base / "release")])
    assert code == 0
    return base


def test_a_crashing_grader_records_nothing_for_that_student(released, tmp_path, capsys):
    from autograder.authoring.course import Course

    subs = tmp_path / "subs"
    subs.mkdir()
    tree = released / "release" / CONFIG.assignment
    for student in ("ann", "ben"):
        (subs / student).mkdir()
        (subs / student / "assignment").mkdir()
        (subs / student / "assignment" / "layers.py").write_text("x = 1\n")
        (subs / student / NB).write_bytes((tree / NB).read_bytes())
    course = Course.at(released / "course", CONFIG.assignment)
    rows, failures = grade_all(subs, tmp_path / "out", CONFIG, course, progress=False,
                               job=crashing_for_ben)
    assert [r.student for r in rows] == ["ann"]
    assert len(failures) == 1 and failures[0].startswith(
        "ben: grading failed, nothing recorded: RuntimeError: the grader broke (at test_cli.py:")
    assert not (tmp_path / "out" / "ben").exists()
    with (tmp_path / "out" / "grades.csv").open() as fh:
        assert [r["student"] for r in csv.DictReader(fh)] == ["ann"]


@pytest.mark.slow
def test_release_then_grade_end_to_end(released, capsys):
    """Reference: full marks; untouched stubs: zero; classic mistake: in between and named."""
    base = released
    made = demo.make_submissions(base / "release" / CONFIG.assignment, base / "submissions",
                                 CONFIG)
    (base / "submissions" / "colab_stripped.zip").unlink()  # the demo test covers it
    assert sorted(made) == ["classic_mistake", "colab_stripped", "reference", "untouched"]
    code = cli.main(["grade", str(base / "submissions"), "--out", str(base / "out"),
                     "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0, printed

    with (base / "out" / "grades.csv").open() as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert sorted(rows) == ["classic_mistake", "reference", "untouched"]
    full = float(rows["reference"]["max_total"])
    assert full > 0
    assert float(rows["reference"]["total"]) == pytest.approx(full)
    assert float(rows["untouched"]["total"]) == 0
    assert 0 < float(rows["classic_mistake"]["total"]) < full

    mistake = json.loads((base / "out" / "classic_mistake" / "results.json").read_text())
    bn = [t for t in mistake["tests"] if t["name"].startswith("batchnorm_forward")]
    assert any("unbiased variance" in t["output"] for t in bn if t["status"] == "failed")
    assert all(t["status"] == "passed" for t in mistake["tests"]
               if t["name"].startswith("layernorm_forward"))
    html = (base / "out" / "classic_mistake" / "feedback.html").read_text()
    assert "Likely mistake: unbiased variance" in html
    assert mistake["output"].startswith("Fix first: batchnorm_forward (unbiased variance")
    untouched = json.loads((base / "out" / "untouched" / "results.json").read_text())
    assert untouched["output"].startswith("Not started yet: begin with batchnorm_forward")
    # The summary leads with one "Fix first" line per student, before the grade table.
    assert re.search(r"^  classic_mistake\s+batchnorm_forward \(unbiased variance, -[\d.]+ "
                     r"points\)", printed, re.M), printed
    assert re.search(r"^  untouched\s+Not started yet: begin with batchnorm_forward", printed,
                     re.M), printed
    assert "Every check passed: reference." in printed
    assert printed.index("Fix first, per student") < printed.index("[1] batchnorm_forward")

    for line in ("reference", "untouched", "classic_mistake"):
        assert any(row.startswith(line) for row in printed.splitlines()), printed
    assert "[1] batchnorm_forward" in printed

    gb = open_gradebook(f"sqlite:///{base / 'course' / 'gradebook.db'}")
    try:
        scores = {}
        for sub in gb.assignment_submissions(CONFIG.assignment):
            grades = {g.name: g for nb in sub.notebooks for g in nb.grades}
            scores[sub.student.id] = grades
        assert {"classic_mistake", "reference", "untouched"} <= set(scores)
        ref = scores["reference"]
        assert ref["batchnorm_forward"].auto_score == ref["batchnorm_forward"].max_score
        assert ref["inline_question_1"].needs_manual_grade  # answered: for the TAs
        assert scores["untouched"]["inline_question_1"].auto_score == 0  # no response
        assert scores["untouched"]["batchnorm_forward"].auto_score == 0
        wrong = scores["classic_mistake"]["batchnorm_forward"]
        assert 0 <= wrong.auto_score < wrong.max_score
    finally:
        gb.close()


def test_module_entry_point_and_check_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "autograder", "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "release" in proc.stdout and "grade" in proc.stdout
    assert cli.main(["check", str(tmp_path)]) == 2  # no assignment/ there


def test_grade_without_a_release_says_what_to_do(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NORMLAB_HOME", str(tmp_path / "home"))  # nothing recorded
    (tmp_path / "subs").mkdir()
    code = cli.main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out"),
                     "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no release of 'normalization' is recorded" in err
    assert "python -m autograder release --out build/release" in err
    assert "keep their grades" not in err  # nothing was graded: no advice about it
    assert not (tmp_path / "course" / "gradebook.db").exists()


def test_release_records_its_course_for_grade_and_formgrader(tmp_path, monkeypatch):
    """One course location: `grade --out` anywhere finds the course the release made."""
    from autograder.authoring.course import recorded

    monkeypatch.setenv("NORMLAB_HOME", str(tmp_path / "home"))
    config = cli.load_config(None)
    assert recorded(config.assignment) is None
    assert cli.main(["release", "--out", str(tmp_path / "rel")]) == 0
    known = recorded(config.assignment)
    assert known is not None and known.root == (tmp_path / "course").resolve()
    args = cli.build_parser().parse_args(["grade", str(tmp_path), "--out",
                                          str(tmp_path / "elsewhere" / "deep" / "out")])
    assert cli._graded_course(args, config).root == known.root


def test_grade_help_lists_the_scale_out_and_resume_options():
    help_text = cli.build_parser()._subparsers._group_actions[0].choices["grade"].format_help()
    for option in ("--workers", "--dask-scheduler", "--force", "--job-timeout"):
        assert option in help_text


def test_a_second_grade_run_skips_unchanged_submissions_and_says_so(tmp_path, capsys, course):
    """The real job on one submission; the rerun grades nothing and prints why."""
    from tests.support.grading_fixtures import write_config
    from tests.support.job_helpers import STUBS, make_submission

    make_submission(tmp_path / "subs", STUBS, name="ann")
    config = write_config(tmp_path / "release.toml")
    argv = ["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--course",
            str(course.root), "--config", str(config), "--no-progress"]
    assert cli.main(argv) == 0
    first = capsys.readouterr().out
    assert "Graded 1 submission(s)" in first
    assert cli.main(argv) == 0
    second = capsys.readouterr().out
    assert "Graded 0 submission(s)" in second
    assert "1 unchanged since they were last graded (skipped; --force grades them again)" \
        in second
    assert any(line.startswith("ann") for line in second.splitlines())  # still in the table
    assert cli.main([*argv, "--force"]) == 0
    assert "Graded 1 submission(s)" in capsys.readouterr().out


def test_a_missing_or_broken_config_is_one_clear_error_from_every_command(tmp_path, capsys):
    broken = tmp_path / "release.toml"
    broken.write_text("[stubs\ntasks = 1\n", encoding="utf-8")
    missing = tmp_path / "nowhere.toml"
    for path, words in ((broken, "not valid TOML"), (missing, "release config not found")):
        assert cli.main(["grade", str(tmp_path), "--out", str(tmp_path / "out"),
                         "--config", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("grade: error: ") and str(path) in err and words in err
        with pytest.raises(stubgen.StubgenError, match=words):  # the same reader, same words
            stubgen.load_tasks(path)
