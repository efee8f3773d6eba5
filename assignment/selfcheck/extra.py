# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/selfcheck/extra.py by `make stubs`; edit the solution.
"""Extra cases of the self-checks: odd shapes, a single example, a given eps, float32, ...

A task's check (its `Step`s in ``REGISTRY``) asks what a student's code must do on a few
inputs; its extra cases (``EXTRA``, built the same way) ask it again on the inputs where a
slightly wrong implementation still passes: one example or one feature, a variance comparable
to eps, an eps or momentum given in the param dict, float32, batches of many sizes. The
autograded cells run them (``assert_passes(task, extra=True)`` in ``checks.py``). Like the
checks they compare with properties, the definitions the notebooks state and numerical
gradients, never with stored answers. This module holds the helpers and the cases of the
layers of ``layers.py`` and of ``FullyConnectedNet``; `extra_objects` those of ``nn.py`` and
``framework.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
from .core import Step
from .tools import copies, gradient_error

#: The extra cases of a task: a builder ``(context) -> list of Step``, as in ``REGISTRY``.
EXTRA: dict[str, Callable] = {}


def extra(name):
    """Register the builder of ``name``'s extra cases (a decorator)."""
    def register(build):
        EXTRA[name] = build
        return build
    return register


def differs(name, got, want, rtol=1e-6, atol=1e-8):
    """None if ``got`` matches ``want`` within ``atol + rtol * |want|`` everywhere (as
    ``np.testing.assert_allclose``), else what differs, with the worst element."""
    if got is None:
        return f"{name} is None"
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return f"{name} has shape {got.shape}; expected {want.shape}"
    gap = np.abs(got - want)
    bad = ~(gap <= atol + rtol * np.abs(want))  # nan counts as wrong
    if not bad.any():
        return None
    i = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(gap, nan=np.inf), -1)), got.shape)
    return (f"{name} is wrong at index {tuple(int(k) for k in i)}: {got[i]:.6g} instead of "
            f"{want[i]:.6g} ({int(bad.sum())} of {got.size} elements off)")


def first(problems):
    """The first problem of an iterable of problems (None: passed), or None."""
    return next((p for p in problems if p), None)


def standardized(x, axes, eps=1e-5):
    """``x`` normalized over ``axes`` with the 1/N variance: the definition the notebooks give."""
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)


def numeric_gradients(forward_fn, arrays, rest, dout):
    """Numerical gradients of ``forward_fn(*arrays, *rest)[0]`` for each of ``arrays``, the
    param dicts in ``rest`` fresh for every call."""
    result = []
    for i in range(len(arrays)):
        def f(v, i=i):
            args = [v if j == i else a for j, a in enumerate(arrays)]
            return forward_fn(*args, *copies(rest))[0]

        result.append(eval_numerical_gradient_array(f, arrays[i].copy(), dout))
    return result


def gradients_problem(forward_fn, backward_fn, arrays, rest, dout, names=("dx", "dgamma", "dbeta"),
                      twice=False):
    """None if ``backward_fn`` gives the numerical gradients of ``forward_fn`` (relative 1e-5,
    absolute 1e-7 of the largest), else why not; with ``twice`` it must give the same result
    when called again with the same cache."""
    _, cache = forward_fn(*[a.copy() for a in arrays], *copies(rest))
    grads = backward_fn(dout.copy(), cache)
    if twice:
        again = backward_fn(dout.copy(), cache)
        if any(not np.array_equal(g, h) for g, h in zip(grads, again, strict=True)):
            return "a second call with the same cache gave other gradients: the cache changed"
    where = f"(x of shape {arrays[0].shape})"
    return first(differs(f"{name} {where}", g, n, rtol=1e-5, atol=1e-7 * (1 + np.abs(n).max()))
                 for name, g, n in zip(names, grads,
                                       numeric_gradients(forward_fn, arrays, rest, dout),
                                       strict=True))


def gradients_step(forward_fn, backward_fn, rng, cases, twice=False):
    """A step: `gradients_problem` for each ``(arrays, rest)`` of ``cases``, with a random
    upstream gradient of the shape of x; the first problem, or None."""
    def run():
        return first(gradients_problem(forward_fn, backward_fn, arrays, rest,
                                       rng.standard_normal(arrays[0].shape), twice=twice)
                     for arrays, rest in cases)
    return run


