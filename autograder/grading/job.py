"""One grading job: a student's submission folder in, a `SubmissionResult` out.

`grade_submission` is a plain top-level function of picklable arguments, so worker processes
(multiprocessing, Dask) can run it. It finds the student's ``assignment/`` package, builds every
probe call of the selected checks (`autograder.judging.plan`), runs them all with ONE `run_probes`
call (one sandboxed child, plus one more after each crash) and scores every check in this trusted
process. It never imports student code and never raises because of something the student did;
an exception from here is a bug of the grader (or a broken grading machine: `RunnerError`).

It does not touch notebooks or the gradebook: the intake prepares the folder and the recorder
writes the results.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Sequence
from pathlib import Path

from autograder.authoring.regions import split_key
from autograder.config import GradingConfig
from autograder.judging import plan as planning
from autograder.judging.assignment import probes_file
from autograder.judging.checks import Check
from autograder.results import CheckResult, SubmissionResult
from autograder.sandbox.runner import run_probes

PACKAGE = "assignment"
_SEARCH_DEPTH = 3


def grade_submission(student: str, submission_dir: Path, config: GradingConfig) \
        -> SubmissionResult:
    """Grade the release tree in ``submission_dir`` (it holds ``assignment/``) under ``config``.

    When ``assignment/`` is missing (or not a plain folder) every selected check scores 0 with a
    message that says what the folder should contain. ``seconds`` is the wall time of the job.
    """
    start = time.perf_counter()
    submission_dir = Path(submission_dir)
    if not submission_dir.is_dir():
        raise NotADirectoryError(f"{submission_dir} is not a directory (an intake problem)")

    selected = planning.select_checks(config)
    problem = package_problem(submission_dir, graded_modules(selected))
    if problem is not None:
        checks = zero_results(selected, problem)
        return SubmissionResult(student, checks, [problem], time.perf_counter() - start)

    plan = planning.plan(config, student)
    outcomes = run_probes(submission_dir, plan.calls, config.limits,
                          probes_file(config.assignment))
    checks = plan.evaluate(outcomes)
    return SubmissionResult(student, checks,
                            package_notes(submission_dir / PACKAGE, graded_modules(plan.checks)),
                            time.perf_counter() - start)


def graded_modules(checks: list[Check]) -> list[str]:
    """The modules of assignment/ that ``checks`` grade, from their task keys
    (``"fc_net.FullyConnectedNet.loss"`` -> ``"fc_net"``), sorted."""
    return sorted({split_key(k)[0] for c in checks for k in c.release_keys})


def zero_results(checks: list[Check], reason: str) -> list[CheckResult]:
    """Every check scored 0 for the same reason."""
    return [CheckResult(c.title, c.task, c.grade_id, 0.0, c.points, "error", reason, id=c.id)
            for c in checks]


def _expected_contents(modules: Sequence[str]) -> str:
    edited = ", ".join(f"{m}.py" for m in modules) or "the files that hold your tasks"
    return (f"The grader looks for the folder {PACKAGE}/ from the release at the top level of "
            f"your submission, beside the notebooks: your edited copies of {edited}, with "
            f"__init__.py and the other given files, unrenamed.")


def package_problem(submission_dir: Path, modules: Sequence[str] = ()) -> str | None:
    """Why ``submission_dir/assignment`` cannot be graded at all, or None. ``modules``: the
    names of the modules that hold the release's tasks (``["fc_net", "layers", ...]``)."""
    path = submission_dir / PACKAGE
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        found = _find_nested(submission_dir)
        where = ""
        if found:
            where = (f" There is a folder {found}/ deeper inside: move it to the top level "
                     f"(zip the contents of your release folder, not the folder around it).")
        return (f"{PACKAGE}/ was not found in your submission.{where} "
                f"{_expected_contents(modules)}")
    if stat.S_ISLNK(st.st_mode):
        return (f"{PACKAGE} in your submission is a symbolic link, which the grader does not "
                f"follow. {_expected_contents(modules)}")
    if not stat.S_ISDIR(st.st_mode):
        return (f"{PACKAGE} in your submission is a file, not a folder. "
                f"{_expected_contents(modules)}")
    return None


def _find_nested(root: Path) -> str | None:
    """The relative path of an ``assignment`` folder below ``root`` (not following links)."""
    queue = [(root, 0)]
    while queue:
        folder, depth = queue.pop(0)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False) or entry.name.startswith((".", "__")):
                continue
            if entry.name == PACKAGE and depth > 0:
                return Path(entry.path).relative_to(root).as_posix()
            if depth < _SEARCH_DEPTH:
                queue.append((Path(entry.path), depth + 1))
    return None


def package_notes(package: Path, modules: list[str]) -> list[str]:
    """Submission-level notes about the package: missing modules, links the grader ignores."""
    notes = []
    for module in modules:
        name = f"{module}.py"
        path = package / name
        if path.is_symlink():
            notes.append(f"{PACKAGE}/{name} is a symbolic link; the grader reads regular files "
                         f"only, so it was ignored.")
        elif not path.exists():
            notes.append(f"{PACKAGE}/{name} is missing from your submission.")
    return notes
