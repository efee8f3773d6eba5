"""``make demo`` equivalent: ``python -m autograder.demo`` in a temporary folder."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autograder import demo
from autograder.config import REPO_ROOT


@pytest.mark.slow
def test_demo_runs_offline_and_grades_every_sample(tmp_path):
    base = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "autograder.demo", "--dir", str(base), "--no-progress"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    out = base / "out"
    totals = {}
    for student in ("reference", "untouched", "classic_mistake", "colab_stripped"):
        data = json.loads((out / student / "results.json").read_text())
        totals[student] = (data["score"], sum(t["max_score"] for t in data["tests"]))
        assert (out / student / "feedback.html").is_file()
        assert f"feedback: {out / student / 'feedback.html'}" in proc.stdout
        assert (base / "course" / "autograded" / student / "normalization").is_dir()
    full = totals["reference"][1]
    assert totals["reference"][0] == pytest.approx(full)
    assert totals["colab_stripped"][0] == pytest.approx(full)
    assert totals["untouched"][0] == 0
    assert 0 < totals["classic_mistake"][0] < full

    stripped = json.loads((out / "colab_stripped" / "results.json").read_text())
    assert "lost its nbgrader cell metadata" in stripped["output"]
    assert "matched by position" in stripped["output"]
    for row in ("reference", "untouched", "classic_mistake", "colab_stripped"):
        assert any(line.startswith(row) for line in proc.stdout.splitlines()), proc.stdout
    assert "Fix first, per student" in proc.stdout
    assert "Every check passed: colab_stripped, reference." in proc.stdout
    assert (out / "grades.csv").read_text().count("\n") == 5


def test_demo_refuses_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "precious.txt").write_text("keep")
    with pytest.raises(SystemExit, match="not written by the demo"):
        demo.run(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep"


def test_demo_plants_the_mistake_it_announces():
    source = (REPO_ROOT / "solutions" / demo.MISTAKE_FILE).read_text()
    assert source.count(demo.MISTAKE_FROM) == 1
