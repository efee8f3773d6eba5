"""The "Fix first" digest, feedback.html, results.json's top-level output and the grade
command's summary, on results built by hand (no grading: see test_feedback_browser.py for the
demo's real pages in a browser)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

from autograder.recording.digest import MAX_ENTRIES, digest, fix_first_text, headline
from autograder.recording.feedback import feedback_html, headline_of, results_json
from autograder.recording.summary import fix_first_summary
from autograder.results import CheckResult, SubmissionResult

HINT = "normalization uses the plain 1/N variance, np.var's default (ddof=0)"
SENTENCE = f"This looks like the unbiased variance (ddof=1, dividing by N - 1): {HINT}."


def stub(task: str, module: str = "layers", label: str = "hidden inputs") -> str:
    """The NotImplementedError message of the stub of ``task``, as the grader quotes it."""
    return (f"{label}: NotImplementedError: {task}: not implemented yet — this is your task "
            f"({module}.{task}). Replace this raise with your code; the docstring says what to "
            f"compute. ({module}.py line 139, in {task.rsplit('.', 1)[-1]})")


def check(task: str, what: str, score: float = 0.0, max_score: float = 2.0, status=None,
          output: str = "", mistake=None, hint: str = "", blocked_by=()) -> CheckResult:
    if status is None:
        status = "passed" if score == max_score else "failed"
    return CheckResult(f"{task}: {what}", task, task.split(".")[0], score, max_score, status,
                       output, mistake, hint=hint, blocked_by=list(blocked_by))


def variance_bug(task: str, what: str, score: float = 0.0) -> CheckResult:
    return check(task, what, score, output=f"fresh random inputs: out: worst element at index "
                 f"(1, 0) is 0.3 but expected 0.2\n{SENTENCE}", mistake="unbiased_variance",
                 hint=HINT)


def passed(task: str, what: str = "matches reference", points: float = 2.0) -> CheckResult:
    return check(task, what, points, points)


def page(result: SubmissionResult) -> str:
    return feedback_html(result, "normalization", [("inline_question_1", "answered")], 4)


def text_of(html_page: str) -> str:
    body = re.sub(r"<style>.*?</style>", " ", html_page, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


def single_bug() -> SubmissionResult:
    """One bug, charged at its source (the grader after issue 10's item 1)."""
    return SubmissionResult("ada", [
        variance_bug("batchnorm_forward", "train-mode mean/std", 1.0),
        variance_bug("batchnorm_forward", "matches reference (hidden inputs)"),
        variance_bug("batchnorm_forward", "float32 preserved"),
        passed("batchnorm_forward", "test mode"),
        passed("batchnorm_backward"),
        passed("layernorm_forward"),
    ])


def test_single_bug_fix_first_names_task_points_mistake_hint_and_first_message():
    result = single_bug()
    d = digest(result)
    assert [e.view.task for e in d.entries] == ["batchnorm_forward"]
    lines = fix_first_text(d)
    assert lines[0] == "Fix first: batchnorm_forward (unbiased variance, -5 points)."
    assert lines[1] == "1. batchnorm_forward: lost 5 of 8 points."
    assert lines[2] == ("   Likely mistake: unbiased variance. Normalization uses the plain 1/N "
                        "variance, np.var's default (ddof=0).")
    assert lines[3] == ("   First failing check: batchnorm_forward: train-mode mean/std: fresh "
                        "random inputs: out: worst element at index (1, 0) is 0.3 but expected "
                        "0.2")
    html_page = page(result)
    text = text_of(html_page)
    # The mistake's sentence once on the page (in Fix first), its name once more in the task.
    assert text.count("This looks like the unbiased variance") == 1
    assert text.count("Likely mistake: unbiased variance") == 2
    assert html_page.index('id="fix-first"') < html_page.index("Checks of your code")
    assert re.search(r'<details class="task" id="task-batchnorm_forward" open>', html_page)
    assert re.search(r'<details class="task" id="task-layernorm_forward">', html_page)


def test_results_json_output_starts_with_fix_first_and_has_no_timing():
    result = single_bug()
    result.seconds = 1.234
    data = results_json(result, manual_points=4)
    assert data["output"].startswith("Fix first: batchnorm_forward (unbiased variance")
    assert headline_of(data) == "Fix first: batchnorm_forward (unbiased variance, -5 points)."
    assert "graded by the course staff" in data["output"]
    assert "execution_time" not in data
    again = single_bug()
    again.seconds = 9.9
    assert json.dumps(results_json(again, 4)) == json.dumps(data)
    assert page(again) == page(result)


def test_downstream_failing_on_its_own_is_a_root_cause_and_same_mistake_is_folded():
    """The grader before issue 10 charged one bug to every task that uses it: the mistake is
    named once and the tasks that only show it are listed under it."""
    result = SubmissionResult("bob", [
        variance_bug("batchnorm_forward", "train-mode mean/std"),
        check("batchnorm_backward", "matches reference", 1.0,
              output="hidden inputs: dx: worst element at index (0, 0) is 1 but expected 2"),
        variance_bug("spatial_batchnorm_forward", "per-channel mean/std"),
        variance_bug("spatial_batchnorm_forward", "matches reference"),
    ])
    d = digest(result)
    assert [e.view.task for e in d.entries] == ["batchnorm_forward", "batchnorm_backward"]
    assert [v.task for v in d.entries[0].folded] == ["spatial_batchnorm_forward"]
    text = "\n".join(fix_first_text(d))
    assert "The same mistake shows in spatial_batchnorm_forward (-4)." in text
    assert headline(d) == ("Fix first: batchnorm_forward (unbiased variance, -2 points); the "
                           "same mistake in 1 more task; then 1 more task.")
    shown = text_of(page(result))
    assert shown.count("This looks like the unbiased variance") == 1
    assert "Likely mistake: unbiased variance (see Fix first)" in shown


def test_blocked_task_says_fix_upstream_first_instead_of_its_own_entry():
    error = ("fresh random inputs: TypeError: unsupported operand type(s) for +: 'float' and "
             "'str' (layers.py line 140, in batchnorm_forward)")
    blocked_note = ("Fix batchnorm_forward first: this check runs your batchnorm_forward (it "
                    "needs its output and cache), which fails its own checks, so the failure "
                    "here may come from there.")
    result = SubmissionResult("cy", [
        check("batchnorm_forward", "train-mode mean/std", status="error", output=error),
        check("batchnorm_forward", "float32", status="error", output=error),
        check("batchnorm_backward", "vs numerical", status="error",
              output=blocked_note + "\n" + error, blocked_by=["batchnorm_forward"]),
        check("batchnorm_backward", "matches reference", 1.0, blocked_by=["batchnorm_forward"],
              output=blocked_note + "\nhidden inputs: dx: worst element at index (0,) is 1 "
                                    "but expected 2"),
        passed("layernorm_forward"),
    ])
    d = digest(result)
    assert [e.view.task for e in d.entries] == ["batchnorm_forward"]
    assert [v.task for v in d.entries[0].blocked] == ["batchnorm_backward"]
    text = "\n".join(fix_first_text(d))
    assert ("Fix it first: batchnorm_backward (-3) runs your batchnorm_forward and may pass "
            "once it does.") in text
    assert "2. " not in text
    html_page = page(result)
    shown = text_of(html_page)
    assert "batchnorm_backward — fix batchnorm_forward first" in shown
    # The error is quoted once, then "the same ... as above"; the grader's note once per task.
    assert shown.count("unsupported operand type(s)") == 2  # Fix first + the first check
    assert shown.count("the same TypeError as above") == 2
    assert shown.count("Fix batchnorm_forward first: this check runs") == 0
    assert not re.search(r'id="task-batchnorm_backward" open', html_page)


def test_a_blocked_by_naming_a_passing_task_does_not_excuse_a_failure():
    result = SubmissionResult("dee", [
        passed("batchnorm_forward"),
        check("batchnorm_backward", "matches reference", 0.0, blocked_by=["batchnorm_forward"],
              output="hidden inputs: dx: worst element at index (0,) is 1 but expected 2"),
    ])
    assert [e.view.task for e in digest(result).entries] == ["batchnorm_backward"]


def test_untouched_reads_as_not_started_with_the_first_task():
    """Every check a NotImplementedError; a backward even quotes its forward's stub (it ran
    it): one "not started" line, the first task to begin with."""
    result = SubmissionResult("eve", [
        check("batchnorm_forward", "train", status="error", output=stub("batchnorm_forward")),
        check("batchnorm_forward", "f32", status="error", output=stub("batchnorm_forward")),
        check("batchnorm_backward", "num", status="error", output=stub("batchnorm_forward")),
        check("FullyConnectedNet.__init__", "params", status="error",
              output=stub("FullyConnectedNet.__init__", "fc_net")),
        check("FullyConnectedNet.loss", "ref", status="error",
              output=stub("FullyConnectedNet.__init__", "fc_net")),
    ])
    d = digest(result)
    assert d.untouched and not d.entries
    assert headline(d) == ("Not started yet: begin with batchnorm_forward "
                           "(assignment/layers.py); 4 tasks to do.")
    lines = fix_first_text(d)
    assert lines[1].startswith("Begin with batchnorm_forward in assignment/layers.py: replace "
                               "its `raise NotImplementedError`")
    assert lines[2] == ("To do (4 tasks, 10 points): batchnorm_forward, batchnorm_backward, "
                        "FullyConnectedNet.__init__, FullyConnectedNet.loss.")
    html_page = page(result)
    shown = text_of(html_page)
    assert shown.count("this is your task") == 0
    assert shown.count("NotImplementedError") <= 3
    assert '<section class="fix todo" id="fix-first"><h2>Not started yet</h2>' in html_page
    for c in result.checks:  # every check is still listed (collapsed)
        assert c.name in shown


def test_partly_done_lists_not_started_tasks_in_one_line():
    result = SubmissionResult("fay", [
        passed("batchnorm_forward"),
        variance_bug("layernorm_forward", "matches reference"),
        check("spatial_groupnorm_forward", "ref", status="error",
              output=stub("spatial_groupnorm_forward")),
        check("spatial_groupnorm_forward", "f32", status="error",
              output=stub("spatial_groupnorm_forward", label="fresh inputs")),
        check("BatchNorm.forward", "ref", status="error", output=stub("BatchNorm.forward", "nn")),
    ])
    d = digest(result)
    assert not d.untouched
    assert [v.task for v in d.not_started] == ["spatial_groupnorm_forward", "BatchNorm.forward"]
    lines = fix_first_text(d)
    assert lines[0] == ("Fix first: layernorm_forward (unbiased variance, -2 points); 2 tasks "
                        "not started.")
    assert lines[-1] == ("Not started yet (2 tasks, 6 points; each still raises "
                         "NotImplementedError): spatial_groupnorm_forward, BatchNorm.forward.")
    shown = text_of(page(result))
    assert shown.count("this is your task") == 0
    without_failures = SubmissionResult("fay", [result.checks[0], *result.checks[2:]])
    assert headline(digest(without_failures)) == (
        "Next: spatial_groupnorm_forward (assignment/layers.py); 2 tasks not started.")
    html_page = page(without_failures)
    assert "<h2>Next</h2><p>Continue with" in html_page


def test_many_root_causes_get_full_entries_for_the_first_few_only():
    tasks = [f"task_{i}" for i in range(MAX_ENTRIES + 2)]
    result = SubmissionResult("gus", [
        check(t, "ref", output=f"hidden inputs: out: worst element is {i} but expected 9")
        for i, t in enumerate(tasks)])
    lines = fix_first_text(digest(result))
    assert sum(1 for line in lines if re.match(r"\d\. ", line)) == MAX_ENTRIES
    assert lines[-1] == f"Then: {tasks[-2]} (-2), {tasks[-1]} (-2)."
    html_page = page(result)
    assert html_page.count(" open>") == MAX_ENTRIES


def test_all_passed_and_no_checks():
    result = SubmissionResult("hal", [passed("batchnorm_forward")])
    assert fix_first_text(digest(result)) == ["Every check passed."]
    assert "Fix first: nothing" in page(result)
    assert headline(digest(SubmissionResult("ida", []))) == "No checks were run."
    assert "no checks were run" in page(SubmissionResult("ida", []))


def test_every_student_controlled_string_is_escaped_in_fix_first():
    evil = "<script>alert(1)</script>"
    result = SubmissionResult(evil, [
        check(f"task{evil}", "x", output=f"hidden inputs: TypeError: {evil}", status="error",
              mistake=evil, hint=evil),
        check("other", "y", output=f"hidden inputs: {evil} but expected 2"),
    ], problems=[evil])
    html_page = page(result)
    assert "<script>" not in html_page
    assert "&lt;script&gt;" in html_page
    assert not re.search(r"<(link|script|img|iframe)\b|<[^>]*\s(src=|href=(?!\"#))", html_page)
    assert 'href="#task-task_script_alert_1___script_"' in html_page


def test_grade_summary_prints_each_students_headline(tmp_path):
    results = {"ada": single_bug(), "hal": SubmissionResult("hal", [passed("batchnorm_forward")])}
    rows = []
    for student, result in results.items():
        (tmp_path / student).mkdir()
        (tmp_path / student / "results.json").write_text(json.dumps(results_json(result)))
        rows.append(SimpleNamespace(student=student))
    rows.append(SimpleNamespace(student="lost"))  # recorded, but its folder is gone
    summary = fix_first_summary(tmp_path, rows).splitlines()
    assert summary[0] == f"Fix first, per student (details: {tmp_path}/<student>/feedback.html):"
    assert summary[1] == "  ada   batchnorm_forward (unbiased variance, -5 points)."
    assert summary[2] == "  lost  (no results.json)"
    assert summary[3] == "  Every check passed: hal."
    many = [SimpleNamespace(student=f"s{i:02d}") for i in range(5)]
    assert fix_first_summary(tmp_path, many, max_students=2).splitlines()[-1] == (
        "  ... and 3 more students with something to fix")


def test_one_error_everywhere_is_one_entry():
    """assignment/ missing: every check fails with the same words, said once, and "Fix first"
    names the missing folder."""
    reason = "assignment/ was not found in your submission. The grader looks for ..."
    result = SubmissionResult("joe", [
        check(t, "ref", status="error", output=reason)
        for t in ("batchnorm_forward", "batchnorm_backward", "layernorm_forward")], [reason])
    d = digest(result)
    assert len(d.entries) == 1
    # The missing folder is what to fix, not the first task.
    assert headline(d) == ("Fix first: assignment/ was not found in your submission (no check "
                           "could run).")
    assert fix_first_text(d) == [headline(d)]
    text = results_json(result)["output"]
    assert text.startswith(headline(d)) and f"- {reason}" in text
    html = page(result)
    fix = html[html.index('id="fix-first"'):html.index("</section>")]
    assert "assignment/ was not found" in fix and "batchnorm_forward" not in fix
    # Said once on each: the page's checks are "not run", results.json's tests point to the top.
    assert text_of(html).count("was not found") == 1
    assert html.count(">not run</span>") == 1 + len(result.checks)  # the group and each check
    tests = results_json(result)["tests"]
    assert {t["output"] for t in tests} == {
        "Not run: assignment/ was not found in your submission; see the top of the page."}
    assert text.count("was not found") == 2  # the headline, and the problem in full


def test_a_notimplementederror_in_the_students_own_words_is_shown_not_hidden():
    """Only the stub's message means "not started"; the student's own raise is an error whose
    message the page quotes (escaped)."""
    own = ("hidden inputs: NotImplementedError: <b>later</b> (layers.py line 3, in "
           "batchnorm_forward)")
    result = SubmissionResult("kim", [
        check("batchnorm_forward", "ref", status="error", output=own),
        check("layernorm_forward", "ref", status="error", output=stub("layernorm_forward")),
    ])
    d = digest(result)
    assert [e.view.task for e in d.entries] == ["batchnorm_forward"]
    assert [v.task for v in d.not_started] == ["layernorm_forward"]
    assert not d.untouched
    assert "NotImplementedError: &lt;b&gt;later&lt;/b&gt;" in page(result)
