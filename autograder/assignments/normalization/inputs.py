"""The normalization assignment's inputs: the makers of fresh random inputs and the table of
hidden fixed cases.

A maker (`autograder.judging.checks.Maker`) draws one probe call's inputs from a generator. The
inputs are chosen to separate right from the classic mistakes: features with a tiny variance
(eps inside or outside the square root), odd batch sizes, float32, non-trivial gamma and beta,
non-zero running averages and a momentum other than the default. ``HIDDEN`` names the hidden
cases (id -> probe, maker); their inputs, drawn from ``HIDDEN_SEED`` and the case id, are stored
with the reference outputs in ``references.npz`` by ``python -m autograder.judging.references``.
"""

from __future__ import annotations

import zlib

import numpy as np

from autograder.judging.checks import Inputs, Maker

HIDDEN_SEED = 2310  # seed of the hidden fixed inputs (with each case's id mixed in)
NUMGRAD_H = 1e-5  # step of the numerical gradients (input ``h`` of a probe)



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


def _finish(rng, inputs, numeric, dout_shape=None) -> Inputs:
    """``inputs`` with, last, an upstream gradient ``dout`` of ``dout_shape`` (if given) and, if
    ``numeric``, the step ``h`` of the numerical gradients."""
    if dout_shape is not None:
        inputs["dout"] = rng.standard_normal(dout_shape)
    if numeric:
        inputs["h"] = np.array(NUMGRAD_H)
    return inputs


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
        inputs = {"x": _features(rng, n, d, lows), "gamma": gamma, "beta": beta}
        return _finish(rng, inputs, numeric, (n, d))

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
        return _finish(rng, inputs, numeric, inputs["x"].shape)

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
        return _finish(rng, inputs, numeric, shape if dout else None)

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
        return _finish(rng, inputs, numeric, shape if dout else None)

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
        return _finish(rng, inputs, numeric, (n, m) if dout else None)

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
        return _finish(rng, inputs, numeric)

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
        if not backward:
            inputs["xtest"] = _features(rng, 3, d)
        return _finish(rng, inputs, numeric, (n, d) if backward else None)

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
        return _finish(rng, inputs, numeric)

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
