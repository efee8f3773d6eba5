# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/selfcheck/conv.py by `make stubs`; edit the solution.
"""Self-checks of the convolutional normalizations: spatial batch norm and group norm.

Spatial batch norm is judged twice: against your own batchnorm_forward / backward applied to the
rearranged input (which judges only the rearrangement, whatever batchnorm_forward does), and by
the statistics of its output and numerical gradients (which need batchnorm_forward right).
"""

from __future__ import annotations

import numpy as np

from .batchnorm import RUNNING, TRAIN
from .core import Need, Own, Step, task
from .tools import backward_steps, close, copies, eps_problem, forward, require_shape, same, vec


def feature_maps(shape, seed):
    rng = np.random.default_rng(seed)
    N, C, H, W = shape
    loc = np.linspace(-5, 10, C)[None, :, None, None]
    spread = np.linspace(0.5, 4, C)[None, :, None, None]
    return loc + spread * rng.standard_normal(shape)


def _to_rows(a):
    """(N, C, H, W) -> (N * H * W, C), each channel a column: what batch norm normalizes."""
    return a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1])


def _from_rows(rows, shape):
    N, C, H, W = shape
    return rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)


_TRANSPOSE_HINT = (
    "Each channel is normalized over N, H and W together: move the channel axis last "
    "(transpose(0, 2, 3, 1)) before reshaping to (N * H * W, C), and undo both afterwards"
)


@task("spatial_batchnorm", "layers",
      owned=("spatial_batchnorm_forward", "spatial_batchnorm_backward"))
def _spatial_steps(context):
    L = context.modules.layers
    shape = (3, 4, 3, 2)
    C = shape[1]
    x = feature_maps(shape, 10)
    gamma, beta = np.array([2.0, 0.5, 3.0, 1.5]), np.array([3.0, -1.0, 0.5, 10.0])

    def uses_forward():
        return [L.spatial_batchnorm_forward]

    forward_needs = (Need("batchnorm_forward", TRAIN, uses_forward),)
    state = {}

    def as_batchnorm():
        out, _ = forward(L.spatial_batchnorm_forward, x.copy(), gamma, beta, {"mode": "train"})
        require_shape("out", out, shape)
        right = close(out.mean(axis=(0, 2, 3)), beta) and close(out.std(axis=(0, 2, 3)), gamma)
        bn = L.batchnorm_forward
        try:
            want = _from_rows(bn(_to_rows(x), gamma, beta, {"mode": "train"})[0], shape)
        except NotImplementedError:
            if right:  # written without batchnorm_forward, and right
                return None
            raise
        if same(out, want):
            return None
        if same(out, bn(x.reshape(-1, C), gamma, beta, {"mode": "train"})[0].reshape(shape)):
            state["forward"] = Own(f"out is your batchnorm_forward of x.reshape(-1, C), which "
                                   f"mixes channels and pixels. {_TRANSPOSE_HINT}")
        elif same(out, bn(_to_rows(x), gamma, beta, {"mode": "train"})[0].reshape(shape)):
            state["forward"] = Own(
                "the input is rearranged right but the output is not put back: reshape to "
                "(N, H, W, C), then transpose(0, 3, 1, 2)")
        elif right:
            return None  # written without batchnorm_forward, and right
        else:
            state["forward"] = (
                "out differs from your batchnorm_forward applied to x.transpose(0, 2, 3, 1)"
                f".reshape(-1, C) and put back. {_TRANSPOSE_HINT}")
        return state["forward"]

    def statistics():
        out, _ = forward(L.spatial_batchnorm_forward, x.copy(), gamma, beta, {"mode": "train"})
        mean, std = out.mean(axis=(0, 2, 3)), out.std(axis=(0, 2, 3))
        if close(mean, beta) and close(std, gamma):
            return None
        text = (f"per channel the output has mean {vec(mean)} and std {vec(std)}; expected beta "
                f"{vec(beta)} and gamma {vec(gamma)}")
        return text if "forward" in state else f"{text}. {_TRANSPOSE_HINT}"

    def tiny_variance():
        xl = x.copy()
        z = np.random.default_rng(13).standard_normal(xl[:, 1].shape)
        xl[:, 1] = 1.0 + 1e-3 * (z - z.mean()) / z.std()  # channel 1 has std 1e-3
        train = {"mode": "train"}
        out, _ = forward(L.spatial_batchnorm_forward, xl, np.ones(C), np.zeros(C), train)
        return eps_problem(out.std(axis=(0, 2, 3)), xl.var(axis=(0, 2, 3)), 1e-5, "channel")

    def running_stats():
        bn_param = {"mode": "train"}
        L.spatial_batchnorm_forward(x.copy(), gamma, beta, bn_param)
        for key, stat in (("running_mean", x.mean(axis=(0, 2, 3))),
                          ("running_var", x.var(axis=(0, 2, 3)))):
            if key not in bn_param:
                return f"bn_param has no '{key}' after a train-mode call"
            if np.shape(bn_param[key]) != (C,):
                return f"{key} has shape {np.shape(bn_param[key])}; expected ({C},)"
            if not close(bn_param[key], 0.1 * stat, rtol=1e-6):
                return f"{key} is not 0.1 * the per-channel statistic after one call from zeros"
        return None

    rng = np.random.default_rng(11)
    small_shape = (2, 3, 2, 2)
    small = [feature_maps(small_shape, 12), rng.standard_normal(3) + 1,
             rng.standard_normal(3), {"mode": "train"}]

    def backward_as_batchnorm():
        _, cache = L.spatial_batchnorm_forward(*copies(small))
        dout = np.random.default_rng(14).standard_normal(small_shape)
        got = L.spatial_batchnorm_backward(dout.copy(), cache)
        if not isinstance(got, tuple) or len(got) != 3:
            return None  # the gradient steps below say what is wrong
        tried = []
        for name in ("batchnorm_backward_alt", "batchnorm_backward"):
            try:
                dx, dgamma, dbeta = getattr(L, name)(_to_rows(dout), cache)
                want = (_from_rows(np.asarray(dx), small_shape), dgamma, dbeta)
                if all(same(g, w) for g, w in zip(got, want, strict=True)):
                    return None
                flat = getattr(L, name)(dout.reshape(-1, 3), cache)[0]
                if same(got[0], np.asarray(flat).reshape(small_shape)):
                    return Own(f"dx is your {name} of dout.reshape(-1, C), without the "
                               f"transpose the forward pass made: rearrange dout like x, "
                               f"transpose(0, 2, 3, 1) then reshape, and undo both for dx")
                tried.append(name)
            except Exception:  # noqa: BLE001 - the cache is not batch norm's: compare nothing
                continue
        if tried:
            return (None, f"note: the gradients differ from your {tried[0]} of the rearranged "
                          f"dout; the numerical check below decides")
        return (None, "skipped: the cache is not one batchnorm_backward takes, so only the "
                      "numerical check below judges the backward pass")

    steps = [
        Step("train mode: out is your batchnorm_forward of each channel over N, H and W",
             as_batchnorm, needs=forward_needs),
        Step("train mode: every channel has mean beta and std gamma", statistics,
             needs=forward_needs),
        Step("train mode: a channel of std 1e-3 is scaled by 1 / sqrt(var + eps)", tiny_variance,
             needs=forward_needs),
        Step("running averages per channel, shape (C,)", running_stats,
             needs=(Need("batchnorm_forward", RUNNING, uses_forward),)),
        Step("backward: your batchnorm backward pass of the rearranged dout, put back",
             backward_as_batchnorm),
    ]

    def uses_backward():
        return [L.spatial_batchnorm_backward]

    steps += backward_steps(
        L.spatial_batchnorm_forward, L.spatial_batchnorm_backward, lambda: copies(small),
        ["dx", "dgamma", "dbeta"], {}, forward_needs=forward_needs,
        backward_needs=(Need("batchnorm_backward_alt", via=uses_backward),
                        Need("batchnorm_backward", via=uses_backward)),
        precondition=lambda: state.get("forward") if isinstance(state.get("forward"), Own)
        else None,
    )
    return steps