def _vector_inputs(rng, shape, scale=3.0, shift=1.0):
    return (scale * rng.standard_normal(shape) + shift, rng.standard_normal(shape[-1]),
            rng.standard_normal(shape[-1]))


# --------------------------------------------------------------------------------------------------
# Batch norm and layer norm
# --------------------------------------------------------------------------------------------------


def _matches_definition(func, axis, shapes, rng, param):
    def run():
        for shape in shapes:
            x, g, b = _vector_inputs(rng, shape)
            out = func(x.copy(), g, b, dict(param))[0]
            problem = differs(f"out for x of shape {shape}", out,
                              g * standardized(x, axis) + b)
            if problem:
                return problem
        return None
    return run


def _eps_cases(func, axis, x, rng, param):
    def run():
        g, b = rng.standard_normal(x.shape[1]), rng.standard_normal(x.shape[1])
        return first(differs(f"out with eps = {eps:g}",
                             func(x.copy(), g, b, dict(param, eps=eps))[0],
                             g * standardized(x, axis, eps) + b) for eps in (1e-5, 1e-3))
    return run


def _keeps_float32(func, shape, rng, param):
    def run():
        D = shape[-1]
        out = func(rng.standard_normal(shape).astype(np.float32), np.ones(D, np.float32),
                   np.zeros(D, np.float32), dict(param))[0]
        return None if out.dtype == np.float32 else f"float32 input gave {out.dtype} output"
    return run


@extra("batchnorm_forward")
def _bn_forward_extra(context):
    L, rng = context.modules.layers, np.random.default_rng(2024)
    f = L.batchnorm_forward
    train = {"mode": "train"}

    def single_example():
        g, b = rng.standard_normal(3), rng.standard_normal(3)
        return differs("out of one example", f(np.array([[1.0, -2.0, 3.0]]), g, b, dict(train))[0],
                       b[None, :])

    def test_mode():
        rm, rv = rng.standard_normal(3), rng.random(3) + 0.1
        p = {"mode": "test", "running_mean": rm.copy(), "running_var": rv.copy(), "eps": 1e-2}
        x, g, b = rng.standard_normal((1, 3)), rng.standard_normal(3), rng.standard_normal(3)
        out = f(x, g, b, p)[0]
        return (differs("test-mode out", out, g * (x - rm) / np.sqrt(rv + 1e-2) + b, 1e-10, 0)
                or differs("running_mean after test mode", p["running_mean"], rm, 0, 0)
                or differs("running_var after test mode", p["running_var"], rv, 0, 0))

    return [
        Step("train mode: a variance near eps and bn_param['eps'] (1e-5, 1e-3)",
             _eps_cases(f, 0, 1e-3 * rng.standard_normal((16, 4)) + 7, rng, train)),
        Step("train mode: one example gives beta", single_example),
        Step("train mode: batches of shapes (3, 1), (2, 2), (5, 7), (33, 4)",
             _matches_definition(f, 0, [(3, 1), (2, 2), (5, 7), (33, 4)], rng, train)),
        Step("test mode: one example, bn_param['eps'], running averages unchanged", test_mode),
    ]


@extra("batchnorm_backward")
def _bn_backward_extra(context):
    L, rng = context.modules.layers, np.random.default_rng(77)

    shapes = gradients_step(L.batchnorm_forward, L.batchnorm_backward, rng, [
        (_vector_inputs(rng, shape, 4, -2), [{"mode": "train"}])
        for shape in [(3, 1), (2, 3), (13, 2), (8, 6)]])

    def single_example():
        _, cache = L.batchnorm_forward(np.array([[1.5, -2.0]]), np.array([2.0, 3.0]), np.zeros(2),
                                       {"mode": "train"})
        dx, _, dbeta = L.batchnorm_backward(np.array([[1.0, 2.0]]), cache)
        return (differs("dx of one example (its output is beta whatever x is)", dx,
                        np.zeros((1, 2)), 0, 1e-10) or differs("dbeta", dbeta, [1.0, 2.0], 1e-7))

    def float32():
        arrays = _vector_inputs(rng, (10, 4), 1, 0)
        dout = rng.standard_normal((10, 4))
        _, c64 = L.batchnorm_forward(*arrays, {"mode": "train"})
        _, c32 = L.batchnorm_forward(*[a.astype(np.float32) for a in arrays], {"mode": "train"})
        g32 = L.batchnorm_backward(dout.astype(np.float32), c32)
        return first(differs(f"float32 {name}", a, b, 1e-3, 1e-4) for name, a, b in
                     zip(("dx", "dgamma", "dbeta"), g32, L.batchnorm_backward(dout, c64),
                         strict=True))

    return [Step("numerical gradients for shapes (3, 1), (2, 3), (13, 2), (8, 6)", shapes),
            Step("one example: dx is zero, dbeta is dout", single_example),
            Step("float32 gives the float64 gradients to float32 accuracy", float32)]


