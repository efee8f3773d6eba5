"""Self-checks of batch normalization: batchnorm_forward, batchnorm_backward and its _alt."""

from __future__ import annotations

import numpy as np

from .core import Need, Step, task
from .tools import (
    backward_steps,
    close,
    copies,
    diagnose_standardized,
    forward,
    gradient_error,
    num,
    require_shape,
    shape_and_purity,
    tiny_variance_problem,
    vec,
)

# Five features with very different means and spreads; gamma and beta far from 1 and 0.
BN_N, BN_D = 12, 5
BN_GAMMA = np.array([2.0, 0.5, 3.0, 1.5, 4.0])
BN_BETA = np.array([3.0, -1.0, 0.5, 10.0, -4.0])

#: What a check of another task needs of batchnorm_forward, by what it uses.
TRAIN, RUNNING, TEST = ("train",), ("running",), ("test",)


def bn_input(seed=0, n=BN_N, dtype=np.float64):
    rng = np.random.default_rng(seed)
    loc = np.array([5.0, -3.0, 0.0, 20.0, 1.0])
    spread = np.array([4.0, 0.5, 2.0, 10.0, 1.0])
    return (loc + spread * rng.standard_normal((n, BN_D))).astype(dtype)


def low_variance(x, column, std=1e-3, seed=0):
    """A copy of ``x`` whose ``column`` (axis 1) has exactly standard deviation ``std``."""
    z = np.random.default_rng(seed).standard_normal(x.shape[0])
    x = x.copy()
    x[:, column] = 2.0 + std * (z - z.mean()) / z.std()
    return x


def bn_train_problem(layers, x, gamma, beta):
    """None if batchnorm_forward's train-mode output is right for (x, gamma, beta), else why not."""
    out, _ = forward(layers.batchnorm_forward, x, gamma, beta, {"mode": "train"})
    require_shape("out", out, x.shape)
    mean, std = out.mean(axis=0), out.std(axis=0)
    if close(mean, beta) and close(std, np.abs(gamma)):
        return None
    if np.all(gamma == 1) and np.all(beta == 0):
        return diagnose_standardized(out, x, over=0, unit="feature")
    if close(std, np.ones_like(std)):
        return (
            f"output std is {num(std[0])} per feature but gamma is {num(gamma[0])}: did you "
            f"forget to scale by gamma?"
        )
    if close(mean, np.zeros_like(mean)) and close(std, np.abs(gamma)):
        return (
            f"output mean is {num(mean[0])} per feature but beta is {num(beta[0])}: did you "
            f"forget to add beta?"
        )
    if close(mean, gamma * beta) and close(std, np.abs(gamma)):
        return "the output mean is gamma * beta: add beta after scaling by gamma, not before"
    plain = diagnose_standardized((out - beta) / gamma, x, over=0, unit="feature")
    if plain:
        return f"(after undoing gamma and beta) {plain}"
    return (
        f"per feature the output has mean {vec(mean)} and std {vec(std)}; expected beta "
        f"{vec(beta)} and std gamma {vec(gamma)}"
    )


def _running_problem(L, x):
    """None if one train-mode call from zeros leaves 0.1 * the batch statistics, else why not."""
    x32 = x.astype(np.float32)
    bn_param = {"mode": "train"}
    L.batchnorm_forward(x32, BN_GAMMA.astype(np.float32), BN_BETA.astype(np.float32), bn_param)
    mean, var = x.mean(axis=0), x.var(axis=0)
    for key, stat in (("running_mean", mean), ("running_var", var)):
        if key not in bn_param:
            return (
                f"bn_param has no '{key}' after a train-mode call: store the updated "
                f"average back, bn_param['{key}'] = ..."
            )
        value = bn_param[key]
        got = np.shape(value)
        if got != (BN_D,):
            hint = ""
            if got == (1, BN_D):
                hint = " — use x.mean(axis=0) without keepdims"
                if key == "running_var":
                    hint = " — compute the variance over axis 0 without keepdims"
            return f"{key} has shape {got}; expected ({BN_D},){hint}"
        value = np.asarray(value, dtype=np.float64)
        if np.all(value == 0):
            return (
                f"{key} is still all zeros after a train-mode call: update it (momentum * "
                f"{key} + (1 - momentum) * batch statistic) and make sure the new value "
                f"ends up in bn_param"
            )
        if close(value, 0.1 * stat, rtol=1e-4, atol=1e-5):
            continue
        if close(value, 0.9 * stat, rtol=1e-4, atol=1e-5):
            return f"{key} is 0.9 * the batch value: momentum and 1 - momentum are swapped"
        if close(value, stat, rtol=1e-4, atol=1e-5):
            return (
                f"{key} equals the batch statistic: blend it into the old average, "
                f"momentum * {key} + (1 - momentum) * batch statistic"
            )
        if key == "running_var" and close(value, 0.1 * x.var(axis=0, ddof=1), rtol=1e-4):
            return "running_var uses the unbiased variance (ddof=1); use the 1/N variance"
        if key == "running_var" and close(value, 0.1 * x.std(axis=0), rtol=1e-4):
            return "running_var averages the standard deviation; average the variance"
        return (
            f"after one train-mode call from zeros with momentum 0.9, {key} should be 0.1 * "
            f"the batch statistic {vec(0.1 * stat)}, got {vec(value)}"
        )
    for key in ("running_mean", "running_var"):
        if np.asarray(bn_param[key]).dtype != x32.dtype:
            return (
                f"{key} has dtype {np.asarray(bn_param[key]).dtype} but x is float32: keep "
                f"the dtype of x"
            )
    return None


