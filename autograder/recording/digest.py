"""What to fix first: a `SubmissionResult` read as root causes, blocked tasks and unstarted ones.

The feedback page, the top-level ``output`` of results.json and the grade command's summary all
lead with the same "Fix first" list, built here from the check results alone:

* the checks come in assignment order, which is dependency order, so the tasks do too;
* a failing check whose ``blocked_by`` names a failing task is explained by it, and so is one
  whose message is another graded task's NotImplementedError (it ran that task's stub);
* a task whose failing checks are all explained that way is *blocked*: "fix <task> first";
* a task whose failing checks all raise its own NotImplementedError is *not started*;
* a submission problem that stopped every check (no ``assignment/`` folder: each check's message
  is the problem's words) is the one thing to fix, named instead of the first task;
* every other failing task is a *root cause*, with the points it lost, its named mistake and
  hint, and its first concrete message. A root cause that shows only a mistake (or error) an
  earlier one already names is folded into that one ("the same mistake shows in ...").

The words (points, statuses, a check's message lines) are `autograder.recording.render`'s:
its `own_lines` is a check's message without what the page says once elsewhere (the mistake
sentence, in the task's mistake box; the grader's "Fix X first" note, in the task's header), and
`error_key` here tells the page which error an earlier check already quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from autograder.recording.render import (
    first_message,
    fmt,
    lost,
    mistake_name,
    mistake_sentence,
    own_lines,
)
from autograder.results import CheckResult, SubmissionResult

#: The stub's message, as `autograder.authoring.stubgen.stub_message` writes it.
_NOT_IMPLEMENTED = re.compile(
    r"NotImplementedError: ([\w.]+): .{0,80}?this is your task \(([\w.]+)")
_ERROR = re.compile(
    r"^(?P<label>[^:\n]{1,120}): (?P<error>(?P<kind>[A-Z]\w{0,60}(?:Error|Exception|Exit|"
    r"Interrupt))\b.*|your code did not finish in time.*|the process running your code crashed.*"
    r"|the results of your code could not be read back.*)$")
_WHERE = re.compile(r" \([\w.-]{1,100} line \d+, in [\w<>.]{1,100}\)$")

#: How many root causes get a full entry; the others are named in one "Then:" line.
MAX_ENTRIES = 3


def not_implemented(check: CheckResult) -> tuple[str, str] | None:
    """(task, file) of the stub whose NotImplementedError failed this check, else None.

    Only the stub's own message counts (`autograder.authoring.stubgen.stub_message`): ``file`` is
    ``layers.py`` for ``(layers.batchnorm_forward)``, the task is the stub's qualname
    (``FullyConnectedNet.__init__``). A NotImplementedError of the student's own words is
    their failure like any other error, and its message is shown."""
    if check.status == "passed":
        return None
    match = _NOT_IMPLEMENTED.search(check.output)
    if match is None:
        return None
    return match.group(1), match.group(2).split(".", 1)[0] + ".py"


def error_key(line: str) -> tuple[str, str, str] | None:
    """(case label, error without the code location, exception kind) of an error line."""
    match = _ERROR.match(line)
    if match is None:
        return None
    kind = match.group("kind") or "error"
    return match.group("label"), _WHERE.sub("", match.group("error")), kind


@dataclass
class TaskView:
    """One graded task and what its checks say, for the feedback."""

    task: str
    checks: list[CheckResult]
    state: str = "passed"  # "passed" | "failed" | "blocked" | "not_started"
    causes: list[str] = field(default_factory=list)  # failing upstream tasks that explain it
    file: str = ""  # for a not-started task: the file its stub is in
    failing_tasks: frozenset[str] = frozenset()  # every failing task of the submission

    @property
    def score(self) -> float:
        return SubmissionResult(self.task, self.checks).score

    @property
    def max_score(self) -> float:
        return SubmissionResult(self.task, self.checks).max_score

    @property
    def lost(self) -> float:
        return self.max_score - self.score

    @property
    def failing(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status != "passed"]

    @property
    def own(self) -> list[CheckResult]:
        """The failing checks not explained by an upstream task and not a plain stub."""
        return [c for c in self.failing if not self._explained(c) and not self._stub(c)]

    def mistakes(self) -> list[tuple[str, str, str]]:
        """(name, hint, sentence) of each distinct named mistake, in check order."""
        seen: dict[str, tuple[str, str, str]] = {}
        for check in self.failing:
            if check.mistake and check.mistake not in seen:
                sentence = next((line for line in check.output.splitlines()
                                 if mistake_sentence(check, line)), "")
                seen[check.mistake] = (mistake_name(check), check.hint, sentence)
        return list(seen.values())

    def signature(self) -> set[str] | None:
        """What this task's own failures show, if every one names a mistake or an error."""
        marks: set[str] = set()
        for check in self.own:
            if check.mistake:
                marks.add("mistake:" + check.mistake)
                continue
            lines = own_lines(check)
            keys = [error_key(line) for line in lines]
            if keys and all(keys):
                marks.update("error:" + k[1] for k in keys if k)
            elif lines and check.status in ("error", "timeout"):
                marks.add("error:" + "\n".join(lines))  # e.g. "assignment/ was not found"
            else:
                return None
        return marks or None

    def _explained(self, check: CheckResult) -> bool:
        return bool(self.upstream_causes(check))

    def _stub(self, check: CheckResult) -> bool:
        stub = not_implemented(check)
        return stub is not None and stub[0] == self.task

    def upstream_causes(self, check: CheckResult) -> list[str]:
        """The failing upstream tasks that explain a failing check: its ``blocked_by``, or the
        task whose stub it ran into."""
        causes = list(check.blocked_by)
        stub = not_implemented(check)
        if stub is not None:
            causes.append(stub[0])
        return [t for t in dict.fromkeys(causes) if t in self.failing_tasks and t != self.task]


