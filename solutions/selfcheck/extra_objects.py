"""Extra cases of the self-checks of ``nn.py`` (BatchNorm, LayerNorm, Model) and of the
conversions in ``framework.py``; see `extra` for what extra cases are."""

from __future__ import annotations

import numpy as np

from .core import Step
from .extra import differs, extra, first, standardized
from .objects import _model


def _relu_gradients_problem(layer, x, pre, xhat, rng):
    """None if gamma's and beta's gradients come only from the units the ReLU let through."""
    layer.forward(x.copy(), "train")
    dout = rng.standard_normal(x.shape)
    layer.backward(dout)
    passed = dout * (pre > 0)
    return (differs("grads['beta']", layer.grads.get("beta"), passed.sum(axis=0), 1e-8, 0)
            or differs("grads['gamma']", layer.grads.get("gamma"), (passed * xhat).sum(axis=0),
                       1e-8, 0))


def _with_params(layer, rng, dim):
    gamma, beta = rng.uniform(0.5, 2.0, dim), rng.normal(0, 1, dim)
    layer.params["gamma"], layer.params["beta"] = gamma.copy(), beta.copy()
    return gamma, beta


@extra("nn_batchnorm")
def _nn_batchnorm_extra(context):
    nn, rng = context.modules.nn, np.random.default_rng(2718)
    x = 2 * rng.standard_normal((9, 4)) + 1
    layer = nn.BatchNorm(4, eps=1e-3, momentum=0.6, activation="relu")
    gamma, beta = _with_params(layer, rng, 4)
    xhat = standardized(x, 0, 1e-3)
    pre = gamma * xhat + beta

    def train_then_test():
        problem = differs("train-mode output (eps 1e-3, fused ReLU)",
                          layer.forward(x.copy(), "train"), np.maximum(pre, 0), 1e-8, 1e-10)
        if problem:
            return problem
        xt = rng.standard_normal((3, 4))  # running averages: 0.4 of the batch's, from zeros
        want = gamma * (xt - 0.4 * x.mean(axis=0)) / np.sqrt(0.4 * x.var(axis=0) + 1e-3) + beta
        return differs("test-mode output (momentum 0.6)", layer.forward(xt, "test"),
                       np.maximum(want, 0), 1e-8, 1e-10)

    return [Step("eps and momentum given: train mode, then test mode with the running averages",
                 train_then_test),
            Step("dgamma and dbeta only from the units the ReLU let through",
                 lambda: _relu_gradients_problem(layer, x, pre, xhat, rng))]


@extra("nn_layernorm")
def _nn_layernorm_extra(context):
    nn, rng = context.modules.nn, np.random.default_rng(3141)
    x = 3 * rng.standard_normal((5, 6)) + 2
    layer = nn.LayerNorm(6, eps=1e-2, activation="relu")
    gamma, beta = _with_params(layer, rng, 6)
    xhat = standardized(x, 1, 1e-2)
    pre = gamma * xhat + beta

    def modes():
        return first(differs(f"{mode}-mode output of {what} (eps 1e-2, ReLU)",
                             layer.forward(x[rows].copy(), mode), np.maximum(pre[rows], 0), 1e-8,
                             1e-10)
                     for mode, rows, what in (("train", slice(None), "the batch"),
                                              ("test", slice(None), "the batch"),
                                              ("test", slice(2, 3), "one example alone")))

    return [Step("eps given: the same in train and test mode, one example alone too", modes),
            Step("dbeta and dgamma only from the units the ReLU let through",
                 lambda: _relu_gradients_problem(layer, x, pre, xhat, rng))]


