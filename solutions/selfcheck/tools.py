"""Small helpers of the self-checks: numbers in words, comparisons, calls, gradient steps."""

from __future__ import annotations

import numpy as np

from ..gradient_check import eval_numerical_gradient_array, relative_errors
from .core import SKIP, Fatal, Own, Step, describe_exception

#: Largest accepted error of an analytic gradient (see `gradient_error` for the measure).
GRAD_TOL = 1e-5


def num(v):
    """2.0 -> '2.0', 0.96825 -> '0.968', -1.8e-16 -> '0.0' (statistics, not gradients)."""
    v = float(v)
    s = f"{v if abs(v) >= 5e-4 else 0.0:.3g}"
    if s.lstrip("-").isdigit():
        s += ".0"
    return s


def vec(v, limit=5):
    v = np.ravel(np.asarray(v, dtype=np.float64))
    items = ", ".join(num(x) for x in v[:limit])
    return f"[{items}{', ...' if v.size > limit else ''}]"


def close(a, b, rtol=1e-3, atol=1e-3):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def same(a, b):
    """Equal up to rounding: the same computation, perhaps in another order."""
    return a is not None and close(a, b, rtol=1e-7, atol=1e-9)


def kind(value):
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} values"
    return f"a {type(value).__name__}"


def forward(func, *args, what="out"):
    """Call a forward function and insist on a finite array ``out`` and some cache."""
    result = func(*args)
    if not isinstance(result, tuple) or len(result) != 2:
        raise Fatal(f"{func.__name__} should return a pair (out, cache), got {kind(result)}")
    out, cache = result
    if out is None:
        raise Fatal(f"{what} is None: assign your result to {what} before the return")
    out = np.asarray(out)
    if not np.all(np.isfinite(out)):
        raise Fatal(f"{what} contains nan or inf: look at the division by sqrt(var + eps)")
    return out, cache


def require_shape(name, value, shape, reduce_hint=""):
    shape = tuple(shape)
    got = np.shape(value)
    if got == shape:
        return
    hint = ""
    if got == (1, *shape) or got == (*shape, 1):
        hint = f" — {reduce_hint or 'reduce without keepdims'}"
    raise Fatal(f"{name} has shape {got}; expected {shape}{hint}")


def no_mutation(func, args, names):
    """Call ``func(*args)`` and return a complaint if it changed one of its array arguments."""
    before = [np.array(a, copy=True) if isinstance(a, np.ndarray) else None for a in args]
    func(*args)
    for name, old, new in zip(names, before, args, strict=False):
        if old is not None and not np.array_equal(old, new):
            return (
                f"{func.__name__} changed its input {name} in place (e.g. `{name} -= ...`); "
                "compute into a new array so the caller's data stays intact"
            )
    return None


def gradient_error(analytic, numeric, scale):
    """Largest ``|a - n| / max(|a| + |n|, 1e-5 * scale)`` over the elements.

    ``scale`` is the size of the largest gradient element around: gradients that are
    mathematically zero (for example b1 in front of a batch norm) come out of the numerical
    difference as rounding noise, and the floor keeps that noise from counting as an error.
    """
    return float(np.max(relative_errors(analytic, numeric, floor=max(1e-5 * scale, 1e-12))))


def compare_gradient(name, analytic, numeric, scale, hint=""):
    """None if the gradients agree, else a message naming the array and the error."""
    if analytic is None:
        return Own(f"{name} is None: assign it before the return")
    if np.shape(analytic) != np.shape(numeric):
        return Own(f"{name} has shape {np.shape(analytic)}; expected {np.shape(numeric)}")
    if not np.all(np.isfinite(analytic)):
        return f"{name} contains nan or inf"
    err = gradient_error(analytic, numeric, scale)
    if err <= GRAD_TOL:
        return None
    text = (
        f"{name} does not match the numerical gradient (relative error {err:.1e}, should be "
        f"below {GRAD_TOL:.0e})"
    )
    return f"{text}. {hint}" if hint else text


def copies(args):
    """Fresh copies of a list of arrays and dicts, so that no call sees another's changes."""
    return [a.copy() if isinstance(a, (np.ndarray, dict)) else a for a in args]


# --------------------------------------------------------------------------------------------------
# Statistics of a normalized output
# --------------------------------------------------------------------------------------------------


