"""Probes of the object API (nn.py: layers with params/grads dicts, a Model) and of the
framework conversions (framework.py: PyTorch's and Keras's batch-norm conventions). Runs
inside the sandboxed child (see `probes`).
"""

import numpy as np

from .collect import (
    ProbeError,
    _arr,
    _collect,
    _note,
    _param,
    _perturbed,
    _projection,
    _scalar,
    _what,
)

# --------------------------------------------------------------------------------------------------
# The object API (nn.py): layers with params/grads dicts, a Model with calculate_loss/backward
# --------------------------------------------------------------------------------------------------

def _dict_attr(obj, attr, where):
    value = getattr(obj, attr, None)
    if not isinstance(value, dict):
        raise ProbeError(f"{where}.{attr} should be a dict, got {_what(value)}")
    return value


def _collect_grads(result, layer, where, prefix, keys):
    """``<prefix><key>`` from ``layer.grads[key]`` for each key, with a note when missing."""
    grads = _dict_attr(layer, "grads", where)
    for key in keys:
        if key in grads:
            _collect(result, prefix + key, grads[key], f"{where}.grads['{key}']")
        else:
            _note(result, prefix + key, f"{where}.grads has no '{key}' after backward: store "
                                        f"the gradient of {key} in self.grads['{key}']")


#: nn's normalization layers, by the input ``norm`` of the nn probes (0 or 1).
NN_NORMS = ("BatchNorm", "LayerNorm")


def _nn_norm_layer(pkg, inputs):
    """``nn.BatchNorm`` (input ``norm`` 0) or ``nn.LayerNorm`` (1) of x's width, with a fused
    ReLU when ``relu`` is 1 and gamma/beta set from the inputs; returns (kind, layer)."""
    kind = NN_NORMS[_scalar(inputs, "norm", int)]
    relu = bool(_scalar(inputs, "relu", int))
    settings = _param(inputs, ("eps", "momentum") if kind == "BatchNorm" else ("eps",))
    layer = getattr(pkg.nn, kind)(np.shape(inputs["x"])[1], activation="relu" if relu else None,
                                  **settings)
    params = _dict_attr(layer, "params", kind)
    params["gamma"], params["beta"] = _arr(inputs, "gamma"), _arr(inputs, "beta")
    return kind, layer


def probe_nn_norm_forward(pkg, inputs):
    """``out`` of the layer's forward(x, 'train'); with ``xtest``, ``out_test`` of a test-mode
    forward after it (batch norm: with the running averages of that one training call)."""
    kind, layer = _nn_norm_layer(pkg, inputs)
    result = {}
    _collect(result, "out", layer.forward(_arr(inputs, "x"), "train"), f"{kind}.forward")
    if "xtest" in inputs:
        _collect(result, "out_test", layer.forward(_arr(inputs, "xtest"), "test"),
                 f"{kind}.forward (test mode)")
    return result


def probe_nn_norm_backward(pkg, inputs):
    """forward(x, 'train') then backward(dout): ``dx`` and ``dgamma``/``dbeta`` from the
    layer's grads; with ``h``, the perturbed projections of the train-mode forward for x, gamma
    and beta."""
    kind, layer = _nn_norm_layer(pkg, inputs)
    result = {}
    layer.forward(_arr(inputs, "x"), "train")
    _collect(result, "dx", layer.backward(_arr(inputs, "dout")), f"{kind}.backward")
    _collect_grads(result, layer, kind, "d", ("gamma", "beta"))
    if "h" in inputs:
        dout = np.asarray(inputs["dout"], dtype=np.float64)
        arrays = {"x": _arr(inputs, "x"), "gamma": _arr(inputs, "gamma"),
                  "beta": _arr(inputs, "beta")}
        params = _dict_attr(layer, "params", kind)
        params["gamma"], params["beta"] = arrays["gamma"], arrays["beta"]

        def f():
            return _projection(layer.forward(arrays["x"], "train"), dout)

        _perturbed(f, arrays, ("x", "gamma", "beta"), _scalar(inputs, "h"), result)
    return result


