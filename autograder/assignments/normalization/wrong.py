"""The wrong implementations behind the named mistakes (`autograder.assignments.normalization.
mistakes`): small functions with one classic slip each (the unbiased variance, eps outside the
square root, a reversed momentum, an Adam that bumps ``t`` after using it, ...), built from the
trusted ``solutions`` code where they only change one step.

Everything here runs in the trusted parent, on ``solutions`` only; student code is never imported.
"""

from __future__ import annotations

import numpy as np


def _std(var, eps, eps_outside):
    return np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)


def bn_forward(*, ddof=0, eps_outside=False, momentum_reversed=False, write_back=True,
               keepdims=False, test_uses_batch=False):
    """A batchnorm_forward with the given slips (all off: the right one). Returns no cache."""

    def batchnorm_forward(x, gamma, beta, bn_param):
        mode = bn_param["mode"]
        eps = bn_param.get("eps", 1e-5)
        momentum = bn_param.get("momentum", 0.9)
        D = x.shape[1]
        running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
        running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
        if mode == "train" or test_uses_batch:
            mean = x.mean(axis=0, keepdims=keepdims)
            var = x.var(axis=0, ddof=ddof)
        else:
            mean, var = running_mean, running_var
        out = gamma * ((x - mean) / _std(var, eps, eps_outside)) + beta
        if mode == "train" and write_back:
            keep, new = (1 - momentum, momentum) if momentum_reversed else (momentum, 1 - momentum)
            running_mean = keep * running_mean + new * mean
            running_var = keep * running_var + new * var
        bn_param["running_mean"] = running_mean
        bn_param["running_var"] = running_var
        return out, None

    return batchnorm_forward


def ln_forward(*, ddof=0, eps_outside=False, axis=1):
    """A layernorm_forward with the given slips; ``axis=0`` normalizes each feature instead."""

    def layernorm_forward(x, gamma, beta, ln_param):
        eps = ln_param.get("eps", 1e-5)
        mean = x.mean(axis=axis, keepdims=True)
        var = x.var(axis=axis, ddof=ddof, keepdims=True)
        return gamma * ((x - mean) / _std(var, eps, eps_outside)) + beta, None

    return layernorm_forward


def gn_forward(*, ddof=0, eps_outside=False):
    """A spatial_groupnorm_forward with the given slips."""

    def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
        eps = gn_param.get("eps", 1e-5)
        N, C, H, W = x.shape
        xg = x.reshape(N, G, -1)
        mean = xg.mean(axis=2, keepdims=True)
        var = xg.var(axis=2, ddof=ddof, keepdims=True)
        x_hat = ((xg - mean) / _std(var, eps, eps_outside)).reshape(N, C, H, W)
        return gamma * x_hat + beta, None

    return spatial_groupnorm_forward


def spatial_bn_forward(batchnorm_forward, *, transpose=True):
    """spatial_batchnorm_forward on top of ``batchnorm_forward``; ``transpose=False`` reshapes
    (N, C, H, W) straight to (N * H * W, C) without moving the channel axis last."""

    def spatial_batchnorm_forward(x, gamma, beta, bn_param):
        N, C, H, W = x.shape
        if transpose:
            out, _ = batchnorm_forward(x.transpose(0, 2, 3, 1).reshape(-1, C), gamma, beta,
                                       bn_param)
            return out.reshape(N, H, W, C).transpose(0, 3, 1, 2), None
        out, _ = batchnorm_forward(x.reshape(-1, C), gamma, beta, bn_param)
        return out.reshape(N, C, H, W), None

    return spatial_batchnorm_forward


def anr_forward(layers):
    """affine_norm_relu_forward on top of the (possibly mistaken) ``layers`` namespace."""

    def affine_norm_relu_forward(x, w, b, gamma, beta, norm_param, normalization):
        a, _ = layers.affine_forward(x, w, b)
        norm = layers.batchnorm_forward if normalization == "batchnorm" else \
            layers.layernorm_forward
        h, _ = norm(a, gamma, beta, norm_param)
        return np.maximum(h, 0), None

    return affine_norm_relu_forward


def dbeta_mean(backward):
    def wrong(dout, cache):
        dx, dgamma, dbeta = backward(dout, cache)
        return dx, dgamma, dbeta / dout.shape[0]

    return wrong


def bn_dx_direct_only(backward):
    def wrong(dout, cache):
        _, dgamma, dbeta = backward(dout, cache)
        xc, var, inv_std, x_hat, gamma, eps = cache
        return dout * gamma * inv_std, dgamma, dbeta

    return wrong


def regularized_norm_net(base):
    """FullyConnectedNet whose loss adds reg * gamma (reg * beta) to the gamma (beta) gradients."""

    class FullyConnectedNet(base):
        def loss(self, X, y=None):
            result = super().loss(X, y)
            if y is None:
                return result
            loss, grads = result
            for name in grads:
                if name.startswith(("gamma", "beta")):
                    grads[name] = grads[name] + self.reg * self.params[name]
            return loss, grads

    return FullyConnectedNet


def adam_t_after_use(adam):
    """An Adam that uses the step count t before incrementing it (t = 0 on the first step), on
    top of the right ``adam``, which increments first: it is handed t - 1, and t + 1 is stored."""

    def wrong(w, dw, config=None):
        config = {} if config is None else config
        t = config.get("t", 0)
        config["t"] = t - 1
        with np.errstate(divide="ignore", invalid="ignore"):  # 1 - beta ** 0 = 0 on step one
            next_w, config = adam(w, dw, config)
        config["t"] = t + 1
        return next_w, config

    return wrong


def nn_norm_grads_before_activation(sol):
    """nn.BatchNorm and nn.LayerNorm whose gamma and beta gradients come from the upstream
    gradient BEFORE it went back through the fused activation (dx is right)."""

    def wrong(base, norm_backward):
        class Layer(base):
            def backward(self, dout):
                dx = super().backward(dout)
                _, self.grads["gamma"], self.grads["beta"] = norm_backward(dout, self.cache)
                return dx

        Layer.__name__ = Layer.__qualname__ = base.__name__
        return Layer

    return {"BatchNorm": wrong(sol.nn.BatchNorm, sol.layers.batchnorm_backward_alt),
            "LayerNorm": wrong(sol.nn.LayerNorm, sol.layers.layernorm_backward)}


def nn_gamma_regularized(base):
    """nn.Model whose backward also adds reg * gamma to the gradient of every gamma."""

    class Model(base):
        def backward(self, dscores):
            dx = super().backward(dscores)
            for layer in self.layers.values():
                if "gamma" in layer.params:
                    layer.grads["gamma"] = layer.grads["gamma"] + self.reg * layer.params["gamma"]
            return dx

    return Model


def keras_conversion(*, torch_momentum=False, keras_epsilon=False, start_at_ones=False):
    """A keras_batchnorm_from_normlab with the given slips (all off: the right one)."""

    def keras_batchnorm_from_normlab(gamma, beta, bn_param):
        D = np.shape(gamma)[0]
        momentum = float(bn_param.get("momentum", 0.9))
        start_var = np.ones(D) if start_at_ones else np.zeros(D)
        config = {"momentum": 1.0 - momentum if torch_momentum else momentum,
                  "epsilon": 1e-3 if keras_epsilon else float(bn_param.get("eps", 1e-5))}
        weights = [np.array(gamma, dtype=float), np.array(beta, dtype=float),
                   np.array(bn_param.get("running_mean", np.zeros(D)), dtype=float),
                   np.array(bn_param.get("running_var", start_var), dtype=float)]
        return config, weights

    return keras_batchnorm_from_normlab
