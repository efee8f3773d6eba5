"""How a check result becomes text, wherever it is shown: one wording for every output.

A `CheckResult` is read by people in four places: the feedback page and ``results.json``
(`autograder.recording.feedback`, via `autograder.recording.digest`), the output of each
autograded cell of the notebook formgrader shows the TAs (`autograder.recording.recorder`), and
the grade command's table (`autograder.recording.summary`). They all take from here

* points: `fmt` (``3``, ``2.5``, ``0.33``), `points` (``x / y``), `lost` (``-2``);
* the status word (`status_word`: ``timed out``), the state of a task (`STATE_TEXT`), the tag of
  a check in a cell output (`status_tag`: ``[pass]``, ``[FAILED]``), Gradescope's two statuses;
* the message lines: the recognised mistake by name, the lines of a check's message that the
  page does not state once per task (`own_lines`), the first concrete one (`first_message`), the
  text of a check in ``results.json`` (`check_output`) and in a cell output (`cell_output`);
* "waits for": `` (after batchnorm_forward)`` for a task waiting for another's stub.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from autograder.results import CheckResult

if TYPE_CHECKING:
    from autograder.recording.digest import TaskView

#: The status of a check, for people.
STATUS_TEXT = {"passed": "passed", "failed": "failed", "error": "error", "timeout": "timed out"}
#: The state of a task (`autograder.recording.digest.TaskView.state`), for people.
STATE_TEXT = {"passed": "passed", "failed": "failed", "blocked": "blocked",
              "not_started": "not started"}
#: Lines of a check's message quoted in a notebook cell's output.
CELL_LINES = 12


def fmt(value: float) -> str:
    """A score for people: 3, 2.5, 0.33."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def points(score: float, max_score: float, sep: str = " / ") -> str:
    """``3 / 5`` (``sep="/"``: ``3/5``)."""
    return f"{fmt(score)}{sep}{fmt(max_score)}"


def lost(value: float) -> str:
    """Points lost: ``-2``."""
    return f"-{fmt(value)}"


def status_word(status: str) -> str:
    """The status of a check in words: ``timeout`` -> ``timed out``."""
    return STATUS_TEXT.get(status, status)


def status_tag(check: CheckResult) -> str:
    """``[pass]``, or the status in capitals (``[FAILED]``), before a check in a cell output."""
    return "[pass]" if check.status == "passed" else f"[{check.status.upper()}]"


def gradescope_status(check: CheckResult) -> str:
    """Gradescope knows only "passed" and "failed"."""
    return "passed" if check.status == "passed" else "failed"


def mistake_name(check: CheckResult) -> str:
    """The recognised mistake for people: ``unbiased_variance`` -> ``unbiased variance``."""
    return (check.mistake or "").replace("_", " ")


def mistake_sentence(check: CheckResult, line: str) -> bool:
    """Whether ``line`` is the grader's "This looks like <mistake>: <hint>." sentence."""
    if not check.mistake or not line.startswith("This looks like "):
        return False
    return not check.hint or line.rstrip(".").endswith(check.hint.rstrip("."))


def blocked_note(check: CheckResult, line: str) -> bool:
    """Whether ``line`` is the grader's "Fix <task> first: ..." note on a blocked check."""
    return bool(check.blocked_by) and line.startswith("Fix ") and " first" in line[:200]


def own_lines(check: CheckResult) -> list[str]:
    """The check's message without the notes the page states once per task."""
    return [line for line in check.output.splitlines()
            if line.strip() and not mistake_sentence(check, line)
            and not blocked_note(check, line)]


def first_message(check: CheckResult) -> str:
    """The first concrete line: not the "k of n parts right" tally."""
    lines = own_lines(check)
    for line in lines:
        if not re.match(r"\d+ of \d+ parts right", line):
            return line
    return lines[0] if lines else ""


def check_output(check: CheckResult) -> str:
    """The message of a check in results.json, with the recognised mistake named first."""
    parts = []
    if check.mistake:
        parts.append(f"Likely mistake: {mistake_name(check)}")
    if check.status in ("error", "timeout") and check.status not in check.output.lower():
        parts.append(f"({status_word(check.status)})")
    if check.output:
        parts.append(check.output)
    return "\n".join(parts)


def cell_output(grade_id: str, checks: list[CheckResult]) -> str:
    """The output of the autograded cell ``grade_id`` in the notebook the TAs see: its points,
    then each check that credits it, with the start of the message of each failing one."""
    if not checks:
        return f"normlab autograder: no check credits {grade_id}\n"
    got = sum(c.score for c in checks)
    out_of = sum(c.max_score for c in checks)
    lines = [f"normlab autograder: {points(got, out_of)} points for {grade_id}"]
    for check in checks:
        lines.append(f"{status_tag(check)} {check.name} "
                     f"({points(check.score, check.max_score, '/')})")
        if check.mistake:
            lines.append(f"       likely mistake: {mistake_name(check)}")
        if check.status != "passed" and check.output:
            lines += [f"       {line}" for line in check.output.splitlines()[:CELL_LINES]]
    return "\n".join(lines) + "\n"


def waits_for(view: TaskView) -> str:
    """`` (after batchnorm_forward)`` for a task waiting for another's stub."""
    return f" (after {', '.join(view.causes)})" if view.state == "blocked" and view.causes else ""
