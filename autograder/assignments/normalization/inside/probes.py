"""Probes: small functions that call a student package and collect what comes back.

This file runs INSIDE the sandboxed child, next to an untrusted copy of the student's package, and
it is copied there alone: it imports only the standard library and NumPy, never ``autograder``.
The trusted parent also runs the very same probes in-process on ``solutions`` to make the
reference outputs, so a probe must behave identically on both.

A probe is ``probe(pkg, inputs) -> dict[str, np.ndarray]``:

* ``pkg`` is a namespace with the package's modules (``pkg.layers``, ``pkg.layer_utils``,
  ``pkg.fc_net``, ``pkg.optim``);
* ``inputs`` holds plain arrays only; scalars (eps, momentum, G, reg, ...) are 0-d arrays and
  optional settings are simply absent. A probe never modifies ``inputs``: it works on copies;
* the result holds plain numeric arrays only. When the student's function returns something that
  is not a numeric array for an output (None, a ragged list, ...), the output is left out and a
  ``note__<output>`` entry (the explanation as UTF-8 bytes, uint8) is added instead, so the other
  outputs of the call still count. A result of the wrong form altogether (not a tuple, wrong
  length) raises `ProbeError`, whose message is for the student.

Probes only call and collect: the parent decides everything. For reference-free gradient checks a
probe may also evaluate the student's forward pass at inputs moved by +-h, one element at a time,
and return the projected outputs ``sum(out * dout)`` as ``plus__<input>`` / ``minus__<input>``
(arrays of the input's shape); the parent forms the centered differences itself.

Every probe is cheap: the arrays are tiny and the perturbation loops cover at most ~100 elements.
"""

import numpy as np

try:  # in the parent: part of the autograder package
    from . import standins as _standins
except ImportError:  # in the child: copied beside this file
    import importlib.util as _util
    import os as _os
    import sys as _sys

    _spec = _util.spec_from_file_location(
        "normlab_standins", _os.path.join(_os.path.dirname(__file__), "standins.py"))
    _standins = _util.module_from_spec(_spec)
    _sys.modules["normlab_standins"] = _standins
    _spec.loader.exec_module(_standins)

#: Output names are short identifiers; anything else a student's dict holds is not collected.
_MAX_NAME = 40


class ProbeError(Exception):
    """What the student's function returned cannot be collected; the message says why."""


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _arr(inputs, key):
    """A private copy of an input array (the student's code may write into its arguments)."""
    return np.array(inputs[key], copy=True)


def _scalar(inputs, key, kind=float):
    return kind(np.asarray(inputs[key]).item())


def _note(result, name, text):
    result[f"note__{name}"] = np.frombuffer(text.encode("utf-8")[:400], dtype=np.uint8).copy()


def _what(value):
    if value is None:
        return "None"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} values"
    return f"a {type(value).__name__}"


def _collect(result, name, value, where):
    """Store ``value`` as ``result[name]`` if it is a numeric array (or converts to one)."""
    if value is None:
        _note(result, name, f"{where} gave None for {name}: assign it before the return")
        return
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - the student's object may raise anything
        _note(result, name, f"{where} gave {_what(value)} for {name}, not an array ({exc})")
        return
    if arr.dtype.kind not in "biuf":
        _note(result, name, f"{where} gave {_what(value)} for {name}, not an array of numbers "
                            f"(dtype {arr.dtype})")
        return
    result[name] = np.array(arr, copy=True)
    if isinstance(value, list | tuple):  # judged like the array, but worth saying
        _note(result, name, f"{where} gave {_what(value)} for {name}, not a numpy array")


def _pair(value, func):
    """Insist on the ``(out, cache)`` pair every forward returns."""
    if not isinstance(value, tuple) or len(value) != 2:
        raise ProbeError(f"{func} should return a pair (out, cache), got {_what(value)}")
    return value


def _tuple(value, func, names):
    if not isinstance(value, tuple) or len(value) != len(names):
        raise ProbeError(f"{func} should return {len(names)} values ({', '.join(names)}), "
                         f"got {_what(value)}")
    return value


def _projection(out, dout):
    """``sum(out * dout)`` as a float; NaN when ``out`` is not an array of dout's shape."""
    try:
        arr = np.asarray(out, dtype=np.float64)
    except Exception:  # noqa: BLE001
        return float("nan")
    if arr.shape != dout.shape:
        return float("nan")
    return float(np.sum(arr * dout))


