"""One grading run of one submission: which checks, which inputs, and the points.

`select_checks` picks the assignment's checks (`autograder.judging.assignment.catalogue`) of the
selected tasks with ``[points]`` applied (keyed by check id; a check's title is still accepted,
with a deprecation note); `plan` draws their fresh inputs (seeded by release, student and the
check's ``seed_key``), loads the hidden ones and computes every reference output, giving the probe
calls for the runner; `Plan.evaluate` / `evaluate_check` score the outcomes into
`results.CheckResult`s (carrying the check's id, the grades.csv column, and its title, which the
feedback shows), naming a recognised mistake (the assignment's ``mistakes``, through the seam
`autograder.judging.assignment`) when one explains a failure, and `mark_blocked` says which failing
upstream task to fix first.
"""

from __future__ import annotations

import dataclasses
import difflib
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from autograder.config import GradingConfig
from autograder.judging import assignment as seam
from autograder.judging.assignment import catalogue
from autograder.judging.checks import Case, Check, Inputs
from autograder.judging.judges import expand
from autograder.judging.references import load_references
from autograder.results import CheckResult
from autograder.sandbox.runner import ProbeCall

MAX_OUTPUT_LINES = 8


# --------------------------------------------------------------------------------------------------
# Which checks
# --------------------------------------------------------------------------------------------------


def _selected(key: str, tasks) -> bool:
    return key in tasks or key.split(":", 1)[0] in tasks


def select_checks(config: GradingConfig) -> list[Check]:
    """The checks of the tasks selected in ``config``, with ``config.points`` applied.

    Raises ValueError for a ``[points]`` key that is no check (a typo would otherwise be
    silently ignored).
    """
    checks = catalogue(config.assignment)
    points = _points_by_id(config.points, checks)
    return [dataclasses.replace(c, points=float(points.get(c.id, c.points)))
            for c in checks if any(_selected(k, config.tasks) for k in c.release_keys)]


def _points_by_id(points: Mapping[str, float], checks: Sequence[Check]) -> dict[str, float]:
    """``[points]`` by check id. A check's title (its name before it had an id) is accepted as
    its key too, with a one-line deprecation note naming the id."""
    by_title = {c.title: c.id for c in checks}
    ids = {c.id for c in checks}
    found: dict[str, float] = {}
    unknown = []
    for key, value in points.items():
        if key in ids:
            check_id = key
        elif key in by_title:
            check_id = by_title[key]
            warnings.warn(f"[points] {key!r}: a check's title as key is deprecated; use its id "
                          f"{check_id!r}", FutureWarning, stacklevel=3)
        else:
            unknown.append(key)
            continue
        if check_id in found:
            raise ValueError(f"[points] gives check {check_id!r} twice (by id and by title)")
        found[check_id] = value
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, [*ids, *by_title], n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(f"[points] names no check: {', '.join(hints)}")
    return found


def points_per_grade_id(config: GradingConfig) -> dict[str, float]:
    """Points of each autograded notebook cell (grade_id -> points): the sum of the points of
    the selected checks that credit it. The one computation of it: the release writes it into
    the cells, notebooks/build.py into the notebooks it builds."""
    points: dict[str, float] = {}
    for check in select_checks(config):
        points[check.grade_id] = points.get(check.grade_id, 0.0) + float(check.points)
    return points


def ungraded_tasks(config: GradingConfig) -> list[str]:
    """Selected tasks that no check grades (worth a warning to the instructor)."""
    keys = {k for c in catalogue(config.assignment) for k in c.release_keys}
    return sorted(t for t in config.tasks
                  if not any(k == t or k.split(":", 1)[0] == t for k in keys))


# --------------------------------------------------------------------------------------------------
# One grading run
# --------------------------------------------------------------------------------------------------



