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

This module parses the arguments and runs the commands; ``grade`` runs the stages of
`autograder.grading.pipeline` (intake, journal skip, the job on a backend, the recorder).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from autograder.authoring.course import (
    Course,
    CourseError,
    record_course,
    recorded,
    recorded_course,
)
from autograder.config import GradingConfig, load_config
from autograder.recording.render import fmt
from autograder.recording.summary import fix_first_summary, format_table

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


def cmd_grade(args) -> int:
    from autograder.grading.intake import IntakeError
    from autograder.grading.pipeline import grade_all
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
