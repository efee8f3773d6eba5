"""The graded checks: which probe calls to make, what the right answer is, how to score.

Everything here runs in the trusted parent. A `Check` names the function it grades
(``"batchnorm_forward: float32 preserved"``), the nbgrader cell it credits (``grade_id``), its
default points (overridable by name in ``[points]`` of release.toml) and the release tasks it
belongs to; it is graded only when one of those tasks is selected.

Each check has cases, each one probe call (`autograder.assignments.normalization.inside.probes`) on
inputs that are either

* hidden and fixed: stored with the reference outputs in
  ``autograder/assignments/<assignment>/references.npz`` (written by ``python -m
  autograder.judging.references``; never released), or
* fresh: drawn from ``np.random.default_rng`` on every run, with the reference outputs computed
  here by running the same probe in-process on ``solutions``;

and a judge that turns the student's outcomes into scored parts (partial credit per output where
that makes sense). The inputs are chosen to separate right from the classic mistakes: features
with a tiny variance (eps inside or outside the square root), odd batch sizes, float32,
non-trivial gamma and beta, non-zero running averages and a momentum other than the default.

When a check fails, `autograder.assignments.normalization.mistakes` is asked whether a known wrong
implementation explains the student's outputs; if so the check names it, with a hint.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import functools
import importlib.util
import re
import sys
import threading
import types
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder.assignments.normalization import mistakes
from autograder.assignments.normalization.inside import probes, standins
from autograder.config import GradingConfig
from autograder.results import CheckResult
from autograder.sandbox.runner import ProbeCall

ASSIGNMENTS_DIR = Path(__file__).resolve().parents[1] / "assignments"
HIDDEN_SEED = 2310  # seed of the hidden fixed inputs (with each case's id mixed in)

F64_RTOL = 1e-6  # float64 outputs vs the reference
F32_RTOL = 1e-4  # float32 outputs vs the reference (computed in float32 too)
GRAD_TOL = 1e-5  # analytic vs numerical gradients
FLOOR = 1e-3  # elements below FLOOR * (scale of the outputs) are compared absolutely
F32_FLOOR = 0.1  # float32 rounding is absolute-ish: small elements get a wider floor
NUMGRAD_H = 1e-5
MAX_OUTPUT_LINES = 8


# --------------------------------------------------------------------------------------------------
# Comparing arrays, with messages for the student
# --------------------------------------------------------------------------------------------------


def _num(v: float) -> str:
    return f"{float(v):.4g}"


def _index(ix) -> str:
    return str(tuple(int(i) for i in ix))


_DISPLAY = {
    "out2": "out (second call)",
    "running_mean2": "running_mean (after the second call)",
    "running_var2": "running_var (after the second call)",
    "out_row": "out (one example alone)",
    "scores": "test-mode scores",
    "scores_row": "test-mode scores (first example alone)",
    "next_w2": "next_w (second step)",
    "m2": "m (second step)",
    "v2": "v (second step)",
    "t2": "t (second step)",
    "out_test": "test-mode out",
}


def display(name: str) -> str:
    """How an output is called in messages: ``grad__W1`` -> ``grads['W1']``, ..."""
    if name.startswith("grad__") and "__" in name[6:]:  # nn: grad__<layer>__<param>
        layer, param = name[6:].split("__", 1)
        return f"{layer}.grads['{param}']"
    if name.startswith("grad__"):
        return f"grads['{name[6:]}']"
    if name.startswith("init__"):
        return f"params['{name[6:]}']"
    return _DISPLAY.get(name, name)


def note(arrays: Mapping[str, np.ndarray], name: str) -> str | None:
    """The probe's explanation of why output ``name`` is missing, if it left one."""
    raw = arrays.get(f"note__{name}")
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 1:
        return None
    text = raw[:400].tobytes().decode("utf-8", errors="replace")
    return " ".join(text.split())


def compare(name: str, got, expected, *, rtol: float = F64_RTOL, scale: float | None = None,
            dtype=None, arrays: Mapping[str, np.ndarray] | None = None,
            what: str = "expected", floor: float | None = None, key: str | None = None,
            floor_frac: float = FLOOR) -> str | None:
    """None if ``got`` matches ``expected``, else one line saying what is wrong with it.

    Checked in order: present, numeric, the exact ``dtype`` (if given), the shape, finite, then
    the largest ``|got - expected| / max(|expected|, floor)`` with floor = ``floor_frac`` *
    ``scale`` (default: the largest ``|expected|``) unless ``floor`` is given. The message names
    the worst element, never the whole array. ``name`` is what the message calls the output;
    ``key`` (default ``name``) is its key in ``arrays``, where the probe may have left a note
    (why the output is missing, or that it came back as a list): it ends the message.
    """
    if got is None:
        why = note(arrays or {}, key or name)
        return f"{name}: {why}" if why else f"{name}: no value came back for it"
    message = _compare_values(name, got, expected, rtol, scale, dtype, what, floor, floor_frac)
    why = note(arrays or {}, key or name) if message else None
    return f"{message} ({why})" if why else message


def _compare_values(name, got, expected, rtol, scale, dtype, what, floor, floor_frac):
    got = np.asarray(got)
    expected = np.asarray(expected)
    if got.dtype.kind not in "biuf":
        return f"{name} has dtype {got.dtype}; expected an array of numbers"
    if dtype is not None and got.dtype != dtype:
        return f"{name} has dtype {got.dtype} but should keep the inputs' dtype {np.dtype(dtype)}"
    if got.shape != expected.shape:
        hint = ""
        if got.shape in ((1, *expected.shape), (*expected.shape, 1)):
            hint = " (a reduction with keepdims=True? reduce without it)"
        elif expected.ndim == 2 and got.shape == expected.shape[::-1]:
            hint = " (transposed?)"
        return f"{name} has shape {got.shape} but should have shape {expected.shape}{hint}"
    g = got.astype(np.float64)
    e = expected.astype(np.float64)
    bad = ~np.isfinite(g)
    if bad.any():
        kind = "NaN" if np.isnan(g).any() else "inf"
        first = _index(np.argwhere(bad)[0]) if g.ndim else "()"
        return (f"{name} contains {kind} ({int(bad.sum())} of {g.size} elements, first at index "
                f"{first}); look for a division by zero or the square root of a negative number")
    if g.size == 0:
        return None
    if floor is None:
        if scale is None:
            scale = float(np.max(np.abs(e)))
        floor = max(floor_frac * scale, 1e-300)
    err = np.abs(g - e) / np.maximum(np.abs(e), floor)
    worst = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
    if err[worst] <= rtol:
        return None
    where = f"worst element at index {_index(worst)} is" if g.ndim else "the value is"
    return (f"{name}: {where} {_num(g[worst])} but {what} {_num(e[worst])} "
            f"(rel. error {float(err[worst]):.1e})")


# --------------------------------------------------------------------------------------------------
# Checks, cases and parts
# --------------------------------------------------------------------------------------------------

Inputs = dict[str, np.ndarray]
Maker = Callable[[np.random.Generator], Inputs]


@dataclass(frozen=True)
class CaseSpec:
    """One probe call of a check: fresh inputs from ``make`` or the hidden case ``hidden``."""

    label: str
    probe: str
    make: Maker | None = None
    hidden: str | None = None


@dataclass
class Case:
    """A case made concrete for one grading run: the call and the reference outputs.

    For a numerical-gradient call (input ``h``) ``reference`` holds the analytic outputs only;
    `full_reference` adds the reference's own perturbed projections, computed when first needed.
    """

    label: str
    call: ProbeCall
    reference: dict[str, np.ndarray]
    _full: dict[str, np.ndarray] | None = field(default=None, repr=False)

    def full_reference(self) -> dict[str, np.ndarray]:
        if self._full is None:
            self._full = run_reference(self.call.probe, self.call.inputs)
        return self._full


@dataclass
class Part:
    """One scored piece of a check (an output, a statistic); ``weight`` shares its points."""

    name: str
    passed: bool
    message: str = ""
    weight: float = 1.0
    #: Failed on its value only: an array of the right shape, finite, just not the expected one.
    value_only: bool = False


Judge = Callable[[list[tuple[Case, object]]], list[Part]]


