"""The JupyterHub path through nbgrader's real exchange, against a temporary exchange folder:
the instructor's `nbgrader release_assignment` hands out the verified kit, two students
`fetch_assignment`, work and `submit`, the instructor `collect`s, and `python -m autograder grade`
reads nbgrader's submitted/ tree as it is.

nbgrader takes the student's name from the operating system's user, except for JupyterHub's
docker-stacks user ``jovyan``, where ``$JUPYTERHUB_USER`` says who it is. Each student command
runs in a private mount namespace (``unshare -m``) whose /etc/passwd calls this uid ``jovyan``:
the same as on a hub, without creating accounts on the machine.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.authoring.course import tool_env
from autograder.config import REPO_ROOT

A, COURSE_ID = "normalization", "normlab"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="the hub's users are simulated with unshare -m and a bind mount (root only)")


def _nbgrader(args, cwd, exchange, student=None, passwd=None):
    env = tool_env()
    command = [sys.executable, "-m", "nbgrader", *args, f"--Exchange.root={exchange}"]
    if student is not None:
        env["JUPYTERHUB_USER"] = student
        shell = f'mount --bind "{passwd}" /etc/passwd && exec "$@"'
        command = ["unshare", "-m", "--", "sh", "-c", shell, "sh", *command]
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_release_fetch_submit_collect_grade_through_the_exchange(tmp_path):
    env = {**os.environ, "NORMLAB_HOME": str(tmp_path / "home")}
    release = subprocess.run([sys.executable, "-m", "autograder", "release", "--out",
                              str(tmp_path / "rel"), "--course", str(tmp_path / "course")],
                             cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert release.returncode == 0, release.stdout + release.stderr
    course, exchange = tmp_path / "course", tmp_path / "exchange"
    exchange.mkdir()
    # The course's release folder is the whole kit, not only nbgrader's notebooks.
    assert (course / "release" / A / "assignment" / "layers.py").is_file()
    assert (course / "release" / A / "collect_submission.py").is_file()
    _nbgrader(["release_assignment", A, f"--CourseDirectory.course_id={COURSE_ID}"], course,
              exchange)

    passwd = tmp_path / "passwd"
    lines = Path("/etc/passwd").read_text().splitlines()
    passwd.write_text("\n".join("jovyan:" + line.split(":", 1)[1]
                                if line.split(":")[2] == str(os.geteuid()) else line
                                for line in lines) + "\n")
    for student in ("ada", "bob"):
        home = tmp_path / "hub" / student
        home.mkdir(parents=True)
        _nbgrader(["fetch_assignment", A, "--course", COURSE_ID], home, exchange, student, passwd)
        work = home / A
        assert (work / "assignment" / "layers.py").is_file()
        if student == "ada":  # ada does the work; bob hands the stubs in
            for module in ("layers", "layer_utils", "fc_net", "nn", "framework"):
                shutil.copyfile(REPO_ROOT / "solutions" / f"{module}.py",
                                work / "assignment" / f"{module}.py")
        out = _nbgrader(["submit", A, "--course", COURSE_ID], home, exchange, student, passwd)
        assert "Submitted as" in out

    _nbgrader(["collect", A, f"--CourseDirectory.course_id={COURSE_ID}"], course, exchange)
    submitted = course / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == ["ada", "bob"]

    grade = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submitted), "--out",
                            str(tmp_path / "out"), "--no-progress"],
                           cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert grade.returncode == 0, grade.stdout + grade.stderr
    assert "nbgrader layout, 2 student(s)" in grade.stdout
    with open(tmp_path / "out" / "grades.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert sorted(rows) == ["ada", "bob"]
    assert float(rows["ada"]["total"]) == float(rows["ada"]["max_total"]) > 0
    assert float(rows["bob"]["total"]) == 0