def _accumulate_problem(L, x):
    rng = np.random.default_rng(1)
    old_mean, old_var = rng.standard_normal(BN_D), rng.random(BN_D) + 0.5
    bn_param = {"mode": "train", "momentum": 0.5,
                "running_mean": old_mean.copy(), "running_var": old_var.copy()}
    L.batchnorm_forward(x.copy(), np.ones(BN_D), np.zeros(BN_D), bn_param)
    got = np.asarray(bn_param["running_mean"], dtype=np.float64)
    mean = np.mean(x, axis=0)
    if got.shape != mean.shape:
        return f"running_mean has shape {got.shape}; expected {mean.shape}"
    if close(got, 0.5 * old_mean + 0.5 * mean, rtol=1e-6, atol=1e-8):
        got_var = np.asarray(bn_param["running_var"], dtype=np.float64)
        if close(got_var, 0.5 * old_var + 0.5 * x.var(axis=0), rtol=1e-6, atol=1e-8):
            return None
        return "running_mean is updated right but running_var is not"
    if close(got, 0.9 * old_mean + 0.1 * mean, rtol=1e-6, atol=1e-8):
        return "bn_param['momentum'] = 0.5 was ignored: read it from bn_param (default 0.9)"
    if close(got, 0.5 * mean, rtol=1e-6, atol=1e-8):
        return (
            "the running_mean already in bn_param was ignored: start from "
            "bn_param['running_mean'] and update it"
        )
    return (
        "with momentum 0.5, running_mean should become the average of the old value and the "
        f"batch mean, {vec(0.5 * old_mean + 0.5 * mean)}; got {vec(got)}"
    )


def _test_mode_problem(L, x):
    rng = np.random.default_rng(2)
    rm, rv = 3 * rng.standard_normal(BN_D), rng.random(BN_D) + 0.5
    rv[1] = 1e-6  # a feature of tiny running variance: eps decides its scale
    bn_param = {"mode": "test", "running_mean": rm.copy(), "running_var": rv.copy()}
    xt = x[:4].copy()
    out, _ = forward(L.batchnorm_forward, xt, BN_GAMMA, BN_BETA, bn_param)
    require_shape("out", out, xt.shape)
    if not (np.array_equal(bn_param.get("running_mean"), rm)
            and np.array_equal(bn_param.get("running_var"), rv)):
        return "test mode changed bn_param's running averages: only train mode updates them"
    z = (out - BN_BETA) / BN_GAMMA  # what the layer did before scaling and shifting
    if close(z, (xt - rm) / np.sqrt(rv + 1e-5), rtol=1e-5, atol=1e-6):
        return None
    if close(z, (xt - rm) / (np.sqrt(rv) + 1e-5), rtol=1e-5, atol=1e-6):
        return (
            "test mode adds eps outside the square root, (x - running_mean) / "
            "(sqrt(running_var) + eps); it belongs inside, np.sqrt(running_var + eps) (a feature "
            "of running variance 1e-6 shows the difference)"
        )
    if close(z.mean(axis=0), np.zeros(BN_D)) and close(z.std(axis=0), np.ones(BN_D)):
        return (
            "test mode normalized with the minibatch's own mean and variance: use "
            "bn_param's running_mean and running_var instead"
        )
    return (
        "in test mode, x should be normalized with the running averages, "
        "(x - running_mean) / sqrt(running_var + eps), then scaled by gamma and shifted by "
        "beta; the output does not match that"
    )