def _perturbed(f, arrays, names, h, result):
    """``plus__<name>`` / ``minus__<name>``: ``f()`` with each element of ``arrays[name]`` moved by
    +h and -h (in place, restored afterwards)."""
    for name in names:
        a = arrays[name]
        plus, minus = np.empty(a.shape), np.empty(a.shape)
        for ix in np.ndindex(*a.shape):
            old = a[ix]
            a[ix] = old + h
            plus[ix] = f()
            a[ix] = old - h
            minus[ix] = f()
            a[ix] = old
        result[f"plus__{name}"] = plus
        result[f"minus__{name}"] = minus


def _param(inputs, keys=("eps", "momentum")):
    """The optional scalar settings of a norm_param dict."""
    return {k: _scalar(inputs, k) for k in keys if k in inputs}


def _collect_running(result, bn_param, suffix=""):
    for key in ("running_mean", "running_var"):
        if key in bn_param:
            _collect(result, key + suffix, bn_param[key], f"bn_param['{key}']")
        else:
            _note(result, key + suffix, f"bn_param has no '{key}' after the call: store the "
                                        f"updated average back, bn_param['{key}'] = ...")


# --------------------------------------------------------------------------------------------------
# Batch normalization
# --------------------------------------------------------------------------------------------------


def _bn_param(inputs, mode):
    bn_param = {"mode": mode, **_param(inputs)}
    for key in ("running_mean", "running_var"):
        if key in inputs:
            bn_param[key] = _arr(inputs, key)
    return bn_param


def probe_batchnorm_forward_train(pkg, inputs):
    """Train mode: out and the running averages after the call; with ``x2``, a second call on the
    same bn_param (the averages must accumulate): out2, running_mean2, running_var2."""
    f = pkg.layers.batchnorm_forward
    gamma, beta = _arr(inputs, "gamma"), _arr(inputs, "beta")
    bn_param = _bn_param(inputs, "train")
    result = {}
    out, _ = _pair(f(_arr(inputs, "x"), gamma, beta, bn_param), "batchnorm_forward")
    _collect(result, "out", out, "batchnorm_forward")
    _collect_running(result, bn_param)
    if "x2" in inputs:
        bn_param["mode"] = "train"
        out2, _ = _pair(f(_arr(inputs, "x2"), gamma, beta, bn_param), "batchnorm_forward")
        _collect(result, "out2", out2, "batchnorm_forward")
        _collect_running(result, bn_param, "2")
    return result


def probe_batchnorm_forward_test(pkg, inputs):
    """Test mode with given running averages: out, and the averages after the call."""
    bn_param = _bn_param(inputs, "test")
    out, _ = _pair(
        pkg.layers.batchnorm_forward(_arr(inputs, "x"), _arr(inputs, "gamma"),
                                     _arr(inputs, "beta"), bn_param),
        "batchnorm_forward",
    )
    result = {}
    _collect(result, "out", out, "batchnorm_forward")
    _collect_running(result, bn_param)
    return result


def _backward(pkg, inputs, forward, backward, fname, bname, make_args, grad_names, diff_names):
    """Forward (the package's own) then backward on ``dout``: the gradients and ``fwd__out``,
    the forward's output; with ``h``, perturbed projections of the forward for the inputs in
    ``diff_names``."""
    dout = np.asarray(inputs["dout"], dtype=np.float64)
    args = make_args()
    out, cache = _pair(forward(*args), fname)
    result = {}
    _collect(result, "fwd__out", out, fname)  # what the backward's own forward gave
    grads = _tuple(backward(np.array(inputs["dout"], copy=True), cache), bname, grad_names)
    for name, grad in zip(grad_names, grads, strict=True):
        _collect(result, name, grad, bname)
    if "h" in inputs:
        arrays = make_args()

        def f():
            return _projection(forward(*arrays)[0], dout)

        named = dict(zip(diff_names, arrays, strict=False))
        _perturbed(f, named, diff_names, _scalar(inputs, "h"), result)
    return result


def _bn_backward_probe(bname):
    def probe(pkg, inputs):
        def make_args():
            return [_arr(inputs, "x"), _arr(inputs, "gamma"), _arr(inputs, "beta"),
                    {"mode": "train", **_param(inputs, ("eps",))}]

        return _backward(pkg, inputs, pkg.layers.batchnorm_forward, getattr(pkg.layers, bname),
                         "batchnorm_forward", bname, make_args, ("dx", "dgamma", "dbeta"),
                         ("x", "gamma", "beta"))

    probe.__name__ = f"probe_{bname}"
    probe.__doc__ = f"{bname} after the package's own batchnorm_forward: dx, dgamma, dbeta."
    return probe


