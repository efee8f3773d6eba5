"""Judges: from a check's (case, outcome) pairs to its scored `Part`s.

`reference_judge` compares outputs with the reference (one part per output, optionally
weighted or gated), `numgrad_judge` analytic gradients with centered differences of the
student's own forward pass, `stats_judge` the statistics of a normalization's output without
any reference, `init_judge` the parameters a network's ``__init__`` creates. A backward that
is wrong only because it ran on the cache of the student's wrong forward is recognised by
`carried_forward` (error carried forward) and not charged again.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence

import numpy as np

from autograder.judging.checks import Case, Judge, Part
from autograder.judging.compare import F64_RTOL, FLOOR, GRAD_TOL, compare, display

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


def expand(patterns: Sequence[str], names) -> list[str]:
    """The ``names`` matching any of the fnmatch ``patterns`` (``"grad__*"``), sorted."""
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
        names.update(expand(patterns, case.reference))
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
                            for k in expand(patterns, case.reference))
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
                              for g in expand([grad], case.reference)]
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
        wanted = expand(["init__*"], case.reference)
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
            have = {k.split("__", 1)[1] for k in expand(["initshape__gamma*",
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