@dataclass
class Plan:
    """The checks of one submission with their concrete cases; `calls` go to the runner."""

    checks: list[Check]
    assignment: str  # its folder in autograder/assignments/ (mistakes, references)
    cases: dict[str, list[Case]] = field(default_factory=dict)  # check id -> cases
    seed: int = 0

    @property
    def calls(self) -> list[ProbeCall]:
        return [case.call for check_id in self.cases for case in self.cases[check_id]]

    def evaluate(self, outcomes: Mapping[str, object]) -> list[CheckResult]:
        """Score every check from the runner's outcomes (call id -> ProbeOutcome)."""
        missing = [c.id for c in self.calls if c.id not in outcomes]
        if missing:
            raise RuntimeError(f"the runner returned no outcome for {missing[:3]}")
        results = [evaluate_check(check, self.cases[check.id], outcomes,
                                  assignment=self.assignment) for check in self.checks]
        failing = {r.task for r in results if r.status != "passed"}
        for i, check in enumerate(self.checks):
            blocked = [t for t in check.after if t in failing]
            if blocked and results[i].status != "passed":
                results[i] = evaluate_check(check, self.cases[check.id], outcomes, blocked,
                                            assignment=self.assignment)
        return mark_blocked(self.checks, results, failing)


def mark_blocked(checks: Sequence[Check], results: list[CheckResult],
                 failing: set[str]) -> list[CheckResult]:
    """Say, on each failed check, which failed upstream tasks (``failing``) it could not be
    separated from (`Check.after`): those are the ones to fix first."""
    for check, result in zip(checks, results, strict=True):
        blocked = [t for t in check.after if t in failing]
        if result.status == "passed" or not blocked:
            continue
        result.blocked_by = blocked
        names = " and ".join(blocked)
        note = (f"Fix {names} first: this check runs your {names} (it needs "
                f"{'their' if len(blocked) > 1 else 'its'} output and cache), which "
                f"{'fail their' if len(blocked) > 1 else 'fails its'} own checks, so the "
                f"failure here may come from there.")
        result.output = note + ("\n" + result.output if result.output else "")
    return results


def release_seed(config: GradingConfig) -> int:
    """The seed of a release: ``[grading] seed`` if the instructor set one, otherwise derived
    from the assignment and its tasks (the same release always draws the same inputs)."""
    if config.seed is not None:
        return int(config.seed)
    text = "\n".join([config.assignment, *sorted(config.tasks)])
    return zlib.crc32(text.encode())


def plan(config: GradingConfig, student: str = "", seed: int | None = None) -> Plan:
    """Draw the fresh inputs, load the hidden ones and compute every reference output.

    Each check's fresh inputs come from a generator seeded with (``seed``, default
    `release_seed`; the student; the check's ``seed_key``), so the same submission of the same
    student under the same release always gets the same inputs (and so the same points and
    feedback), on any machine or backend, while two students get different ones.
    """
    if seed is None:
        seed = release_seed(config)
    checks = select_checks(config)
    hidden = load_references(config.assignment) if any(
        s.hidden for c in checks for s in c.cases) else {}
    result = Plan(checks, config.assignment, seed=seed)
    ref = seam.reference(config.assignment)
    for n, check in enumerate(checks):
        rng = np.random.default_rng([seed, zlib.crc32(student.encode()),
                                     zlib.crc32(check.seed_key.encode())])
        cases = []
        for i, spec in enumerate(check.cases):
            call_id = f"{n:02d}.{check.id}.{i}"
            if spec.hidden is not None:
                if spec.hidden not in hidden:
                    raise KeyError(f"hidden case {spec.hidden!r} is not in the references file; "
                                   f"run `python -m autograder.judging.references`")
                stored = hidden[spec.hidden]
                inputs, reference = dict(stored.inputs), dict(stored.outputs)
            else:
                inputs = spec.make(rng)
                reference = None
            full = None
            if check.stand_ins:
                # Record on the inputs as the child gets them (``h`` included): a numerical
                # gradient's perturbed calls are answered too.
                full, table = ref.record(spec.probe, inputs, check.stand_ins)
                if reference is None:
                    reference = {k: v for k, v in full.items()
                                 if not k.startswith(("plus__", "minus__"))}
                if "h" not in inputs:
                    full = None
                inputs = {**inputs, **table}
            elif reference is None:
                reference = ref.run(spec.probe, analytic(inputs, ref))
            cases.append(Case(spec.label, ProbeCall(call_id, spec.probe, inputs), reference,
                              _full=full, _run=ref.run))
        result.cases[check.id] = cases
    return result


