"""A mistake costs once (issue 10, item 5): single-bug submissions built from an independent
implementation (`tests.autograder.judging.fairness.independent`), graded with the real grader and a
fixed seed.

(a) the clean implementation scores full marks; (b) every bug loses points in its own task, so
the corpus really holds the bug; (c) the targets: at least 90 % of the lost points charged to
the bug's own task, and no bug costing more than 2 points outside it.
"""

from __future__ import annotations

import pytest

from autograder.results import CheckResult, SubmissionResult
from tests.autograder.judging.fairness.independent import BUGS, REGIONS, build_submission, task_of
from tests.autograder.judging.fairness.measure import (
    TARGET_OUTSIDE,
    TARGET_SHARE,
    charges,
    format_report,
    grade_corpus,
    lost_by_task,
    summarize,
)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """{None: clean, bug: result} for every bug, graded on two processes (about 30 s)."""
    return grade_corpus(tmp_path_factory.mktemp("fairness"), processes=2)


@pytest.fixture(scope="module")
def report(results):
    rows = charges(results)
    return rows, summarize(rows)


# ------------------------------------------------------------------------------------------------
# The corpus and the arithmetic (no grading)
# ------------------------------------------------------------------------------------------------


def test_the_corpus_covers_classic_and_unknown_bugs_and_the_shared_forwards():
    assert len(BUGS) >= 16
    assert sum(b.classic for b in BUGS.values()) >= 8
    assert sum(not b.classic for b in BUGS.values()) >= 8
    tasks = [b.task for b in BUGS.values()]
    assert tasks.count("batchnorm_forward") >= 2 and tasks.count("layernorm_forward") >= 2
    assert {b.key for b in BUGS.values()} <= set(REGIONS)
    assert task_of("fc_net.FullyConnectedNet.loss:normalization") == "FullyConnectedNet.loss"


@pytest.mark.parametrize("bug", [None, *BUGS])
def test_each_build_fills_every_stub_and_differs_from_the_clean_one_in_one_place(tmp_path, bug):
    sub = build_submission(tmp_path / "sub", bug)
    texts = {p.name: p.read_text() for p in sorted((sub / "assignment").glob("*.py"))}
    # todo.py is the module that recognises stubs by this phrase, so it names it itself
    assert not any("this is your task" in text
                   for name, text in texts.items() if name != "todo.py")
    if bug is None:
        return
    clean = build_submission(tmp_path / "clean")
    changed = [name for name, text in texts.items()
               if text != (clean / "assignment" / name).read_text()]
    assert changed == [BUGS[bug].key.split(".", 1)[0] + ".py"]
    compile(texts[changed[0]], changed[0], "exec")


def _check(task, lost, max_score=2.0):
    return CheckResult(f"{task}: c", task, task, max_score - lost, max_score,
                       "failed" if lost else "passed")


def test_charges_split_the_lost_points_into_own_task_and_outside():
    results = {
        None: SubmissionResult("clean", [_check("batchnorm_forward", 0)]),
        "unbiased_variance": SubmissionResult("u", [
            _check("batchnorm_forward", 2), _check("batchnorm_backward", 1),
            _check("spatial_batchnorm_forward", 0.5), _check("layernorm_forward", 0)]),
        "backward_dx_sign": SubmissionResult("b", [_check("batchnorm_backward", 1.5)]),
    }
    assert lost_by_task(results["unbiased_variance"]) == {
        "batchnorm_forward": 2, "batchnorm_backward": 1, "spatial_batchnorm_forward": 0.5}
    first, second = charges(results)
    assert (first.bug, first.task, first.lost, first.own, first.outside) == (
        "unbiased_variance", "batchnorm_forward", 3.5, 2, 1.5)
    assert (first.worst_task, first.worst_lost) == ("batchnorm_backward", 1)
    assert (second.own, second.outside, second.worst_task) == (1.5, 0, None)
    summary = summarize([first, second])
    assert summary.share_at_source == pytest.approx(3.5 / 5)
    assert summary.worst is first and summary.outside_ok is True and summary.share_ok is False
    text = format_report([first, second], summary, results[None])
    assert "| unbiased_variance | classic | batchnorm_forward | 3.50 | 2.00 | 1.50 |" in text
    assert "70.0%" in text and "MISS" in text


# ------------------------------------------------------------------------------------------------
# The real grader on the corpus
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_clean_independent_implementation_scores_full_marks(results):
    clean = results[None]
    lost = [f"{c.name}: {c.score}/{c.max_score} {c.output[:300]}" for c in clean.checks
            if c.score < c.max_score]
    assert not lost, "\n".join(lost)
    assert clean.score == clean.max_score > 0


@pytest.mark.slow
@pytest.mark.parametrize("bug", list(BUGS))
def test_every_bug_loses_points_in_its_own_task(results, bug):
    tasks = {c.task for c in results[None].checks}
    assert BUGS[bug].task in tasks, f"{BUGS[bug].task!r} is no task of the grader: {tasks}"
    lost = lost_by_task(results[bug])
    assert lost.get(BUGS[bug].task, 0) > 0, f"{bug} lost nothing in {BUGS[bug].task}: {lost}"


@pytest.mark.slow
def test_at_least_90_percent_of_the_lost_points_are_charged_at_the_source(report):
    rows, summary = report
    assert summary.share_at_source >= TARGET_SHARE, format_report(rows, summary)


@pytest.mark.slow
def test_no_bug_costs_more_than_2_points_outside_its_task(report):
    rows, summary = report
    over = [f"{r.bug} ({r.task}): {r.outside:.2f} outside, most in {r.worst_task} "
            f"({r.worst_lost:.2f})" for r in rows if r.outside > TARGET_OUTSIDE]
    assert not over, "\n".join(over)

