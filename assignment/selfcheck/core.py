# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/selfcheck/core.py by `make stubs`; edit the solution.
"""Reports, steps and dependencies between the tasks' self-checks.

A task's check is a list of `Step`s. A step returns None (passed), a message (failed), an `Own`
message (failed, and certainly because of the task's own code) or ``(None, message)`` (a note).
A step that needs another task (`Need`) and fails is not blamed on its own code when that other
task fails its own check: the step then *waits* ("this uses batchnorm_forward, which failed its
own check above: fix that first"). The other task's check runs only then, once per `Context`,
so a check whose steps all pass costs nothing extra.
"""

from __future__ import annotations

import inspect
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .. import fc_net as _fc_net
from .. import framework as _framework
from .. import layer_utils as _layer_utils
from .. import layers as _layers
from .. import nn as _nn

_HERE = os.path.dirname(os.path.abspath(__file__))
_PACKAGE_DIR = os.path.dirname(_HERE)
_GRADIENT_CHECK = os.path.join(_PACKAGE_DIR, "gradient_check.py")

#: The modules a check can be given, by the keyword that names them.
MODULE_KINDS = ("layers", "layer_utils", "fc_net", "nn", "framework")


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


class Check(NamedTuple):
    """One finding: ``passed`` is True, False, or None for a note or a step that waits."""

    name: str
    passed: bool | None
    message: str


_TAGS = {"pass": "[pass]", "fail": "[FAIL]", "note": "[note]", "wait": "[wait]"}


class Report:
    """The findings for one task; ``str(report)`` (and the notebook display) is the text.

    Attributes:
        task: the task's name, e.g. ``"batchnorm_forward"``.
        results: list of `Check` tuples ``(name, passed, message)``, in the order they ran.
        not_implemented: None, or the name of the function that raised NotImplementedError.
        waiting_for: the tasks (failing their own checks) that some of these checks wait for.
    """

    def __init__(self, task):
        self.task = task
        self.results = []
        self.not_implemented = None
        self.stopped = False  # a step ended the run early: what came after was not checked
        self._kinds, self._aspects, self._roots = [], [], []
        self._stop_roots = None

    @property
    def passed(self):
        """True when something was checked, nothing failed and nothing waits."""
        if self.not_implemented is not None or self.waiting_for:
            return False
        verdicts = [c.passed for c in self.results]
        return True in verdicts and False not in verdicts

    @property
    def failures(self):
        """The failed checks."""
        return [c for c in self.results if c.passed is False]

    @property
    def waiting_for(self):
        return _unique(t for kind, roots in zip(self._kinds, self._roots, strict=True)
                       if kind == "wait" for t in roots)

    def add(self, name, passed, message="", *, kind=None, aspect=None, roots=()):
        kind = kind or {True: "pass", False: "fail", None: "note"}[passed]
        self.results.append(Check(name, passed, message))
        self._kinds.append(kind)
        self._aspects.append(aspect)
        self._roots.append(tuple(roots))

    def problems(self, aspects=None):
        """The tasks to fix first so that the ``aspects`` of this task work (all by default).

        This task itself when one of its own checks about them failed (or the run stopped
        before reaching them), else the tasks its waiting checks about them wait for.
        """
        if self.not_implemented is not None:
            return [self.task]
        found = []
        for kind, aspect, roots in zip(self._kinds, self._aspects, self._roots, strict=True):
            if aspects is not None and aspect is not None and aspect not in aspects:
                continue
            if kind == "fail":
                found.append(self.task)
            elif kind == "wait":
                found += roots
        if self.stopped:
            found += self._stop_roots or [self.task]
        return _unique(found)

    def first_problem(self):
        """What this check says first about its own code (for a check that waits for it)."""
        if self.not_implemented is not None:
            return f"says: not implemented yet: {self.not_implemented}"
        for check, kind in zip(self.results, self._kinds, strict=True):
            if kind == "fail":
                return f'fails "{check.name}": {check.message}'
        return "does not pass"

    def __iter__(self):
        return iter(self.results)

    def summary(self):
        """One line: the task and its verdict."""
        if self.not_implemented is not None:
            return f"{self.task}: not implemented yet: {self.not_implemented}"
        counts = {kind: self._kinds.count(kind) for kind in ("pass", "fail", "wait")}
        waiting = self.waiting_for
        if waiting and not counts["fail"]:
            names = _and(waiting)
            return (f"{self.task}: waits for {names} (fix {'it' if len(waiting) == 1 else 'them'} "
                    f"first); {counts['pass']} of {counts['pass']} checks that do not depend on "
                    f"{'it' if len(waiting) == 1 else 'them'} passed")
        counted = counts["pass"] + counts["fail"]
        verdict = "all passed" if self.passed else "NOT passing yet"
        text = f"{self.task}: {counts['pass']} of {counted} checks passed ({verdict})"
        if waiting:
            text += f"; {counts['wait']} more wait for {_and(waiting)}"
        return text

    def __str__(self):
        lines = [self.summary()]
        for c, kind in zip(self.results, self._kinds, strict=True):
            text = c.name if kind == "pass" else f"{c.name}: {c.message}"
            lines.append(f"  {_TAGS[kind]} {text}")
        return "\n".join(lines)

    __repr__ = __str__


