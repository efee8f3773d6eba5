"""What the grade command prints after grading: "Fix first" per student and the grade table.

`fix_first_summary` gives one line per student, the headline of their ``results.json`` (the same
first line as their feedback page); `format_table` the students' totals and one column per task
in assignment order. Points are written as everywhere else (`autograder.recording.render`).
"""

from __future__ import annotations

import json
from pathlib import Path

from autograder.recording.feedback import headline_of
from autograder.recording.render import fmt, points


def _task_order(assignment: str = "normalization") -> dict[str, int]:
    """Task -> its place in the assignment (the checks' order), for stable columns."""
    from autograder.judging.assignment import catalogue

    order: dict[str, int] = {}
    for check in catalogue(assignment):
        order.setdefault(check.task, len(order))
    return order


def format_table(rows, max_width: int = 100) -> str:
    """Student, total/max and one compact column per task in assignment order, split into
    blocks that fit ``max_width`` columns, with a legend of the task columns."""
    if not rows:
        return "(no students graded)"
    seen: list[str] = []
    for row in rows:
        seen += [t for t in row.tasks if t not in seen]
    order = _task_order()
    tasks = sorted(seen, key=lambda t: (order.get(t, len(order)), seen.index(t)))
    maxima = {t: max(r.tasks.get(t, (0.0, 0.0))[1] for r in rows) for t in tasks}
    ordered = sorted(rows, key=lambda r: r.student)
    first = [["student", "total"]] + [[r.student, points(r.total, r.max_total, "/")]
                                      for r in ordered]
    columns = []
    for i, task in enumerate(tasks, start=1):
        cells = [f"[{i}]"] + ["-" if r.tasks.get(task) is None else fmt(r.tasks[task][0])
                              for r in ordered]
        columns.append(cells)
    lead = [max(len(line[k]) for line in first) for k in range(2)]
    blocks, block, width = [], [], lead[0] + 2 + lead[1]
    for cells in columns:
        w = max(len(c) for c in cells)
        if block and width + 2 + w > max_width:
            blocks.append(block)
            block, width = [], lead[0] + 2 + lead[1]
        block.append(cells)
        width += 2 + w
    blocks.append(block)
    out = []
    for block in blocks:
        widths = lead + [max(len(c) for c in cells) for cells in block]
        for r in range(len(first)):
            cells = first[r] + [col[r] for col in block]
            line = [cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in
                                                 zip(cells[1:], widths[1:], strict=True)]
            out.append("  ".join(line).rstrip())
            if r == 0:
                out.append("  ".join("-" * w for w in widths))
        out.append("")
    legend = "  ".join(f"[{i}] {t} ({fmt(maxima[t])})" for i, t in enumerate(tasks, start=1))
    wrapped, current = [], "tasks:"
    for part in legend.split("  "):
        if len(current) + len(part) + 2 > max_width:
            wrapped.append(current)
            current = "      "
        current += "  " + part if current.strip() else " " + part
    wrapped.append(current)
    return "\n".join(out + wrapped)


def fix_first_summary(out: Path, rows, max_students: int = 30) -> str:
    """"Fix first", one line per student: the headline of each ``OUT/<student>/results.json``
    (the same first line as the student's feedback), students who passed everything together."""
    if not rows:
        return ""
    passed, lines = [], []
    for row in sorted(rows, key=lambda r: r.student):
        try:
            results = json.loads((Path(out) / row.student / "results.json").read_text("utf-8"))
            line = headline_of(results)
        except (OSError, ValueError, AttributeError):
            line = "(no results.json)"
        if line == "Every check passed.":
            passed.append(row.student)
        else:
            lines.append((row.student, line.removeprefix("Fix first: ")))
    width = max((len(s) for s, _ in lines[:max_students]), default=0)
    text = [f"Fix first, per student (details: {Path(out)}/<student>/feedback.html):"]
    text += [f"  {student.ljust(width)}  {line}" for student, line in lines[:max_students]]
    if len(lines) > max_students:
        text.append(f"  ... and {len(lines) - max_students} more students with something to fix")
    if passed:
        names = ", ".join(passed[:10]) + (f" and {len(passed) - 10} more" if len(passed) > 10
                                          else "")
        text.append(f"  Every check passed: {names}.")
    return "\n".join(text)