@extra("batchnorm_backward_alt")
def _bn_backward_alt_extra(context):
    L, rng = context.modules.layers, np.random.default_rng(78)

    shapes = gradients_step(L.batchnorm_forward, L.batchnorm_backward_alt, rng, [
        (_vector_inputs(rng, shape, 2, -1), [{"mode": "train"}])
        for shape in [(3, 3), (1, 4), (11, 6), (64, 16)]], twice=True)
    return [Step("numerical gradients for shapes (3, 3), (1, 4), (11, 6), (64, 16), the cache "
                 "left unchanged", shapes)]


@extra("layernorm_forward")
def _ln_forward_extra(context):
    L, rng = context.modules.layers, np.random.default_rng(80)
    f = L.layernorm_forward
    return [
        Step("a variance near eps and ln_param['eps'] (1e-5, 1e-3)",
             _eps_cases(f, 1, 1e-3 * rng.standard_normal((5, 8)) + 3, rng, {})),
        Step("shapes (1, 6), (7, 1), (4, 4), (2, 9)",
             _matches_definition(f, 1, [(1, 6), (7, 1), (4, 4), (2, 9)], rng, {"mode": "train"})),
        Step("float32 stays float32", _keeps_float32(f, (3, 5), rng, {})),
    ]


@extra("layernorm_backward")
def _ln_backward_extra(context):
    L, rng = context.modules.layers, np.random.default_rng(81)

    shapes = gradients_step(L.layernorm_forward, L.layernorm_backward, rng, [
        (_vector_inputs(rng, shape, 2, 1), [{}]) for shape in [(1, 4), (5, 3), (3, 8), (6, 2)]])
    return [Step("numerical gradients for shapes (1, 4), (5, 3), (3, 8), (6, 2)", shapes)]


# --------------------------------------------------------------------------------------------------
# Spatial batch norm and group norm
# --------------------------------------------------------------------------------------------------


def _per_channel(v):
    return v.reshape(1, -1, 1, 1)


def _sbn_want(x, g, b, eps=1e-5):
    return _per_channel(g) * standardized(x, (0, 2, 3), eps) + _per_channel(b)