def _unique(items):
    return list(dict.fromkeys(items))


def _and(names):
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# --------------------------------------------------------------------------------------------------
# Steps, needs and the registry of tasks
# --------------------------------------------------------------------------------------------------


class Fatal(Exception):
    """Raised by a step to record a failure and skip the steps after it."""

    def __init__(self, message):
        super().__init__(message)


#: A step's outcome that records nothing (a step skipped because an earlier one failed).
SKIP = object()


class Own(str):
    """A failure message that is certainly about the task's own code: it never waits."""

    def __new__(cls, message):
        return super().__new__(cls, message)


@dataclass(frozen=True)
class Need:
    """A step needs the ``aspects`` (None: all) of ``task`` to be right.

    ``via`` (a function returning the student's functions the step calls) limits the need to
    code that refers to one of the task's functions; without it the need always holds (the
    step itself calls the other task's function).
    """

    task: str
    aspects: tuple[str, ...] | None = None
    via: Callable[[], list] | None = None


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[], object]
    aspect: str | None = None
    needs: tuple[Need, ...] = ()


@dataclass(frozen=True)
class Task:
    """A task's check: ``build(context)`` returns its steps."""

    name: str
    module: str  # the kind of module its first argument is ("layers", "nn", ...)
    owned: tuple[str, ...]  # the functions it is about (besides the one named like the task)
    subject: str  # how other checks name it: "this uses <subject>"
    calls: tuple[str, ...]  # the names by which other code calls it
    build: Callable


REGISTRY: dict[str, Task] = {}


def task(name, module, owned=(), subject=None, calls=None):
    """Register the step builder of a task (a decorator)."""
    def register(build):
        REGISTRY[name] = Task(name, module, tuple(owned), subject or name,
                              tuple(calls if calls is not None else (owned or (name,))), build)
        return build
    return register


def uses(functions, names, depth=3):
    """Whether one of ``functions`` refers to one of ``names``, or calls a function of its own
    package that does (up to ``depth`` calls deep). True when the code cannot be read."""
    names, seen = set(names), set()

    def refers(func, level):
        func = getattr(func, "__func__", func)
        code = getattr(func, "__code__", None)
        if code is None:
            return True
        if code in seen:
            return False
        seen.add(code)
        top = (getattr(func, "__module__", "") or "").split(".")[0]
        codes, found = [code], set()
        while codes:
            c = codes.pop()
            found.update(c.co_names)
            codes += [k for k in c.co_consts if inspect.iscode(k)]
        if found & names:
            return True
        if level == 0:
            return False
        scope = getattr(func, "__globals__", {})
        callees = [f for f in (scope.get(n) for n in found)
                   if inspect.isfunction(f) and (f.__module__ or "").split(".")[0] == top]
        callees += [cell.cell_contents for cell in getattr(func, "__closure__", None) or ()
                    if inspect.isfunction(getattr(cell, "cell_contents", None))]
        return any(refers(f, level - 1) for f in callees)

    try:
        return any(refers(f, depth) for f in functions)
    except AttributeError:
        return True


# --------------------------------------------------------------------------------------------------
# Running a task's steps
# --------------------------------------------------------------------------------------------------


class Modules:
    """The modules under test: the sibling modules of this package unless others are given."""

    def __init__(self, **given):
        defaults = {"layers": _layers, "layer_utils": _layer_utils, "fc_net": _fc_net,
                    "nn": _nn, "framework": _framework}
        unknown = set(given) - set(defaults)
        if unknown:
            raise TypeError(f"unknown module keyword(s) {', '.join(sorted(unknown))}; "
                            f"choose from {', '.join(MODULE_KINDS)}")
        for kind, default in defaults.items():
            setattr(self, kind, default if given.get(kind) is None else given[kind])


