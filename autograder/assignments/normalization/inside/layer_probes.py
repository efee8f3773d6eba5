"""Probes of the layer functions: batch, layer, spatial batch and group norm, the affine -
norm - ReLU sandwich, FullyConnectedNet and Adam. Runs inside the sandboxed child (see
`probes`).
"""

import numpy as np

from .collect import (
    _MAX_NAME,
    ProbeError,
    _arr,
    _collect,
    _collect_running,
    _note,
    _pair,
    _param,
    _perturbed,
    _projection,
    _scalar,
    _tuple,
    _what,
)

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


def _bn_forward_once(pkg, inputs, fname, mode):
    """One call of ``pkg.layers.<fname>`` (batch norm or spatial batch norm) in ``mode``: out,
    and the running averages after the call."""
    bn_param = _bn_param(inputs, mode)
    out, _ = _pair(
        getattr(pkg.layers, fname)(_arr(inputs, "x"), _arr(inputs, "gamma"),
                                   _arr(inputs, "beta"), bn_param),
        fname,
    )
    result = {}
    _collect(result, "out", out, fname)
    _collect_running(result, bn_param)
    return result


def probe_batchnorm_forward_test(pkg, inputs):
    """Test mode with given running averages: out, and the averages after the call."""
    return _bn_forward_once(pkg, inputs, "batchnorm_forward", "test")


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
    return _bn_forward_once(pkg, inputs, "spatial_batchnorm_forward", "train")


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

#: The normalizations of affine_norm_relu and FullyConnectedNet, by the input ``norm`` (0 or 1).
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
