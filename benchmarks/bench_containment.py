"""Overhead of the per-job totals (issue 15): grading with and without
`autograder.sandbox.containment`.

    .venv/bin/python benchmarks/bench_containment.py              # about 2 minutes
    .venv/bin/python benchmarks/bench_containment.py --repeats 5  # a quick look

Side by side, interleaved in one process (`_timing.interleaved`, a shuffled order per round):

* **with**: what a job gets on this machine (`containment.support`): its cgroup (memory + pids),
  a tmpfs on its folder, the output count, ``oom_score_adj``;
* **without**: the same code with no mechanism available (as ``NORMLAB_CONTAINMENT=off``, or a
  grader that is not root): a plain folder, per-process limits only -- what grading was before.

Three sizes of work, each timed in both modes:

1. the **whole job** of one submission (`job.grade_submission` of the reference solution, every
   check of `autograder/release.toml`, a fixed seed): what a student's grading costs;
2. **one trivial child** (``pass``) in a job that exists already: what each sandboxed process
   costs more (joining the cgroup, the kill after it, the output count);
3. **an empty job** (`containment.Job` made and closed, no child): the fixed cost per job
   (making the cgroup and the tmpfs, removing them).

Prints medians with quartiles and the paired ratio with / without (round by round). It prints
and never asserts; the targets are those of benchmarks/README.md ("Grading throughput": at most
3 s per submission on one worker), measured by bench_grading.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import interleaved, paired_ratio  # noqa: E402

from autograder.authoring import stubgen  # noqa: E402
from autograder.config import load_config  # noqa: E402
from autograder.grading import job  # noqa: E402
from autograder.sandbox import containment  # noqa: E402
from autograder.sandbox import spawn as sandbox  # noqa: E402


def modes() -> dict[str, containment.Support]:
    """The two sets of mechanisms compared: what this machine gives, and none."""
    found = containment.support()
    none = containment.Support(cgroup_why="benchmark: without", tmpfs_why="benchmark: without")
    return {"with": found, "without": none}


def in_mode(support: containment.Support, fn):
    """``fn`` run with `containment.support` answering ``support``."""
    def run():
        original = containment.support
        containment.support = lambda: support
        try:
            return fn()
        finally:
            containment.support = original
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="rounds of the whole job")
    parser.add_argument("--small-repeats", type=int, default=41,
                        help="rounds of the trivial child and of the empty job")
    args = parser.parse_args(argv)

    config = load_config()
    config = dataclasses.replace(config, seed=123)
    found = containment.support()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, Python "
          f"{platform.python_version()}, {'root' if os.geteuid() == 0 else 'not root'}, "
          f"isolation {sandbox.default_isolation()}")
    for line in containment.report(config.limits):
        print(line)
    if found.cgroup is None and not found.tmpfs:
        print("\nNothing to compare: no per-job mechanism is available here (see above).")
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="normlab-bench-containment-"))
    submission = tmp / "reference"
    stubgen.generate(REPO / "solutions", submission / "assignment", tasks=set())
    os.chmod(tmp, 0o755)

    def whole_job():
        result = job.grade_submission("bench", submission, config)
        assert result.score == result.max_score, result.score

    pass_script = tmp / "pass.py"
    pass_script.write_text("pass\n")
    os.chmod(pass_script, 0o644)
    jobs = {}

    def trivial_child(name):
        def run():
            contained = jobs[name]
            work = contained.path / f"run{time.monotonic_ns()}"
            work.mkdir()
            res = sandbox.run_python(pass_script, [], work, config.limits, job=contained,
                                     readable=[tmp])
            assert res.ok, res.stderr_tail
            containment.remove_tree(work)
        return run

    def empty_job():
        with containment.Job(config.limits):
            pass

    sets = modes()
    results = {}
    started = time.perf_counter()
    results["whole job (58 checks)"] = interleaved(
        {m: in_mode(s, whole_job) for m, s in sets.items()}, repeats=args.repeats, warmup=1)
    for m, s in sets.items():
        jobs[m] = in_mode(s, lambda: containment.Job(config.limits))()
        os.chmod(jobs[m].path, 0o755)
    try:
        results["one trivial child"] = interleaved(
            {m: trivial_child(m) for m in sets}, repeats=args.small_repeats, warmup=2)
    finally:
        for contained in jobs.values():
            contained.close()
    results["an empty job (made, removed)"] = interleaved(
        {m: in_mode(s, empty_job) for m, s in sets.items()}, repeats=args.small_repeats,
        warmup=2)
    seconds = time.perf_counter() - started
    containment.remove_tree(tmp)

    print()
    print(f"## Overhead of the per-job totals (wall time, median [q1, q3]; {seconds:.0f} s, "
          f"load average now {os.getloadavg()[0]:.1f})")
    print()
    print("| work | without (before) | with (now) | with / without, paired | difference |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for what, timing in results.items():
        a, b = timing["with"], timing["without"]
        ratio, q1, q3 = paired_ratio(a, b)
        unit, scale = ("s", 1) if b.median > 0.5 else ("ms", 1e3)
        print(f"| {what} | {b.median * scale:.{2 if unit == 's' else 1}f} {unit} "
              f"[{b.q1 * scale:.2f}, {b.q3 * scale:.2f}] | {a.median * scale:.2f} {unit} "
              f"[{a.q1 * scale:.2f}, {a.q3 * scale:.2f}] | {ratio:.3f} [{q1:.3f}, {q3:.3f}] | "
              f"{(a.median - b.median) * 1e3:+.1f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
