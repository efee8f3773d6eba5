"""Spatial batch norm and group norm on (N, C, H, W) feature maps."""

import numpy as np
import pytest

from solutions.layers import (
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
)
from tests.solutions.gradients import assert_norm_backward_matches_numeric, norm_inputs


def oracle_spatial_bn(x, gamma, beta, eps=1e-5):
    """Channel by channel: statistics over the batch and both spatial axes."""
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        v = x[:, c]
        out[:, c] = gamma[c] * (v - v.mean()) / np.sqrt(v.var() + eps) + beta[c]
    return out


def oracle_groupnorm(x, gamma, beta, G, eps=1e-5):
    """Example by example and group by group: statistics over the group's channels and pixels."""
    N, C, H, W = x.shape
    out = np.empty_like(x)
    size = C // G
    for n in range(N):
        for g in range(G):
            v = x[n, g * size : (g + 1) * size]
            out[n, g * size : (g + 1) * size] = (v - v.mean()) / np.sqrt(v.var() + eps)
    return gamma * out + beta


@pytest.mark.spatial_batchnorm
def test_spatial_bn_forward_matches_definition_and_keeps_per_channel_stats():
    rng = np.random.default_rng(0)
    x = 4 * rng.standard_normal((2, 3, 4, 5)) + 10
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    bn_param = {"mode": "train"}
    out, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(out, oracle_spatial_bn(x, gamma, beta), rtol=1e-10, atol=1e-12)
    assert bn_param["running_mean"].shape == (3,)
    np.testing.assert_allclose(bn_param["running_mean"], 0.1 * x.mean(axis=(0, 2, 3)))

    # Test mode normalizes with the running averages and leaves them alone.
    before = bn_param["running_mean"].copy(), bn_param["running_var"].copy()
    bn_param["mode"] = "test"
    out_test, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    rm, rv = (s[None, :, None, None] for s in before)
    expected = gamma[None, :, None, None] * (x - rm) / np.sqrt(rv + 1e-5)
    np.testing.assert_allclose(out_test, expected + beta[None, :, None, None])
    np.testing.assert_array_equal(bn_param["running_mean"], before[0])


@pytest.mark.spatial_batchnorm
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 2, 3, 3), (3, 1, 2, 1)])
def test_spatial_bn_backward_matches_numerical_gradients(shape):
    x, gamma, beta = norm_inputs(np.random.default_rng(shape[0] + shape[1]), shape, 3, 2,
                                 shape[1])
    assert_norm_backward_matches_numeric(spatial_batchnorm_forward, spatial_batchnorm_backward,
                                         x, gamma, beta, {"mode": "train"})


@pytest.mark.groupnorm
@pytest.mark.parametrize("G", [1, 2, 3, 6])
def test_groupnorm_forward_matches_definition(G):
    rng = np.random.default_rng(G)
    x = 2 * rng.standard_normal((3, 6, 4, 5)) - 1
    gamma = rng.standard_normal((1, 6, 1, 1))
    beta = rng.standard_normal((1, 6, 1, 1))
    out, _ = spatial_groupnorm_forward(x, gamma, beta, G, {})
    np.testing.assert_allclose(out, oracle_groupnorm(x, gamma, beta, G), rtol=1e-10, atol=1e-12)


@pytest.mark.groupnorm
def test_groupnorm_rejects_groups_that_do_not_divide_channels():
    x = np.zeros((1, 6, 2, 2))
    with pytest.raises(ValueError, match="G=4"):
        spatial_groupnorm_forward(x, np.ones((1, 6, 1, 1)), np.zeros((1, 6, 1, 1)), 4, {})


@pytest.mark.groupnorm
@pytest.mark.parametrize("shape,G", [((2, 6, 4, 5), 2), ((1, 4, 3, 3), 4), ((3, 3, 2, 2), 1)])
def test_groupnorm_backward_matches_numerical_gradients(shape, G):
    C = shape[1]
    x, gamma, beta = norm_inputs(np.random.default_rng(G), shape, 3, 1, (1, C, 1, 1))
    out, cache = spatial_groupnorm_forward(x, gamma, beta, G, {})
    dx, dgamma, dbeta = spatial_groupnorm_backward(np.ones_like(out), cache)
    assert dgamma.shape == dbeta.shape == (1, C, 1, 1)
    assert_norm_backward_matches_numeric(spatial_groupnorm_forward, spatial_groupnorm_backward,
                                         x, gamma, beta, G, {})


@pytest.mark.groupnorm
def test_float32_preserved():
    x = np.random.default_rng(5).standard_normal((2, 4, 3, 3)).astype(np.float32)
    g, b = np.ones((1, 4, 1, 1), np.float32), np.zeros((1, 4, 1, 1), np.float32)
    out, cache = spatial_groupnorm_forward(x, g, b, 2, {})
    assert out.dtype == np.float32
    assert all(a.dtype == np.float32 for a in spatial_groupnorm_backward(out, cache))
    out, cache = spatial_batchnorm_forward(x, g.ravel(), b.ravel(), {"mode": "train"})
    assert out.dtype == np.float32
    assert all(a.dtype == np.float32 for a in spatial_batchnorm_backward(out, cache))
