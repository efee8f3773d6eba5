"""The TA's path: `python -m autograder formgrader` on the demo course, in a real headless browser
(Playwright driving Debian's Chromium, tests/conftest.py): the submissions listed by id, an
inline question scored and commented and saved, the gradebook holding both, a regrade keeping
them; formgrader's Autograde refused with the reason; Ctrl-C stopping the server and its
children."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from autograder import cli, demo
from autograder.authoring.course import open_gradebook
from autograder.config import REPO_ROOT
from autograder.recording import formgrader

A, NB, QUESTION, STUDENT = "normalization", "BatchNormalization", "inline_question_1", "reference"


@pytest.fixture(scope="module")
def course_demo(tmp_path_factory):
    """`make demo` in a temporary folder: a release, four graded submissions, the course."""
    return demo.run(tmp_path_factory.mktemp("formgrader") / "demo", progress=False)


@pytest.fixture(scope="module")
def server(course_demo):
    process, url = formgrader.start(course_demo["course"].root, quiet=True)
    try:
        yield url
    finally:
        formgrader.stop(process)


def _base(url: str) -> str:
    return url.split("formgrader?")[0]


def _manual(course, wanted=None, seconds=15.0):
    """(manual score, comment) of the question in the gradebook; with ``wanted``, wait for it."""
    deadline = time.monotonic() + seconds
    while True:
        gb = open_gradebook(course.db_url)
        try:
            grade = gb.find_grade(QUESTION, NB, A, STUDENT)
            comment = gb.find_comment(QUESTION, NB, A, STUDENT)
            found = (grade.manual_score, comment.manual_comment)
            max_score = grade.max_score
        finally:
            gb.close()
        if wanted is None or found == wanted or time.monotonic() > deadline:
            return found, max_score
        time.sleep(0.3)


def test_a_ta_scores_an_inline_question_and_a_regrade_keeps_it(server, page, course_demo,
                                                               tmp_path):
    course = course_demo["course"]
    page.goto(server)
    page.wait_for_load_state("networkidle")
    assert "/formgrader" in page.url
    page.goto(_base(server) + f"formgrader/manage_submissions/{A}")
    page.wait_for_selector("td:has-text('classic_mistake')")
    table = page.inner_text("table")
    for student in ("classic_mistake", "colab_stripped", "reference", "untouched"):
        assert student in table
    assert "None, None" not in table
    shot = tmp_path / "formgrader-submissions.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")

    (before, _), max_score = _manual(course)
    assert before is None  # nobody graded it yet
    page.goto(_base(server) + f"formgrader/gradebook/{A}/{NB}")
    page.wait_for_selector("a:has-text('Submission #1')")
    page.click("text=Show All Names")
    page.locator("a.name-shown", has_text=f"{STUDENT}, -").click()
    page.wait_for_selector(f"input#{QUESTION}")
    score = max_score / 2
    page.fill(f"input#{QUESTION}", f"{score:g}")
    page.press(f"input#{QUESTION}", "Tab")  # formgrader saves on change
    page.fill(f"textarea#{QUESTION}-comment", "Right idea; say why the variance is biased.")
    page.press(f"textarea#{QUESTION}-comment", "Tab")
    wanted = (score, "Right idea; say why the variance is biased.")
    assert _manual(course, wanted)[0] == wanted
    shot = tmp_path / "formgrader-graded.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")

    # The same submissions graded again (--force): the TA's score and comment stay.
    base = course_demo["base"]
    assert cli.main(["grade", str(base / "submissions"), "--out", str(base / "out"),
                     "--course", str(course.root), "--force", "--no-progress"]) == 0
    assert _manual(course)[0] == wanted


def test_autograde_in_formgrader_is_refused_with_the_reason(server, page, course_demo):
    page.goto(server)
    page.goto(_base(server) + f"formgrader/manage_submissions/{A}")
    row = page.locator("tr", has_text=STUDENT).first
    row.locator(".autograde a").click()
    modal = page.locator(".modal-dialog").first
    modal.wait_for()
    text = modal.inner_text()
    assert "outside the grader's sandbox" in text and "python -m autograder grade" in text


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (read from /proc's parent links)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, todo = [], [pid]
    while todo:
        here = todo.pop()
        kids = [p for p, parent in parents.items() if parent == here]
        found += kids
        todo += kids
    return found


def test_the_command_prints_the_url_and_ctrl_c_stops_it_all(course_demo):
    process = subprocess.Popen(
        [sys.executable, "-m", "autograder", "formgrader", "--course",
         str(course_demo["course"].root)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        url = None
        deadline = time.monotonic() + 90
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if "http://127.0.0.1:" in line:
                url = line.strip()
        assert url and "token=" in url, "no URL printed"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
        server_pids = _descendants(process.pid)
        assert server_pids, "the Jupyter server runs as a child"
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        assert process.wait(timeout=90) == 0  # a bound only: a loaded machine stops it slowly
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in server_pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in server_pids), "the server outlived Ctrl-C"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
