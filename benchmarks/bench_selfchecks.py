"""How long each student self-check takes (solutions/checks.py), against its budget.

A student runs ``check_<task>()`` after every edit, so each must feel instant: the budget is half
a second per task on the reference. Every task's check is timed in the same interleaved rounds
(see `_timing`), and the script prints per task the median, the spread and the ratio to the
budget; a ratio above 1 is a check to make cheaper. This used to be a timed assertion in the
test suite, where a busy CI machine made it fail for nothing.

    .venv/bin/python benchmarks/bench_selfchecks.py [--repeats N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import interleaved  # noqa: E402

from solutions import checks  # noqa: E402

BUDGET_SECONDS = 0.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    tasks = {task: checks.TASKS[task] for task in checks.TASKS}
    timings = interleaved(tasks, repeats=args.repeats, warmup=1)
    print(f"{'task':34} {'median':>22}  ratio to the {BUDGET_SECONDS} s budget")
    worst = 0.0
    for task, timing in timings.items():
        ratio = timing.median / BUDGET_SECONDS
        worst = max(worst, ratio)
        print(f"{task:34} {timing.ms():>22}  {ratio:5.2f}")
    print(f"worst ratio {worst:.2f} ({'within' if worst <= 1 else 'OVER'} budget)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
