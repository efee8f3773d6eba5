"""Parallel grading: local worker processes and a Dask cluster give the grades serial grading
gives; one hanging or dying job costs only itself; payloads and sandbox uid ranges.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile

import pytest

from autograder import cli
from autograder.config import load_config
from autograder.grading import pipeline
from autograder.grading.dask_backend import DaskBackend
from autograder.grading.scheduler import (
    SchedulerError,
    pack_submission,
    run_job,
    shared_uid_warning,
    unpack_submission,
)
from autograder.grading.workers import ProcessBackend
from tests.support.grading_fixtures import (
    csv_rows,
    fake_job,
    gradebook_scores,
    make_course,
    make_submissions,
    write_config,
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, template_gradebook):
    base = tmp_path_factory.mktemp("sched")
    config = load_config(write_config(base / "release.toml"))
    subs = base / "subs"
    make_submissions(subs)
    return base, template_gradebook, config, subs


def grade(setup, name, **options):
    base, template, config, subs = setup
    course = make_course(base / name / "course", template)
    rows, failures = pipeline.grade_all(subs, base / name / "out", config, course,
                                        progress=False, echo=lambda *a: None, **options)
    return course, base / name / "out", rows, failures


@pytest.fixture(scope="module")
def serial(setup):
    return grade(setup, "serial")


@pytest.mark.slow
def test_serial_baseline_is_sensible(serial):
    course, out, rows, failures = serial
    assert failures == []
    totals = {r.student: (r.total, r.max_total) for r in rows}
    assert sorted(totals) == ["crash", "mistake", "no_package", "reference", "stubs", "zipped"]
    full = totals["reference"][1]
    assert totals["reference"] == (full, full) and totals["zipped"] == (full, full)
    assert totals["stubs"][0] == 0 and totals["no_package"][0] == 0
    assert 0 < totals["mistake"][0] < full
    assert 0 < totals["crash"][0] < full  # layernorm still passes; batchnorm_forward crashed
    assert set(gradebook_scores(course)) == set(totals)


@pytest.mark.slow
def test_two_local_workers_give_exactly_the_serial_grades(setup, serial):
    course, out, rows, failures = grade(setup, "workers", workers=2)
    assert failures == []
    assert csv_rows(out) == csv_rows(serial[1])
    assert gradebook_scores(course) == gradebook_scores(serial[0])
    assert [(r.student, r.total) for r in rows] == [(r.student, r.total) for r in serial[2]]


@pytest.mark.slow
def test_dask_local_cluster_gives_exactly_the_serial_grades(setup, serial):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=50) as cluster:
        course, out, rows, failures = grade(setup, "dask",
                                            dask_scheduler=cluster.scheduler_address)
        # A worker whose grader differs from ours (another checkout): its result is refused.
        backend = DaskBackend(cluster.scheduler_address, echo=lambda *a: None)
        try:
            backend.fingerprint = "another checkout"
            backend.submit(1, "stubs", setup[3] / "stubs", setup[2])
            done = []
            for _ in range(12):
                done = done or backend.wait(timeout=5)
            assert done, "no result from the cluster within a minute"
        finally:
            backend.close()
        assert done[0].result is None and "another version of the grader" in done[0].error
    assert failures == []
    assert csv_rows(out) == csv_rows(serial[1])
    assert gradebook_scores(course) == gradebook_scores(serial[0])


def test_a_hanging_and_a_dying_job_cost_only_themselves(setup, tmp_path, course):
    """Stand-in jobs (no sandbox): the others finish on the other worker meanwhile."""
    config = setup[2]
    subs = tmp_path / "subs"
    students = ["a1", "a2", "hang", "a3", "dies", "a4", "a5"]
    for student in students:
        (subs / student / "assignment").mkdir(parents=True)
        (subs / student / "assignment" / "layers.py").write_text("x = 1\n")
    started = time.monotonic()
    rows, failures = pipeline.grade_all(subs, tmp_path / "out", config, course, progress=False,
                                        echo=lambda *a: None, workers=2, job_timeout=3,
                                        job=fake_job)
    elapsed = time.monotonic() - started
    assert [r.student for r in rows] == ["a1", "a2", "a3", "a4", "a5"]
    assert all(r.total == 1 for r in rows)
    assert len(failures) == 2
    assert failures[0].startswith("dies: grading failed, nothing recorded: the grading worker "
                                  "process died (exited with status 3)")
    assert failures[1].startswith("hang: grading failed, nothing recorded: the job ran longer "
                                  "than the job timeout (3 s)")
    assert elapsed < 3 + 8, elapsed  # the timeout, plus start-up; not one job after another
    assert not (tmp_path / "out" / "hang").exists() and not (tmp_path / "out" / "dies").exists()
    workers = {json.loads((tmp_path / "out" / s / "results.json").read_text())["output"]
               .split("pid ")[1].split()[0] for s in ("a1", "a2", "a3", "a4", "a5")}
    assert len(workers) >= 2  # both workers (and the replacements) took jobs


def test_grade_refuses_a_worker_count_below_one(setup):
    with pytest.raises(SchedulerError, match="at least 1"):
        ProcessBackend(0)
    assert pipeline.make_backend(setup[2], workers=1).name == "serial"


def test_payload_round_trip_and_the_job_on_it(setup, tmp_path):
    """What a Dask worker gets is the prepared assignment/ only, and grades the same."""
    base, template, config, subs = setup
    data = pack_submission(subs / "mistake")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "assignment/layers.py" in names
    assert all(n.startswith("assignment/") for n in names)  # no notebook travels
    unpack_submission(data, tmp_path / "unpacked")
    assert (tmp_path / "unpacked" / "assignment" / "layers.py").read_bytes() == \
        (subs / "mistake" / "assignment" / "layers.py").read_bytes()
    via_bytes = run_job("mistake", data, config)
    via_path = run_job("mistake", str(subs / "mistake"), config)
    assert "error" not in via_bytes, via_bytes
    from autograder.results import SubmissionResult

    a = SubmissionResult.from_json(via_bytes["result"])
    b = SubmissionResult.from_json(via_path["result"])
    assert [(c.name, c.score) for c in a.checks] == [(c.name, c.score) for c in b.checks]
    assert via_bytes["peak_rss"] > 0


def test_payload_size_cap_and_unsafe_names(tmp_path):
    (tmp_path / "sub" / "assignment").mkdir(parents=True)
    (tmp_path / "sub" / "assignment" / "layers.py").write_bytes(b"#" * 5000)
    with pytest.raises(SchedulerError, match="larger than 1000 bytes"):
        pack_submission(tmp_path / "sub", max_bytes=1000)
    for name in ("../evil.py", "/abs.py", "assignment/../../x.py", "other/x.py"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(name, "x")
        with pytest.raises(SchedulerError, match="unsafe name"):
            unpack_submission(buffer.getvalue(), tmp_path / "dest")
    assert not (tmp_path / "evil.py").exists() and not (tmp_path / "x.py").exists()
    assert pack_submission(tmp_path / "nothing-here") is not None  # the job reports it


def test_run_job_reports_errors_instead_of_raising(setup):
    reply = run_job("ghost", "/nonexistent/folder", setup[2])
    assert "result" not in reply and "NotADirectoryError" in reply["error"]


def test_one_shared_sandbox_uid_is_warned_about():
    assert shared_uid_warning({}) is None  # each child claims a uid of its own
    assert shared_uid_warning({"NORMLAB_SANDBOX_UID": "70000-70099"}) is None
    assert "share it" in shared_uid_warning({"NORMLAB_SANDBOX_UID": "65534"})


def test_dask_scheduler_that_does_not_answer_is_a_clear_error():
    pytest.importorskip("distributed")
    started = time.monotonic()
    with pytest.raises(SchedulerError, match="cannot reach the Dask scheduler"):
        DaskBackend("tcp://127.0.0.1:9", connect_timeout=2)
    assert time.monotonic() - started < 15


def test_a_backend_that_cannot_start_leaves_the_output_folder_untouched(setup, tmp_path, course,
                                                                        monkeypatch):
    base, template, config, subs = setup

    def unreachable(*args, **kwargs):
        raise SchedulerError("cannot reach the Dask scheduler at tcp://nowhere:8786")

    monkeypatch.setattr(pipeline, "make_backend", unreachable)
    code = cli.main(["grade", str(subs), "--out", str(tmp_path / "out"), "--course",
                     str(course.root), "--config", str(config.path), "--no-progress",
                     "--dask-scheduler", "tcp://nowhere:8786"])
    assert code == 2
    assert not (tmp_path / "out").exists()


def test_a_worker_killed_while_idle_is_replaced_before_its_next_job(setup, tmp_path):
    import signal

    config = setup[2]
    backend = ProcessBackend(1, job_timeout=30, job=fake_job)
    try:
        backend.submit(1, "a1", tmp_path, config)
        first = backend.wait(timeout=30)
        assert first[0].result is not None
        os.kill(backend._pool[0].process.pid, signal.SIGKILL)
        backend._pool[0].process.join(5)
        backend.submit(2, "a2", tmp_path, config)
        second = []
        for _ in range(6):
            second = second or backend.wait(timeout=5)
        assert second and second[0].result is not None, second
        assert second[0].worker == first[0].worker  # the same slot, a new process
    finally:
        backend.close()
