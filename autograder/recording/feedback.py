"""What a student gets back: Gradescope ``results.json`` and a self-contained ``feedback.html``.

Both are built from a `SubmissionResult` only (plus, for the HTML, what intake found about the
inline answers), so they show exactly the check messages and nothing else: no hidden inputs, no
reference code, reference values only where a message quotes them. Every student-controlled
string (messages quote tracebacks and file names from the submission) is HTML-escaped.

Both lead with the "Fix first" list of `autograder.recording.digest` (root causes in assignment
order, the tasks they block, what is not started); the page then gives the detail per task, passed
tasks collapsed, each note said once. Nothing in either depends on when or how fast the submission
was graded: the same result always gives the same bytes. The words of a check (status, points,
message lines) are `autograder.recording.render`'s; this module lays them out.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from autograder.recording.digest import (
    MAX_ENTRIES,
    Digest,
    Entry,
    TaskView,
    begin_with,
    digest,
    entry_lines,
    error_key,
    fix_first_text,
    problem_sentence,
    remaining_line,
    start_line,
)
from autograder.recording.render import (
    STATE_TEXT,
    check_output,
    first_message,
    fmt,
    gradescope_status,
    lost,
    own_lines,
    points,
    status_word,
    waits_for,
)
from autograder.results import CheckResult, SubmissionResult

__all__ = ["feedback_html", "headline_of", "results_json"]

#: Lines of a check's message shown before "N more lines".
SHOWN_LINES = 3


def results_json(result: SubmissionResult, manual_points: float = 0.0) -> dict:
    """Gradescope's autograder ``results.json`` for one submission.

    ``score`` is the autograded total (Gradescope uses it instead of summing the tests). The
    top-level ``output`` starts with the "Fix first" list (its first line is the headline the
    grade command prints), then the submission problems and the note about hand-graded answers.
    No ``execution_time``: it would differ between two runs of the same submission.
    """
    d = digest(result)
    notes = fix_first_text(d)
    if result.problems:
        notes += ["", "Problems with your submission:"] + [f"- {p}" for p in result.problems]
    # The problem that stopped every check is said once, above; each test only points to it.
    stopped = f"Not run: {problem_sentence(d)}; see the top of the page." if d.problem else ""
    if manual_points:
        notes += ["", f"The inline questions ({fmt(manual_points)} points) are graded by the "
                      "course staff and are not included in this score."]
    return {
        "score": round(result.score, 6),
        "output": "\n".join(notes),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": check.name,
                "score": round(check.score, 6),
                "max_score": round(check.max_score, 6),
                "status": gradescope_status(check),
                "output": stopped or check_output(check),
                "visibility": "visible",
            }
            for check in result.checks
        ],
    }


def headline_of(results: dict) -> str:
    """The one-line summary of a results.json (the first line of its ``output``)."""
    return str(results.get("output", "")).split("\n", 1)[0]


_CSS = """
body { font: 15px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d232a;
       max-width: 72rem; margin: 1.2rem auto; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 .1rem; } h2 { font-size: 1.15rem; margin: 1.4rem 0 .5rem; }