@dataclass
class Entry:
    """One root cause of the "Fix first" list."""

    view: TaskView
    folded: list[TaskView] = field(default_factory=list)  # same mistake or error, later tasks
    blocked: list[TaskView] = field(default_factory=list)  # tasks waiting for this one

    @property
    def check(self) -> CheckResult:
        """The first failing check of the task's own (what the entry quotes)."""
        return (self.view.own or self.view.failing)[0]


@dataclass
class Digest:
    """A submission read for the feedback: tasks in order, root causes, what is not started."""

    tasks: list[TaskView]
    entries: list[Entry]
    not_started: list[TaskView]  # own stub, plus tasks waiting only for such a stub
    untouched: bool  # nothing passed and nothing but stubs failed
    problem: str = ""  # a submission problem that stopped every check (assignment/ missing)

    @property
    def passed(self) -> bool:
        return all(t.state == "passed" for t in self.tasks)

    def entry_of(self, task: str) -> Entry | None:
        for entry in self.entries:
            if entry.view.task == task or any(v.task == task for v in entry.folded):
                return entry
        return None


def digest(result: SubmissionResult) -> Digest:
    """Read ``result`` (checks in assignment order) into tasks, root causes and stubs."""
    order: dict[str, TaskView] = {}
    for check in result.checks:
        order.setdefault(check.task, TaskView(check.task, [])).checks.append(check)
    views = list(order.values())
    failing_tasks = frozenset(v.task for v in views if v.failing)
    for view in views:
        view.failing_tasks = failing_tasks
        if not view.failing:
            continue
        view.causes = list(dict.fromkeys(t for c in view.failing
                                         for t in view.upstream_causes(c)))
        stubs = [c for c in view.failing if view._stub(c) and not view._explained(c)]
        if view.own:
            view.state = "failed"
        elif stubs:
            view.state = "not_started"
            view.file = next((not_implemented(c)[1] for c in stubs), "")
        else:
            view.state = "blocked"
    by_task = {v.task: v for v in views}
    # A blocked task waits for its first cause; a chain (blocked by a blocked task) goes to the
    # root of it, so the list names only tasks to fix.
    def root_of(view: TaskView, seen=()) -> TaskView:
        for cause in view.causes:
            upstream = by_task.get(cause)
            if upstream is None or upstream.task in seen:
                continue
            if upstream.state == "blocked":
                return root_of(upstream, (*seen, view.task))
            return upstream
        return view

    entries: list[Entry] = []
    for view in views:
        if view.state != "failed":
            continue
        mine = view.signature()
        host = next((e for e in entries if mine and (e.view.signature() or set()) >= mine), None)
        if host is not None:
            host.folded.append(view)
        else:
            entries.append(Entry(view))
    not_started = [v for v in views if v.state == "not_started"]
    for view in views:
        if view.state != "blocked":
            continue
        root = root_of(view)
        host = next((e for e in entries
                     if e.view is root or any(v is root for v in e.folded)), None)
        if host is not None:
            host.blocked.append(view)
        else:  # waiting for a task that is not started: it is still to do too
            not_started.append(view)
    position = {v.task: n for n, v in enumerate(views)}
    not_started.sort(key=lambda v: position[v.task])
    untouched = bool(views) and not entries and all(
        v.state in ("not_started", "blocked") for v in views)
    return Digest(views, entries, not_started, untouched, stopping_problem(result))


def stopping_problem(result: SubmissionResult) -> str:
    """The submission problem that stopped every check (no assignment/ folder, say): each check
    is an error whose message is that problem's words. Empty when there is none."""
    return next((p for p in result.problems if result.checks and all(
        c.status == "error" and c.output == p for c in result.checks)), "")