class Context:
    """One run of checks: the modules under test and the reports made so far (each task once)."""

    def __init__(self, modules=None):
        self.modules = modules or Modules()
        self.reports = {}
        self.shown = set()  # tasks whose reports were printed above the current one

    def report(self, name):
        if name not in self.reports:
            self.reports[name] = _run(REGISTRY[name], self)
        return self.reports[name]

    def blockers(self, needs):
        """The tasks failing their own checks that the ``needs`` depend on (roots first)."""
        roots = []
        for need in needs:
            if need.via is not None:
                try:
                    functions = need.via()
                except AttributeError:
                    functions = []
                if not uses(functions, REGISTRY[need.task].calls):
                    continue
            roots += self.report(need.task).problems(need.aspects)
        return _unique(roots)

    def wait_message(self, roots):
        subjects = _and(REGISTRY[r].subject for r in roots)
        one = len(roots) == 1
        if all(r in self.shown for r in roots):
            return (f"this uses {subjects}, which failed {'its' if one else 'their'} own "
                    f"check{'' if one else 's'} above: fix {'that' if one else 'those'} first")
        details = "; ".join(f"check_{r}() {self.report(r).first_problem()}" for r in roots)
        return (f"this uses {subjects}, which {'fails its' if one else 'fail their'} own "
                f"self-check{'' if one else 's'}: fix {'that' if one else 'those'} first "
                f"({details})")


def _run(spec, context):
    """Run the steps of task ``spec`` into a Report, leaving NumPy's global random state as it
    was (a seeded dropout layer reseeds it, as CS231n's does, and a notebook's draws after a
    self-check must not depend on it).

    `Fatal` or an exception records a failure and stops; NotImplementedError marks the task as
    not implemented and stops. A failed step whose needs fail their own checks waits instead.
    """
    state = np.random.get_state()
    try:
        return _run_steps(spec, context)
    finally:
        np.random.set_state(state)


def _run_steps(spec, context):
    report = Report(spec.name)
    try:
        steps = spec.build(context)
    except NotImplementedError as exc:
        report.not_implemented = _not_implemented_name(exc, spec)
        return report
    except Exception as exc:  # noqa: BLE001 - e.g. a function renamed or missing
        report.add("the functions to check exist", False, describe_exception(exc))
        report.stopped = True
        return report
    said = set()
    for step in steps:
        stop = False
        try:
            outcome = step.run()
        except Fatal as exc:
            outcome, stop = str(exc), True
            outcome = Own(outcome) if isinstance(exc.args[0], Own) else outcome
        except NotImplementedError as exc:
            report.not_implemented = _not_implemented_name(exc, spec)
            break
        except Exception as exc:  # noqa: BLE001 - a check reports, it never crashes the notebook
            outcome, stop = describe_exception(exc), True
        if outcome is SKIP:
            continue
        if outcome is None:
            report.add(step.name, True, aspect=step.aspect)
            continue
        if isinstance(outcome, tuple):
            report.add(step.name, None, outcome[1], aspect=step.aspect)
            continue
        roots = [] if isinstance(outcome, Own) else context.blockers(step.needs)
        if roots:
            key = tuple(roots)
            message = (f"waits for {_and(roots)} as well" if key in said
                       else context.wait_message(roots))
            said.add(key)
            report.add(step.name, None, message, kind="wait", aspect=step.aspect, roots=roots)
        else:
            report.add(step.name, False, str(outcome), aspect=step.aspect)
        if stop:
            report.stopped = True
            report._stop_roots = roots or None
            break
    return report


def report_of(spec, context):
    """The report of the steps of ``spec`` (a `Task`) in ``context``, not kept there: how a
    task's extra cases run, beside its check."""
    return _run(spec, context)


def run_task(name, verbose, context=None, **modules):
    """The report of task ``name`` (printed with ``verbose``), in ``context`` or a new one."""
    context = context or Context(Modules(**modules))
    report = context.report(name)
    if verbose:
        print(report)
    return report


def _not_implemented_name(exc, spec):
    """Which function is missing: the stub's message starts with its name."""
    text = str(exc).strip()
    head = text.split(":", 1)[0].strip() if ":" in text else ""
    if not head or not all(part.isidentifier() for part in head.split(".")):
        return spec.name
    if head == spec.name or head in spec.owned:
        return head
    return f"{head} (needed by the {spec.name} check)"


def describe_exception(exc):
    """An exception in words: its type and message, where it happened, and a hint if we have one."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [
        f for f in frames
        if os.path.abspath(f.filename).startswith(_PACKAGE_DIR)
        and not os.path.abspath(f.filename).startswith(_HERE)
        and os.path.abspath(f.filename) != _GRADIENT_CHECK
    ]
    if ours:
        f = ours[-1]
        where = f" (in {f.name}, {os.path.basename(f.filename)} line {f.lineno}: {f.line})"
    text = f"your code raised {type(exc).__name__}: {str(exc).strip()}{where}"
    hint = _exception_hint(exc)
    return f"{text}. {hint}" if hint else text


def _exception_hint(exc):
    message = str(exc)
    if "could not be broadcast" in message:
        return (
            "Hint: two arrays' shapes do not line up. Statistics reduced over one axis lose it; "
            "keep it with keepdims=True when they must broadcast against x row by row, and check "
            "which axis you reduce over"
        )
    if "NoneType" in message:
        return "Hint: something is None; did a function return before assigning its result?"
    if "unpack" in message:
        return "Hint: check what the function returns and how many values the cache holds"
    return ""