@dataclass(frozen=True)
class Check:
    """A graded check; see the module docstring."""

    name: str
    grade_id: str
    points: float
    release_keys: tuple[str, ...]
    cases: tuple[CaseSpec, ...]
    judge: Judge
    looks_at: tuple[str, ...] = ("*",)  # outputs a recognised mistake must show in
    rtol: float = F64_RTOL
    #: Upstream functions answered by trusted stand-ins in the child (`autograder.assignments.
    #: normalization.inside.standins`), so that their mistakes are not charged here:
    #: ``"layers.batchnorm_forward"``, ...
    stand_ins: tuple[str, ...] = ()
    #: Upstream tasks whose own code this check must run (a backward needs the cache of the
    #: student's forward): when they fail, a failure here says so (`CheckResult.blocked_by`).
    after: tuple[str, ...] = ()
    #: Outputs that keep their own expectation when an ``after`` task fails (a backward's
    #: dgamma and dbeta follow from its forward's output); the others are then not charged.
    still_judged: tuple[str, ...] = ()

    @property
    def task(self) -> str:
        return self.name.split(":", 1)[0]

    @property
    def upstream(self) -> list[str]:
        """The graded tasks this check builds on, by task name (``"batchnorm_forward"``)."""
        tasks = [*self.after, *(target.split(".", 1)[1] for target in self.stand_ins)]
        return list(dict.fromkeys(t for t in tasks if t != self.task))


_FRAME = re.compile(r'File "([^"\n]{1,200})", line (\d+), in ([\w<>.]{1,100})')


def _where(traceback: str) -> str:
    """`` (layers.py line 139, in batchnorm_forward)``: the last student frame, if any."""
    frames = _FRAME.findall(traceback or "")
    if not frames:
        return ""
    file, line, func = frames[-1]
    return f" ({file.rsplit('/', 1)[-1]} line {line}, in {func})"


def _outcome_problem(outcome) -> str | None:
    if outcome.status == "ok":
        return None
    text = " ".join(str(outcome.message or "").split()) or "no details"
    if outcome.status == "error":
        return text + _where(getattr(outcome, "traceback", ""))
    if outcome.status == "timeout":
        return f"your code did not finish in time: {text}"
    if outcome.status == "crashed":
        return f"the process running your code crashed: {text}"
    return f"the results of your code could not be read back: {text}"


def _expand(patterns: Sequence[str], names) -> list[str]:
    names = sorted(names)
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]


def _parts_by_key(pairs, names: Sequence[str], compare_one, weights=None) -> list[Part]:
    """A part per output name, failing on the first case where it fails (or cannot run)."""
    parts = {n: Part(display(n), True, weight=(weights or {}).get(n, 1.0)) for n in names}
    for case, outcome in pairs:
        problem = _outcome_problem(outcome)
        for n in names:
            if not parts[n].passed:
                continue
            if problem:
                parts[n].passed, parts[n].message = False, f"{case.label}: {problem}"
                continue
            message = compare_one(case, outcome, n)
            if message:
                parts[n].passed, parts[n].message = False, f"{case.label}: {message}"
                parts[n].value_only = _value_only(outcome.arrays.get(n), case.reference.get(n))
    return list(parts.values())


def _value_only(got, expected) -> bool:
    if got is None or expected is None:
        return False
    got = np.asarray(got)
    return got.dtype.kind in "biuf" and got.shape == np.shape(expected) \
        and bool(np.all(np.isfinite(got)))


def _case_names(pairs, patterns) -> list[str]:
    names: set[str] = set()
    for case, _ in pairs:
        names.update(_expand(patterns, case.reference))
    return sorted(names, key=_natural)


def _natural(name: str):
    # grad__W1, grad__b1, grad__gamma1, ... in layer order, then by name
    digits = "".join(c for c in name if c.isdigit())
    return (name.rstrip("0123456789").split("__")[0], int(digits) if digits else 0, name)


def reference_judge(patterns: Sequence[str], *, rtol: float = F64_RTOL, floor_frac=FLOOR,
                    exact_dtype=False,
                    shared_scale=False, weights: Mapping[str, float] | None = None,
                    gate: str | None = None) -> Judge:
    """Compare the outputs matching ``patterns`` with the reference, one part per output
    (``weights``: of some parts, default 1). With ``gate``, the other parts count only when the
    output ``gate`` is right (so that doing nothing earns nothing).

    ``shared_scale``: compare every output against the largest reference element of the case
    (for gradients of several arrays, some of which are mathematically zero).
    """

    def judge(pairs):
        names = _case_names(pairs, patterns)

        def one(case, outcome, n):
            if n not in case.reference:
                return None
            scale = None
            if shared_scale:
                scale = max(float(np.max(np.abs(case.reference[k]), initial=0.0))
                            for k in _expand(patterns, case.reference))
            expected = case.reference[n]
            got = outcome.arrays.get(n)
            message = compare(display(n), got, expected, rtol=rtol, scale=scale,
                              dtype=expected.dtype if exact_dtype else None,
                              arrays=outcome.arrays, key=n, floor_frac=floor_frac)
            if message and _carried_forward_matches(case, outcome, n, rtol, scale):
                return None
            return message

        parts = _parts_by_key(pairs, names, one, weights)
        if gate is not None and any(p.name == display(gate) and not p.passed for p in parts):
            for p in parts:
                p.passed = False
        return parts

    return judge


def _numeric(arrays, name, h):
    plus, minus = arrays.get(f"plus__{name}"), arrays.get(f"minus__{name}")
    if plus is None or minus is None or plus.dtype.kind not in "biuf" \
            or minus.dtype.kind not in "biuf" or plus.shape != minus.shape:
        return None
    return (np.asarray(plus, dtype=np.float64) - np.asarray(minus, dtype=np.float64)) / (2 * h)


def _gradient_errors(analytic, numeric, scale):
    floor = max(FLOOR * scale, 1e-300)
    return np.abs(analytic - numeric) / np.maximum(np.abs(numeric), floor)


def numgrad_judge(pairs_of_names: Sequence[tuple[str, str]], tol: float = GRAD_TOL,
                  of: str = "forward pass") -> Judge:
    """Analytic gradients (output ``grad``) against centered differences of the student's own
    forward pass (perturbed projections of input ``wrt``), one part per gradient.

    When they disagree, elements where the reference's own analytic and numerical gradients
    disagree too (a ReLU kink within h of an input) are left out and the comparison repeated.
    """

    def judge(pairs):
        grads = []
        for case, _ in pairs:
            for grad, wrt in pairs_of_names:
                if grad.endswith("*"):
                    grads += [(g, g.split("__", 1)[1] if "__" in g else wrt)
                              for g in _expand([grad], case.reference)]
                else:
                    grads.append((grad, wrt))
        wrt_of = dict(grads)

        def one(case, outcome, g):
            if g not in case.reference:
                return None
            wrt, h = wrt_of[g], float(case.call.inputs["h"])
            expected = case.reference[g]
            scale = max(float(np.max(np.abs(case.reference[k]), initial=0.0))
                        for k, _ in grads if k in case.reference)
            analytic = outcome.arrays.get(g)
            problem = compare(display(g), analytic, expected, rtol=np.inf,
                              arrays=outcome.arrays, key=g)
            if problem:
                return problem
            num = _numeric(outcome.arrays, wrt, h)
            if num is None or num.shape != expected.shape or not np.all(np.isfinite(num)):
                return (f"{display(g)}: the numerical gradient of your {of} could not be formed "
                        f"(its output is missing, misshaped or not finite)")
            analytic = np.asarray(analytic, dtype=np.float64)
            what = f"the numerical gradient of your {of} is"
            if compare(display(g), analytic, num, rtol=tol, scale=scale, what=what) is None:
                return None
            full = case.full_reference()
            reliable = _gradient_errors(full[g], _numeric(full, wrt, h), scale) <= tol
            message = compare(display(g), np.where(reliable, analytic, 0.0),
                              np.where(reliable, num, 0.0), rtol=tol, scale=scale, what=what)
            if message is None:
                return None
            # Not the gradient of the student's own forward pass, but maybe still right: the
            # gradient of the correct one, or the one a correct backward gives on the cache of
            # the student's (wrong) forward. That forward's mistake is charged where it is.
            if compare(display(g), analytic, expected, rtol=F64_RTOL, scale=scale) is None \
                    or _carried_forward_matches(case, outcome, g, F64_RTOL, scale):
                return None
            return message

        return _parts_by_key(pairs, list(dict.fromkeys(g for g, _ in grads)), one)

    return judge


#: Backward probes of a normalization whose own forward's output comes back as ``fwd__out``,
#: by how they group the elements they normalize together.
_NORM_BACKWARDS = {"batchnorm_backward": "bn", "batchnorm_backward_alt": "bn",
                   "layernorm_backward": "ln", "spatial_batchnorm_backward": "sbn",
                   "spatial_groupnorm_backward": "gn"}


def _grouping(kind: str, shape: tuple[int, ...], G: int = 1):
    """(to_groups, from_groups): an array of ``shape`` as (groups, members) and back."""
    if kind == "bn":
        return (lambda a: a.T), (lambda b: b.T)
    if kind == "ln":
        return (lambda a: a), (lambda b: b)
    N, C, H, W = shape
    if kind == "sbn":
        return (lambda a: a.transpose(1, 0, 2, 3).reshape(C, -1),
                lambda b: b.reshape(C, N, H, W).transpose(1, 0, 2, 3))
    return (lambda a: a.reshape(N * G, -1)), (lambda b: b.reshape(shape))