.sub { color: #5b6570; margin: 0 0 .5rem; }
.total { font-size: 1.2rem; padding: .5rem 1rem; border-radius: 6px; background: #eef3f8;
         margin: .5rem 0; }
.total b { font-size: 1.45rem; }
.fix { border-left: 6px solid #c0392b; background: #fdf1f0; padding: .2rem 1rem .5rem;
       border-radius: 4px; margin: .8rem 0; }
.fix.done { border-color: #2e8b57; background: #eef8f1; }
.fix.todo { border-color: #3b6fb6; background: #eef3fb; }
.fix h2 { margin: .5rem 0 .3rem; }
.fix ol { margin: .2rem 0; padding-left: 1.4rem; } .fix li { margin: .35rem 0; }
.fix p { margin: .3rem 0; }
.lost { color: #9b1c1c; font-weight: 600; white-space: nowrap; }
.problems { border-left: 5px solid #d9822b; background: #fff6ec; padding: .3rem 1rem;
            border-radius: 4px; }
.problems li { margin: .3rem 0; }
details.task { border: 1px solid #dde3ea; border-radius: 5px; margin: .2rem 0; }
details.task > summary { padding: .15rem .6rem; cursor: pointer; }
details.task[open] > summary { border-bottom: 1px solid #dde3ea; background: #f4f6f8; }
details.task > .body { padding: .2rem .6rem .4rem; }
.pts { float: right; font-variant-numeric: tabular-nums; }
.why { color: #5b6570; }
table { border-collapse: collapse; width: 100%; }
td { text-align: left; vertical-align: top; padding: .2rem .4rem;
     border-bottom: 1px solid #eef1f4; }
td.score { white-space: nowrap; text-align: right; font-variant-numeric: tabular-nums;
           width: 5.5rem; }
td.st { width: 5.5rem; }
.badge { display: inline-block; padding: 0 .5rem; border-radius: 1rem; font-size: .82rem;
         font-weight: 600; white-space: nowrap; }
.passed { background: #dff3e4; color: #1e6b35; } .failed { background: #fde2e1; color: #9b1c1c; }
.error, .timeout { background: #fde2e1; color: #9b1c1c; }
.blocked, .not_started { background: #e6ebf1; color: #3d4a57; }
.mistake { background: #fff3bf; border: 1px solid #f0c000; border-radius: 4px;
           padding: .25rem .5rem; margin: .3rem 0; }
pre, code { white-space: pre-wrap; word-break: break-word; font: 13px/1.4 Menlo, Consolas,
            monospace; }
pre { margin: 0; }
details.more > summary { color: #3b6fb6; font-size: .85rem; cursor: pointer; }
.note { color: #5b6570; font-size: .9rem; margin: .3rem 0; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _anchor(task: str) -> str:
    return "task-" + re.sub(r"[^\w.-]", "_", task)


def _link(view: TaskView) -> str:
    target = "not-started" if view.state == "not_started" else _anchor(view.task)
    return f'<a href="#{target}"><b>{_e(view.task)}</b></a>'


class _Said:
    """Errors already quoted on the page: a later check says "the same ... as above"."""

    def __init__(self):
        self.errors: set[str] = set()

    def lines(self, check: CheckResult) -> list[str]:
        out = []
        for line in own_lines(check):
            key = error_key(line)
            if key is not None and key[1] in self.errors:
                out.append(f"{key[0]}: the same {key[2]} as above")
                continue
            if key is not None:
                self.errors.add(key[1])
            out.append(line)
        return out


def _message(lines: list[str]) -> str:
    if not lines:
        return ""
    shown = f"<pre>{_e(chr(10).join(lines[:SHOWN_LINES]))}</pre>"
    rest = lines[SHOWN_LINES:]
    if not rest:
        return shown
    return (shown + f'<details class="more"><summary>{len(rest)} more '
            f"line{'s' if len(rest) > 1 else ''}</summary><pre>{_e(chr(10).join(rest))}</pre>"
            "</details>")


def _row(check: CheckResult, lines: list[str]) -> str:
    status = status_word(check.status)
    return (f'<tr><td class="st"><span class="badge {_e(check.status)}">{_e(status)}</span></td>'
            f"<td>{_e(check.name)}{_message(lines)}</td>"
            f'<td class="score">{points(check.score, check.max_score)}</td></tr>')


def _entry_html(entry: Entry) -> str:
    view = entry.view
    parts = [f'{_link(view)} <span class="lost">{lost(view.lost)} of {fmt(view.max_score)} '
             "points</span>"]
    for name, _hint, sentence in view.mistakes():
        parts.append(f'<div class="mistake"><b>Likely mistake: {_e(name)}</b>'
                     + (f". {_e(sentence)}" if sentence else "") + "</div>")
    message = first_message(entry.check)
    if message:
        parts.append(f'<p>First failing check: {_e(entry.check.name)}:<br><code>{_e(message)}'
                     "</code></p>")
    for line in entry_lines(entry)[1:]:
        if line.startswith(("The same ", "Fix ")):
            parts.append(f"<p>{_e(line)}</p>")
    return "<li>" + "".join(parts) + "</li>"


def _fix_first_html(d: Digest) -> str:
    if not d.tasks:
        return '<section class="fix todo" id="fix-first"><h2>Fix first</h2><p>No checks were ' \
               "run.</p></section>"
    if d.passed:
        return ('<section class="fix done" id="fix-first"><h2>Fix first: nothing</h2>'
                "<p>Every check of your code passed.</p></section>")
    if d.problem:
        return (f'<section class="fix" id="fix-first"><h2>Fix first</h2><p>{_e(d.problem)}</p>'
                "<p>No check could run, so every check below is marked as not run.</p></section>")
    first = begin_with(d)
    start = ""
    if start_line(d) and first is not None:
        where = f" in <code>assignment/{_e(first.file)}</code>" if first.file else ""
        start = (f"<p>{'Begin' if d.untouched else 'Continue'} with {_link(first)}{where}: "
                 "replace its <code>raise NotImplementedError</code> with your code; the "
                 "docstring says what to compute.</p>")
    if not d.entries:
        title = "Not started yet" if d.untouched else "Next"
        return (f'<section class="fix todo" id="fix-first"><h2>{title}</h2>{start}'
                f"<p>{_e(remaining_line(d))}</p></section>")
    items = "".join(_entry_html(e) for e in d.entries[:MAX_ENTRIES])
    body = f"<ol>{items}</ol>" if items else ""
    rest = d.entries[MAX_ENTRIES:]
    if rest:
        body += "<p>Then: " + ", ".join(
            f'{_link(e.view)} <span class="lost">{lost(e.view.lost)}</span>' for e in rest) \
            + ".</p>"
    if d.not_started:
        body += f"<p>{_e(remaining_line(d))}</p>"
    return f'<section class="fix" id="fix-first"><h2>Fix first</h2>{body}</section>'


def _task_html(view: TaskView, d: Digest, said: _Said, boxed: dict[str, str]) -> str:
    entry = d.entry_of(view.task)
    why = ""
    notes = []
    if view.state == "blocked":
        why = f"fix {', '.join(view.causes)} first"
        notes.append(f'<p class="note">Some checks here run your {_e(", ".join(view.causes))}, '
                     "which fails its own checks, so they may fail because of it: fix it "
                     "first.</p>")
    for name, _hint, sentence in view.mistakes():
        why = why or name
        if name in boxed:
            where = "see Fix first" if boxed[name] == "" else f"as in {boxed[name]}, above"
            notes.append(f'<p class="mistake"><b>Likely mistake: {_e(name)}</b> ({_e(where)})'
                         "</p>")
        else:
            boxed[name] = view.task
            notes.append(f'<div class="mistake"><b>Likely mistake: {_e(name)}</b>'
                         + (f". {_e(sentence)}" if sentence else "") + "</div>")
    if view.state == "failed" and view.causes:
        notes.append(f'<p class="note">Some checks here also run your '
                     f"{_e(', '.join(view.causes))}, which fails: fix that first.</p>")
    if not why and view.state == "failed":
        why = f"{len(view.failing)} of {len(view.checks)} checks failed"
    rows = "".join(_row(c, said.lines(c)) for c in view.checks)
    is_open = view.state == "failed" and entry is not None and entry.view is view and \
        d.entries.index(entry) < MAX_ENTRIES
    return (f'<details class="task" id="{_anchor(view.task)}"{" open" if is_open else ""}>'
            f'<summary><span class="badge {view.state}">{STATE_TEXT[view.state]}</span> '
            f"<b>{_e(view.task)}</b> " + (f'<span class="why">— {_e(why)}</span>' if why else "")
            + f'<span class="pts">{points(view.score, view.max_score)}</span></summary>'
            f'<div class="body">{"".join(notes)}<table>{rows}</table></div></details>')


def _group_html(views: list[TaskView], anchor: str, badge: str, label: str, why: str,
                own_state: bool) -> str:
    """One collapsed group of tasks that have nothing to say each (not started, not run): one
    row per check with its score, the group's reason once in its summary. ``own_state``: each
    row shows its task's state (not started, or blocked waiting for one) instead of ``label``."""
    def tag(view: TaskView) -> str:
        cls, text = (view.state, STATE_TEXT[view.state]) if own_state else (badge, label)
        return f'<span class="badge {cls}">{_e(text)}</span>'

    rows = "".join(
        f'<tr><td class="st">{tag(view)}</td>'
        f"<td>{_e(check.name)}{_e(waits_for(view)) if own_state else ''}</td>"
        f'<td class="score">{points(check.score, check.max_score)}</td></tr>'
        for view in views for check in view.checks)
    got = sum(v.score for v in views)
    out_of = sum(v.max_score for v in views)
    return (f'<details class="task" id="{anchor}"><summary><span class="badge {badge}">'
            f"{_e(label)}</span> <b>{len(views)} tasks</b> "
            f'<span class="why">— {why}</span>'
            f'<span class="pts">{points(got, out_of)}</span></summary>'
            f'<div class="body"><table>{rows}</table></div></details>')


def _not_started_html(d: Digest) -> str:
    if not d.not_started:
        return ""
    return _group_html(d.not_started, "not-started", "not_started", "not started",
                       "their checks stop at the <code>raise NotImplementedError</code> of the "
                       "stubs as handed out", own_state=True)


def _not_run_html(d: Digest) -> str:
    """Every task, when a submission problem stopped every check (said once, in "Fix first")."""
    return _group_html(d.tasks, "not-run", "not_started", "not run",
                       'no check could run: see <a href="#fix-first">Fix first</a>, above',
                       own_state=False)


def feedback_html(
    result: SubmissionResult,
    assignment: str,
    answers: Iterable[tuple[str, str]] = (),
    manual_points: float = 0.0,
) -> str:
    """The student's feedback page: total, "Fix first", submission problems, the detail per task
    (passed tasks collapsed, not-started tasks in one group), the inline answers found.

    ``answers``: ``(question, what was found)`` pairs, e.g. ``("inline_question_1", "found")``.
    """
    d = digest(result)
    said = _Said()
    # Mistakes the "Fix first" list explains: a task's detail only names them.
    boxed = {name: "" for e in d.entries[:MAX_ENTRIES] for name, _, _ in e.view.mistakes()}
    started = set(id(v) for v in d.not_started)
    if d.problem:
        tasks = _not_run_html(d)
    else:
        tasks = "\n".join(_task_html(v, d, said, boxed) for v in d.tasks
                          if id(v) not in started)
    problems = ""
    others = [p for p in result.problems if p != d.problem]  # that one is in "Fix first"
    if others:
        items = "".join(f"<li>{_e(p)}</li>" for p in others)
        problems = (f'<div class="problems"><b>Problems with your submission</b>'
                    f"<ul>{items}</ul></div>")
    answer_rows = "".join(f"<li><b>{_e(q)}</b>: {_e(found)}</li>" for q, found in answers)
    manual = ""
    if manual_points or answer_rows:
        manual = (
            "<h2>Inline questions</h2>"
            f'<p class="note">Graded by the course staff ({fmt(manual_points)} points, not '
            "included above). What the grader found in your notebook:</p>"
            f"<ul>{answer_rows}</ul>"
        )
    failed = sum(1 for c in result.checks if c.status != "passed")
    summary = (f"{len(result.checks) - failed} of {len(result.checks)} checks passed"
               if result.checks else "no checks were run")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(assignment)}: feedback for {_e(result.student)}</title>
<style>{_CSS}</style></head>
<body>
<h1>{_e(assignment)}: autograder feedback</h1>
<p class="sub">Student: {_e(result.student)}</p>
<p class="total">Autograded score: <b>{points(result.score, result.max_score)}</b>
 &nbsp;<span class="note">({summary})</span></p>
{_fix_first_html(d)}
{problems}
<h2>Checks of your code</h2>
<p class="note">Each check runs your functions on inputs of its own and compares the outputs with
what they must be. Tasks are in the order of the assignment; click one to open or close it.</p>
{tasks}
{_not_started_html(d)}
{manual}
</body></html>
"""
