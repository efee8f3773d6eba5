"""Fairness of the grade (issue 10, item 5): is one bug charged once, at its source?

    .venv/bin/python benchmarks/bench_fairness.py              # about 45 s, serially
    .venv/bin/python benchmarks/bench_fairness.py --detail     # plus every check that lost points

Builds an implementation of every graded task that is not the reference
(``tests/autograder/judging/fairness/independent.py``), clean and with one bug at a time (classic
mistakes and mistakes no catalogue names), grades each with the real grader (``grade_submission``,
every task of ``autograder/release.toml``, seed 123, serially) and prints per bug the points lost in
total, in the task holding the bug, outside it, and the outside task that lost most.

Targets (issue 10): at least 90 % of all lost points charged to the bug's own task, and no single
bug costing more than 2 points outside its task. The computation is importable
(``tests.autograder.judging.fairness.measure``: `grade_corpus`, `charges`, `summarize`,
`format_report`), and ``tests/autograder/judging/test_fairness.py`` asserts the same targets. This
script prints, it never asserts.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.autograder.judging.fairness.independent import BUGS  # noqa: E402
from tests.autograder.judging.fairness.measure import (  # noqa: E402
    charges,
    fixed_config,
    format_report,
    grade_corpus,
    summarize,
)

__all__ = ["charges", "fixed_config", "format_report", "grade_corpus", "summarize"]


def detail(results) -> str:
    """Every check that lost points, per variant."""
    lines = []
    for bug, result in results.items():
        lost = [c for c in result.checks if c.score < c.max_score]
        lines.append(f"{bug or 'clean'}: {result.score:g} / {result.max_score:g}")
        lines += [f"    -{c.max_score - c.score:.2f}  {c.name}  [{c.status}]" for c in lost]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=123, help="[grading] seed (default 123)")
    parser.add_argument("--processes", type=int, default=1,
                        help="grade on a pool of N processes (default 1: serially)")
    parser.add_argument("--bug", action="append", choices=sorted(BUGS),
                        help="grade only this bug (repeatable; default: all)")
    parser.add_argument("--detail", action="store_true", help="list every check that lost points")
    args = parser.parse_args(argv)

    print(f"Python {platform.python_version()}, {platform.machine()}, "
          f"{len(args.bug or BUGS)} bug variants + the clean build, seed {args.seed}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="normlab-fairness-") as folder:
        results = grade_corpus(Path(folder), fixed_config(args.seed), args.bug, args.processes)
    seconds = time.perf_counter() - started
    rows = charges(results)
    print(format_report(rows, summarize(rows), results[None]))
    if args.detail:
        print()
        print(detail(results))
    print(f"\n(graded {len(results)} submissions in {seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