probe_batchnorm_backward = _bn_backward_probe("batchnorm_backward")
probe_batchnorm_backward_alt = _bn_backward_probe("batchnorm_backward_alt")


# --------------------------------------------------------------------------------------------------
# Layer normalization
# --------------------------------------------------------------------------------------------------


def probe_layernorm_forward(pkg, inputs):
    """out; with ``row``, also out_row: the output for that example normalized on its own."""
    f = pkg.layers.layernorm_forward
    x = _arr(inputs, "x")
    gamma, beta = _arr(inputs, "gamma"), _arr(inputs, "beta")
    result = {}
    out, _ = _pair(f(x, gamma, beta, _param(inputs, ("eps",))), "layernorm_forward")
    _collect(result, "out", out, "layernorm_forward")
    if "row" in inputs:
        r = _scalar(inputs, "row", int)
        alone, _ = _pair(f(_arr(inputs, "x")[r:r + 1], gamma, beta, _param(inputs, ("eps",))),
                         "layernorm_forward")
        _collect(result, "out_row", alone, "layernorm_forward")
    return result


def probe_layernorm_backward(pkg, inputs):
    """layernorm_backward after the package's own layernorm_forward: dx, dgamma, dbeta."""
    def make_args():
        return [_arr(inputs, "x"), _arr(inputs, "gamma"), _arr(inputs, "beta"),
                _param(inputs, ("eps",))]

    return _backward(pkg, inputs, pkg.layers.layernorm_forward, pkg.layers.layernorm_backward,
                     "layernorm_forward", "layernorm_backward", make_args,
                     ("dx", "dgamma", "dbeta"), ("x", "gamma", "beta"))


# --------------------------------------------------------------------------------------------------
# Spatial batch norm and group norm
# --------------------------------------------------------------------------------------------------


def probe_spatial_batchnorm_forward_train(pkg, inputs):
    """Train mode: out and the per-channel running averages after the call."""
    bn_param = _bn_param(inputs, "train")
    out, _ = _pair(
        pkg.layers.spatial_batchnorm_forward(_arr(inputs, "x"), _arr(inputs, "gamma"),
                                             _arr(inputs, "beta"), bn_param),
        "spatial_batchnorm_forward",
    )
    result = {}
    _collect(result, "out", out, "spatial_batchnorm_forward")
    _collect_running(result, bn_param)
    return result


def probe_spatial_batchnorm_backward(pkg, inputs):
    """spatial_batchnorm_backward after the package's own forward (train mode)."""
    def make_args():
        return [_arr(inputs, "x"), _arr(inputs, "gamma"), _arr(inputs, "beta"),
                {"mode": "train", **_param(inputs, ("eps",))}]

    return _backward(pkg, inputs, pkg.layers.spatial_batchnorm_forward,
                     pkg.layers.spatial_batchnorm_backward, "spatial_batchnorm_forward",
                     "spatial_batchnorm_backward", make_args, ("dx", "dgamma", "dbeta"),
                     ("x", "gamma", "beta"))


def probe_spatial_groupnorm_forward(pkg, inputs):
    """out of spatial_groupnorm_forward with G groups."""
    out, _ = _pair(
        pkg.layers.spatial_groupnorm_forward(_arr(inputs, "x"), _arr(inputs, "gamma"),
                                             _arr(inputs, "beta"), _scalar(inputs, "G", int),
                                             _param(inputs, ("eps",))),
        "spatial_groupnorm_forward",
    )
    result = {}
    _collect(result, "out", out, "spatial_groupnorm_forward")
    return result


def probe_spatial_groupnorm_backward(pkg, inputs):
    """spatial_groupnorm_backward after the package's own forward."""
    G = _scalar(inputs, "G", int)

    def forward(x, gamma, beta):
        return pkg.layers.spatial_groupnorm_forward(x, gamma, beta, G, _param(inputs, ("eps",)))

    def make_args():
        return [_arr(inputs, "x"), _arr(inputs, "gamma"), _arr(inputs, "beta")]

    return _backward(pkg, inputs, forward, pkg.layers.spatial_groupnorm_backward,
                     "spatial_groupnorm_forward", "spatial_groupnorm_backward", make_args,
                     ("dx", "dgamma", "dbeta"), ("x", "gamma", "beta"))


# --------------------------------------------------------------------------------------------------
# affine - norm - relu
# --------------------------------------------------------------------------------------------------

NORMALIZATIONS = ("batchnorm", "layernorm")


def _norm_param(inputs, normalization):
    if normalization == "batchnorm":
        return _bn_param(inputs, "train")
    return _param(inputs, ("eps",))