@extra("nn_model")
def _nn_model_extra(context):
    nn, L, rng = context.modules.nn, context.modules.layers, np.random.default_rng(1618)

    def regularization():
        model = _model(nn, L, 11, own_layers=True)
        X, y = rng.standard_normal((5, 6)), np.array([2, 1, 0, 0, 2])
        scores = model.forward(X, "train")
        data, _ = L.softmax_loss(scores, y)
        dense = [n for n, layer in model.layers.items() if "W" in layer.params]
        weights = sum((model.layers[n].params["W"] ** 2).sum() for n in dense)
        loss0, dscores0 = model.calculate_loss(scores, y, 0.0)[:2]
        model.backward(dscores0)
        before = {(n, k): layer.grads[k].copy() for n, k, layer in model.parameters()}
        loss, dscores = model.calculate_loss(scores, y, 0.9)[:2]
        problem = (differs("loss with reg = 0", loss0, data, 1e-10, 0)
                   or differs("loss with reg = 0.9", loss, data + 0.45 * weights, 1e-10, 0))
        if problem:
            return problem
        dX = model.backward(dscores)
        if np.shape(dX) != X.shape:
            return f"Model.backward returned shape {np.shape(dX)}; expected {X.shape}"
        return first(differs(f"{n}.{k} gradient with reg = 0.9 (reg * W more, for W only)",
                             layer.grads[k],
                             before[(n, k)] + (0.9 * layer.params[k] if k == "W" else 0.0),
                             1e-8, 1e-12)
                     for n, k, layer in model.parameters())

    return [Step("reg adds 0.5 * reg * sum(W ** 2) to the loss and reg * W to W's gradients only",
                 regularization)]


@extra("framework_conventions")
def _conventions_extra(context):
    F, rng = context.modules.framework, np.random.default_rng(20240)

    def momentum():
        problem = first(differs(f"torch_momentum_from_normlab({m})",
                                float(F.torch_momentum_from_normlab(m)), 1.0 - m, 0, 1e-12)
                        for m in (0.0, 0.125, 0.9, 0.999, 1.0))
        many = rng.uniform(0, 1, (2, 3))
        return problem or differs("torch_momentum_from_normlab of an array",
                                  F.torch_momentum_from_normlab(many), 1.0 - many, 0, 1e-12)

    def running_var():
        for n, d in ((2, 5), (3, 1), (64, 6), (9, 4)):  # N = 2 doubles the variance
            x, rv = rng.normal(3.0, 2.0, (n, d)), rng.uniform(0.1, 4.0, d)
            for m in (0.0, 0.3, 0.97):
                problem = differs(f"torch_running_var for N = {n}, momentum {m}",
                                  F.torch_running_var(rv.copy(), np.var(x, axis=0), n, m),
                                  m * rv + (1 - m) * np.var(x, axis=0, ddof=1), 1e-10, 1e-12)
                if problem:
                    return problem
        return None

    return [Step("torch_momentum_from_normlab at 0, 1 and between, on floats and arrays",
                 momentum),
            Step("torch_running_var for batch sizes 2 to 64 and momenta 0 to 0.97", running_var)]


@extra("keras_conventions")
def _keras_extra(context):
    F, rng = context.modules.framework, np.random.default_rng(31415)

    def conversions():
        for d in (1, 4, 7):
            gamma, beta = rng.uniform(0.5, 2, d), rng.normal(0, 1, d)
            full = {"mode": "train", "momentum": 0.8, "eps": 3e-4,
                    "running_mean": rng.normal(0, 1, d), "running_var": rng.uniform(0.1, 3, d)}
            kept = {k: np.copy(v) for k, v in full.items()}
            config, weights = F.keras_batchnorm_from_normlab(gamma, beta, full)
            if set(config) != {"momentum", "epsilon"}:
                return f"config has the keys {sorted(config)}; expected epsilon and momentum"
            problem = (differs("momentum", config["momentum"], 0.8, 0, 1e-12)
                       or differs("epsilon", config["epsilon"], 3e-4, 0, 1e-15)
                       or first(differs(f"weights[{i}]", w, want, 1e-12, 0) for i, (w, want) in
                                enumerate(zip(weights, [gamma, beta, kept["running_mean"],
                                                        kept["running_var"]], strict=True))))
            if problem:
                return problem
            if not all(np.array_equal(full[k], kept[k]) for k in kept):
                return "keras_batchnorm_from_normlab changed the bn_param it was given"
            config, weights = F.keras_batchnorm_from_normlab(gamma, beta, {})
            problem = (differs("default momentum", config["momentum"], 0.9, 0, 1e-12)
                       or differs("default epsilon", config["epsilon"], 1e-5, 0, 1e-15)
                       or differs("default moving averages", np.asarray(weights[2:]),
                                  np.zeros((2, d)), 0, 0))
            if problem:
                return problem
        return None

    return [Step("every bn_param key given (1, 4, 7 features), and none", conversions)]