@extra("spatial_batchnorm")
def _spatial_extra(context):
    L, rng = context.modules.layers, np.random.default_rng(2310)
    f = L.spatial_batchnorm_forward

    def shapes():
        for shape in [(1, 3, 2, 5), (4, 1, 3, 2), (6, 2, 1, 1), (2, 5, 3, 4)]:
            c = shape[1]
            x = 3 * rng.standard_normal(shape) + 5 * rng.standard_normal((1, c, 1, 1))
            g, b = rng.standard_normal(c), rng.standard_normal(c)
            out = f(x.copy(), g, b, {"mode": "train"})[0]
            problem = differs(f"out for x of shape {shape}", out, _sbn_want(x, g, b))
            if problem:
                return problem
        return None

    def eps():
        x = 1e-3 * rng.standard_normal((3, 2, 2, 3)) + 4
        g, b = rng.standard_normal(2), rng.standard_normal(2)
        return first(differs(f"out with eps = {e:g}",
                             f(x.copy(), g, b, {"mode": "train", "eps": e})[0],
                             _sbn_want(x, g, b, e)) for e in (1e-5, 1e-3))

    def running():
        p = {"mode": "train", "momentum": 0.25}
        x = rng.standard_normal((2, 3, 4, 2)) + np.arange(3).reshape(1, 3, 1, 1)
        f(x.copy(), np.ones(3), np.zeros(3), p)
        axes = (0, 2, 3)
        return (differs("running_mean", p.get("running_mean"), 0.75 * x.mean(axis=axes), 1e-10)
                or differs("running_var", p.get("running_var"), 0.75 * x.var(axis=axes), 1e-10))

    def test_mode():
        rm, rv = rng.standard_normal(3), rng.random(3) + 0.2
        p = {"mode": "test", "running_mean": rm.copy(), "running_var": rv.copy(), "eps": 1e-2}
        x, g, b = rng.standard_normal((1, 3, 2, 2)), rng.standard_normal(3), rng.standard_normal(3)
        want = (_per_channel(g) * (x - _per_channel(rm)) / np.sqrt(_per_channel(rv) + 1e-2)
                + _per_channel(b))
        return (differs("test-mode out", f(x, g, b, p)[0], want, 1e-10, 0)
                or differs("running_mean after test mode", p["running_mean"], rm, 0, 0)
                or differs("running_var after test mode", p["running_var"], rv, 0, 0))

    def float32():
        p = {"mode": "train"}
        out = f(rng.standard_normal((2, 3, 2, 2)).astype(np.float32), np.ones(3, np.float32),
                np.zeros(3, np.float32), p)[0]
        dtypes = [np.asarray(a).dtype for a in (out, p["running_mean"], p["running_var"])]
        return None if dtypes == [np.float32] * 3 else f"float32 input gave {dtypes}"

    backward = gradients_step(f, L.spatial_batchnorm_backward, rng, [
        ((2 * rng.standard_normal(shape) + 1, rng.standard_normal(shape[1]),
          rng.standard_normal(shape[1])), [{"mode": "train"}])
        for shape in [(1, 2, 3, 2), (3, 1, 2, 2), (2, 3, 1, 4)]])

    return [
        Step("shapes (1, 3, 2, 5), (4, 1, 3, 2), (6, 2, 1, 1), (2, 5, 3, 4)", shapes),
        Step("a variance near eps and bn_param['eps'] (1e-5, 1e-3)", eps),
        Step("running averages per channel with momentum 0.25", running),
        Step("test mode: one image, bn_param['eps'], running averages unchanged", test_mode),
        Step("float32 stays float32 (output and running averages)", float32),
        Step("numerical gradients for shapes (1, 2, 3, 2), (3, 1, 2, 2), (2, 3, 1, 4)", backward),
    ]