def diagnose_standardized(out, x, over, unit):
    """Why ``out`` (gamma = 1, beta = 0) is not standardized along axis ``over``; None if it is.

    ``unit`` names what gets normalized ("feature" for batch norm, "example" for layer norm).
    """
    other = 1 - over
    mean, std = out.mean(axis=over), out.std(axis=over)
    if close(mean, 0 * mean) and close(std, 0 * std + 1):
        return None
    n = x.shape[over]
    if close(out.mean(axis=other), 0 * out.mean(axis=other)) and close(
        out.std(axis=other), 0 * out.std(axis=other) + 1
    ):
        wrong, right = ("example (row)", "batch (axis=0)") if other == 1 else (
            "feature (column)", "features (axis=1)")
        return (
            f"each {wrong} of the output has mean 0 and std 1, but each {unit} should: you "
            f"normalized along the wrong axis; normalize each {unit} over the {right}"
        )
    if close(std, 0 * std + np.sqrt((n - 1) / n), rtol=1e-4, atol=1e-4):
        return (
            f"the output std per {unit} is {num(std[0])} instead of 1.0: you used the unbiased "
            f"variance (ddof=1, dividing by N - 1); normalization uses the plain 1/N variance, "
            f"np.var's default"
        )
    if close(std, x.std(axis=over), rtol=1e-3):
        return (
            f"the output std per {unit} equals the input's ({vec(std)}): did you divide by "
            f"sqrt(var + eps)?"
        )
    if close(std, 1 / x.std(axis=over), rtol=1e-3):
        return "looks like you divided by the variance; divide by the standard deviation instead"
    if not close(mean, 0 * mean):
        return f"the output mean per {unit} is {vec(mean)} instead of 0: subtract the mean first"
    return f"the output std per {unit} is {vec(std)}; expected 1.0 everywhere"


def eps_problem(got_std, var, eps, unit, given_eps=False, n=None):
    """Why normalized values of variance ``var`` have std ``got_std`` (gamma = 1); None if right.

    Right is ``sqrt(var / (var + eps))``: for a std of 1e-3 and eps = 1e-5 that is 0.30, while
    eps outside the square root, ``(x - mean) / (sqrt(var) + eps)``, gives 0.99. With
    ``given_eps`` the eps was passed in the param dict, and the default 1e-5 is a slip too;
    ``n``, the number of values each variance is over, lets it recognise the unbiased variance.
    """
    got_std, var = np.ravel(got_std), np.ravel(var)
    if close(got_std, np.sqrt(var / (var + eps)), rtol=1e-3, atol=1e-4):
        return None
    low = int(np.argmin(var))
    sd, got, want = np.sqrt(var[low]), got_std[low], np.sqrt(var[low] / (var[low] + eps))
    article = "an" if unit[0] in "aeiou" else "a"
    said = (f"{article} {unit} whose std is {sd:.1e} comes out with std {got:.3f}; normalized "
            f"with sqrt(var + eps), eps = {eps:g}, it would be {want:.3f}")
    if close(got_std, np.sqrt(var) / (np.sqrt(var) + eps), rtol=1e-3, atol=1e-4):
        return (f"{said}: you added eps outside the square root, (x - mean) / (sqrt(var) + eps); "
                f"it belongs inside, (x - mean) / np.sqrt(var + eps)")
    if given_eps and close(got_std, np.sqrt(var / (var + 1e-5)), rtol=1e-3, atol=1e-4):
        return f"{said}: the eps in the param dict was ignored; read it (default 1e-5)"
    if n and n > 1 and close(got_std, np.sqrt(var / (var * n / (n - 1) + eps)), rtol=1e-4,
                             atol=1e-4):
        return f"{said}: you used the unbiased variance (ddof=1); use the 1/N variance"
    if close(got_std, np.ones_like(got_std), rtol=1e-4, atol=1e-4):
        return f"{said}: eps is missing; divide by np.sqrt(var + eps)"
    return said


def shape_and_purity(func, x, param):
    """None if ``func(x, ones, zeros, param)`` keeps the shape of x and changes none of its
    inputs, else what is wrong."""
    D = x.shape[1]
    out, _ = forward(func, x.copy(), np.ones(D), np.zeros(D), dict(param))
    require_shape("out", out, x.shape)
    return no_mutation(func, (x.copy(), np.ones(D), np.zeros(D), dict(param)),
                       ("x", "gamma", "beta"))


def tiny_variance_problem(func, x, param, axis, unit):
    """`eps_problem` of ``func(x, ones, zeros, param)`` over ``axis``, once with the default eps
    and once with eps = 1e-4 in the param dict (which must then be used)."""
    D = x.shape[1]
    for eps in (None, 1e-4):
        given = dict(param) if eps is None else dict(param, eps=eps)
        out, _ = forward(func, x.copy(), np.ones(D), np.zeros(D), given)
        require_shape("out", out, x.shape)
        problem = eps_problem(out.std(axis=axis), x.var(axis=axis), eps or 1e-5, unit,
                              given_eps=eps is not None, n=x.shape[axis])
        if problem:
            return problem
    return None


