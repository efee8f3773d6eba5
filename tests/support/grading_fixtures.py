"""A small course and a set of submissions for the grade-loop tests (scheduler, resume).

The course is made with nbgrader's Gradebook API, not by a release: the grade loop only needs the
gradebook's cells and the released notebook. The configuration grades three tasks with a fixed
seed, so every run gives bit-identical grades and the sandboxed jobs take well under a second.
The fixtures made with these builders (the session's template gradebook, a course per test) are
in tests/autograder/conftest.py.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

from autograder.authoring.course import Course, open_gradebook
from autograder.config import REPO_ROOT, load_config
from tests.support.job_helpers import MISTAKE_PATCHES, SOLUTIONS, STUBS, make_submission
from tests.support.released_notebook import NB, answered, released_notebook, stripped

ASSIGNMENT = "normalization"
NOTEBOOK = NB.removesuffix(".ipynb")
TASKS = ("layers.batchnorm_forward", "layers.batchnorm_backward", "layers.layernorm_forward")
SEED = 20240


def write_config(path: Path, tasks=TASKS, seed: int | None = SEED, limits: str = "") -> Path:
    """A release.toml grading only ``tasks`` of the one notebook NB, with a fixed seed."""
    text = (f'[assignment]\nname = "{ASSIGNMENT}"\n\n[stubs]\ntasks = {json.dumps(list(tasks))}'
            f'\n\n[release]\nnotebooks = ["{NB}"]\n')
    if seed is not None:
        text += f"\n[grading]\nseed = {seed}\n"
    if limits:
        text += f"\n[limits]\n{limits}\n"
    path.write_text(text, encoding="utf-8")
    load_config(path)  # fails here, not in the test, if the file is wrong
    return path


def make_gradebook(path: Path) -> Path:
    """A gradebook with the cells of `released_notebook()` plus the autograded layernorm_forward
    cell (several seconds: nbgrader runs alembic in a subprocess)."""
    gb = open_gradebook(f"sqlite:///{path}")
    try:
        gb.add_assignment(ASSIGNMENT)
        gb.add_notebook(NOTEBOOK, ASSIGNMENT)
        gb.add_grade_cell("batchnorm_forward", NOTEBOOK, ASSIGNMENT, max_score=3,
                          cell_type="code")
        gb.add_grade_cell("layernorm_forward", NOTEBOOK, ASSIGNMENT, max_score=2,
                          cell_type="code")
        for question in ("inline_question_1", "inline_question_2"):
            gb.add_grade_cell(question, NOTEBOOK, ASSIGNMENT, max_score=2, cell_type="markdown")
            gb.add_solution_cell(question, NOTEBOOK, ASSIGNMENT)
    finally:
        gb.close()
    return path


def fake_grader(student, workdir, config):
    """A stand-in grading job (no student code runs): 1 point if assignment/layers.py exists,
    and its size as a second score, so that changing the file changes the grade."""
    from autograder.results import CheckResult, SubmissionResult

    layers = Path(workdir) / "assignment" / "layers.py"
    size = layers.stat().st_size % 7 if layers.is_file() else 0
    return SubmissionResult(student, [
        CheckResult("batchnorm_forward: fake", "batchnorm_forward", "batchnorm_forward",
                    1.0 if layers.is_file() else 0.0, 1.0, "passed"),
        CheckResult("batchnorm_forward: size", "batchnorm_forward", "batchnorm_forward",
                    float(size), 7.0, "passed"),
    ], [])


def make_course(root: Path, template_db: Path, db_url: str | None = None) -> Course:
    """A course folder holding a copy of ``template_db`` and the released notebook."""
    course = Course.at(root, ASSIGNMENT, db_url)
    course.release_dir.mkdir(parents=True)
    shutil.copyfile(template_db, course.root / "gradebook.db")
    (course.release_dir / NB).write_text(json.dumps(released_notebook()))
    return course


_CRASH = ("def batchnorm_forward(x, gamma, beta, bn_param):\n"
          "    import os, signal\n"
          "    os.kill(os.getpid(), signal.SIGSEGV)\n\n\n"
          "def _unused_batchnorm_forward(x, gamma, beta, bn_param):")


def make_submissions(folder: Path) -> dict[str, Path]:
    """Six submissions: the reference, the untouched stubs, a classic mistake, one that crashes
    the child in batchnorm_forward, the reference as a zip whose notebook lost its nbgrader
    metadata, and a notebook without assignment/."""
    folder.mkdir(parents=True, exist_ok=True)
    nb = answered(released_notebook(), {"inline_question_1": "Because."})
    made = {}

    def with_nb(path: Path, notebook: dict) -> Path:
        (path / NB).write_text(json.dumps(notebook))
        return path

    made["reference"] = with_nb(make_submission(folder, SOLUTIONS, name="reference"), nb)
    made["stubs"] = with_nb(make_submission(folder, STUBS, name="stubs"), released_notebook())
    _, patches = MISTAKE_PATCHES["unbiased_variance"]
    made["mistake"] = with_nb(make_submission(folder, SOLUTIONS, patches, name="mistake"), nb)
    made["crash"] = with_nb(make_submission(
        folder, SOLUTIONS, [("layers.py", "def batchnorm_forward(x, gamma, beta, bn_param):",
                             _CRASH)], name="crash"), nb)
    zipped = with_nb(make_submission(folder / "tmp", SOLUTIONS, name="zipped"), stripped(nb))
    zip_path = folder / "zipped.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(zipped.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, f"{ASSIGNMENT}/{path.relative_to(zipped).as_posix()}")
    shutil.rmtree(folder / "tmp")
    made["zipped"] = zip_path
    made["no_package"] = folder / "no_package"
    made["no_package"].mkdir()
    with_nb(made["no_package"], nb)
    return made


def csv_rows(out: Path) -> list[str]:
    return (Path(out) / "grades.csv").read_text(encoding="utf-8").splitlines()


def gradebook_scores(course: Course) -> dict[str, dict[str, tuple]]:
    """{student: {grade_id: (auto_score, needs_manual_grade)}}; asserts one submission each."""
    gb = open_gradebook(course.db_url)
    try:
        found: dict[str, dict[str, tuple]] = {}
        for sub in gb.assignment_submissions(ASSIGNMENT):
            assert sub.student.id not in found, f"{sub.student.id} has two submissions"
            found[sub.student.id] = {g.name: (g.auto_score, g.needs_manual_grade)
                                     for nb in sub.notebooks for g in nb.grades}
        return found
    finally:
        gb.close()


def journal_lines(out: Path) -> list[dict]:
    path = Path(out) / ".normlab" / "journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


__all__ = ["ASSIGNMENT", "NB", "REPO_ROOT", "csv_rows", "gradebook_scores", "journal_lines",
           "make_course", "make_gradebook", "make_submissions", "write_config"]


# ------------------------------------------------------------------------------------------------
# Stand-in job functions for the worker pool (top level: spawned workers import them from here)
# ------------------------------------------------------------------------------------------------


def fake_job(student, workdir, config):
    """A stand-in grading job: score 1 of 1 after a short pause; ``hang*`` sleeps for an hour,
    ``dies*`` kills its worker process. The problems list says which worker process ran it."""
    import os
    import time

    from autograder.results import CheckResult, SubmissionResult

    if student.startswith("hang"):
        time.sleep(3600)
    if student.startswith("dies"):
        os._exit(3)
    time.sleep(0.2)
    check = CheckResult("batchnorm_forward: fake", "batchnorm_forward", "batchnorm_forward",
                        1.0, 1.0, "passed")
    return SubmissionResult(student, [check], [f"pid {os.getpid()} ran this"])
