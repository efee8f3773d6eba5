# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/parity.py by `make stubs`; edit the solution.
"""Our batch norm next to PyTorch's and Keras's on the same batches (the KerasMNIST notebook).

This module is given code: nothing here is part of the assignment. It runs the batch-norm layer of
this package (``layers.batchnorm_forward`` / ``batchnorm_backward``, your code in the student
kit) and the two frameworks' layers on the same float64 batches, and measures how far apart they
are: the training-mode outputs, the gradients, the running averages and the test-mode outputs.
Each framework is run twice:

* **converted**: given our numbers translated into its conventions (``framework.py``: PyTorch's
  momentum is one minus ours and it averages the unbiased variance; Keras takes our momentum and
  eps as they are, and its moving averages must start where ours do);
* **naive**: PyTorch given our momentum and eps unchanged, Keras with its own defaults
  (momentum 0.99, epsilon 1e-3), both starting their running variance at ones.

Both frameworks are optional. :func:`import_torch` and :func:`import_keras` return None (with a
line saying why) when one is missing, or when ``NORMLAB_NO_TORCH=1`` / ``NORMLAB_NO_KERAS=1`` is
set to behave as if it were. Keras 3 runs on TensorFlow, JAX or PyTorch; when ``KERAS_BACKEND``
is not set (and no ``keras.json`` names one) :func:`import_keras` picks the first of those that
is installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np

from .framework import keras_batchnorm_from_normlab, torch_momentum_from_normlab, torch_running_var
from .layers import batchnorm_backward, batchnorm_forward

NO_TORCH = "NORMLAB_NO_TORCH"
NO_KERAS = "NORMLAB_NO_KERAS"
#: Keras backends in the order import_keras tries them when none is configured.
KERAS_BACKENDS = ("tensorflow", "jax", "torch")

#: Largest difference counted as agreement: PyTorch computes in float64; Keras's batch norm
#: computes in float32 even on float64 inputs (it upcasts "at least to float32", and its dtype
#: promotion turns float64 with float32 into float32), so it agrees to float32 rounding only.
TOLERANCE = {"PyTorch": 1e-10, "Keras": 1e-5}

#: The rows of the parity table, in order: what is compared.
ROWS = ("out", "dx", "dgamma", "dbeta", "running_mean", "running_var", "out (test mode)")


def _switched_off(variable):
    return os.environ.get(variable, "0") not in ("", "0")


def import_torch():
    """Return (torch or None, one line saying which PyTorch runs or why none does)."""
    if _switched_off(NO_TORCH):
        return None, f"PyTorch: not used, because {NO_TORCH} is set."
    try:
        import torch
    except Exception as exc:  # not installed, or an installation that cannot be loaded
        return None, f"PyTorch is not available ({type(exc).__name__}: {exc})."
    return torch, f"PyTorch {torch.__version__}"


def _configured_backend():
    """The backend named by KERAS_BACKEND, or by a keras.json if that backend is installed.

    (Keras writes a keras.json naming TensorFlow the first time it is imported, so a keras.json
    alone does not mean anyone chose TensorFlow.)"""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    try:
        named = json.loads((home / "keras.json").read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return named if named and importlib.util.find_spec(named) is not None else None


def choose_keras_backend():
    """The backend Keras will run on: the configured one (see `_configured_backend`), else the
    first installed of ``KERAS_BACKENDS``, which is then put into ``KERAS_BACKEND`` (Keras's own
    default, TensorFlow, fails when TensorFlow is missing). None when none is installed."""
    configured = _configured_backend()
    if configured is not None:
        return configured
    for name in KERAS_BACKENDS:
        if importlib.util.find_spec(name) is not None:
            os.environ["KERAS_BACKEND"] = name
            return name
    return None


def import_keras():
    """Return (keras or None, one line saying which Keras and backend run, or why none does).

    Needs Keras 3; the backend is chosen by `choose_keras_backend` before the import.
    """
    if _switched_off(NO_KERAS):
        return None, f"Keras: not used, because {NO_KERAS} is set."
    choose_keras_backend()
    try:
        import keras
    except Exception as exc:  # not installed, no backend, or a broken installation
        return None, f"Keras is not available ({type(exc).__name__}: {exc})."
    if int(keras.__version__.split(".")[0]) < 3:
        return None, f"Keras {keras.__version__} is too old: these cells need Keras 3."
    return keras, f"Keras {keras.__version__} on the {keras.backend.backend()} backend"


# --------------------------------------------------------------------------------------------------
# The batches, and our layer on them
# --------------------------------------------------------------------------------------------------


def parity_data(N=8, D=5, steps=20, seed=0):
    """The shared inputs: ``steps`` float64 training batches (N, D), gamma and beta (D,), the
    upstream gradient of the last batch (N, D) and a test batch (N, D).

    Each feature has its own mean and spread; feature 0 has a variance (about 2e-4) below Keras's
    default epsilon, so that an unconverted eps shows. Its mean is 0: Keras computes the batch
    variance in float32 as E[x^2] - E[x]^2, which on a tiny variance under a large mean loses
    most of its digits (a float32 precision effect, not a convention; with a mean of 3 it
    already costs about 2e-3 in the outputs).
    """
    rng = np.random.default_rng(seed)
    loc, spread = rng.uniform(-3, 3, D), rng.uniform(0.5, 3.0, D)
    loc[0], spread[0] = 0.0, 0.015
    return {"batches": [rng.normal(loc, spread, size=(N, D)) for _ in range(steps)],
            "gamma": rng.uniform(0.5, 2.0, D), "beta": rng.normal(0.0, 1.0, D),
            "dout": rng.standard_normal((N, D)), "x_test": rng.normal(loc, spread, size=(N, D))}


def run_ours(data, momentum=0.9, eps=1e-5):
    """Our layer on ``data``: every batch in train mode, the backward pass of the last one, then
    the test batch in test mode. Returns the arrays of ROWS (``out`` stacked: (steps, N, D))."""
    bn_param = {"mode": "train", "momentum": momentum, "eps": eps}
    gamma, beta = data["gamma"], data["beta"]
    outs = []
    for x in data["batches"]:
        out, cache = batchnorm_forward(x, gamma, beta, bn_param)
        outs.append(out)
    dx, dgamma, dbeta = batchnorm_backward(data["dout"], cache)
    result = {"out": np.stack(outs), "dx": dx, "dgamma": dgamma, "dbeta": dbeta,
              "running_mean": bn_param["running_mean"], "running_var": bn_param["running_var"]}
    result["out (test mode)"] = test_mode(data, result["running_mean"], result["running_var"],
                                          eps)
    return result


def test_mode(data, running_mean, running_var, eps):
    """Our batchnorm_forward in test mode on the test batch with these running averages."""
    bn_param = {"mode": "test", "eps": eps, "running_mean": np.array(running_mean, dtype=float),
                "running_var": np.array(running_var, dtype=float)}
    return batchnorm_forward(data["x_test"], data["gamma"], data["beta"], bn_param)[0]


# --------------------------------------------------------------------------------------------------
# The frameworks
# --------------------------------------------------------------------------------------------------


def run_torch(torch, data, momentum, eps, start_var):
    """PyTorch's ``F.batch_norm`` on ``data`` with ITS momentum, running mean starting at zeros
    and running variance at ``start_var``. Returns the arrays of ROWS, the running averages as
    PyTorch keeps them and the test batch normalized with them."""
    import torch.nn.functional as F

    D = data["gamma"].shape[0]
    running_mean = torch.zeros(D, dtype=torch.float64)
    running_var = torch.full((D,), float(start_var), dtype=torch.float64)
    weight = torch.tensor(data["gamma"], requires_grad=True)
    bias = torch.tensor(data["beta"], requires_grad=True)
    outs = []
    for x in data["batches"]:
        x_t = torch.tensor(x, requires_grad=True)
        out_t = F.batch_norm(x_t, running_mean, running_var, weight, bias, training=True,
                             momentum=float(momentum), eps=eps)
        outs.append(out_t.detach().numpy())
    out_t.backward(torch.from_numpy(data["dout"]))
    test = F.batch_norm(torch.from_numpy(data["x_test"]), running_mean, running_var,
                        weight.detach(), bias.detach(), training=False, eps=eps)
    return {"out": np.stack(outs), "dx": x_t.grad.numpy(), "dgamma": weight.grad.numpy(),
            "dbeta": bias.grad.numpy(), "running_mean": running_mean.numpy(),
            "running_var": running_var.numpy(), "out (test mode)": test.numpy()}


def _keras_step_with_gradients(keras, layer, x, dout):
    """One training-mode call of ``layer`` on x (N, D) and the gradients of sum(out * dout)
    with respect to x, gamma and beta, on whichever backend Keras runs: (out, dx, dgamma, dbeta)
    as numpy arrays. The call updates the layer's moving averages, as a training step does."""
    backend = keras.backend.backend()
    to_numpy = keras.ops.convert_to_numpy
    if backend == "torch":
        import torch

        x_t = torch.tensor(x, requires_grad=True)
        out = layer(x_t, training=True)
        out.backward(torch.from_numpy(dout).to(out.dtype))
        grads = (x_t.grad, layer.gamma.value.grad, layer.beta.value.grad)
    elif backend == "tensorflow":
        import tensorflow as tf

        x_t = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x_t)
            out = layer(x_t, training=True)
            loss = tf.reduce_sum(out * tf.constant(dout, dtype=out.dtype))
        grads = tape.gradient(loss, [x_t, layer.gamma.value, layer.beta.value])
    elif backend == "jax":
        import jax

        frozen = [v.value for v in layer.non_trainable_variables]

        def call(x_in, gamma, beta):
            return layer.stateless_call([gamma, beta], frozen, x_in, training=True)

        out, pullback, updated = jax.vjp(call, x, layer.gamma.value, layer.beta.value,
                                         has_aux=True)
        grads = pullback(np.asarray(dout, dtype=out.dtype))
        for variable, value in zip(layer.non_trainable_variables, updated, strict=True):
            variable.assign(value)
    else:
        raise NotImplementedError(f"no gradients for the Keras backend {backend!r}")
    return (to_numpy(out), *(to_numpy(g) for g in grads))