def _gn_want(x, g, b, groups, eps=1e-5):
    n, c, h, w = x.shape
    grouped = standardized(x.reshape(n, groups, c // groups, h, w), (2, 3, 4), eps)
    return g * grouped.reshape(x.shape) + b


@extra("groupnorm")
def _groupnorm_extra(context):
    L, rng = context.modules.layers, np.random.default_rng(2311)
    f = L.spatial_groupnorm_forward

    def gamma_beta(c):
        return rng.standard_normal((1, c, 1, 1)), rng.standard_normal((1, c, 1, 1))

    def groups():
        cases = [((1, 6, 3, 2), g) for g in (1, 2, 3, 6)]
        cases += [((3, 4, 1, 1), 2), ((2, 8, 2, 3), 4), ((4, 3, 2, 5), 1)]
        for shape, G in cases:
            x = 3 * rng.standard_normal(shape) + 4 * rng.standard_normal((1, shape[1], 1, 1))
            g, b = gamma_beta(shape[1])
            problem = differs(f"out for x of shape {shape}, G = {G}", f(x.copy(), g, b, G, {})[0],
                              _gn_want(x, g, b, G))
            if problem:
                return problem
        return None

    def eps():
        x = 1e-3 * rng.standard_normal((2, 4, 2, 2)) - 3
        g, b = gamma_beta(4)
        return first(differs(f"out with eps = {e:g}", f(x.copy(), g, b, 2, {"eps": e})[0],
                             _gn_want(x, g, b, 2, e)) for e in (1e-5, 1e-3))

    def alone():
        x = rng.standard_normal((3, 4, 2, 3))
        g, b = gamma_beta(4)
        out = f(x.copy(), g, b, 2, {})[0]
        return first(differs(f"example {i} in the batch vs alone", out[i:i + 1],
                             f(x[i:i + 1].copy(), g, b, 2, {})[0], 1e-10, 1e-12) for i in range(3))

    def float32():
        ones, zeros = np.ones((1, 4, 1, 1), np.float32), np.zeros((1, 4, 1, 1), np.float32)
        out = f(rng.standard_normal((2, 4, 3, 3)).astype(np.float32), ones, zeros, 2, {})[0]
        return None if out.dtype == np.float32 else f"float32 input gave {out.dtype} output"

    backward = gradients_step(f, L.spatial_groupnorm_backward, rng, [
        ((2 * rng.standard_normal(shape) - 1, *gamma_beta(shape[1])), [G, {}])
        for shape, G in [((1, 4, 2, 3), 2), ((2, 6, 1, 2), 3), ((3, 2, 2, 2), 1),
                         ((1, 3, 2, 2), 3)]])

    return [
        Step("one example with every G dividing C, 1x1 maps, other shapes", groups),
        Step("a variance near eps and gn_param['eps'] (1e-5, 1e-3)", eps),
        Step("no example depends on another", alone),
        Step("float32 stays float32", float32),
        Step("numerical gradients (one example, G = 1 and G = C), gradient shapes (1, C, 1, 1)",
             backward),
    ]


# --------------------------------------------------------------------------------------------------
# FullyConnectedNet
# --------------------------------------------------------------------------------------------------


def _worst_gradient_error(model, X, y):
    _, grads = model.loss(X, y)
    numeric = {k: eval_numerical_gradient(lambda _: model.loss(X, y)[0], v, verbose=False)
               for k, v in model.params.items()}
    scale = max(np.abs(n).max() for n in numeric.values())
    return max(gradient_error(grads[k], n, scale) for k, n in numeric.items())


def _norm_params_problem(model, dims):
    shapes = [np.shape(model.params.get(f"{p}{i}")) for i in range(1, len(dims) + 1)
              for p in ("gamma", "beta")]
    want = [(d,) for d in dims for _ in (0, 1)]
    if shapes != want:
        return f"gamma1, beta1, ... have shapes {shapes}; expected {want}"
    last = len(dims) + 1
    if f"gamma{last}" in model.params or f"beta{last}" in model.params:
        return f"the scoring layer has gamma{last} or beta{last}: it is not normalized"
    return None


def _alone_problem(model, X, row):
    return differs(f"scores of example {row} alone vs in the batch", model.loss(X[row:row + 1]),
                   model.loss(X)[row:row + 1], 1e-10, 0)


@extra("fc_net_batchnorm")
def _fc_batchnorm_extra(context):
    Net, rng = context.modules.fc_net.FullyConnectedNet, np.random.default_rng(79)
    X, y = rng.standard_normal((5, 6)), np.array([0, 1, 2, 3, 0])

    def deep():
        np.random.seed(3)
        model = Net([7, 5, 6], input_dim=6, num_classes=4, reg=0.7, weight_scale=0.3,
                    dtype=np.float64, normalization="batchnorm", dropout_keep_ratio=0.75, seed=5)
        problem = _norm_params_problem(model, [7, 5, 6])
        if problem:
            return problem
        worst = _worst_gradient_error(model, X, y)
        if worst < 1e-5:
            return None
        return f"a gradient is off by a relative error of {worst:.1e} (should be below 1e-5)"

    def test_mode():
        np.random.seed(4)
        model = Net([8, 8], input_dim=6, num_classes=4, normalization="batchnorm",
                    dtype=np.float64, weight_scale=0.3)
        for _ in range(3):
            model.loss(X, y)
        if not all(np.shape(p.get("running_mean")) == (8,) for p in model.bn_params):
            return "after training steps every bn_params[i]['running_mean'] should have shape (8,)"
        return _alone_problem(model, X, 2)

    return [Step("three hidden layers, dropout and reg: parameters and gradients", deep),
            Step("test mode uses the running averages: one example scores the same alone",
                 test_mode)]


@extra("fc_net_layernorm")
def _fc_layernorm_extra(context):
    Net, rng = context.modules.fc_net.FullyConnectedNet, np.random.default_rng(82)
    X, y = rng.standard_normal((3, 7)), np.array([2, 0, 1])
    np.random.seed(6)
    model = Net([5, 4, 6], input_dim=7, num_classes=3, reg=0.4, weight_scale=0.4,
                dtype=np.float64, normalization="layernorm")

    def gradients():
        problem = _norm_params_problem(model, [5, 4, 6])
        _, grads = model.loss(X, y)
        if problem or set(grads) != set(model.params):
            return problem or f"gradients of {sorted(grads)} for parameters {sorted(model.params)}"
        return first(differs(k, grads[k], eval_numerical_gradient(
            lambda _: model.loss(X, y)[0], v, verbose=False), 1e-5, 1e-8)
            for k, v in model.params.items())

    return [Step("three hidden layers with reg: parameters and numerical gradients", gradients),
            Step("one example scores the same alone", lambda: _alone_problem(model, X, 1))]
