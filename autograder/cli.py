"""``python -m autograder <command>``: release, grade, check.

    python -m autograder release [--config FILE] --out DIR [--course DIR] [--db URL]
    python -m autograder grade SUBMISSIONS --out OUT [--config FILE] [--course DIR] [--db URL]
                               [--workers N | --dask-scheduler ADDRESS] [--force]
                               [--job-timeout SECONDS] [--no-progress]
    python -m autograder formgrader [--course DIR] [--port P]
    python -m autograder check [DIR] [TASK ...]

``release`` makes its course in ``--course`` (default ``<parent of --out>/course``) and records
it (`course.record_course`); ``grade`` and ``formgrader`` use the recorded course unless
``--course`` is given.
``--db`` defaults to ``sqlite:///<course>/gradebook.db?timeout=30``; give the same value to
release and grade (and formgrader reads it from ``<course>/nbgrader_config.py``).

Grading is split in three: `intake.prepare` (parent, per student) -> the grading job (a plain
function returning a JSON-able `SubmissionResult`; in this process, in ``--workers N`` local
processes or on a Dask cluster, see `autograder.grading.scheduler`) -> `Recorder.record` (parent,
the only writer, one result at a time as they arrive). Reruns skip students whose submission is
unchanged since it was recorded and grade again those whose grading was interrupted
(`autograder.recording.journal`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from autograder.authoring.course import (
    Course,
    CourseError,
    grade_cells,
    record_course,
    recorded,
    recorded_course,
)
from autograder.config import GradingConfig, load_config
from autograder.recording.render import fmt
from autograder.recording.summary import fix_first_summary, format_table
from autograder.results import SubmissionResult


class GradingFailure(Exception):
    """The grader itself failed on a submission (not the student's fault); nothing was recorded."""


def grade_one(student: str, workdir: Path, config: GradingConfig,
              problems: list[str] | None = None) -> SubmissionResult:
    """Grade one prepared submission folder; the seam for parallel workers.

    Calls ``autograder.grading.job.grade_submission`` (which runs the student's code sandboxed) and
    puts the intake problems first in the result's problems. Raises GradingFailure when the job
    crashes, so that a grader bug never turns into a silent zero.
    """
    try:
        from autograder.grading import job
    except ImportError as exc:
        raise GradingFailure(f"the grading job is not available ({exc})") from exc
    try:
        result = job.grade_submission(student, Path(workdir), config)
    except Exception as exc:  # noqa: BLE001 - reported per student, the run goes on
        raise GradingFailure(f"{type(exc).__name__}: {exc}") from exc
    return _merge_problems(result, list(problems or []))


# --------------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------------


def _course_dir(args) -> Path:
    """``--course``, else the default beside ``--out`` (release: ``<parent of --out>/course``)."""
    return Path(args.course) if args.course else Path(args.out).resolve().parent / "course"


def _graded_course(args, config: GradingConfig) -> Course:
    """The course to grade into: ``--course``, else the one the last release recorded, else the
    one beside ``--out`` if it exists; otherwise `CourseError` with the command to run."""
    if args.course:
        return Course.at(args.course, config.assignment, args.db)
    known = recorded(config.assignment)
    if known is not None:
        return Course.at(known.root, config.assignment, args.db or known.db_url)
    beside = _course_dir(args)
    if (beside / "nbgrader_config.py").is_file():
        return Course.at(beside, config.assignment, args.db)
    raise CourseError(
        f"no release of {config.assignment!r} is recorded and {beside} holds none: make it "
        f"first with\n    python -m autograder release --out build/release\n(or give the "
        f"course folder of an earlier release: --course DIR)")


def cmd_release(args) -> int:
    from autograder.authoring.release import ReleaseError, build_release

    config = load_config(args.config)
    try:
        result = build_release(config, args.out, _course_dir(args), args.db)
    except (ReleaseError, CourseError) as exc:
        print(f"release: error: {exc}", file=sys.stderr)
        return 1
    record_course(result.course)
    total = sum(result.points.values())
    print(f"Student release: {result.tree}  ({len(result.files)} files)")
    print(f"           zip: {result.zip_path}")
    print(f"        course: {result.course.root}  (gradebook {result.course.db_url})")
    print(f"Autograded cells: {', '.join(f'{k} {fmt(v)}' for k, v in result.points.items())} "
          f"= {fmt(total)} points")
    print(f"Scanned every file and the zip: no solutions, hidden tests or references. "
          f"({result.seconds:.1f} s)")
    print("Next: hand out the zip; grade with `python -m autograder grade SUBMISSIONS --out "
          "OUT`; TAs: `python -m autograder formgrader`.")
    return 0


def _merge_problems(result: SubmissionResult, problems: list[str]) -> SubmissionResult:
    merged = list(problems)
    merged += [p for p in result.problems if p not in merged]
    result.problems = merged
    return result


def make_backend(config: GradingConfig, *, workers: int = 1, dask_scheduler: str | None = None,
                 job_timeout: float | None = None, grader=grade_one, job_fn=None, echo=print):
    """The backend that runs the grading jobs (see `autograder.grading.scheduler`)."""
    from autograder.grading import scheduler

    if job_timeout is None:
        job_timeout = default_job_timeout(config)
    if dask_scheduler:
        return scheduler.DaskBackend(dask_scheduler, job_timeout,
                                     job_fn=job_fn or scheduler.run_job, echo=echo)
    if workers <= 1:
        return scheduler.SerialBackend(grader)
    warning = scheduler.shared_uid_warning() if os.geteuid() == 0 else None
    if warning:
        echo(f"warning: {warning}")
    return scheduler.ProcessBackend(workers, job_timeout, job_fn or scheduler.run_job)


def default_job_timeout(config: GradingConfig) -> float:
    """A bound no honest job reaches: the runner stops starting children once the failed ones
    have used MAX_FAILED_WALL_LIMITS time limits; two more full limits for the children that
    succeed, plus a margin. Only a grader bug (not student code) can hit it."""
    from autograder.sandbox.runner import MAX_FAILED_WALL_LIMITS

    return (MAX_FAILED_WALL_LIMITS + 2) * config.limits.wall_seconds + 120.0


def grade_all(submissions: Path, out: Path, config: GradingConfig, course: Course,
              *, progress: bool = True, grader=grade_one, echo=print, workers: int = 1,
              dask_scheduler: str | None = None, force: bool = False,
              job_timeout: float | None = None, job_fn=None, stats: dict | None = None
              ) -> tuple[list, list[str]]:
    """Grade every submission in ``submissions``; return (rows, failures). Used by cli and demo.

    The parent prepares each submission (intake), hands it to the backend (this process,
    ``workers`` local processes or the Dask cluster at ``dask_scheduler``) and records each
    result as it arrives: a run killed at any moment loses only the jobs in flight. A
    submission already recorded for the same content by the same grader and configuration is
    skipped unless ``force``. ``stats`` (optional) receives timings and peak memory.
    """
    from tqdm import tqdm

    from autograder.grading.intake import discover, load_release_notebooks, prepare
    from autograder.recording.journal import grader_fingerprint, submission_key
    from autograder.recording.recorder import Recorder

    if not course.release_dir.is_dir():
        raise CourseError(
            f"{course.root} holds no release of {config.assignment!r} ({course.release_dir} is "
            "missing): run `python -m autograder release --out DIR` first, with the same "
            "--course and --db"
        )
    started = time.perf_counter()
    cells = grade_cells(course.db_url, config.assignment)  # a bad gradebook stops us here
    release_notebooks = load_release_notebooks(course.release_dir, config.notebooks)
    roster = discover(submissions, config.assignment)
    students = roster.pairs()
    names = {f.student: f.name for f in roster.found if f.name}
    if roster.layout != "plain":
        echo(f"submissions: {roster.layout} layout, {len(students)} student(s)")
    for note in roster.notes:
        echo(f"note: {note}")
    # The backend first: a cluster that cannot be reached leaves OUT untouched.
    backend = make_backend(config, workers=workers, dask_scheduler=dask_scheduler,
                           job_timeout=job_timeout, grader=grader, job_fn=job_fn, echo=echo)
    try:
        recorder = Recorder(Path(out), course, config, cells, release_notebooks)
    except BaseException:
        backend.close(kill=True)
        raise
    fingerprint = grader_fingerprint(config, release_notebooks)
    interrupted = [s for s in recorder.journal.interrupted() if s in dict(students)]
    if interrupted:
        echo(f"note: grading of {len(interrupted)} student(s) was interrupted in an earlier run "
             f"({', '.join(interrupted[:5])}{', ...' if len(interrupted) > 5 else ''}); "
             "they are graded again")
    failures: list[str] = []
    skipped: list = []
    timings: list[dict] = []
    in_flight: dict[int, tuple] = {}
    bar = tqdm(total=len(students), desc="grading", unit="student", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    try:
        waiting = iter(students)
        exhausted = False
        ticket = 0
        while True:
            while not exhausted and backend.in_flight() < backend.capacity:
                item = next(waiting, None)
                if item is None:
                    exhausted = True
                    break
                student, origin = item
                key = submission_key(fingerprint, origin)
                row = None if force else recorder.up_to_date(student, key)
                if row is not None:
                    skipped.append(row)
                    bar.update(1)
                    continue
                t0 = time.perf_counter()
                submission = prepare(student, origin, config.notebooks, release_notebooks)
                submission.name = names.get(student)
                ticket += 1
                in_flight[ticket] = (submission, key, time.perf_counter() - t0)
                bar.set_postfix_str(student)
                backend.submit(ticket, student, submission.workdir, config)
            if not in_flight:
                break
            for done in backend.wait(timeout=5.0):
                submission, key, intake_seconds = in_flight.pop(done.ticket)
                try:
                    if done.result is None:
                        failures.append(f"{done.student}: grading failed, nothing recorded: "
                                        f"{done.error}")
                        continue
                    t0 = time.perf_counter()
                    recorder.record(_merge_problems(done.result, submission.problems),
                                    submission, key)
                    timings.append({"student": done.student, "intake": intake_seconds,
                                    "job": done.seconds, "record": time.perf_counter() - t0,
                                    "worker": done.worker})
                finally:
                    submission.cleanup()
                    bar.update(1)
    except BaseException:
        if backend is not None:
            backend.close(kill=True)
            backend = None
        raise
    finally:
        bar.close()
        if backend is not None:
            backend.close()
        for submission, _, _ in in_flight.values():
            submission.cleanup()
        rows = recorder.finish()
        if stats is not None:
            stats.update(timings=timings, skipped=len(skipped), failures=len(failures),
                         wall=time.perf_counter() - started,
                         peaks=dict(getattr(backend, "peaks", {}) or {}))
    for warning in recorder.warnings:
        echo(f"warning: {warning}")
    return sorted(rows + skipped, key=lambda r: r.student), failures


def cmd_grade(args) -> int:
    from autograder.grading.intake import IntakeError
    from autograder.grading.scheduler import SchedulerError
    from autograder.recording.recorder import RecorderError

    config = load_config(args.config)
    started = time.perf_counter()
    stats: dict = {}
    try:
        course = _graded_course(args, config)
    except CourseError as exc:
        print(f"grade: error: {exc}", file=sys.stderr)
        return 2
    try:
        rows, failures = grade_all(Path(args.submissions), Path(args.out), config, course,
                                   progress=not args.no_progress, workers=args.workers,
                                   dask_scheduler=args.dask_scheduler, force=args.force,
                                   job_timeout=args.job_timeout, stats=stats)
    except (CourseError, IntakeError, RecorderError, SchedulerError) as exc:
        print(f"grade: error: {exc}", file=sys.stderr)
        print("Students recorded before the error keep their grades; run the same command "
              "again to grade the others.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ngrade: interrupted; {len(stats.get('timings', []))} student(s) recorded in "
              "this run keep their grades. Run the same command again to grade the others.",
              file=sys.stderr)
        return 130
    out = Path(args.out)
    print()
    print(fix_first_summary(out, rows))
    print()
    print(format_table(rows))
    print()
    graded = len(rows) - stats.get("skipped", 0)
    line = f"Graded {graded} submission(s) in {time.perf_counter() - started:.1f} s"
    if stats.get("skipped"):
        line += (f"; {stats['skipped']} unchanged since they were last graded (skipped; "
                 "--force grades them again)")
    print(line + ".")
    print(f"  grades:   {out / 'grades.csv'}")
    print(f"  feedback: {out}/<student>/feedback.html (and results.json for Gradescope)")
    print(f"  course:   {course.root} (TAs grade the inline questions in formgrader: "
          "python -m autograder formgrader)")
    for failure in failures:
        print(f"ERROR {failure}", file=sys.stderr)
    return 1 if failures else 0


def cmd_formgrader(args) -> int:
    from autograder.recording.formgrader import main as formgrader_main

    config = load_config(args.config)
    try:
        course = Path(args.course) if args.course else recorded_course(config.assignment)
    except CourseError as exc:
        print(f"formgrader: error: {exc}", file=sys.stderr)
        return 2
    return formgrader_main(["--course", str(course)]
                           + (["--port", str(args.port)] if args.port else []))


def cmd_check(args) -> int:
    from autograder.student_check import run_check

    return run_check(args.dir, args.tasks)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="normlab: build the student release, grade submissions, run self-checks.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, out_help):
        p.add_argument("--config", type=Path, default=None,
                       help="release config (default: autograder/release.toml)")
        p.add_argument("--out", type=Path, required=True, help=out_help)
        p.add_argument("--course", type=Path, default=None,
                       help="nbgrader course folder (release: default <parent of --out>/course, "
                            "recorded for grade and formgrader; grade: default the recorded "
                            "one)")
        p.add_argument("--db", default=None,
                       help="gradebook SQLAlchemy URL (default: sqlite:///<course>/gradebook.db"
                            "?timeout=30; e.g. postgresql+psycopg2://user@host/db)")

    release = sub.add_parser("release", help="build the student release (folder + zip)")
    common(release, "folder to write <assignment>/ and <assignment>.zip into")
    release.set_defaults(func=cmd_release)

    grade = sub.add_parser("grade", help="grade every submission in a folder")
    grade.add_argument("submissions", type=Path,
                       help="folder of submissions: <student_id>/ folders and/or zips "
                            "(<student_id>.zip, <assignment>_<student_id>.zip), nbgrader's "
                            "submitted/ tree, or a Canvas or Moodle bulk download")
    common(grade, "folder for grades.csv and <student>/{results.json,feedback.html}")
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")
    grade.add_argument("--workers", type=int, default=1, metavar="N",
                       help="grade N submissions at a time in local worker processes "
                            "(default 1: in this process)")
    grade.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                       help="send the grading jobs to the Dask cluster of this scheduler "
                            "(e.g. tcp://10.0.0.5:8786); grades are still written here")
    grade.add_argument("--force", action="store_true",
                       help="grade every submission again, also those unchanged since the "
                            "last run (they are skipped otherwise)")
    grade.add_argument("--job-timeout", type=float, default=None, metavar="SECONDS",
                       help="give up on one submission's job after this long (a grader "
                            "problem; student code has its own limits). Default: every "
                            "sandboxed child at its time limit, plus 2 minutes")
    grade.set_defaults(func=cmd_grade)

    formgrader = sub.add_parser(
        "formgrader", help="start nbgrader's formgrader for the TAs (Ctrl-C stops it)")
    formgrader.add_argument("--course", type=Path, default=None,
                            help="course folder (default: the one the last release recorded)")
    formgrader.add_argument("--port", type=int, default=None, help="default: a free port")
    formgrader.add_argument("--config", type=Path, default=None,
                            help="release config (default: autograder/release.toml)")
    formgrader.set_defaults(func=cmd_formgrader)

    check = sub.add_parser("check", help="run the self-checks of a kit folder's assignment/")
    check.add_argument("dir", nargs="?", type=Path, default=None,
                       help="kit folder (default: the current folder or one above it)")
    check.add_argument("tasks", nargs="*", help="tasks to check (default: all)")
    check.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "check" and args.dir is not None and not args.dir.exists() \
            and "/" not in str(args.dir) and args.dir.name.isidentifier():
        args.tasks = [str(args.dir), *args.tasks]  # `check batchnorm_forward`: a task, not a dir
        args.dir = None
    try:
        return args.func(args)
    except (OSError, ValueError) as exc:
        print(f"{args.command}: error: {exc}", file=sys.stderr)
        return 2