def run_keras(keras, data, config, weights=None):
    """``keras.layers.BatchNormalization(**config)`` (float64 variables) on ``data``; with
    ``weights`` ([gamma, beta, moving_mean, moving_variance]) set first, else Keras's own start
    (moving variance at ones) with our gamma and beta. Returns the arrays of ROWS."""
    to_numpy = keras.ops.convert_to_numpy
    D = data["gamma"].shape[0]
    layer = keras.layers.BatchNormalization(dtype="float64", **config)
    layer.build((None, D))
    if weights is None:
        weights = [data["gamma"], data["beta"], np.zeros(D), np.ones(D)]
    layer.set_weights([np.asarray(w, dtype=np.float64) for w in weights])
    outs = [to_numpy(layer(x, training=True)) for x in data["batches"][:-1]]
    last, dx, dgamma, dbeta = _keras_step_with_gradients(keras, layer, data["batches"][-1],
                                                         data["dout"])
    return {"out": np.stack([*outs, last]), "dx": dx, "dgamma": dgamma, "dbeta": dbeta,
            "running_mean": to_numpy(layer.moving_mean),
            "running_var": to_numpy(layer.moving_variance),
            "out (test mode)": to_numpy(layer(data["x_test"], training=False))}


# --------------------------------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------------------------------