@task("batchnorm_forward", "layers")
def _forward_steps(context):
    L = context.modules.layers
    x = bn_input()
    ones, zeros = np.ones(BN_D), np.zeros(BN_D)

    def dtype():
        x32 = x.astype(np.float32)
        out, _ = forward(L.batchnorm_forward, x32, ones.astype(np.float32),
                         zeros.astype(np.float32), {"mode": "train"})
        if out.dtype != x32.dtype:
            return f"out has dtype {out.dtype} but x is {x32.dtype}"
        return None

    def bad_mode():
        try:
            L.batchnorm_forward(x.copy(), ones, zeros, {"mode": "eval"})
        except ValueError:
            return None
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001
            return f"mode 'eval' raised {type(exc).__name__}; it should raise a ValueError"
        return "mode 'eval' was accepted silently; an unknown mode should raise a ValueError"

    return [
        Step("returns out with the shape of x, leaves x unchanged",
             lambda: shape_and_purity(L.batchnorm_forward, x, {"mode": "train"}), "train"),
        Step("keeps the dtype of x (float32 stays float32)", dtype, "dtype"),
        Step("train mode, gamma = 1, beta = 0: every feature has mean 0 and std 1",
             lambda: bn_train_problem(L, x.copy(), ones, zeros), "train"),
        Step("train mode: every feature has mean beta and std gamma",
             lambda: bn_train_problem(L, x.copy(), BN_GAMMA.copy(), BN_BETA.copy()), "train"),
        Step("train mode: a feature of std 1e-3 is scaled by 1 / sqrt(var + eps), eps inside",
             lambda: tiny_variance_problem(L.batchnorm_forward, low_variance(x, 1),
                                           {"mode": "train"}, 0, "feature"), "train"),
        Step("train mode: running averages written back to bn_param, shape (D,), dtype of x",
             lambda: _running_problem(L, x), "running"),
        Step("train mode: running averages start from bn_param's and use its momentum",
             lambda: _accumulate_problem(L, x), "running"),
        Step("test mode: normalizes with the running averages and leaves them unchanged",
             lambda: _test_mode_problem(L, x), "test"),
        Step("an unknown mode raises ValueError", bad_mode, "mode"),
    ]


# --------------------------------------------------------------------------------------------------
# The backward passes
# --------------------------------------------------------------------------------------------------


def dbeta_hint(analytic, numeric, inputs, dout):
    if close(analytic, dout.mean(axis=0), rtol=1e-6, atol=1e-9):
        return "Yours is the mean of dout over the batch; beta is added to every row, so sum"
    return "beta is added to every row of the output, so its gradient collects dout over the batch"


def dgamma_hint(analytic, numeric, inputs, dout):
    return "gamma multiplies the normalized input x_hat, so dgamma collects dout * x_hat over rows"


def _bn_dx_hint(analytic, numeric, inputs, dout):
    x, gamma = inputs[0], inputs[1]
    direct = dout * gamma / np.sqrt(x.var(axis=0) + 1e-5)
    if close(analytic, direct, rtol=1e-6, atol=1e-9):
        return (
            "Your dx only follows the direct path from x to x_hat; x also reaches the output "
            "through the batch mean and the batch variance"
        )
    col = np.abs(analytic.sum(axis=0))
    if np.any(col > 1e-6 * (1 + np.abs(analytic).sum(axis=0))):
        return (
            "Each column of dx should sum to zero (adding a constant to a feature does not change "
            "its normalized values), yours does not: look at the path through the mean"
        )
    return "The path through the variance is the usual suspect; check it node by node"


_BN_HINTS = {"dx": _bn_dx_hint, "dgamma": dgamma_hint, "dbeta": dbeta_hint}
_FORWARD = (Need("batchnorm_forward", TRAIN),)  # the gradient check differentiates it


@task("batchnorm_backward", "layers")
def _backward_check(context):
    L = context.modules.layers
    rng = np.random.default_rng(3)
    fixed = [2 * rng.standard_normal((6, 4)) + 3, rng.standard_normal(4) + 1,
             rng.standard_normal(4), {"mode": "train"}]
    return backward_steps(L.batchnorm_forward, L.batchnorm_backward, lambda: copies(fixed),
                          ["dx", "dgamma", "dbeta"], _BN_HINTS, forward_needs=_FORWARD)


@task("batchnorm_backward_alt", "layers")
def _backward_alt_check(context):
    L = context.modules.layers
    rng = np.random.default_rng(4)
    x = 3 * rng.standard_normal((7, 5)) - 1
    fixed = [x, rng.standard_normal(5) + 1, rng.standard_normal(5), {"mode": "train"}]
    steps = backward_steps(L.batchnorm_forward, L.batchnorm_backward_alt, lambda: copies(fixed),
                           ["dx", "dgamma", "dbeta"], _BN_HINTS, forward_needs=_FORWARD)

    def agrees_with_staged():
        args = copies(fixed)
        _, cache = L.batchnorm_forward(*args)
        dout = np.random.default_rng(8).standard_normal(args[0].shape)
        alt = L.batchnorm_backward_alt(dout.copy(), cache)
        try:
            staged = L.batchnorm_backward(dout.copy(), cache)
        except NotImplementedError:
            return (None, "skipped: batchnorm_backward is not implemented yet")
        except Exception as exc:  # noqa: BLE001
            return (None, f"skipped: batchnorm_backward failed ({type(exc).__name__}: {exc})")
        worst = 0.0
        for a, s in zip(alt, staged, strict=False):
            if a is None or s is None or np.shape(a) != np.shape(s):
                return (None, "skipped: batchnorm_backward's gradients are missing or misshaped")
            worst = max(worst, gradient_error(a, s, max(float(np.max(np.abs(s))), 1e-3)))
        if worst <= 1e-8:
            return None
        return (None, f"note: batchnorm_backward and batchnorm_backward_alt disagree (relative "
                      f"error {worst:.1e}); if the checks above pass, look at batchnorm_backward")

    steps.append(Step("agrees with batchnorm_backward", agrees_with_staged))
    return steps

