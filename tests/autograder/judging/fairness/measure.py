"""Does the grader charge one bug once, at its source? (issue 10, item 5)

Grades the independent implementation (`tests.autograder.judging.fairness.independent`) clean and
with each single bug, with the real grader (`autograder.grading.job.grade_submission`, a fixed
seed), and splits every variant's lost points into those of the task holding the bug and those of
all other tasks. Used by ``benchmarks/bench_fairness.py`` (prints the table) and
``tests/autograder/judging/test_fairness.py`` (asserts the targets).

    results = grade_corpus(tmp_path)          # {None: clean, "unbiased_variance": ..., ...}
    rows = charges(results)
    summary = summarize(rows)
    print(format_report(rows, summary, results[None]))
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from autograder.config import GradingConfig, load_config
from autograder.grading.job import grade_submission
from autograder.results import SubmissionResult
from tests.autograder.judging.fairness.independent import BUGS, build_submission

SEED = 123
TARGET_SHARE = 0.90  # at least this share of all lost points charged to the bug's own task
TARGET_OUTSIDE = 2.0  # no bug costs more than this many points outside its own task
CLEAN = "clean"


def fixed_config(seed: int = SEED) -> GradingConfig:
    """The default release configuration (every graded task) with a fixed seed."""
    return dataclasses.replace(load_config(), seed=seed)


def grade_variant(bug: str | None, folder: Path, config: GradingConfig) -> SubmissionResult:
    """Build the clean submission (``bug=None``) or one bug variant in ``folder/<name>`` and grade
    it; the student id is the variant's name."""
    name = CLEAN if bug is None else bug
    submission = build_submission(Path(folder) / name, bug)
    return grade_submission(name, submission, config)


def _grade_json(bug: str | None, folder: str, config: GradingConfig) -> str:
    return grade_variant(bug, Path(folder), config).to_json()


def grade_corpus(folder: Path, config: GradingConfig | None = None,
                 bugs: list[str] | None = None, processes: int = 1
                 ) -> dict[str | None, SubmissionResult]:
    """Grade the clean build and every bug of ``bugs`` (default: all of `BUGS`) under
    ``config`` (default: `fixed_config()`), serially or on a pool of ``processes`` spawned
    worker processes. Returns {None: the clean result, bug name: its result}, in `BUGS` order."""
    config = config or fixed_config()
    variants: list[str | None] = [None, *(bugs if bugs is not None else BUGS)]
    if processes <= 1:
        return {bug: grade_variant(bug, folder, config) for bug in variants}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        futures = {bug: pool.submit(_grade_json, bug, str(folder), config) for bug in variants}
        return {bug: SubmissionResult.from_json(f.result()) for bug, f in futures.items()}


def lost_by_task(result: SubmissionResult) -> dict[str, float]:
    """{task: points lost in its checks} over the tasks that lost anything."""
    lost: dict[str, float] = defaultdict(float)
    for check in result.checks:
        if check.score < check.max_score:
            lost[check.task] += check.max_score - check.score
    return dict(lost)


@dataclass(frozen=True)
class Charge:
    """Where one bug's lost points were charged (points, not shares)."""

    bug: str
    task: str  # the task holding the bug (`CheckResult.task` spelling)
    classic: bool
    lost: float  # in total
    own: float  # in the checks of ``task``
    outside: float  # in every other task
    worst_task: str | None  # the other task that lost most (None: none lost anything)
    worst_lost: float  # what it lost

    @property
    def share_own(self) -> float:
        return self.own / self.lost if self.lost else 1.0


def charges(results: dict[str | None, SubmissionResult]) -> list[Charge]:
    """One `Charge` per bug variant of ``results`` (the clean entry, key None, is skipped)."""
    rows = []
    for bug, result in results.items():
        if bug is None:
            continue
        task = BUGS[bug].task
        lost = lost_by_task(result)
        others = {t: v for t, v in lost.items() if t != task}
        worst = max(others, key=lambda t: (others[t], t), default=None)
        rows.append(Charge(bug, task, BUGS[bug].classic, sum(lost.values()), lost.get(task, 0.0),
                           sum(others.values()), worst, others.get(worst, 0.0)))
    return rows


@dataclass(frozen=True)
class Summary:
    """The two fairness numbers over a corpus, and whether they meet the targets."""

    lost: float  # points lost over all bugs
    share_at_source: float  # share of ``lost`` charged to the bug's own task
    worst: Charge  # the bug that lost most outside its own task

    @property
    def share_ok(self) -> bool:
        return self.share_at_source >= TARGET_SHARE

    @property
    def outside_ok(self) -> bool:
        return self.worst.outside <= TARGET_OUTSIDE


def summarize(rows: list[Charge]) -> Summary:
    """Share at the source (points-weighted over all bugs) and the worst bug outside its task."""
    lost = sum(r.lost for r in rows)
    own = sum(r.own for r in rows)
    worst = max(rows, key=lambda r: (r.outside, r.bug))
    return Summary(lost, own / lost if lost else 1.0, worst)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def format_report(rows: list[Charge], summary: Summary,
                  clean: SubmissionResult | None = None) -> str:
    """The Markdown table (one row per bug) and the two target lines, after the clean build's
    score when ``clean`` is given."""
    lines = [] if clean is None else [
        f"clean independent implementation: {clean.score:g} / {clean.max_score:g}", ""]
    lines += ["| bug | kind | its task | lost | in its task | outside | most outside |",
              "| --- | --- | --- | ---: | ---: | ---: | --- |"]
    for r in rows:
        worst = f"{r.worst_task} {r.worst_lost:.2f}" if r.worst_task else "-"
        kind = "classic" if r.classic else "unknown"
        lines.append(f"| {r.bug} | {kind} | {r.task} | {r.lost:.2f} | {r.own:.2f} | "
                     f"{r.outside:.2f} | {worst} |")
    lines += [
        "",
        f"charged at the source: {summary.share_at_source:.1%} of {summary.lost:.2f} points lost "
        f"(target >= {TARGET_SHARE:.0%}): {_verdict(summary.share_ok)}",
        f"worst bug outside its task: {summary.worst.bug} ({summary.worst.task}) costs "
        f"{summary.worst.outside:.2f} points outside it (target <= {TARGET_OUTSIDE:g}): "
        f"{_verdict(summary.outside_ok)}",
    ]
    return "\n".join(lines)
