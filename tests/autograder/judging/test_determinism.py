"""The same submission always gets the same grade and the same feedback (issue 10, item 2).

Four submissions from the independent implementation (clean and three single bugs, see
`tests.autograder.judging.fairness.independent`) are graded by the real command line, ``python -m
autograder grade``, WITHOUT a configured seed: serially, with ``--workers 2`` and on a Dask
LocalCluster, twice each, each run into a fresh OUT and course. Every row of grades.csv and every
byte of each student's feedback.html and results.json must be the same in all six runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.config import REPO_ROOT
from tests.autograder.judging.fairness.independent import build_submission
from tests.support.grading_fixtures import (
    NB,
    TASKS,
    csv_rows,
    make_course,
    write_config,
)
from tests.support.released_notebook import answered, released_notebook

#: variant name -> bug (None: the clean build); bugs in a forward, a backward and layer norm
VARIANTS = {"clean": None, "ddof1": "unbiased_variance", "dx_sign": "backward_dx_sign",
            "ln_no_gamma": "layernorm_no_gamma"}
#: beyond the fixtures' three tasks, two whose checks stand in for an upstream task
GRADED = (*TASKS, "layers.spatial_batchnorm_forward", "nn.BatchNorm.backward")
FILES = ("feedback.html", "results.json")


@pytest.fixture(scope="module")
def setup(tmp_path_factory, template_gradebook):
    base = tmp_path_factory.mktemp("determinism")
    config = write_config(base / "release.toml", tasks=GRADED, seed=None)
    subs = base / "subs"
    notebook = json.dumps(answered(released_notebook(), {"inline_question_1": "Because."}))
    for name, bug in VARIANTS.items():
        (build_submission(subs / name, bug) / NB).write_text(notebook)
    return base, template_gradebook, config, subs


def grade_cli(setup, run: str, *options: str) -> Path:
    """One `python -m autograder grade` run into a fresh OUT and course; returns OUT."""
    base, template, config, subs = setup
    course = make_course(base / run / "course", template)
    out = base / run / "out"
    command = [sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out),
               "--course", str(course.root), "--config", str(config), "--no-progress", *options]
    proc = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return out


def snapshot(out: Path) -> dict[str, object]:
    """grades.csv's rows and the bytes of every student's feedback files."""
    found: dict[str, object] = {"grades.csv": csv_rows(out)}
    for name in VARIANTS:
        for file in FILES:
            found[f"{name}/{file}"] = (out / name / file).read_bytes()
    return found


@pytest.mark.slow
def test_six_runs_serial_workers_and_dask_give_identical_grades_and_feedback(setup):
    distributed = pytest.importorskip("distributed")
    runs = {}
    for i in (1, 2):
        runs[f"serial{i}"] = snapshot(grade_cli(setup, f"serial{i}"))
        runs[f"workers{i}"] = snapshot(grade_cli(setup, f"workers{i}", "--workers", "2"))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=50) as cluster:
        for i in (1, 2):
            runs[f"dask{i}"] = snapshot(grade_cli(setup, f"dask{i}", "--dask-scheduler",
                                                  cluster.scheduler_address))

    first = runs["serial1"]
    rows = first["grades.csv"]
    assert len(rows) == 1 + len(VARIANTS)
    clean = next(r for r in rows if r.startswith("clean,"))
    assert all(r != clean for r in rows if not r.startswith(("clean,", "student")))  # bugs cost
    differences = [f"{run}: {key}" for run, found in runs.items() for key in first
                   if found[key] != first[key]]
    assert not differences, "differs from serial1:\n" + "\n".join(differences)