def carried_forward(probe: str, inputs: Mapping[str, np.ndarray],
                    fwd_out) -> dict[str, np.ndarray]:
    """The gradients a CORRECT backward gives on the cache of the student's own forward, read
    off that forward's output ``fwd_out`` (error carried forward).

    A forward that normalizes with a wrong spread (the unbiased variance, eps outside the
    square root, another eps) is ``gamma * (x - mean) / s + beta`` with its own spread ``s`` per
    group; ``s`` is recovered by least squares from ``(fwd_out - beta) / gamma``, and the
    gradients are those of the normalization at that ``s``: per group of M members,
    ``dx = (M dxhat - sum(dxhat) - xhat sum(dxhat xhat)) / (M s)`` with ``dxhat = dout *
    gamma``, ``dgamma = sum(dout * xhat)``, ``dbeta = sum(dout)``. Empty when not applicable.
    """
    kind = _NORM_BACKWARDS.get(probe)
    if kind is None or fwd_out is None:
        return {}
    x = np.asarray(inputs["x"], dtype=np.float64)
    if np.asarray(fwd_out).dtype.kind not in "biuf":
        return {}
    out = np.asarray(fwd_out, dtype=np.float64)
    if out.shape != x.shape or not np.all(np.isfinite(out)):
        return {}
    gamma = np.asarray(inputs["gamma"], dtype=np.float64)
    beta = np.asarray(inputs["beta"], dtype=np.float64)
    if kind == "sbn":
        gamma, beta = gamma.reshape(1, -1, 1, 1), beta.reshape(1, -1, 1, 1)
    dout = np.asarray(inputs["dout"], dtype=np.float64)
    to, back = _grouping(kind, x.shape, int(inputs["G"]) if "G" in inputs else 1)
    X, Gm = to(x), to(np.broadcast_to(gamma, x.shape))
    Xc = X - X.mean(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        fitted = np.sum(Xc * (to(out) - to(np.broadcast_to(beta, x.shape))) / Gm, axis=1,
                        keepdims=True)
        s = np.sum(Xc * Xc, axis=1, keepdims=True) / fitted
        xhat = Xc / s
        dxhat = to(dout) * Gm
        M = X.shape[1]
        dX = (M * dxhat - dxhat.sum(axis=1, keepdims=True)
              - xhat * np.sum(dxhat * xhat, axis=1, keepdims=True)) / (M * s)
    if not (np.all(np.isfinite(dX)) and np.all(s > 0)):
        return {}
    param_axes = (0,) if kind in ("bn", "ln") else (0, 2, 3)
    return {"dx": back(dX),
            "dgamma": np.sum(dout * back(xhat), axis=param_axes),
            "dbeta": np.sum(dout, axis=param_axes)}


def _carried_dgamma(inputs: Mapping[str, np.ndarray], fwd_out) -> np.ndarray | None:
    """``sum(dout * x_hat)`` with the forward's own ``x_hat = (out - beta) / gamma``, whatever it
    normalized over: what a correct backward's dgamma is on that forward's cache."""
    x = np.asarray(inputs["x"])
    out = np.asarray(fwd_out)
    if out.dtype.kind not in "biuf" or out.shape != x.shape:
        return None
    gamma = np.asarray(inputs["gamma"], dtype=np.float64)
    beta = np.asarray(inputs["beta"], dtype=np.float64)
    if x.ndim == 4 and gamma.ndim == 1:
        gamma, beta = gamma.reshape(1, -1, 1, 1), beta.reshape(1, -1, 1, 1)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    with np.errstate(all="ignore"):
        xhat = (out.astype(np.float64) - beta) / gamma
    return np.sum(np.asarray(inputs["dout"], dtype=np.float64) * xhat, axis=axes)


def _carried_forward_matches(case: Case, outcome, name: str, rtol: float, scale) -> bool:
    """Whether output ``name`` is what a correct backward gives on the student's own forward."""
    fwd_out = outcome.arrays.get("fwd__out")
    want = carried_forward(case.call.probe, case.call.inputs, fwd_out)
    if name not in case.reference or case.call.probe not in _NORM_BACKWARDS:
        return False
    candidates = [want.get(name)]
    if name == "dgamma":
        candidates.append(_carried_dgamma(case.call.inputs, fwd_out))
    shape = case.reference[name].shape
    return any(compare(display(name), outcome.arrays.get(name), c.reshape(shape), rtol=rtol,
                       scale=scale) is None
               for c in candidates if c is not None and c.size == np.prod(shape))


def stats_judge(kind: str, unit: str) -> Judge:
    """Reference-free: after undoing gamma and beta, each normalized group (``kind``: bn, ln,
    sbn or gn) of the student's ``out`` has mean 0 and std sqrt(var / (var + eps)), with var the
    group's (biased) variance in x. Two parts: mean and std."""

    def groups(a, inputs):
        if kind == "bn":
            return a.T
        if kind == "ln":
            return a
        if kind == "sbn":
            return a.transpose(1, 0, 2, 3).reshape(a.shape[1], -1)
        N, G = a.shape[0], int(inputs["G"])
        return a.reshape(N * G, -1)

    def judge(pairs):
        parts = [Part("mean", True), Part("std", True)]
        for case, outcome in pairs:
            problem = _outcome_problem(outcome)
            inputs = case.call.inputs
            x = np.asarray(inputs["x"], dtype=np.float64)
            out = outcome.arrays.get("out") if not problem else None
            if not problem:
                problem = compare("out", out, x, rtol=np.inf, arrays=outcome.arrays)
            if problem:
                for p in parts:
                    if p.passed:
                        p.passed, p.message = False, f"{case.label}: {problem}"
                continue
            gamma = np.asarray(inputs["gamma"], dtype=np.float64)
            beta = np.asarray(inputs["beta"], dtype=np.float64)
            if kind == "sbn":
                gamma, beta = gamma.reshape(1, -1, 1, 1), beta.reshape(1, -1, 1, 1)
            eps = float(inputs["eps"]) if "eps" in inputs else 1e-5
            z = groups((np.asarray(out, dtype=np.float64) - beta) / gamma, inputs)
            var = groups(x, inputs).var(axis=1)
            checks = (
                ("mean", z.mean(axis=1), np.zeros_like(var), 1.0),
                ("std", z.std(axis=1), np.sqrt(var / (var + eps)), None),
            )
            for p, (label, got, want, floor) in zip(parts, checks, strict=True):
                message = compare(f"{label} per {unit} of (out - beta) / gamma", got, want,
                                  rtol=F64_RTOL, floor=floor)
                if p.passed and message:
                    p.passed, p.message = False, f"{case.label}: {message}"
        return parts

    return judge


def init_judge(pairs) -> list[Part]:
    """FullyConnectedNet.__init__: a gamma{i} (ones) and beta{i} (zeros) of the right shape for
    every hidden layer, and none for the scoring layer."""
    parts: dict[str, Part] = {}
    for case, outcome in pairs:
        problem = _outcome_problem(outcome)
        wanted = _expand(["init__*"], case.reference)
        for key in wanted:
            name = key.split("__", 1)[1]
            part = parts.setdefault(name, Part(name, True))
            if not part.passed:
                continue
            message = problem
            if not message and f"initshape__{name}" not in outcome.arrays:
                message = (f"model.params has no '{name}' after __init__: every hidden layer i "
                           f"needs gamma{{i}} (ones) and beta{{i}} (zeros) of its width")
            if not message:
                message = compare(f"params['{name}']", outcome.arrays.get(key),
                                  case.reference[key], rtol=0.0, arrays=outcome.arrays)
            if message:
                part.passed, part.message = False, f"{case.label}: {message}"
        extra = parts.setdefault("no others", Part("no others", True))
        if not problem and extra.passed:
            have = {k.split("__", 1)[1] for k in _expand(["initshape__gamma*",
                                                          "initshape__beta*"], outcome.arrays)}
            surplus = sorted(have - {k.split("__", 1)[1] for k in wanted})
            if surplus:
                names = ", ".join(surplus[:4]) + (", ..." if len(surplus) > 4 else "")
                extra.passed = False
                extra.message = (f"{case.label}: model.params has {names}, but only the hidden "
                                 f"layers are normalized (not the scoring layer)")
        elif problem and extra.passed:
            extra.passed, extra.message = False, f"{case.label}: {problem}"
    # "No gamma/beta on the scoring layer" is only worth credit next to some right gamma/beta:
    # a network that ignores `normalization` altogether must not earn it for doing nothing.
    extra = parts.get("no others")
    wanted_parts = [part for name, part in parts.items() if name != "no others"]
    if extra is not None and extra.passed and not any(p.passed for p in wanted_parts):
        extra.passed = False
        extra.message = ("not credited on its own: the hidden layers' gamma/beta are missing "
                         "or wrong")
    return list(parts.values())


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------


def _odd(rng, choices=(5, 7, 9)) -> int:
    return int(rng.choice(choices))


def _features(rng, n, d, low=()) -> np.ndarray:
    """(n, d) data, each feature with its own mean and spread; the features in ``low`` have a
    standard deviation of about 1e-3 (where eps = 1e-5 inside or outside the sqrt differs)."""
    loc = rng.uniform(-3, 3, d)
    spread = rng.uniform(0.5, 3.0, d)
    for j in low:
        loc[j], spread[j] = rng.uniform(-1, 1), rng.uniform(1e-3, 3e-3)
    return loc + spread * rng.standard_normal((n, d))


def _gamma_beta(rng, d):
    return rng.uniform(0.5, 2.5, d), rng.normal(0, 2, d)


def make_bn_train(low=True, running=True, second=True, dtype=np.float64) -> Maker:
    def make(rng):
        n, d = _odd(rng), int(rng.choice([4, 6]))
        lows = [int(rng.integers(d))] if low else []
        gamma, beta = _gamma_beta(rng, d)
        inputs = {"x": _features(rng, n, d, lows), "gamma": gamma, "beta": beta}
        if running:
            inputs.update(momentum=np.array(rng.uniform(0.6, 0.85)),
                          running_mean=rng.normal(0, 2, d), running_var=rng.uniform(0.5, 3, d))
        if second:
            inputs["x2"] = _features(rng, _odd(rng), d, lows)
        return {k: np.asarray(v, dtype=dtype) if k != "momentum" else v
                for k, v in inputs.items()}

    return make


def make_bn_test(rng) -> Inputs:
    n, d = _odd(rng), int(rng.choice([4, 6]))
    gamma, beta = _gamma_beta(rng, d)
    return {"x": _features(rng, n, d), "gamma": gamma, "beta": beta,
            "running_mean": rng.normal(0, 2, d), "running_var": rng.uniform(0.5, 3, d)}


def make_norm_backward(low: bool, numeric: bool) -> Maker:
    def make(rng):
        n, d = _odd(rng, (5, 7)), int(rng.choice([4, 6]))
        lows = [int(rng.integers(d))] if low else []
        gamma, beta = _gamma_beta(rng, d)
        inputs = {"x": _features(rng, n, d, lows), "gamma": gamma, "beta": beta,
                  "dout": rng.standard_normal((n, d))}
        if numeric:
            inputs["h"] = np.array(NUMGRAD_H)
        return inputs

    return make


def make_ln_forward(low=True, row=True, dtype=np.float64) -> Maker:
    def make(rng):
        n, d = _odd(rng), int(rng.choice([4, 6, 8]))
        x = _features(rng, d, n, [int(rng.integers(n))] if low else []).T  # per-row spreads
        gamma, beta = _gamma_beta(rng, d)
        inputs = {"x": np.ascontiguousarray(x), "gamma": gamma, "beta": beta}
        inputs = {k: v.astype(dtype) for k, v in inputs.items()}
        if row:
            inputs["row"] = np.array(int(rng.integers(n)))
        return inputs

    return make


def make_ln_backward(low: bool, numeric: bool) -> Maker:
    def make(rng):
        inputs = make_ln_forward(low=low, row=False)(rng)
        inputs["dout"] = rng.standard_normal(inputs["x"].shape)
        if numeric:
            inputs["h"] = np.array(NUMGRAD_H)
        return inputs

    return make


def _maps(rng, shape, low_channel=None) -> np.ndarray:
    N, C, H, W = shape
    x = _features(rng, N * H * W, C, [] if low_channel is None else [low_channel])
    return np.ascontiguousarray(x.reshape(N, H, W, C).transpose(0, 3, 1, 2))


def make_sbn(low=True, running=True, dout=False, numeric=False) -> Maker:
    def make(rng):
        shape = (int(rng.choice([2, 3])), int(rng.choice([3, 5])), 2, 4)
        C = shape[1]
        gamma, beta = _gamma_beta(rng, C)
        inputs = {"x": _maps(rng, shape, int(rng.integers(C)) if low else None),
                  "gamma": gamma, "beta": beta}
        if running:
            inputs.update(momentum=np.array(rng.uniform(0.6, 0.85)),
                          running_mean=rng.normal(0, 2, C), running_var=rng.uniform(0.5, 3, C))
        if dout:
            inputs["dout"] = rng.standard_normal(shape)
        if numeric:
            inputs["h"] = np.array(NUMGRAD_H)
        return inputs

    return make


def make_gn(low=True, dout=False, numeric=False) -> Maker:
    def make(rng):
        G = int(rng.choice([2, 3]))
        C = G * int(rng.choice([2, 3]))
        shape = (int(rng.choice([2, 3])), C, 2, int(rng.choice([2, 3])))
        N = shape[0]
        x = np.stack([_maps(rng, (1, *shape[1:]))[0] for _ in range(N)])
        if low:  # one (example, group) with a tiny spread
            n, g = int(rng.integers(N)), int(rng.integers(G))
            block = x[n, g * (C // G):(g + 1) * (C // G)]
            x[n, g * (C // G):(g + 1) * (C // G)] = rng.uniform(-1, 1) + 2e-3 * (
                block - block.mean()) / block.std()
        gamma, beta = _gamma_beta(rng, C)
        inputs = {"x": x, "gamma": gamma.reshape(1, C, 1, 1), "beta": beta.reshape(1, C, 1, 1),
                  "G": np.array(G)}
        if dout:
            inputs["dout"] = rng.standard_normal(shape)
        if numeric:
            inputs["h"] = np.array(NUMGRAD_H)
        return inputs

    return make


def make_anr(norm: int, dout=False, numeric=False) -> Maker:
    def make(rng):
        n, d, m = _odd(rng, (5, 7)), int(rng.choice([3, 4])), int(rng.choice([4, 6]))
        gamma, beta = _gamma_beta(rng, m)
        inputs = {"x": rng.standard_normal((n, d)), "w": rng.normal(0, 1, (d, m)),
                  "b": rng.normal(0, 0.5, m), "gamma": gamma, "beta": beta,
                  "norm": np.array(norm)}
        if norm == 0:
            inputs.update(momentum=np.array(rng.uniform(0.6, 0.85)),
                          running_mean=rng.normal(0, 2, m), running_var=rng.uniform(0.5, 3, m))
        if dout:
            inputs["dout"] = rng.standard_normal((n, m))
        if numeric:
            inputs["h"] = np.array(NUMGRAD_H)
        return inputs

    return make


def make_fc(norm: int, reg: bool, numeric=False) -> Maker:
    def make(rng):
        C = 3
        dims = [int(rng.integers(3, 5)), int(rng.integers(3, 6)), int(rng.integers(3, 5)), C]
        N = _odd(rng, (5, 7))
        inputs = {"dims": np.array(dims), "norm": np.array(norm),
                  "reg": np.array(rng.uniform(0.3, 1.0) if reg else 0.0)}
        for i in range(1, len(dims)):
            inputs[f"p__W{i}"] = rng.normal(0, 1 / np.sqrt(dims[i - 1]), (dims[i - 1], dims[i]))
            inputs[f"p__b{i}"] = rng.normal(0, 0.3, dims[i])
            if i < len(dims) - 1:
                inputs[f"p__gamma{i}"] = rng.uniform(0.5, 1.5, dims[i])
                inputs[f"p__beta{i}"] = rng.normal(0, 0.3, dims[i])
        y = rng.integers(C, size=N)
        y[:C] = rng.permutation(C)
        inputs.update(X=rng.standard_normal((N, dims[0])), y=y,
                      Xtest=rng.standard_normal((4, dims[0])))
        if numeric:
            inputs["h"] = np.array(NUMGRAD_H)
        return inputs

    return make


def make_adam(fresh_state: bool) -> Maker:
    def make(rng):
        shape = (int(rng.integers(2, 5)), int(rng.integers(2, 5)))
        inputs = {"w": rng.standard_normal(shape), "dw": rng.standard_normal(shape),
                  "dw2": rng.standard_normal(shape),
                  "learning_rate": np.array(rng.uniform(1e-3, 1e-1))}
        if not fresh_state:
            inputs.update(m=0.1 * rng.standard_normal(shape), v=0.1 * rng.random(shape),
                          t=np.array(int(rng.integers(1, 6))), beta1=np.array(0.8))
        return inputs

    return make


def make_nn_norm(norm: int, relu: bool, backward=False, numeric=False) -> Maker:
    """Inputs of the nn_norm_forward / nn_norm_backward probes: ``norm`` 0 = nn.BatchNorm,
    1 = nn.LayerNorm; gamma and beta spread so that a fused ReLU cuts part of the units."""

    def make(rng):
        n, d = _odd(rng, (5, 7)), int(rng.choice([4, 6]))
        x = _features(rng, n, d) if norm == 0 else np.ascontiguousarray(_features(rng, d, n).T)
        gamma, beta = _gamma_beta(rng, d)
        inputs = {"x": x, "gamma": gamma, "beta": beta, "norm": np.array(norm),
                  "relu": np.array(int(relu))}
        if norm == 0:
            inputs["momentum"] = np.array(rng.uniform(0.6, 0.85))
        if backward:
            inputs["dout"] = rng.standard_normal((n, d))
        else:
            inputs["xtest"] = _features(rng, 3, d)
        if numeric:
            inputs["h"] = np.array(NUMGRAD_H)
        return inputs

    return make


#: The layers of the nn_model probe and their parameters' shapes, from dims = [d0, d1, d2, C].
NN_MODEL_PARAMS = {
    "fc1": {"W": (0, 1), "b": (1,)}, "bn1": {"gamma": (1,), "beta": (1,)},
    "fc2": {"W": (1, 2), "b": (2,)}, "ln2": {"gamma": (2,), "beta": (2,)},
    "scores": {"W": (2, 3), "b": (3,)},
}


def make_nn_model(reg: bool, numeric=False) -> Maker:
    """Inputs of the nn_model / nn_model_loss probes: dropout with a seed, every parameter set
    (non-trivial gamma and beta), all classes present in y."""

    def make(rng):
        dims = [int(rng.integers(3, 5)), int(rng.integers(4, 6)), int(rng.integers(3, 5)), 3]
        N = _odd(rng, (5, 7))
        inputs = {"dims": np.array(dims), "reg": np.array(rng.uniform(0.3, 1.0) if reg else 0.0),
                  "keep": np.array(0.75), "seed": np.array(int(rng.integers(1000)))}
        for layer, params in NN_MODEL_PARAMS.items():
            for key, axes in params.items():
                shape = tuple(dims[a] for a in axes)
                if key == "W":
                    value = rng.normal(0, 1 / np.sqrt(shape[0]), shape)
                elif key == "gamma":
                    value = rng.uniform(0.5, 1.5, shape)
                else:
                    value = rng.normal(0, 0.3, shape)
                inputs[f"p__{layer}__{key}"] = value
        y = rng.integers(3, size=N)
        y[:3] = rng.permutation(3)
        inputs.update(X=rng.standard_normal((N, dims[0])), y=y)
        if numeric:
            inputs["h"] = np.array(NUMGRAD_H)
        return inputs

    return make


def make_fw_momentum(rng) -> Inputs:
    """Momenta for torch_momentum_from_normlab: the default 0.9, both ends, random ones."""
    return {"momenta": np.concatenate([[0.9, 0.0, 1.0], rng.uniform(0.05, 0.995, 3)])}


def make_fw_running_var(rng) -> Inputs:
    """torch_running_var's inputs: the biased variance of a small batch (N down to 2, where the
    unbiased variance is twice the biased one) and a momentum other than the default."""
    N, D = int(rng.choice([2, 3, 5, 8])), int(rng.choice([3, 4, 6]))
    x = _features(rng, N, D)
    return {"running_var": rng.uniform(0.5, 3.0, D), "var": x.var(axis=0), "N": np.array(N),
            "momentum": np.array(rng.uniform(0.6, 0.95))}


def make_keras(full: bool) -> Maker:
    """keras_batchnorm_from_normlab's inputs: gamma, beta and a bn_param that is either full
    (a momentum and eps other than the defaults, non-trivial running averages) or empty (the
    defaults, and running averages that start at zeros as in our batchnorm_forward)."""

    def make(rng) -> Inputs:
        D = int(rng.choice([3, 4, 6]))
        gamma, beta = _gamma_beta(rng, D)
        inputs = {"gamma": gamma, "beta": beta}
        if full:
            inputs.update(momentum=np.array(rng.uniform(0.6, 0.97)),
                          eps=np.array(rng.choice([1e-4, 2e-5, 5e-3])),
                          running_mean=rng.normal(0, 2, D), running_var=rng.uniform(0.2, 3.0, D))
        return inputs

    return make


#: The hidden fixed cases: id -> (probe, maker). Their inputs and reference outputs live in
#: ``autograder/assignments/<assignment>/references.npz``; the makers only (re)generate that file.
HIDDEN: dict[str, tuple[str, Maker]] = {
    "bn_train": ("batchnorm_forward_train", make_bn_train()),
    "bn_test": ("batchnorm_forward_test", make_bn_test),
    "bn_backward": ("batchnorm_backward", make_norm_backward(low=True, numeric=False)),
    "bn_backward_alt": ("batchnorm_backward_alt", make_norm_backward(low=True, numeric=False)),
    "ln_forward": ("layernorm_forward", make_ln_forward()),
    "ln_backward": ("layernorm_backward", make_ln_backward(low=True, numeric=False)),
    "sbn_train": ("spatial_batchnorm_forward_train", make_sbn()),
    "sbn_backward": ("spatial_batchnorm_backward", make_sbn(running=False, dout=True)),
    "gn_forward": ("spatial_groupnorm_forward", make_gn()),
    "gn_backward": ("spatial_groupnorm_backward", make_gn(dout=True)),
    "anr_forward_bn": ("affine_norm_relu_forward", make_anr(0)),
    "anr_forward_ln": ("affine_norm_relu_forward", make_anr(1)),
    "anr_backward_bn": ("affine_norm_relu_backward", make_anr(0, dout=True)),
    "anr_backward_ln": ("affine_norm_relu_backward", make_anr(1, dout=True)),
    "fc_bn_reg0": ("fc_net", make_fc(0, reg=False)),
    "fc_bn_reg": ("fc_net", make_fc(0, reg=True)),
    "fc_ln_reg0": ("fc_net", make_fc(1, reg=False)),
    "fc_ln_reg": ("fc_net", make_fc(1, reg=True)),
    "adam": ("adam", make_adam(fresh_state=True)),
    "nn_bn_forward": ("nn_norm_forward", make_nn_norm(0, relu=True)),
    "nn_bn_backward": ("nn_norm_backward", make_nn_norm(0, relu=True, backward=True)),
    "nn_ln_forward": ("nn_norm_forward", make_nn_norm(1, relu=True)),
    "nn_ln_backward": ("nn_norm_backward", make_nn_norm(1, relu=True, backward=True)),
    "nn_model_loss": ("nn_model_loss", make_nn_model(reg=True)),
    "nn_model": ("nn_model", make_nn_model(reg=True)),
    "fw_momentum": ("torch_momentum", make_fw_momentum),
    "fw_running_var": ("torch_running_var", make_fw_running_var),
    "keras_full": ("keras_batchnorm", make_keras(full=True)),
    "keras_empty": ("keras_batchnorm", make_keras(full=False)),
}


def hidden_rng(case_id: str) -> np.random.Generator:
    return np.random.default_rng([HIDDEN_SEED, zlib.crc32(case_id.encode())])


def hidden_inputs(case_id: str) -> Inputs:
    """The hidden inputs of ``case_id`` as generated (for writing the references file)."""
    return HIDDEN[case_id][1](hidden_rng(case_id))


# --------------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------------

HIDDEN_LABEL = "hidden inputs"
FRESH_LABEL = "fresh random inputs"
L = "layers."


def _hidden(case_id: str, label: str = HIDDEN_LABEL) -> CaseSpec:
    return CaseSpec(label, HIDDEN[case_id][0], hidden=case_id)


def _fresh(probe: str, make: Maker, label: str = FRESH_LABEL) -> CaseSpec:
    return CaseSpec(label, probe, make=make)


_BWD = ("dx", "dgamma", "dbeta")

#: Stand-in targets (`Check.stand_ins`) by upstream group.
BN_STANDINS = ("layers.batchnorm_forward", "layers.batchnorm_backward",
               "layers.batchnorm_backward_alt")
LN_STANDINS = ("layers.layernorm_forward", "layers.layernorm_backward")
ANR_STANDINS = ("layer_utils.affine_norm_relu_forward", "layer_utils.affine_norm_relu_backward")
NN_STANDINS = ("nn.BatchNorm.forward", "nn.BatchNorm.backward", "nn.LayerNorm.forward",
               "nn.LayerNorm.backward")
_RUNNING = ("running_mean", "running_var", "running_mean2", "running_var2")


def _backward_checks(fname, grade_id, probe, hidden_id, make_numeric, make_fresh, key,
                     points=(3.0, 1.5, 1.5), stand_ins=()) -> list[Check]:
    """The three checks of a normalization's backward pass, which runs after the student's own
    forward (its cache): ``after`` that forward, with ``stand_ins`` for what both call. When
    that forward fails, dbeta (and for the fully connected layers dgamma: a feature-map
    layout mistake mixes up gamma too) are still judged, against what its output implies."""
    grads = [(g, g[1:]) for g in _BWD]
    still = ("dbeta",) if fname.startswith("spatial") else ("dgamma", "dbeta")
    dep = {"stand_ins": stand_ins, "still_judged": still,
           "after": (fname.replace("backward_alt", "forward").replace("backward", "forward"),)}
    return [
        Check(f"{fname}: dx/dgamma/dbeta vs numerical gradients", grade_id, points[0], (key,),
              (_fresh(probe, make_numeric),), numgrad_judge(grads), looks_at=_BWD, **dep),
        Check(f"{fname}: matches reference (hidden inputs)", grade_id, points[1], (key,),
              (_hidden(hidden_id),), reference_judge(_BWD, shared_scale=True), looks_at=_BWD,
              **dep),
        Check(f"{fname}: matches reference (fresh random inputs)", grade_id, points[2], (key,),
              (_fresh(probe, make_fresh),), reference_judge(_BWD, shared_scale=True),
              looks_at=_BWD, **dep),
    ]


def _batchnorm_checks() -> list[Check]:
    key, gid, train = L + "batchnorm_forward", "batchnorm_forward", "batchnorm_forward_train"
    checks = [
        Check("batchnorm_forward: train-mode mean/std", gid, 2.0, (key,),
              (_fresh(train, make_bn_train(running=False, second=False)),),
              stats_judge("bn", "feature"), looks_at=("out",)),
        Check("batchnorm_forward: matches reference (hidden inputs)", gid, 2.0, (key,),
              (_hidden("bn_train"),), reference_judge(("out", "out2")), looks_at=("out*",)),
        Check("batchnorm_forward: matches reference (fresh random inputs)", gid, 2.0, (key,),
              (_fresh(train, make_bn_train()),), reference_judge(("out", "out2")),
              looks_at=("out*",)),
        Check("batchnorm_forward: running averages written back", gid, 1.5, (key,),
              (_fresh(train, make_bn_train(), "fresh inputs, given running averages and "
                                               "momentum, two calls"),
               _fresh(train, make_bn_train(running=False, second=False),
                      "fresh inputs, no running averages yet")),
              reference_judge(_RUNNING), looks_at=_RUNNING),
        Check("batchnorm_forward: test mode uses and keeps running averages", gid, 1.5, (key,),
              (_hidden("bn_test"), _fresh("batchnorm_forward_test", make_bn_test)),
              reference_judge(("out", "running_mean", "running_var"),
                              weights={"out": 2.0, "running_mean": 0.5, "running_var": 0.5},
                              gate="out")),
        Check("batchnorm_forward: float32 preserved", gid, 1.0, (key,),
              (_fresh(train, make_bn_train(low=False, running=False, second=False,
                                           dtype=np.float32), "fresh float32 inputs"),),
              reference_judge(("out", "running_mean", "running_var"), rtol=F32_RTOL,
                              floor_frac=F32_FLOOR, exact_dtype=True), rtol=F32_RTOL),
    ]
    for fname in ("batchnorm_backward", "batchnorm_backward_alt"):
        checks += _backward_checks(
            fname, fname, fname, "bn_backward" if fname == "batchnorm_backward"
            else "bn_backward_alt", make_norm_backward(low=False, numeric=True),
            make_norm_backward(low=True, numeric=False), L + fname)
    return checks


def _layernorm_checks() -> list[Check]:
    key, gid, probe = L + "layernorm_forward", "layernorm_forward", "layernorm_forward"
    checks = [
        Check("layernorm_forward: per-example mean/std", gid, 2.0, (key,),
              (_fresh(probe, make_ln_forward(row=False)),), stats_judge("ln", "example"),
              looks_at=("out",)),
        Check("layernorm_forward: matches reference (hidden inputs)", gid, 2.0, (key,),
              (_hidden("ln_forward"),), reference_judge(("out", "out_row"))),
        Check("layernorm_forward: matches reference (fresh random inputs)", gid, 2.0, (key,),
              (_fresh(probe, make_ln_forward()),), reference_judge(("out", "out_row"))),
        Check("layernorm_forward: float32 preserved", gid, 1.0, (key,),
              (_fresh(probe, make_ln_forward(low=False, row=False, dtype=np.float32),
                      "fresh float32 inputs"),),
              reference_judge(("out",), rtol=F32_RTOL, floor_frac=F32_FLOOR, exact_dtype=True),
              rtol=F32_RTOL),
    ]
    checks += _backward_checks("layernorm_backward", "layernorm_backward", "layernorm_backward",
                               "ln_backward", make_ln_backward(low=False, numeric=True),
                               make_ln_backward(low=True, numeric=False),
                               L + "layernorm_backward")
    return checks


def _spatial_checks() -> list[Check]:
    key, gid, train = L + "spatial_batchnorm_forward", "spatial_batchnorm", \
        "spatial_batchnorm_forward_train"
    checks = [
        Check("spatial_batchnorm_forward: per-channel mean/std", gid, 1.5, (key,),
              (_fresh(train, make_sbn(running=False)),), stats_judge("sbn", "channel"),
              looks_at=("out",), stand_ins=BN_STANDINS),
        Check("spatial_batchnorm_forward: matches reference (hidden inputs)", gid, 1.5, (key,),
              (_hidden("sbn_train"),), reference_judge(("out",)), stand_ins=BN_STANDINS),
        Check("spatial_batchnorm_forward: matches reference (fresh random inputs)", gid, 1.5,
              (key,), (_fresh(train, make_sbn()),), reference_judge(("out",)),
              stand_ins=BN_STANDINS),
        Check("spatial_batchnorm_forward: running averages per channel", gid, 1.0, (key,),
              (_fresh(train, make_sbn(low=False)),),
              reference_judge(("running_mean", "running_var")),
              looks_at=("running_mean", "running_var"), stand_ins=BN_STANDINS),
    ]
    checks += _backward_checks(
        "spatial_batchnorm_backward", gid, "spatial_batchnorm_backward", "sbn_backward",
        make_sbn(low=False, running=False, dout=True, numeric=True),
        make_sbn(running=False, dout=True), L + "spatial_batchnorm_backward", (2.0, 1.0, 1.0),
        stand_ins=BN_STANDINS)

    key, gid, probe = L + "spatial_groupnorm_forward", "groupnorm", "spatial_groupnorm_forward"
    checks += [
        Check("spatial_groupnorm_forward: per-group mean/std", gid, 2.0, (key,),
              (_fresh(probe, make_gn(low=False)),), stats_judge("gn", "group"),
              looks_at=("out",)),
        Check("spatial_groupnorm_forward: matches reference (hidden inputs)", gid, 1.5, (key,),
              (_hidden("gn_forward"),), reference_judge(("out",))),
        Check("spatial_groupnorm_forward: matches reference (fresh random inputs)", gid, 1.5,
              (key,), (_fresh(probe, make_gn()),), reference_judge(("out",))),
    ]
    checks += _backward_checks(
        "spatial_groupnorm_backward", gid, "spatial_groupnorm_backward", "gn_backward",
        make_gn(low=False, dout=True, numeric=True), make_gn(dout=True),
        L + "spatial_groupnorm_backward", (2.0, 1.0, 1.0))
    return checks


_ANR_GRADS = ("dx", "dw", "db", "dgamma", "dbeta")


def _affine_norm_relu_checks() -> list[Check]:
    gid = "fc_net_batchnorm"
    fkey, bkey = "layer_utils.affine_norm_relu_forward", "layer_utils.affine_norm_relu_backward"
    checks = []
    for norm, name in enumerate(probes.NORMALIZATIONS):
        short = "bn" if norm == 0 else "ln"
        checks.append(Check(
            f"affine_norm_relu_forward: matches reference ({name})", gid, 1.0, (fkey,),
            (_hidden(f"anr_forward_{short}"),
             _fresh("affine_norm_relu_forward", make_anr(norm))),
            reference_judge(("out", "running_mean", "running_var")),
            stand_ins=BN_STANDINS + LN_STANDINS))
    checks.append(Check(
        "affine_norm_relu_backward: gradients vs numerical (batchnorm and layernorm)", gid, 1.0,
        (bkey,),
        tuple(_fresh("affine_norm_relu_backward", make_anr(norm, dout=True, numeric=True),
                     f"fresh random inputs, {name}")
              for norm, name in enumerate(probes.NORMALIZATIONS)),
        numgrad_judge([(g, g[1:]) for g in _ANR_GRADS]), looks_at=_ANR_GRADS,
        stand_ins=BN_STANDINS + LN_STANDINS, after=("affine_norm_relu_forward",)))
    for norm, name in enumerate(probes.NORMALIZATIONS):
        short = "bn" if norm == 0 else "ln"
        checks.append(Check(
            f"affine_norm_relu_backward: matches reference ({name})", gid, 1.0, (bkey,),
            (_hidden(f"anr_backward_{short}"),
             _fresh("affine_norm_relu_backward", make_anr(norm, dout=True))),
            reference_judge(_ANR_GRADS, shared_scale=True), looks_at=_ANR_GRADS,
            stand_ins=BN_STANDINS + LN_STANDINS, after=("affine_norm_relu_forward",)))
    return checks


def _fc_net_checks() -> list[Check]:
    init = "fc_net.FullyConnectedNet.__init__:normalization"
    loss = "fc_net.FullyConnectedNet.loss:normalization"
    grads = ("loss", "grad__*")
    dep = {"stand_ins": BN_STANDINS + LN_STANDINS + ANR_STANDINS,
           "after": ("FullyConnectedNet.__init__",)}
    checks = []
    for norm, name in enumerate(probes.NORMALIZATIONS):
        short, gid = ("bn" if norm == 0 else "ln"), f"fc_net_{name}"
        checks += [
            Check(f"FullyConnectedNet.__init__: gamma and beta for every hidden layer ({name})",
                  gid, 1.0, (init,), (_fresh("fc_net", make_fc(norm, reg=False)),),
                  init_judge, looks_at=(), stand_ins=dep["stand_ins"]),
            Check(f"FullyConnectedNet.loss: loss and gradients match reference, reg = 0 "
                  f"({name})", gid, 1.5, (loss,),
                  (_hidden(f"fc_{short}_reg0"), _fresh("fc_net", make_fc(norm, reg=False))),
                  reference_judge(grads, shared_scale=True), looks_at=grads, **dep),
            Check(f"FullyConnectedNet.loss: loss and gradients match reference, reg > 0 "
                  f"({name})", gid, 1.5, (loss,),
                  (_hidden(f"fc_{short}_reg"), _fresh("fc_net", make_fc(norm, reg=True))),
                  reference_judge(grads, shared_scale=True), looks_at=grads, **dep),
            Check(f"FullyConnectedNet.loss: gradients vs numerical ({name})", gid, 1.0, (loss,),
                  (_fresh("fc_net", make_fc(norm, reg=True, numeric=True),
                          "fresh random inputs, reg > 0"),),
                  numgrad_judge([("grad__*", "")], of="loss"), looks_at=("grad__*",), **dep),
            Check(f"FullyConnectedNet.loss: test-mode scores ({name})", gid, 1.0, (loss,),
                  (_hidden(f"fc_{short}_reg0"), _fresh("fc_net", make_fc(norm, reg=False))),
                  reference_judge(("scores", "scores_row")), looks_at=("scores*",), **dep),
        ]
    return checks


def _adam_checks() -> list[Check]:
    return [Check("adam: matches reference (two steps)", "adam", 2.0, ("optim.adam",),
                  (_hidden("adam", "hidden inputs, first step from a fresh config"),
                   _fresh("adam", make_adam(fresh_state=False),
                          "fresh random inputs, config with m, v and t")),
                  reference_judge(("next_w", "next_w2", "m", "m2", "v", "v2", "t", "t2"),
                                  weights={"next_w": 2.0, "next_w2": 2.0, "m": 0.25, "m2": 0.25,
                                           "v": 0.25, "v2": 0.25, "t": 0.25, "t2": 0.25}),
                  looks_at=("next_w*",))]


def _nn_checks() -> list[Check]:
    """The object API (nn.py): the normalization layers' forward/backward methods with a fused
    ReLU, and the model's regularized loss and backward pass."""
    checks = []
    for norm, kind in enumerate(probes.NN_NORMS):
        short, gid = ("bn" if norm == 0 else "ln"), f"nn_{kind.lower()}"
        fkey, bkey = f"nn.{kind}.forward", f"nn.{kind}.backward"
        layer = BN_STANDINS if norm == 0 else LN_STANDINS
        fdep = {"stand_ins": layer}
        # the backward after a stand-in for the layer's own forward (it leaves self.cache, a
        # token, and the activation's input on the instance, as the given Layer code reads)
        bdep = {"stand_ins": (*layer, fkey), "after": (f"{kind}.forward",)}
        checks += [
            Check(f"{kind}.forward: train and test outputs match reference (with and without "
                  f"a fused relu)", gid, 1.5, (fkey,),
                  (_hidden(f"nn_{short}_forward", "hidden inputs, fused relu"),
                   _fresh("nn_norm_forward", make_nn_norm(norm, relu=False),
                          "fresh random inputs, no activation"),
                   _fresh("nn_norm_forward", make_nn_norm(norm, relu=True),
                          "fresh random inputs, fused relu")),
                  reference_judge(("out", "out_test")), looks_at=("out*",), **fdep),
            Check(f"{kind}.backward: dx/dgamma/dbeta vs numerical gradients (fused relu)", gid,
                  2.0, (bkey,),
                  (_fresh("nn_norm_backward", make_nn_norm(norm, relu=True, backward=True,
                                                           numeric=True),
                          "fresh random inputs, fused relu"),),
                  numgrad_judge([(g, g[1:]) for g in _BWD]), looks_at=_BWD, **bdep),
            Check(f"{kind}.backward: matches reference (with and without a fused relu)", gid,
                  1.5, (bkey,),
                  (_hidden(f"nn_{short}_backward", "hidden inputs, fused relu"),
                   _fresh("nn_norm_backward", make_nn_norm(norm, relu=False, backward=True),
                          "fresh random inputs, no activation")),
                  reference_judge(_BWD, shared_scale=True), looks_at=_BWD, **bdep),
        ]
    grads = ("dX", "grad__*")
    model = BN_STANDINS + LN_STANDINS + NN_STANDINS
    checks += [
        Check("Model.calculate_loss: data loss plus 0.5 * reg * sum(W ** 2) over the layers "
              "with a W (reg = 0 and reg > 0)", "nn_model", 1.5, ("nn.Model.calculate_loss",),
              (_hidden("nn_model_loss", "hidden inputs, reg > 0"),
               _fresh("nn_model_loss", make_nn_model(reg=False), "fresh random inputs, reg = 0"),
               _fresh("nn_model_loss", make_nn_model(reg=True), "fresh random inputs, reg > 0")),
              reference_judge(("loss",)), looks_at=("loss",), stand_ins=model),
        Check("Model.backward: gradients vs numerical (batch norm with a fused relu, dropout, "
              "reg > 0)", "nn_model", 2.0, ("nn.Model.backward",),
              (_fresh("nn_model", make_nn_model(reg=True, numeric=True),
                      "fresh random inputs, reg > 0"),),
              numgrad_judge([("dX", "X"), ("grad__*", "")], of="loss"), looks_at=grads,
              stand_ins=model, after=("Model.calculate_loss",)),
        Check("Model.backward: gradients match reference (reg > 0)", "nn_model", 1.5,
              ("nn.Model.backward",),
              (_hidden("nn_model", "hidden inputs, reg > 0"),
               _fresh("nn_model", make_nn_model(reg=True), "fresh random inputs, reg > 0")),
              reference_judge(grads, shared_scale=True), looks_at=grads,
              stand_ins=model, after=("Model.calculate_loss",)),
    ]
    return checks


def _framework_checks() -> list[Check]:
    """framework.py: our momentum and running-variance conventions converted to PyTorch's
    (the FrameworkParity notebook's autograded cell)."""
    gid = "framework_conventions"
    return [
        Check("torch_momentum_from_normlab: matches reference (floats and an array)", gid, 1.0,
              ("framework.torch_momentum_from_normlab",),
              (_hidden("fw_momentum"), _fresh("torch_momentum", make_fw_momentum)),
              reference_judge(("torch_momentum", "torch_momentum_array")), looks_at=()),
        Check("torch_running_var: matches reference (unbiased variance, our momentum)", gid, 1.0,
              ("framework.torch_running_var",),
              (_hidden("fw_running_var"), _fresh("torch_running_var", make_fw_running_var)),
              reference_judge(("running_var",)), looks_at=()),
    ]


_KERAS_OUTPUTS = ("momentum", "epsilon", *probes.KERAS_WEIGHTS)


def _keras_checks() -> list[Check]:
    """framework.py: our batch-norm settings and state as keras.layers.BatchNormalization's
    (the KerasMNIST notebook's autograded cell)."""
    gid, task = "keras_conventions", ("framework.keras_batchnorm_from_normlab",)
    judge = reference_judge(_KERAS_OUTPUTS, weights={"momentum": 2.0, "epsilon": 2.0})
    return [
        Check("keras_batchnorm_from_normlab: matches reference (a full bn_param)", gid, 1.0, task,
              (_hidden("keras_full"), _fresh("keras_batchnorm", make_keras(full=True))),
              judge, looks_at=_KERAS_OUTPUTS),
        Check("keras_batchnorm_from_normlab: matches reference (an empty bn_param: our "
              "defaults)", gid, 1.0, task,
              (_hidden("keras_empty"), _fresh("keras_batchnorm", make_keras(full=False))),
              judge, looks_at=_KERAS_OUTPUTS),
    ]


@functools.cache
def all_checks() -> tuple[Check, ...]:
    """Every check this module knows, in assignment order, with its default points."""
    checks = (_batchnorm_checks() + _layernorm_checks() + _affine_norm_relu_checks()
              + _fc_net_checks() + _spatial_checks() + _adam_checks() + _nn_checks()
              + _framework_checks() + _keras_checks())
    names = [c.name for c in checks]
    assert len(set(names)) == len(names), "check names must be unique"
    return tuple(checks)


def _selected(key: str, tasks) -> bool:
    return key in tasks or key.split(":", 1)[0] in tasks


def select_checks(config: GradingConfig) -> list[Check]:
    """The checks of the tasks selected in ``config``, with ``config.points`` applied.

    Raises ValueError for a ``[points]`` name that is no check (a typo would otherwise be
    silently ignored).
    """
    known = {c.name for c in all_checks()}
    unknown = sorted(set(config.points) - known)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(f"[points] names no check: {', '.join(hints)}")
    return [dataclasses.replace(c, points=float(config.points.get(c.name, c.points)))
            for c in all_checks() if any(_selected(k, config.tasks) for k in c.release_keys)]


def points_per_grade_id(config: GradingConfig) -> dict[str, float]:
    """Points of each autograded notebook cell (grade_id -> points): the sum of the points of
    the selected checks that credit it. The one computation of it: the release writes it into
    the cells, the notebook builders into their sources."""
    points: dict[str, float] = {}
    for check in select_checks(config):
        points[check.grade_id] = points.get(check.grade_id, 0.0) + float(check.points)
    return points


def ungraded_tasks(config: GradingConfig) -> list[str]:
    """Selected tasks that no check grades (worth a warning to the instructor)."""
    keys = {k for c in all_checks() for k in c.release_keys}
    return sorted(t for t in config.tasks
                  if not any(k == t or k.split(":", 1)[0] == t for k in keys))


# --------------------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------------------


def references_path(assignment: str) -> Path:
    return ASSIGNMENTS_DIR / assignment / "references.npz"


@dataclass
class HiddenCase:
    probe: str
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]


def read_references(path: Path) -> dict[str, HiddenCase]:
    """Parse a references file: keys ``<id>/probe``, ``<id>/in/<name>``, ``<id>/out/<name>``."""
    cases: dict[str, HiddenCase] = {}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            case_id, kind, *rest = key.split("/")
            case = cases.setdefault(case_id, HiddenCase("", {}, {}))
            if kind == "probe":
                case.probe = str(data[key])
            elif kind == "in":
                case.inputs[rest[0]] = data[key]
            elif kind == "out":
                case.outputs[rest[0]] = data[key]
    return cases


@functools.lru_cache(maxsize=4)
def _cached_references(path: str, mtime_ns: int) -> dict[str, HiddenCase]:
    return read_references(Path(path))


def load_references(assignment: str) -> dict[str, HiddenCase]:
    path = references_path(assignment)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: run `python -m autograder.judging.references` to generate the "
            f"hidden reference cases of assignment {assignment!r}")
    return _cached_references(str(path), path.stat().st_mtime_ns)


def run_reference(probe: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The reference outputs: the probe run in-process on the trusted ``solutions`` package."""
    return probes.PROBES[probe](mistakes.solutions_package(), _without_table(inputs))


_local = threading.local()


def _private_solutions() -> types.SimpleNamespace:
    """This thread's own copy of the ``solutions`` modules (imported under another name), which
    `standins.Recorder` may patch while it records without touching anybody else's."""
    pkg = getattr(_local, "solutions", None)
    if pkg is None:
        name = f"_normlab_recorded_solutions_{threading.get_ident()}"
        folder = mistakes.solutions_package().layers.__file__.rsplit("/", 1)[0]
        spec = importlib.util.spec_from_file_location(
            name, f"{folder}/__init__.py", submodule_search_locations=[folder])
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
        pkg = types.SimpleNamespace(**{m: importlib.import_module(f"{name}.{m}")
                                       for m in mistakes.MODULES})
        _local.solutions = pkg
    return pkg


def record_reference(probe: str, inputs: Mapping[str, np.ndarray], targets: Sequence[str]) \
        -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(the reference outputs, the stand-in table): the probe run on the trusted package while
    every call of ``targets`` is recorded (see
    `autograder.assignments.normalization.inside.standins`)."""
    recorder = standins.Recorder(targets)
    outputs = recorder.run(probes.PROBES[probe], _private_solutions(), _without_table(inputs))
    return outputs, recorder.table()


def _without_table(inputs: Mapping[str, np.ndarray]) -> Inputs:
    return {k: v for k, v in inputs.items() if not k.startswith(standins.PREFIX)}


# --------------------------------------------------------------------------------------------------
# One grading run
# --------------------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(filter(None, out.split("-")))


@dataclass
class Plan:
    """The checks of one submission with their concrete cases; `calls` go to the runner."""

    checks: list[Check]
    cases: dict[str, list[Case]] = field(default_factory=dict)  # check name -> cases
    seed: int = 0

    @property
    def calls(self) -> list[ProbeCall]:
        return [case.call for name in self.cases for case in self.cases[name]]

    def evaluate(self, outcomes: Mapping[str, object]) -> list[CheckResult]:
        """Score every check from the runner's outcomes (call id -> ProbeOutcome)."""
        missing = [c.id for c in self.calls if c.id not in outcomes]
        if missing:
            raise RuntimeError(f"the runner returned no outcome for {missing[:3]}")
        results = [evaluate_check(check, self.cases[check.name], outcomes)
                   for check in self.checks]
        failing = {r.task for r in results if r.status != "passed"}
        for i, check in enumerate(self.checks):
            blocked = [t for t in check.after if t in failing]
            if blocked and results[i].status != "passed":
                results[i] = evaluate_check(check, self.cases[check.name], outcomes, blocked)
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
    `release_seed`; the student; the check), so the same submission of the same student under
    the same release always gets the same inputs (and so the same points and feedback), on any
    machine or backend, while two students get different ones.
    """
    if seed is None:
        seed = release_seed(config)
    checks = select_checks(config)
    hidden = load_references(config.assignment) if any(
        s.hidden for c in checks for s in c.cases) else {}
    result = Plan(checks, seed=seed)
    for n, check in enumerate(checks):
        rng = np.random.default_rng([seed, zlib.crc32(student.encode()),
                                     zlib.crc32(check.name.encode())])
        cases = []
        for i, spec in enumerate(check.cases):
            call_id = f"{n:02d}.{_slug(check.name)}.{i}"
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
                full, table = record_reference(spec.probe, inputs, check.stand_ins)
                if reference is None:
                    reference = {k: v for k, v in full.items()
                                 if not k.startswith(("plus__", "minus__"))}
                if "h" not in inputs:
                    full = None
                inputs = {**inputs, **table}
            elif reference is None:
                reference = run_reference(spec.probe, _analytic(inputs))
            cases.append(Case(spec.label, ProbeCall(call_id, spec.probe, inputs), reference,
                              _full=full))
        result.cases[check.name] = cases
    return result


def _analytic(inputs: Inputs) -> Inputs:
    """The inputs without ``h`` (the probe then skips the perturbation loops) and without a
    stand-in table."""
    return {k: v for k, v in _without_table(inputs).items() if k != "h"}


def _round(x: float) -> float:
    return float(round(x, 6))


def evaluate_check(check: Check, cases: list[Case], outcomes: Mapping[str, object],
                   blocked: Sequence[str] = ()) -> CheckResult:
    """Score one check. ``blocked``: upstream tasks of `Check.after` that fail their own checks;
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
        mistake = _recognise(check, pairs)
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
    return CheckResult(check.name, check.task, check.grade_id, score, check.points, status,
                       "\n".join(lines), mistake.key if mistake else None,
                       hint=mistake.hint if mistake else "", upstream=check.upstream)


def _recognise(check: Check, pairs) -> mistakes.Mistake | None:
    candidates = [k for k, m in mistakes.MISTAKES.items()]
    rtol = max(10 * check.rtol, 1e-5)
    for case, outcome in pairs:
        if outcome.status != "ok":
            continue
        looked_at = _expand(check.looks_at, case.reference)
        found = mistakes.recognise(candidates, case.call.probe, _analytic(case.call.inputs),
                                   outcome.arrays, case.reference, looked_at, rtol=rtol)
        if found is not None:
            return found
    return None