# --------------------------------------------------------------------------------------------------
# Gradient steps
# --------------------------------------------------------------------------------------------------


def backward_steps(forward_fn, backward, make_inputs, names, hints, *, forward_needs=(),
                   backward_needs=(), precondition=None, prefix="", aspect=None):
    """Steps shared by the backward checks: call backward, then compare with numerical gradients.

    ``make_inputs()`` returns the forward's argument list; the first ``len(names)`` entries are
    the arrays to differentiate. ``hints[name](analytic, numeric, inputs, dout)`` may explain a
    mismatch. ``precondition()`` may return why the forward pass of this task is wrong, which
    stops the gradient check (it differentiates that forward pass). The comparisons need
    ``forward_needs`` and ``backward_needs``; calling the backward pass needs ``forward_needs``.
    ``prefix`` starts the name of every step, ``aspect`` is theirs.
    """
    state = {}
    name_of = getattr(backward, "__name__", "backward")

    def guarded(step):
        """Run ``step``; a failure that ends it skips the gradient steps after it, not the other
        steps of the check (the sandwich checks two normalizations, one after the other)."""
        def run():
            try:
                return step()
            except NotImplementedError:
                raise
            except Fatal as exc:
                state["blocked"] = True
                return exc.args[0] if isinstance(exc.args[0], Own) else str(exc)
            except Exception as exc:  # noqa: BLE001 - reported in words
                state["blocked"] = True
                return describe_exception(exc)
        return run

    def runs():
        problem = precondition() if precondition else None
        if problem:
            raise Fatal(Own(
                f"the forward pass is not right yet ({problem}); the gradient check "
                f"differentiates it, so fix the forward pass first"
            ))
        inputs = make_inputs()
        out, cache = forward(forward_fn, *inputs)
        dout = np.random.default_rng(7).standard_normal(out.shape)
        grads = backward(dout.copy(), cache)
        if not isinstance(grads, tuple) or len(grads) != len(names):
            raise Fatal(Own(
                f"{name_of} should return {len(names)} arrays ({', '.join(names)}), "
                f"got {kind(grads)}"
            ))
        for name, grad, value in zip(names, grads, inputs, strict=False):
            if grad is None:
                raise Fatal(Own(f"{name} is None: assign it before the return"))
            try:
                require_shape(name, grad, np.shape(value), "sum over the batch without keepdims")
            except Fatal as exc:
                raise Fatal(Own(str(exc))) from None
        state.update(inputs=inputs, dout=dout, grads=grads)
        again = backward(dout.copy(), cache)
        if any(not np.array_equal(g, h) for g, h in zip(grads, again, strict=False)):
            return Own(
                f"calling {name_of} twice with the same cache gave different "
                f"results: it modifies the cache in place; compute into new arrays"
            )
        return None

    def numeric():
        if state.get("blocked"):
            return SKIP
        inputs, dout = state["inputs"], state["dout"]
        result = {}
        for i, name in enumerate(names):
            args = copies(inputs)

            def f(_, args=args):
                return forward_fn(*args)[0]

            result[name] = eval_numerical_gradient_array(f, args[i], dout)
        state["numeric"] = result
        return None

    def compare(name):
        def step():
            if "numeric" not in state:
                return SKIP
            analytic = state["grads"][names.index(name)]
            got = state["numeric"][name]
            # On the scale of all the gradients: one that is zero (b before a normalization)
            # comes out of the numerical difference as rounding noise.
            scale = max(max(float(np.max(np.abs(g))) for g in state["numeric"].values()), 1e-3)
            problem = compare_gradient(name, analytic, got, scale)
            if problem and not isinstance(problem, Own) and name in hints:
                hint = hints[name](np.asarray(analytic), got, state["inputs"], state["dout"])
                if hint:
                    problem = f"{problem}. {hint}"
            return problem

        return step

    needs = tuple(forward_needs) + tuple(backward_needs)
    steps = [
        Step(f"{prefix}{name_of} returns {', '.join(names)} with the shapes of the inputs",
             guarded(runs), aspect, tuple(forward_needs)),
        Step(f"{prefix}numerical gradients of the forward pass computed", guarded(numeric),
             aspect, tuple(forward_needs)),
    ]
    steps += [Step(f"{prefix}{name} matches the numerical gradient", compare(name), aspect, needs)
              for name in names]
    return steps