def probe_affine_norm_relu_forward(pkg, inputs):
    """out (and, for batch norm, the running averages after the call); ``norm`` 0 = batchnorm,
    1 = layernorm."""
    normalization = NORMALIZATIONS[_scalar(inputs, "norm", int)]
    norm_param = _norm_param(inputs, normalization)
    out, _ = _pair(
        pkg.layer_utils.affine_norm_relu_forward(
            _arr(inputs, "x"), _arr(inputs, "w"), _arr(inputs, "b"), _arr(inputs, "gamma"),
            _arr(inputs, "beta"), norm_param, normalization),
        "affine_norm_relu_forward",
    )
    result = {}
    _collect(result, "out", out, "affine_norm_relu_forward")
    if normalization == "batchnorm":
        _collect_running(result, norm_param)
    return result


def probe_affine_norm_relu_backward(pkg, inputs):
    """affine_norm_relu_backward after the package's own forward: dx, dw, db, dgamma, dbeta."""
    normalization = NORMALIZATIONS[_scalar(inputs, "norm", int)]
    names = ("x", "w", "b", "gamma", "beta")

    def forward(x, w, b, gamma, beta):
        return pkg.layer_utils.affine_norm_relu_forward(
            x, w, b, gamma, beta, _norm_param(inputs, normalization), normalization)

    def make_args():
        return [_arr(inputs, k) for k in names]

    return _backward(pkg, inputs, forward, pkg.layer_utils.affine_norm_relu_backward,
                     "affine_norm_relu_forward", "affine_norm_relu_backward", make_args,
                     ("dx", "dw", "db", "dgamma", "dbeta"), names)


# --------------------------------------------------------------------------------------------------
# FullyConnectedNet
# --------------------------------------------------------------------------------------------------


def _safe_name(name):
    return isinstance(name, str) and 0 < len(name) <= _MAX_NAME and name.isidentifier()


def probe_fc_net(pkg, inputs):
    """Build ``FullyConnectedNet(hidden_dims, input_dim, num_classes, normalization, reg,
    dtype=float64)`` from ``dims`` = [input_dim, *hidden_dims, num_classes], then:

    * ``initshape__<name>`` for every parameter the constructor made and ``init__<name>`` (the
      values) for every gamma/beta;
    * set ``model.params[name]`` from each input ``p__<name>``;
    * ``loss`` and ``grad__<name>`` of ``model.loss(X, y)``;
    * ``scores`` = ``model.loss(Xtest)`` after that training pass, ``scores_row`` the scores of
      ``Xtest[:1]`` alone;
    * with ``h``: ``plus__<name>`` / ``minus__<name>``, the loss with each parameter element
      moved by +-h.
    """
    dims = [int(d) for d in np.asarray(inputs["dims"]).ravel()]
    normalization = NORMALIZATIONS[_scalar(inputs, "norm", int)]
    model = pkg.fc_net.FullyConnectedNet(
        dims[1:-1], input_dim=dims[0], num_classes=dims[-1], normalization=normalization,
        reg=_scalar(inputs, "reg"), weight_scale=0.1, dtype=np.float64)
    result = {}
    params = getattr(model, "params", None)
    if not isinstance(params, dict):
        raise ProbeError(f"FullyConnectedNet.params should be a dict, got {_what(params)}")
    for name, value in list(params.items()):
        if not _safe_name(name):
            continue
        try:
            shape = np.shape(value)
        except Exception:  # noqa: BLE001 - a ragged list, say; init__/the checks report it
            shape = (-1,)
        result[f"initshape__{name}"] = np.array(shape, dtype=np.int64)
        if name.startswith(("gamma", "beta")):
            _collect(result, f"init__{name}", value, "FullyConnectedNet.__init__")
    given = sorted(k[3:] for k in inputs if k.startswith("p__"))
    for name in given:
        params[name] = _arr(inputs, f"p__{name}")

    X, y = _arr(inputs, "X"), np.asarray(inputs["y"]).astype(np.int64)
    loss_result = model.loss(X, y)
    if not isinstance(loss_result, tuple) or len(loss_result) != 2:
        raise ProbeError(f"FullyConnectedNet.loss(X, y) should return (loss, grads), got "
                         f"{_what(loss_result)}")
    loss, grads = loss_result
    _collect(result, "loss", loss, "FullyConnectedNet.loss")
    if not isinstance(grads, dict):
        raise ProbeError(f"FullyConnectedNet.loss(X, y) should return grads as a dict, got "
                         f"{_what(grads)}")
    for name, grad in grads.items():
        if _safe_name(name):
            _collect(result, f"grad__{name}", grad, "FullyConnectedNet.loss")

    Xtest = _arr(inputs, "Xtest")
    _collect(result, "scores", model.loss(Xtest), "FullyConnectedNet.loss (test mode)")
    _collect(result, "scores_row", model.loss(Xtest[:1].copy()),
             "FullyConnectedNet.loss (test mode)")

    if "h" in inputs:
        def f():
            value = model.loss(X, y)
            try:
                return float(value[0])
            except Exception:  # noqa: BLE001
                return float("nan")

        _perturbed(f, params, [n for n in given if n in params], _scalar(inputs, "h"), result)
    return result


