"""The layers handed to students: affine, ReLU, softmax, dropout and the composites."""

import numpy as np
import pytest

from solutions import layer_utils
from solutions.gradient_check import check_gradient, eval_numerical_gradient
from solutions.layers import (
    affine_backward,
    affine_forward,
    dropout_backward,
    dropout_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
)
from tests.solutions.gradients import assert_backward_matches_numeric

pytestmark = pytest.mark.given


def test_affine_forward_flattens_each_example():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((12, 5)), rng.standard_normal(5)
    out, _ = affine_forward(x, w, b)
    for n in range(2):
        np.testing.assert_allclose(out[n], x[n].ravel() @ w + b)


def test_affine_and_relu_backward():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((3, 2, 3)), rng.standard_normal((6, 4)), rng.standard_normal(4)
    assert_backward_matches_numeric(affine_forward, affine_backward, [x, w, b], ["dx", "dw", "db"])
    # Keep inputs away from the kink at 0, where the centered difference is wrong.
    x = rng.standard_normal((5, 6))
    x[np.abs(x) < 1e-3] = 0.5
    assert_backward_matches_numeric(relu_forward, lambda d, c: (relu_backward(d, c),), [x], ["dx"])
    assert_backward_matches_numeric(
        layer_utils.affine_relu_forward, layer_utils.affine_relu_backward, [x, w[:6], b],
        ["dx", "dw", "db"], tol=1e-6
    )


def test_softmax_loss_value_and_gradient():
    rng = np.random.default_rng(2)
    N, C = 50, 10
    x, y = 1e-3 * rng.standard_normal((N, C)), rng.integers(C, size=N)
    loss, dx = softmax_loss(x, y)
    assert abs(loss - np.log(C)) < 1e-2  # near-uniform scores give log(C)
    numeric = eval_numerical_gradient(lambda x: softmax_loss(x, y)[0], x, verbose=False)
    check_gradient("dx", dx, numeric, tol=1e-7)
    # Large scores must not overflow.
    loss, _ = softmax_loss(np.array([[1000.0, 0.0]]), np.array([0]))
    assert np.isfinite(loss) and loss < 1e-6


def test_dropout_keeps_expected_value_and_is_identity_at_test():
    x = np.full((500, 500), 10.0)
    for p in (0.25, 0.6, 1.0):
        out, _ = dropout_forward(x, {"mode": "train", "p": p, "seed": 0})
        assert abs(out.mean() - 10.0) < 0.2
        assert abs((out == 0).mean() - (1 - p)) < 0.01
        out, _ = dropout_forward(x, {"mode": "test", "p": p})
        np.testing.assert_array_equal(out, x)
    with pytest.raises(ValueError, match="p"):
        dropout_forward(x, {"mode": "train", "p": 0})


def test_dropout_backward_with_seed():
    x = np.random.default_rng(3).standard_normal((10, 10)) + 10
    param = {"mode": "train", "p": 0.2, "seed": 123}
    assert_backward_matches_numeric(
        lambda x: dropout_forward(x, param), lambda d, c: (dropout_backward(d, c),), [x], ["dx"]
    )
    assert dropout_forward(x.astype(np.float32), param)[0].dtype == np.float32


@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm"])
def test_affine_norm_relu_backward(normalization):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 6)), rng.standard_normal(6)
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    param = {"mode": "train"}
    assert_backward_matches_numeric(
        lambda x, w, b, gamma, beta: layer_utils.affine_norm_relu_forward(
            x, w, b, gamma, beta, param, normalization
        ),
        layer_utils.affine_norm_relu_backward,
        [x, w, b, gamma, beta],
        ["dx", "dw", "db", "dgamma", "dbeta"],
        tol=1e-6,
    )


def test_affine_norm_relu_rejects_unknown_normalization():
    with pytest.raises(ValueError, match="groupnorm"):
        layer_utils.affine_norm_relu_forward(np.ones((2, 2)), np.ones((2, 2)), 0, 1, 0, {},
                                             "groupnorm")