def problem_sentence(d: Digest) -> str:
    """The first sentence of the problem that stopped every check, without its full stop."""
    return d.problem.split(". ", 1)[0].rstrip(".")


def remaining_line(d: Digest) -> str:
    """One line: the tasks still to do (their own stub, or waiting for one), with points."""
    points = sum(v.max_score - v.score for v in d.not_started)
    count = f"{len(d.not_started)} task{'s' if len(d.not_started) != 1 else ''}"
    names = ", ".join(v.task for v in d.not_started)
    if d.untouched:
        return f"To do ({count}, {fmt(points)} points): {names}."
    return (f"Not started yet ({count}, {fmt(points)} points; each still raises "
            f"NotImplementedError): {names}.")


def start_line(d: Digest) -> str:
    """"Begin with X in assignment/F: ..." (nothing done yet) or "Continue with ..." (no failing
    task, some not started); empty otherwise."""
    first = begin_with(d)
    if first is None or d.entries:
        return ""
    where = f" in assignment/{first.file}" if first.file else ""
    return (f"{'Begin' if d.untouched else 'Continue'} with {first.task}{where}: replace its "
            "`raise NotImplementedError` with your code; the docstring says what to compute.")


def begin_with(d: Digest) -> TaskView | None:
    """The first task of the assignment that is not started (its own stub), if any."""
    return next((v for v in d.not_started if v.state == "not_started"), None)


def headline(d: Digest) -> str:
    """One line for the grade command's summary (and the first line of results.json)."""
    if not d.tasks:
        return "No checks were run."
    if d.passed:
        return "Every check passed."
    if d.problem:
        return f"Fix first: {problem_sentence(d)} (no check could run)."
    first = begin_with(d)
    if d.untouched:
        where = f" (assignment/{first.file})" if first and first.file else ""
        start = f": begin with {first.task}{where}" if first else ""
        return f"Not started yet{start}; {len(d.not_started)} tasks to do."
    parts = []
    if not d.entries and first is not None:
        parts.append(f"Next: {first.task}" + (f" (assignment/{first.file})" if first.file
                                               else ""))
    if d.entries:
        entry = d.entries[0]
        named = entry.view.mistakes()
        why = f"{named[0][0]}, " if named else ""
        parts.append(f"Fix first: {entry.view.task} ({why}{lost(entry.view.lost)} points)")
        if entry.folded:
            n = len(entry.folded)
            parts.append(f"the same {'mistake' if named else 'error'} in {n} more "
                         f"task{'s' if n > 1 else ''}")
        more = len(d.entries) - 1
        if more:
            parts.append(f"then {more} more task{'s' if more > 1 else ''}")
    if d.not_started:
        parts.append(f"{len(d.not_started)} task{'s' if len(d.not_started) > 1 else ''} "
                     "not started")
    return "; ".join(parts) + "."


def entry_lines(entry: Entry) -> list[str]:
    """The text of one root cause (results.json and the page share the wording)."""
    view = entry.view
    lines = [f"{view.task}: lost {fmt(view.lost)} of {fmt(view.max_score)} points."]
    for name, hint, sentence in view.mistakes():
        why = f"{hint[0].upper()}{hint[1:]}." if hint else sentence
        lines.append(f"Likely mistake: {name}." + (f" {why}" if why else ""))
    check = entry.check
    message = first_message(check)
    if message:
        lines.append(f"First failing check: {check.name}: {message}")
    if entry.folded:
        what = "mistake" if view.mistakes() else "error"
        lines.append(f"The same {what} shows in " + ", ".join(
            f"{v.task} ({lost(v.lost)})" for v in entry.folded) + ".")
    if entry.blocked:
        names = [f"{v.task} ({lost(v.lost)})" for v in entry.blocked]
        names = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        lines.append(f"Fix it first: {names} {'run' if len(entry.blocked) > 1 else 'runs'} "
                     f"your {view.task} and may pass once it does.")
    return lines


def fix_first_text(d: Digest) -> list[str]:
    """The "Fix first" list as plain text: the top of results.json's ``output``."""
    if not d.tasks or d.passed or d.problem:  # a problem is told in full below the list
        return [headline(d)]
    lines = [headline(d)]
    if start_line(d):
        lines.append(start_line(d))
    if d.untouched:
        return lines + [remaining_line(d)]
    for n, entry in enumerate(d.entries[:MAX_ENTRIES], start=1):
        body = entry_lines(entry)
        lines.append(f"{n}. {body[0]}")
        lines += [f"   {line}" for line in body[1:]]
    rest = d.entries[MAX_ENTRIES:]
    if rest:
        lines.append("Then: " + ", ".join(f"{e.view.task} ({lost(e.view.lost)})"
                                          for e in rest) + ".")
    if d.not_started:
        lines.append(remaining_line(d))
    return lines