# --------------------------------------------------------------------------------------------------
# Adam (for courses that make the optimizers a task)
# --------------------------------------------------------------------------------------------------


def probe_adam(pkg, inputs):
    """Two consecutive Adam steps on one config: next_w, m, v, t after each (suffix 2 for the
    second). Optional config entries: learning_rate, beta1, beta2, epsilon, m, v, t."""
    config = {k: _scalar(inputs, k) for k in ("learning_rate", "beta1", "beta2", "epsilon")
              if k in inputs}
    for k in ("m", "v"):
        if k in inputs:
            config[k] = _arr(inputs, k)
    if "t" in inputs:
        config["t"] = _scalar(inputs, "t", int)
    result = {}
    w = _arr(inputs, "w")
    for suffix, dw_key in (("", "dw"), ("2", "dw2")):
        step = _tuple(pkg.optim.adam(w, _arr(inputs, dw_key), config), "adam",
                      ("next_w", "config"))
        w, config = step
        _collect(result, "next_w" + suffix, w, "adam")
        if not isinstance(config, dict):
            raise ProbeError(f"adam should return its config dict, got {_what(config)}")
        for k in ("m", "v", "t"):
            if k in config:
                _collect(result, k + suffix, config[k], f"config['{k}']")
            else:
                _note(result, k + suffix, f"config has no '{k}' after the step")
        if "next_w" + suffix not in result:
            break
        w = np.array(result["next_w" + suffix], dtype=np.float64, copy=True)
    return result


# --------------------------------------------------------------------------------------------------
# The object API (nn.py): layers with params/grads dicts, a Model with calculate_loss/backward
# --------------------------------------------------------------------------------------------------

NN_NORMS = ("BatchNorm", "LayerNorm")


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


def _with_standins(probe):
    """``probe`` with the upstream functions of the call's stand-in table (if it has one)
    answered by `standins.Replayer`. If the student's code cannot work with a stand-in (it looks
    inside a cache, say), the call is made again with the student's own functions."""

    def run(pkg, inputs):
        inputs, table = _standins.split(inputs)
        if table is None:
            return probe(pkg, inputs)
        replayer = _standins.Replayer(table)
        try:
            with replayer.patch(pkg):
                return probe(pkg, inputs)
        except Exception as exc:  # noqa: BLE001 - judged again without stand-ins
            if not replayer.answered:
                if isinstance(exc, _standins.StandInMiss):
                    raise ProbeError(str(exc)) from None
                raise
        return probe(pkg, inputs)

    run.__name__, run.__doc__ = probe.__name__, probe.__doc__
    return run


PROBES = {
    "batchnorm_forward_train": probe_batchnorm_forward_train,
    "batchnorm_forward_test": probe_batchnorm_forward_test,
    "batchnorm_backward": probe_batchnorm_backward,
    "batchnorm_backward_alt": probe_batchnorm_backward_alt,
    "layernorm_forward": probe_layernorm_forward,
    "layernorm_backward": probe_layernorm_backward,
    "spatial_batchnorm_forward_train": probe_spatial_batchnorm_forward_train,
    "spatial_batchnorm_backward": probe_spatial_batchnorm_backward,
    "spatial_groupnorm_forward": probe_spatial_groupnorm_forward,
    "spatial_groupnorm_backward": probe_spatial_groupnorm_backward,
    "affine_norm_relu_forward": probe_affine_norm_relu_forward,
    "affine_norm_relu_backward": probe_affine_norm_relu_backward,
    "fc_net": probe_fc_net,
    "adam": probe_adam,
    "nn_norm_forward": probe_nn_norm_forward,
    "nn_norm_backward": probe_nn_norm_backward,
    "nn_model_loss": probe_nn_model_loss,
    "nn_model": probe_nn_model,
    "torch_momentum": probe_torch_momentum,
    "torch_running_var": probe_torch_running_var,
    "keras_batchnorm": probe_keras_batchnorm,
}
PROBES = {name: _with_standins(probe) for name, probe in PROBES.items()}
