# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/selfcheck/layernorm.py by `make stubs`; edit the solution.
"""Self-checks of layer normalization: layernorm_forward and layernorm_backward."""

from __future__ import annotations

import numpy as np

from .batchnorm import dbeta_hint, dgamma_hint
from .core import Need, Step, task
from .tools import (
    backward_steps,
    close,
    copies,
    diagnose_standardized,
    forward,
    require_shape,
    shape_and_purity,
    tiny_variance_problem,
)

LN_N, LN_D = 4, 6  # N != D so that a reduction over the wrong axis cannot broadcast silently
LN_GAMMA = np.array([2.0, 0.5, 3.0, 1.5, 4.0, 0.25])
LN_BETA = np.array([3.0, -1.0, 0.5, 10.0, -4.0, 2.0])


def ln_input(seed=0):
    rng = np.random.default_rng(seed)
    loc = np.array([0.0, 5.0, -2.0, 30.0])[:, None]
    spread = np.array([1.0, 3.0, 0.5, 10.0])[:, None]
    return loc + spread * rng.standard_normal((LN_N, LN_D))


def ln_problem(layers, x, gamma, beta):
    """None if layernorm_forward's output is right for (x, gamma, beta), else why not."""
    out, _ = forward(layers.layernorm_forward, x, gamma, beta, {})
    require_shape("out", out, x.shape, "keep the per-example statistics as a column")
    z = (out - beta) / gamma
    if close(z.mean(axis=1), np.zeros(len(x))) and close(z.std(axis=1), np.ones(len(x))):
        return None
    if np.all(gamma == 1) and np.all(beta == 0):
        return diagnose_standardized(out, x, over=1, unit="example")
    if diagnose_standardized(out - beta, x, over=1, unit="example") is None:
        return "each row of out - beta has std 1: did you forget to scale by gamma?"
    if diagnose_standardized(out / gamma, x, over=1, unit="example") is None:
        return "each row of out / gamma has mean 0: did you forget to add beta?"
    return f"(after undoing gamma and beta) {diagnose_standardized(z, x, over=1, unit='example')}"


@task("layernorm_forward", "layers")
def _forward_steps(context):
    L = context.modules.layers
    x = ln_input()
    ones, zeros = np.ones(LN_D), np.zeros(LN_D)

    def per_example(gamma, beta):
        return lambda: ln_problem(L, x.copy(), gamma.copy(), beta.copy())

    def tiny_variance():
        xl = x.copy()
        z = np.random.default_rng(9).standard_normal(LN_D)
        xl[2] = -2.0 + 1e-3 * (z - z.mean()) / z.std()  # one example of std 1e-3
        return tiny_variance_problem(L.layernorm_forward, xl, {}, 1, "example")

    def independent():
        full, _ = forward(L.layernorm_forward, x.copy(), LN_GAMMA, LN_BETA, {})
        alone, _ = forward(L.layernorm_forward, x[1:2].copy(), LN_GAMMA, LN_BETA, {})
        if close(full[1:2], alone, rtol=1e-8, atol=1e-10):
            return None
        return (
            "the output for one example changed when it was normalized alone: layer norm must "
            "use only that example's own features, never the rest of the batch"
        )

    def mode_free():
        outs = [
            forward(L.layernorm_forward, x.copy(), LN_GAMMA, LN_BETA, param)[0]
            for param in ({}, {"mode": "train"}, {"mode": "test"})
        ]
        if all(close(o, outs[0], rtol=1e-10, atol=1e-12) for o in outs):
            return None
        return "the output depends on ln_param['mode']: layer norm is the same in train and test"

    return [
        Step("returns out with the shape of x, leaves x unchanged",
             lambda: shape_and_purity(L.layernorm_forward, x, {})),
        Step("gamma = 1, beta = 0: every example (row) has mean 0 and std 1",
             per_example(ones, zeros)),
        Step("every example is normalized, then scaled by gamma and shifted by beta",
             per_example(LN_GAMMA, LN_BETA)),
        Step("an example of std 1e-3 is scaled by 1 / sqrt(var + eps), eps inside",
             tiny_variance),
        Step("each example is normalized on its own, independent of the batch", independent),
        Step("train and test behave the same (ln_param's 'mode' is ignored)", mode_free),
    ]


def _ln_dx_hint(analytic, numeric, inputs, dout):
    row = np.abs(analytic.sum(axis=1))
    if np.any(row > 1e-6 * (1 + np.abs(analytic).sum(axis=1))):
        return (
            "Each row of dx should sum to zero (adding a constant to one example does not change "
            "its normalized values), yours does not: look at the path through the mean, which "
            "for layer norm is a mean over axis 1"
        )
    return "Check the path through the variance; the statistics are per row (axis 1) here"


@task("layernorm_backward", "layers")
def _backward_steps(context):
    L = context.modules.layers
    rng = np.random.default_rng(5)
    fixed = [2 * rng.standard_normal((4, 6)) - 1, rng.standard_normal(6) + 1,
             rng.standard_normal(6), {}]
    hints = {"dx": _ln_dx_hint, "dgamma": dgamma_hint, "dbeta": dbeta_hint}
    return backward_steps(L.layernorm_forward, L.layernorm_backward, lambda: copies(fixed),
                          ["dx", "dgamma", "dbeta"], hints,
                          forward_needs=(Need("layernorm_forward"),))