def analytic(inputs: Inputs, ref) -> Inputs:
    """The inputs without ``h`` (the probe then skips the perturbation loops) and without a
    stand-in table (``ref``: the assignment's reference module, which knows the table's keys)."""
    return {k: v for k, v in ref.without_table(inputs).items() if k != "h"}


def _round(x: float) -> float:
    return float(round(x, 6))


def evaluate_check(check: Check, cases: list[Case], outcomes: Mapping[str, object],
                   blocked: Sequence[str] = (), *, assignment: str) -> CheckResult:
    """Score one check of ``assignment`` (whose mistakes may name a failure). ``blocked``:
    upstream tasks of `Check.after` that fail their own checks;
    then an output that is neither the reference's nor what a correct implementation gives on
    the upstream's output cannot be told right from wrong, and is not charged here as long as
    it comes back finite, of the right shape, next to outputs that are right (except the
    outputs of `Check.still_judged`)."""
    pairs = [(case, outcomes[case.call.id]) for case in cases]
    parts = check.judge(pairs)
    not_graded = []
    if blocked and any(p.passed for p in parts):
        for p in parts:
            if not p.passed and p.value_only and p.name not in check.still_judged:
                p.passed = True
                not_graded.append(p.name)
    total = sum(p.weight for p in parts) or 1.0
    got = sum(p.weight for p in parts if p.passed)
    score = min(check.points, _round(check.points * got / total))
    statuses = {outcome.status for _, outcome in pairs}
    if parts and all(p.passed for p in parts) and not not_graded:
        status = "passed"
        score = check.points
    elif "timeout" in statuses:
        status = "timeout"
    elif statuses - {"ok"}:
        status = "error"
    else:
        status = "failed"

    lines = []
    for p in parts:
        if not p.passed and p.message not in lines:
            lines.append(p.message)
    if len(lines) > MAX_OUTPUT_LINES:
        lines = lines[:MAX_OUTPUT_LINES] + [f"... and {len(lines) - MAX_OUTPUT_LINES} more"]
    mistake = None
    if status != "passed" and check.looks_at:
        mistake = _recognise(check, pairs, assignment)
        if mistake is not None:
            lines.append(mistake.message())
    if not_graded:
        lines.append(f"Not graded until {' and '.join(blocked)} passes: "
                     f"{', '.join(not_graded)} (from a wrong {blocked[0]} nobody can tell what "
                     f"your code should give here; this costs you nothing now).")
    right = sum(p.passed for p in parts)
    if status != "passed" and 0 < right < len(parts):
        lines.insert(0, f"{right} of {len(parts)} parts right "
                        f"({', '.join(p.name for p in parts if p.passed) or 'none'}).")
    return CheckResult(check.title, check.task, check.grade_id, score, check.points, status,
                       "\n".join(lines), mistake.key if mistake else None,
                       hint=mistake.hint if mistake else "", upstream=check.upstream, id=check.id)


def _recognise(check: Check, pairs, assignment: str):
    """The assignment's named mistake that explains the check's failing outcomes, or None."""
    mistakes, ref = seam.mistakes(assignment), seam.reference(assignment)
    candidates = list(mistakes.MISTAKES)
    rtol = max(10 * check.rtol, 1e-5)
    for case, outcome in pairs:
        if outcome.status != "ok":
            continue
        looked_at = expand(check.looks_at, case.reference)
        found = mistakes.recognise(candidates, case.call.probe, analytic(case.call.inputs, ref),
                                   outcome.arrays, case.reference, looked_at, rtol=rtol)
        if found is not None:
            return found
    return None