def _nn_model(pkg, inputs, backward):
    """A ``nn.Model`` of ``dims`` = [d0, d1, d2, C]: Dense fc1 - BatchNorm bn1 (relu) - [Dropout
    drop1 with keep probability ``keep`` and ``seed``] - Dense fc2 - LayerNorm ln2 (relu) - Dense
    scores, with softmax_loss, its parameters set from ``p__<layer>__<param>``. Collects ``loss``
    of calculate_loss(forward(X, 'train'), y, reg); with ``backward``, also ``dX`` of
    backward(dscores) and ``grad__<layer>__<param>`` from every layer's grads, and with ``h``
    the perturbed losses ``plus__``/``minus__<layer>__<param>`` and ``plus__X``/``minus__X``."""
    nn = pkg.nn
    d0, d1, d2, C = (int(d) for d in np.asarray(inputs["dims"]).ravel())
    layers = [("fc1", nn.Dense(d0, d1)), ("bn1", nn.BatchNorm(d1, activation="relu"))]
    if "keep" in inputs:
        layers.append(("drop1", nn.Dropout(_scalar(inputs, "keep"),
                                           seed=_scalar(inputs, "seed", int))))
    layers += [("fc2", nn.Dense(d1, d2)), ("ln2", nn.LayerNorm(d2, activation="relu")),
               ("scores", nn.Dense(d2, C))]
    model = nn.Model()
    for name, layer in layers:
        model.add(layer, name)
    model.add_loss(pkg.layers.softmax_loss)
    arrays = {}
    for name, layer in layers:
        params = _dict_attr(layer, "params", name)
        for key in sorted(params):
            if f"p__{name}__{key}" in inputs:
                params[key] = arrays[f"{name}__{key}"] = _arr(inputs, f"p__{name}__{key}")
    X, y, reg = _arr(inputs, "X"), np.asarray(inputs["y"]).astype(np.int64), _scalar(inputs, "reg")

    def loss_of(X):
        value = model.calculate_loss(model.forward(X, "train"), y, reg)
        if not isinstance(value, tuple) or len(value) != 3:
            raise ProbeError(f"Model.calculate_loss should return (loss, dscores, extra), as "
                             f"its given last line does; got {_what(value)}")
        return value

    result = {}
    loss, dscores, _ = loss_of(X)
    _collect(result, "loss", loss, "Model.calculate_loss")
    if not backward:
        return result
    _collect(result, "dX", model.backward(dscores), "Model.backward")
    for name, layer in layers:
        _collect_grads(result, layer, name, f"grad__{name}__", sorted(layer.params))
    if "h" in inputs:
        arrays["X"] = X

        def f():
            try:
                return float(loss_of(X)[0])
            except (TypeError, ValueError):
                return float("nan")

        _perturbed(f, arrays, sorted(arrays), _scalar(inputs, "h"), result)
    return result


def probe_nn_model_loss(pkg, inputs):
    """The model's ``loss`` only (see `_nn_model`)."""
    return _nn_model(pkg, inputs, backward=False)


def probe_nn_model(pkg, inputs):
    """The model's ``loss``, ``dX`` and ``grad__<layer>__<param>`` (see `_nn_model`)."""
    return _nn_model(pkg, inputs, backward=True)


# --------------------------------------------------------------------------------------------------
# Framework conventions (framework.py): our batch-norm conventions converted to PyTorch's
# --------------------------------------------------------------------------------------------------


def probe_torch_momentum(pkg, inputs):
    """``torch_momentum``: torch_momentum_from_normlab(m) for each m of ``momenta``, called one
    at a time with a Python float; ``torch_momentum_array``: one call on the whole array."""
    f = pkg.framework.torch_momentum_from_normlab
    result = {}
    values = []
    for m in np.asarray(inputs["momenta"], dtype=np.float64).ravel():
        value = f(float(m))
        try:
            number = float(value) if np.ndim(value) == 0 else None
        except Exception:  # noqa: BLE001 - the student's object may raise anything
            number = None
        if number is None:
            _note(result, "torch_momentum", f"torch_momentum_from_normlab({float(m)}) gave "
                                            f"{_what(value)}, not a single number")
            break
        values.append(number)
    else:
        _collect(result, "torch_momentum", np.array(values, dtype=np.float64),
                 "torch_momentum_from_normlab")
    _collect(result, "torch_momentum_array", f(_arr(inputs, "momenta")),
             "torch_momentum_from_normlab")
    return result


def probe_torch_running_var(pkg, inputs):
    """``running_var``: torch_running_var(running_var, var, N, momentum)."""
    result = {}
    _collect(result, "running_var",
             pkg.framework.torch_running_var(_arr(inputs, "running_var"), _arr(inputs, "var"),
                                             _scalar(inputs, "N", int),
                                             _scalar(inputs, "momentum")),
             "torch_running_var")
    return result


#: The Keras layer's four weights, in the order keras_batchnorm_from_normlab returns them.
KERAS_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")
_KERAS_CONFIG = ("momentum", "epsilon")


def probe_keras_batchnorm(pkg, inputs):
    """keras_batchnorm_from_normlab(gamma, beta, bn_param) with the bn_param keys present in
    the inputs (``momentum``, ``eps``, ``running_mean``, ``running_var``): ``momentum`` and
    ``epsilon`` from the config, and the four weights under the names of KERAS_WEIGHTS."""
    bn_param = {key: (_scalar(inputs, key) if key in ("momentum", "eps") else _arr(inputs, key))
                for key in ("momentum", "eps", "running_mean", "running_var") if key in inputs}
    where = "keras_batchnorm_from_normlab"
    value = pkg.framework.keras_batchnorm_from_normlab(_arr(inputs, "gamma"),
                                                       _arr(inputs, "beta"), bn_param)
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ProbeError(f"{where} should return a pair (config, weights), got {_what(value)}")
    config, weights = value
    result = {}
    for key in _KERAS_CONFIG:
        if not isinstance(config, dict):
            _note(result, key, f"{where}'s config is {_what(config)}, not a dict")
        elif key in config:
            _collect(result, key, config[key], f"{where}'s config")
        else:
            others = ", ".join(repr(k) for k in config) or "no keys"
            _note(result, key, f"{where}'s config has no '{key}' (it has {others}); Keras's "
                               f"BatchNormalization takes momentum= and epsilon=")
    if not isinstance(weights, list | tuple) or len(weights) != len(KERAS_WEIGHTS):
        for key in KERAS_WEIGHTS:
            _note(result, key, f"{where}'s weights are {_what(weights)}; expected a list of four "
                               f"arrays [gamma, beta, moving_mean, moving_variance]")
    else:
        for key, array in zip(KERAS_WEIGHTS, weights, strict=True):
            _collect(result, key, array, f"{where}'s weights")
    return result
