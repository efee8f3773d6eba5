"""One grading run, ``python -m autograder grade`` (and the demo's): a declared list of stages.

`grade_all` runs the stages of ``SETUP`` once, in order (each a small function of the `Run`,
filling in what the later ones read), then streams the submissions through ``PER_SUBMISSION``
(journal skip -> intake -> job on a backend) as fast as the backend takes them, and hands each
finished job to ``ON_DONE`` (record) as it arrives: a run killed at any moment loses only the jobs
in flight. The parent does intake and recording; the job (`scheduler.run_job`, the one entry
every backend calls) runs in this process, in ``--workers N`` local processes
(`autograder.grading.workers`) or on a Dask cluster (`autograder.grading.dask_backend`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autograder.authoring.course import Course, CourseError, grade_cells
from autograder.config import GradingConfig
from autograder.grading.intake import Submission, discover, load_release_notebooks, prepare
from autograder.grading.scheduler import Done, SerialBackend, shared_uid_warning
from autograder.recording.journal import grader_fingerprint, submission_key
from autograder.recording.recorder import Recorder
from autograder.results import SubmissionResult


def default_job_timeout(config: GradingConfig) -> float:
    """A bound no honest job reaches: the runner stops starting children once the failed ones
    have used MAX_FAILED_WALL_LIMITS time limits; two more full limits for the children that
    succeed, plus a margin. Only a grader bug (not student code) can hit it."""
    from autograder.sandbox.runner import MAX_FAILED_WALL_LIMITS

    return (MAX_FAILED_WALL_LIMITS + 2) * config.limits.wall_seconds + 120.0


def make_backend(config: GradingConfig, *, workers: int = 1, dask_scheduler: str | None = None,
                 job_timeout: float | None = None, job: Callable | None = None, echo=print):
    """The backend that runs the grading jobs, each `scheduler.run_job` with ``job``."""
    if job_timeout is None:
        job_timeout = default_job_timeout(config)
    if dask_scheduler:
        from autograder.grading.dask_backend import DaskBackend

        return DaskBackend(dask_scheduler, job_timeout, job=job, echo=echo)
    if workers <= 1:
        return SerialBackend(job)
    from autograder.grading.workers import ProcessBackend

    warning = shared_uid_warning() if os.geteuid() == 0 else None
    if warning:
        echo(f"warning: {warning}")
    return ProcessBackend(workers, job_timeout, job)


def merge_problems(result: SubmissionResult, problems: list[str]) -> SubmissionResult:
    """The intake's problems first, then the job's that are not among them."""
    merged = list(problems)
    merged += [p for p in result.problems if p not in merged]
    result.problems = merged
    return result


@dataclass
class Run:
    """What one grading run knows; the stages fill it in, in the order of ``SETUP``."""

    submissions: Path
    out: Path
    config: GradingConfig
    course: Course
    echo: Callable
    workers: int = 1
    dask_scheduler: str | None = None
    force: bool = False
    job_timeout: float | None = None
    job: Callable | None = None
    stats: dict | None = None
    started: float = field(default_factory=time.perf_counter)
    cells: object = None
    release_notebooks: dict = field(default_factory=dict)
    students: list[tuple[str, Path]] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    backend: object = None
    recorder: Recorder | None = None
    fingerprint: str = ""
    bar: object = None
    failures: list[str] = field(default_factory=list)
    skipped: list = field(default_factory=list)
    timings: list[dict] = field(default_factory=list)
    in_flight: dict[int, Pending] = field(default_factory=dict)
    tickets: int = 0
    rows: list = field(default_factory=list)


@dataclass
class Pending:
    """One submission on its way through ``PER_SUBMISSION``."""

    student: str
    origin: Path
    key: str = ""
    submission: Submission | None = None
    intake_seconds: float = 0.0


# ------------------------------------------------------------------------------------------------
# Once per run
# ------------------------------------------------------------------------------------------------


def check_release(run: Run) -> None:
    if not run.course.release_dir.is_dir():
        raise CourseError(
            f"{run.course.root} holds no release of {run.config.assignment!r} "
            f"({run.course.release_dir} is missing): run `python -m autograder release --out "
            "DIR` first, with the same --course and --db"
        )


def read_gradebook(run: Run) -> None:
    run.cells = grade_cells(run.course.db_url, run.config.assignment)  # a bad gradebook stops us


def read_release(run: Run) -> None:
    run.release_notebooks = load_release_notebooks(run.course.release_dir, run.config.notebooks)


def discover_submissions(run: Run) -> None:
    roster = discover(run.submissions, run.config.assignment)
    run.students = roster.pairs()
    run.names = {f.student: f.name for f in roster.found if f.name}
    if roster.layout != "plain":
        run.echo(f"submissions: {roster.layout} layout, {len(run.students)} student(s)")
    for note in roster.notes:
        run.echo(f"note: {note}")


def start_backend(run: Run) -> None:
    """Before the recorder: a cluster that cannot be reached leaves OUT untouched."""
    run.backend = make_backend(run.config, workers=run.workers, dask_scheduler=run.dask_scheduler,
                               job_timeout=run.job_timeout, job=run.job, echo=run.echo)


def open_recorder(run: Run) -> None:
    try:
        run.recorder = Recorder(Path(run.out), run.course, run.config, run.cells,
                                run.release_notebooks)
    except BaseException:
        run.backend.close(kill=True)
        raise


def note_interrupted(run: Run) -> None:
    run.fingerprint = grader_fingerprint(run.config, run.release_notebooks)
    interrupted = [s for s in run.recorder.journal.interrupted() if s in dict(run.students)]
    if interrupted:
        run.echo(f"note: grading of {len(interrupted)} student(s) was interrupted in an earlier "
                 f"run ({', '.join(interrupted[:5])}{', ...' if len(interrupted) > 5 else ''}); "
                 "they are graded again")


# ------------------------------------------------------------------------------------------------
# Once per submission (each stage returns False when the submission goes no further)
# ------------------------------------------------------------------------------------------------


def skip_unchanged(run: Run, item: Pending) -> bool:
    """The journal: the same content graded by the same grader and config is not graded again."""
    item.key = submission_key(run.fingerprint, item.origin)
    row = None if run.force else run.recorder.up_to_date(item.student, item.key)
    if row is None:
        return True
    run.skipped.append(row)
    run.bar.update(1)
    return False


def take_in(run: Run, item: Pending) -> bool:
    t0 = time.perf_counter()
    item.submission = prepare(item.student, item.origin, run.config.notebooks,
                              run.release_notebooks)
    item.submission.name = run.names.get(item.student)
    item.intake_seconds = time.perf_counter() - t0
    return True


def dispatch(run: Run, item: Pending) -> bool:
    run.tickets += 1
    run.in_flight[run.tickets] = item
    run.bar.set_postfix_str(item.student)
    run.backend.submit(run.tickets, item.student, item.submission.workdir, run.config)
    return True


def record(run: Run, item: Pending, done: Done) -> None:
    """The recorder, the only writer: one transaction per student, or a failure, nothing kept."""
    submission = item.submission
    try:
        if done.result is None:
            run.failures.append(f"{done.student}: grading failed, nothing recorded: {done.error}")
            return
        t0 = time.perf_counter()
        run.recorder.record(merge_problems(done.result, submission.problems), submission, item.key)
        run.timings.append({"student": done.student, "intake": item.intake_seconds,
                            "job": done.seconds, "record": time.perf_counter() - t0,
                            "worker": done.worker})
    finally:
        submission.cleanup()
        run.bar.update(1)


#: The stages of one grading run, in order: once per run, then per submission (until a stage
#: says it goes no further), then per finished job.
SETUP = [check_release, read_gradebook, read_release, discover_submissions, start_backend,
         open_recorder, note_interrupted]
PER_SUBMISSION = [skip_unchanged, take_in, dispatch]
ON_DONE = [record]


def grade_all(submissions: Path, out: Path, config: GradingConfig, course: Course,
              *, progress: bool = True, echo=print, workers: int = 1,
              dask_scheduler: str | None = None, force: bool = False,
              job_timeout: float | None = None, job: Callable | None = None,
              stats: dict | None = None) -> tuple[list, list[str]]:
    """Grade every submission in ``submissions``; return (rows, failures). Used by cli and demo.

    ``workers`` local processes or the Dask cluster at ``dask_scheduler`` (default: this
    process); ``force`` grades unchanged submissions again; ``job``: the grading function
    ``job(student, folder, config) -> SubmissionResult`` that `scheduler.run_job` runs on every
    backend (default `autograder.grading.job.grade_submission`; tests pass stand-ins);
    ``stats`` (optional) receives timings and peak memory.
    """
    run = Run(Path(submissions), Path(out), config, course, echo, workers, dask_scheduler, force,
              job_timeout, job, stats)
    for stage in SETUP:
        stage(run)
    _stream(run, progress)
    for warning in run.recorder.warnings:
        echo(f"warning: {warning}")
    return sorted(run.rows + run.skipped, key=lambda r: r.student), run.failures


def _stream(run: Run, progress: bool) -> None:
    """``PER_SUBMISSION`` while the backend has room, ``ON_DONE`` as jobs finish; the backend is
    killed on an error or Ctrl-C, and what was recorded stays recorded."""
    from tqdm import tqdm

    run.bar = tqdm(total=len(run.students), desc="grading", unit="student",
                   disable=not progress, file=sys.stderr, dynamic_ncols=True)
    backend = run.backend
    try:
        waiting = iter(run.students)
        exhausted = False
        while True:
            while not exhausted and backend.in_flight() < backend.capacity:
                pair = next(waiting, None)
                if pair is None:
                    exhausted = True
                    break
                item = Pending(*pair)
                for stage in PER_SUBMISSION:
                    if not stage(run, item):
                        break
            if not run.in_flight:
                break
            for done in backend.wait(timeout=5.0):
                item = run.in_flight.pop(done.ticket)
                for stage in ON_DONE:
                    stage(run, item, done)
    except BaseException:
        if backend is not None:
            backend.close(kill=True)
            backend = None
        raise
    finally:
        run.bar.close()
        if backend is not None:
            backend.close()
        for item in run.in_flight.values():
            item.submission.cleanup()
        run.rows = run.recorder.finish()
        if run.stats is not None:
            run.stats.update(timings=run.timings, skipped=len(run.skipped),
                             failures=len(run.failures), wall=time.perf_counter() - run.started,
                             peaks=dict(getattr(backend, "peaks", {}) or {}))
