"""Self-checks of nn.py, framework.py and the affine - norm - ReLU sandwich: mistakes are named.

Like tests/autograder/judging/test_checks.py: each broken variant wraps or subclasses the reference
to make one mistake; the check must fail, say what the mistake is, and not wait for another task.
"""

import types

import numpy as np
import pytest

from solutions import checks, framework, layer_utils, nn

pytestmark = pytest.mark.given


def fail_text(report):
    """The report as text, after asserting it failed."""
    assert not report.passed, str(report)
    return str(report)


# --------------------------------------------------------------------------------------------------
# nn.py and framework.py
# --------------------------------------------------------------------------------------------------


def fake_module(module, **overrides):
    fake = types.ModuleType(f"fake_{module.__name__.rsplit('.', 1)[-1]}")
    fake.__dict__.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
    fake.__dict__.update(overrides)
    return fake


def model_class(**methods):
    return type("Model", (nn.Model,), methods)


def loss_without_half(self, scores, y, reg=0.0):
    self.reg = reg
    loss, dscores = self.loss_fn(scores, y)
    return loss + reg * sum(np.sum(l.params["W"] ** 2) for l in self.layers.values()
                            if "W" in l.params), dscores, None


def backward_without_reg(self, dscores):
    for layer in reversed(list(self.layers.values())):
        dscores = layer.backward(dscores)
    return dscores


@pytest.mark.parametrize(
    "methods, expected",
    [
        ({"calculate_loss": loss_without_half}, "the regularization term lacks the 0.5"),
        ({"backward": backward_without_reg}, "no reg * W was added to grads['W']"),
    ],
    ids=["loss_without_half", "backward_without_reg"],
)
def test_model_mistakes_are_named(methods, expected):
    report = checks.check_nn_model(fake_module(nn, Model=model_class(**methods)))
    assert expected in fail_text(report)
    assert report.waiting_for == []


def test_layer_that_ignores_its_eps_is_named():
    class BatchNorm(nn.BatchNorm):
        def forward(self, x, mode="train"):
            self.bn_param.pop("eps", None)
            return super().forward(x, mode)

    text = fail_text(checks.check_nn_batchnorm(fake_module(nn, BatchNorm=BatchNorm)))
    assert "the layer's eps (1e-3 here) did not reach batchnorm_forward" in text


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"torch_running_var": lambda rv, var, N, m: m * rv + (1 - m) * var * (N - 1) / N},
         "the factor is upside down"),
        ({"torch_running_var": lambda rv, var, N, m: (1 - m) * rv + m * var * N / (N - 1)},
         "momentum is taken in PyTorch's convention here"),
        ({"torch_momentum_from_normlab": lambda m: float(np.mean(1 - np.asarray(m)))},
         "it should work elementwise"),
    ],
    ids=["factor_upside_down", "pytorch_momentum", "not_elementwise"],
)
def test_framework_mistakes_are_named(overrides, expected):
    text = fail_text(checks.check_framework_conventions(fake_module(framework, **overrides)))
    assert expected in text


def _keras(momentum=None, epsilon=None, var_start=np.zeros, order=(0, 1, 2, 3), touch=False):
    """A keras_batchnorm_from_normlab with one slip."""

    def convert(gamma, beta, bn_param):
        m, eps = bn_param.get("momentum", 0.9), bn_param.get("eps", 1e-5)
        D = len(gamma)
        weights = [gamma, beta, bn_param.get("running_mean", np.zeros(D)),
                   bn_param.get("running_var", var_start(D))]
        if touch:
            bn_param.setdefault("running_var", np.zeros(D))
        config = {"momentum": m if momentum is None else momentum(m),
                  "epsilon": eps if epsilon is None else epsilon}
        return config, [weights[i] for i in order]

    return convert


@pytest.mark.parametrize(
    "convert, expected",
    [
        (_keras(momentum=lambda m: 1 - m), "that is PyTorch's convention"),
        (_keras(epsilon=1e-3), "(Keras's default; pass ours)"),
        (_keras(var_start=np.ones), "the moving averages must start at zeros"),
        (_keras(order=(2, 3, 0, 1)), "Keras's order is gamma, beta, moving_mean, moving_variance"),
        (_keras(touch=True), "modified bn_param"),
        (lambda gamma, beta, bn_param: ({"momentum": 0.9, "eps": 1e-5}, []),
         "exactly the keys 'momentum' and 'epsilon'"),
    ],
    ids=["pytorch_momentum", "keras_epsilon", "ones", "order", "modifies", "eps_key"],
)
def test_keras_mistakes_are_named(convert, expected):
    report = checks.check_keras_conventions(
        fake_module(framework, keras_batchnorm_from_normlab=convert))
    assert expected in fail_text(report)


def test_sandwich_with_the_other_normalization_is_named():
    def swapped(x, w, b, gamma, beta, norm_param, normalization):
        other = {"batchnorm": "layernorm", "layernorm": "batchnorm"}[normalization]
        param = {"mode": "train"} if other == "batchnorm" else {}
        return layer_utils.affine_norm_relu_forward(x, w, b, gamma, beta, param, other)

    text = fail_text(checks.check_affine_norm_relu(
        fake_module(layer_utils, affine_norm_relu_forward=swapped)))
    assert "normalization='batchnorm' ran layernorm_forward" in text