@task("groupnorm", "layers", owned=("spatial_groupnorm_forward", "spatial_groupnorm_backward"))
def _groupnorm_steps(context):
    L = context.modules.layers
    shape, G = (2, 6, 2, 3), 3
    N, C = shape[:2]
    x = feature_maps(shape, 20)
    rng = np.random.default_rng(21)
    gamma = (rng.random(C) + 0.5).reshape(1, C, 1, 1)
    beta = rng.standard_normal(C).reshape(1, C, 1, 1)

    def forward_problem():
        out, _ = forward(L.spatial_groupnorm_forward, x.copy(), gamma, beta, G, {})
        require_shape("out", out, shape)
        z = ((out - beta) / gamma).reshape(N, G, -1)
        mean, std = z.mean(axis=2), z.std(axis=2)
        if close(mean, np.zeros_like(mean)) and close(std, np.ones_like(std)):
            return None
        return (
            f"with gamma and beta undone, each (example, group) should have mean 0 and std 1; "
            f"got means {vec(mean)} and stds {vec(std)}. A group is C // G consecutive "
            f"channels of one example with all their pixels: reshape x to (N, G, -1) and "
            f"normalize over the last axis"
        )

    def gamma_shape():
        out, _ = forward(L.spatial_groupnorm_forward, x.copy(), gamma, beta, G, {})
        if out.shape != shape:
            return f"out has shape {out.shape}; expected {shape}"
        return None

    def tiny_variance():
        xl = x.copy()
        z = np.random.default_rng(23).standard_normal(xl[1, 2:4].shape)
        xl[1, 2:4] = 3.0 + 1e-3 * (z - z.mean()) / z.std()  # example 1, group 1: std 1e-3
        ones, zeros = np.ones((1, C, 1, 1)), np.zeros((1, C, 1, 1))
        out, _ = forward(L.spatial_groupnorm_forward, xl, ones, zeros, G, {})
        groups = xl.reshape(N, G, -1)
        return eps_problem(out.reshape(N, G, -1).std(axis=2), groups.var(axis=2), 1e-5, "group")

    small_gamma = (rng.random(4) + 0.5).reshape(1, 4, 1, 1)
    small = [feature_maps((2, 4, 2, 2), 22), small_gamma,
             rng.standard_normal(4).reshape(1, 4, 1, 1)]

    def forward_fn(x_, gamma_, beta_):
        return L.spatial_groupnorm_forward(x_, gamma_, beta_, 2, {})

    def backward(dout, cache):
        return L.spatial_groupnorm_backward(dout, cache)

    forward_fn.__name__ = "spatial_groupnorm_forward"
    backward.__name__ = "spatial_groupnorm_backward"
    steps = [
        Step("out has the shape of x (gamma and beta have shape (1, C, 1, 1))", gamma_shape),
        Step("every group of channels of every example has mean 0 and std 1 before gamma, beta",
             forward_problem),
        Step("a group of std 1e-3 is scaled by 1 / sqrt(var + eps), eps inside", tiny_variance),
    ]
    steps += backward_steps(forward_fn, backward, lambda: copies(small), ["dx", "dgamma", "dbeta"],
                            {}, precondition=forward_problem)
    return steps
