"""Batch normalization: the bn_param contract, properties, and gradients."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from solutions.layers import batchnorm_backward, batchnorm_backward_alt, batchnorm_forward
from tests.solutions.gradients import assert_norm_backward_matches_numeric, norm_inputs

pytestmark = pytest.mark.batchnorm_forward


def oracle_bn_train(x, gamma, beta, eps=1e-5):
    """Column by column, straight from the definition (biased variance, eps inside the root)."""
    out = np.empty_like(x)
    for d in range(x.shape[1]):
        col = x[:, d]
        mu = sum(col) / len(col)
        var = sum((c - mu) ** 2 for c in col) / len(col)
        out[:, d] = gamma[d] * (col - mu) / np.sqrt(var + eps) + beta[d]
    return out


def test_train_forward_matches_definition():
    rng = np.random.default_rng(0)
    x = 3 * rng.standard_normal((7, 5)) + 2
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    out, _ = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(out, oracle_bn_train(x, gamma, beta), rtol=1e-10, atol=1e-12)


@given(
    x=st.integers(2, 40).flatmap(
        lambda n: st.integers(1, 8).flatmap(
            lambda d: arrays(np.float64, (n, d), elements=st.floats(-1e3, 1e3))
        )
    ),
    data=st.data(),
)
def test_train_output_has_mean_beta_and_std_gamma(x, data):
    """Property: per feature, mean(out) = beta and std(out) = |gamma| * sqrt(var / (var + eps))."""
    D = x.shape[1]
    vec = arrays(np.float64, (D,), elements=st.floats(-5, 5))
    gamma, beta = data.draw(vec), data.draw(vec)
    eps = 1e-5
    out, _ = batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": eps})
    var = x.var(axis=0)
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-6 * (1 + np.abs(gamma)).max())
    expected_std = np.abs(gamma) * np.sqrt(var / (var + eps))
    np.testing.assert_allclose(out.std(axis=0), expected_std, rtol=1e-6, atol=1e-6)


def test_mode_is_required_and_validated():
    x, g, b = np.ones((2, 3)), np.ones(3), np.zeros(3)
    with pytest.raises(ValueError, match="mode"):
        batchnorm_forward(x, g, b, {})
    with pytest.raises(ValueError, match="'eval'"):
        batchnorm_forward(x, g, b, {"mode": "eval"})


def test_running_stats_default_zeros_momentum_and_biased_variance():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    bn_param = {"mode": "train"}
    batchnorm_forward(x, np.ones(4, np.float32), np.zeros(4, np.float32), bn_param)
    # Defaults: zeros, momentum 0.9, so the first update is 0.1 * the batch statistic.
    assert bn_param["running_mean"].shape == (4,)
    assert bn_param["running_mean"].dtype == np.float32
    assert bn_param["running_var"].dtype == np.float32
    np.testing.assert_allclose(bn_param["running_mean"], 0.1 * x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn_param["running_var"], 0.1 * x.var(axis=0, ddof=0), rtol=1e-5)


def test_running_average_uses_given_momentum():
    rng = np.random.default_rng(2)
    rm, rv = rng.standard_normal(3), rng.random(3)
    bn_param = {"mode": "train", "momentum": 0.7}
    bn_param.update(running_mean=rm.copy(), running_var=rv.copy())
    x = rng.standard_normal((9, 3))
    batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], 0.7 * rm + 0.3 * x.mean(axis=0))
    np.testing.assert_allclose(bn_param["running_var"], 0.7 * rv + 0.3 * x.var(axis=0))


def test_test_mode_uses_running_stats_and_never_changes_them():
    rng = np.random.default_rng(3)
    rm, rv = rng.standard_normal(4), rng.random(4) + 0.5
    bn_param = {"mode": "test", "running_mean": rm.copy(), "running_var": rv.copy(), "eps": 1e-3}
    x = rng.standard_normal((5, 4))
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    out, _ = batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(out, gamma * (x - rm) / np.sqrt(rv + 1e-3) + beta)
    np.testing.assert_array_equal(bn_param["running_mean"], rm)
    np.testing.assert_array_equal(bn_param["running_var"], rv)


def test_float32_preserved():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    g, b = np.ones(3, np.float32), np.zeros(3, np.float32)
    out, cache = batchnorm_forward(x, g, b, {"mode": "train"})
    assert out.dtype == np.float32
    for backward in (batchnorm_backward, batchnorm_backward_alt):
        grads = backward(np.ones_like(out), cache)
        assert [gr.dtype for gr in grads] == [np.float32] * 3


@pytest.mark.batchnorm_backward
@pytest.mark.parametrize("shape", [(3, 1), (3, 4), (5, 7), (13, 2), (4, 5)])
def test_backward_matches_numerical_gradients(shape):
    x, gamma, beta = norm_inputs(np.random.default_rng(sum(shape)), shape, 5, 12, shape[1])
    assert_norm_backward_matches_numeric(batchnorm_forward, batchnorm_backward, x, gamma, beta,
                                         {"mode": "train"})


@pytest.mark.batchnorm_backward
def test_backward_single_example_is_zero_for_x():
    """With N = 1 the output is beta whatever x is, so dx must vanish."""
    x, gamma, beta = np.array([[1.5, -2.0, 3.0]]), np.array([2.0, 3.0, 4.0]), np.zeros(3)
    out, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(out, beta[None, :])
    for backward in (batchnorm_backward, batchnorm_backward_alt):
        dx, dgamma, dbeta = backward(np.array([[1.0, 2.0, 3.0]]), cache)
        np.testing.assert_allclose(dx, 0, atol=1e-12)
        np.testing.assert_allclose(dbeta, [1.0, 2.0, 3.0])


@pytest.mark.batchnorm_backward_alt
@pytest.mark.parametrize("shape", [(3, 3), (11, 6), (64, 16)])
def test_alt_backward_matches_numeric_and_staged(shape):
    rng = np.random.default_rng(shape[0])
    x, gamma, beta = norm_inputs(rng, shape, 2, -1, shape[1])
    assert_norm_backward_matches_numeric(batchnorm_forward, batchnorm_backward_alt, x, gamma,
                                         beta, {"mode": "train"})
    out, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dout = rng.standard_normal(out.shape)
    for staged, closed in zip(
        batchnorm_backward(dout, cache), batchnorm_backward_alt(dout, cache), strict=True
    ):
        np.testing.assert_allclose(closed, staged, rtol=1e-9, atol=1e-12)