def _max_diff(ours, theirs):
    """max |ours - theirs| / max |ours|: the largest difference relative to the quantity's size
    (so that rows of different sizes, and float32 rounding, read the same); inf if the shapes
    differ."""
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(a))), 1e-12))


def _compare(want, got):
    """{row: max difference} of two results over `ROWS`."""
    return {r: _max_diff(want[r], got[r]) for r in ROWS}


def three_way_parity(torch=None, keras=None, momentum=0.9, eps=1e-5, **data_args):
    """The relative difference (max |ours - framework| / max |ours|) of every row of ROWS,
    converted and naive, for each framework given.

    Inputs:
    - torch, keras: the imported modules, or None to leave that framework out.
    - momentum, eps: our batch-norm settings (``bn_param``).
    - data_args: passed to :func:`parity_data` (N, D, steps, seed).

    Returns a dict: column name -> {row: difference}, with columns "PyTorch, converted",
    "PyTorch, naive", "Keras, converted", "Keras, naive" for the frameworks given. The running
    variance of PyTorch is compared in its own convention: with the one ``torch_running_var``
    predicts from the same batches when converted, with ours when naive. In test mode the
    converted columns compare the framework's inference output with ours given the framework's
    running averages as they are (what porting a trained layer does: its statistics are copied,
    not converted); the naive ones with ours on our own running averages.
    """
    data = parity_data(**data_args)
    N, D = data["batches"][0].shape
    ours = run_ours(data, momentum, eps)
    columns = {}
    if torch is not None:
        predicted = np.zeros(D)
        for x in data["batches"]:
            predicted = torch_running_var(predicted, x.var(axis=0), N, momentum)
        converted = run_torch(torch, data, torch_momentum_from_normlab(momentum), eps, 0.0)
        want = dict(ours, running_var=predicted)
        want["out (test mode)"] = test_mode(data, converted["running_mean"],
                                            converted["running_var"], eps)
        columns["PyTorch, converted"] = _compare(want, converted)
        naive = run_torch(torch, data, momentum, eps, 1.0)
        columns["PyTorch, naive"] = _compare(ours, naive)
    if keras is not None:
        config, weights = keras_batchnorm_from_normlab(data["gamma"], data["beta"],
                                                       {"momentum": momentum, "eps": eps})
        converted = run_keras(keras, data, config, weights)
        want = dict(ours)
        want["out (test mode)"] = test_mode(data, converted["running_mean"],
                                            converted["running_var"], eps)
        columns["Keras, converted"] = _compare(want, converted)
        naive = run_keras(keras, data, {})
        columns["Keras, naive"] = _compare(ours, naive)
    return columns


def parity_table(columns):
    """The columns of :func:`three_way_parity` as a text table, one row per quantity, followed by
    one line per converted column saying whether it agrees (within TOLERANCE)."""
    if not columns:
        return "No framework to compare with."
    width = max(len(name) for name in columns) + 2
    lines = [f"{'max|ours - it|/max|ours|':<24}" + "".join(f"{n:>{width}}" for n in columns)]
    for row in ROWS:
        lines.append(f"{row:<24}" + "".join(f"{c[row]:>{width}.2e}" for c in columns.values()))
    lines.append("")
    for name, column in columns.items():
        framework, kind = name.split(", ")
        if kind != "converted":
            continue
        tol = TOLERANCE[framework]
        bad = [row for row in ROWS if not column[row] <= tol]
        lines.append(f"{framework}: all {len(ROWS)} rows agree within {tol:g} after the conversion."
                     if not bad else
                     f"{framework}: MISMATCH after the conversion in {', '.join(bad)} (more than "
                     f"{tol:g}): check your conversions and your batchnorm_forward/backward.")
    return "\n".join(lines)
