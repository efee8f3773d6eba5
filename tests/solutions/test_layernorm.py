"""Layer normalization: per-example statistics, mode independence, gradients."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from solutions.layers import layernorm_backward, layernorm_forward
from tests.solutions.gradients import assert_norm_backward_matches_numeric, norm_inputs

pytestmark = pytest.mark.layernorm_forward


def oracle_ln(x, gamma, beta, eps=1e-5):
    """Row by row, straight from the definition."""
    out = np.empty_like(x)
    for n, row in enumerate(x):
        mu = sum(row) / len(row)
        var = sum((r - mu) ** 2 for r in row) / len(row)
        out[n] = gamma * (row - mu) / np.sqrt(var + eps) + beta
    return out


def test_forward_matches_definition_and_ignores_mode():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6)) * 3 + 1
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    out, _ = layernorm_forward(x, gamma, beta, {})
    np.testing.assert_allclose(out, oracle_ln(x, gamma, beta), rtol=1e-10, atol=1e-12)
    out_test, _ = layernorm_forward(x, gamma, beta, {"mode": "test"})
    np.testing.assert_array_equal(out_test, out)


@given(
    x=st.integers(1, 10).flatmap(
        lambda n: st.integers(2, 30).flatmap(
            lambda d: arrays(np.float64, (n, d), elements=st.floats(-1e3, 1e3))
        )
    )
)
def test_each_row_has_zero_mean_and_unit_scale(x):
    D = x.shape[1]
    eps = 1e-5
    out, _ = layernorm_forward(x, np.ones(D), np.zeros(D), {"eps": eps})
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=1e-6)
    var = x.var(axis=1)
    np.testing.assert_allclose(out.std(axis=1), np.sqrt(var / (var + eps)), rtol=1e-6, atol=1e-6)


def test_examples_are_independent():
    """Changing one example never changes another's output (unlike batch norm)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 4))
    g, b = np.ones(4), np.zeros(4)
    out1, _ = layernorm_forward(x, g, b, {})
    x2 = x.copy()
    x2[0] *= 100
    out2, _ = layernorm_forward(x2, g, b, {})
    np.testing.assert_allclose(out2[1:], out1[1:])


def test_float32_preserved():
    x = np.random.default_rng(2).standard_normal((3, 5)).astype(np.float32)
    out, cache = layernorm_forward(x, np.ones(5, np.float32), np.zeros(5, np.float32), {})
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layernorm_backward(np.ones_like(out), cache))


@pytest.mark.layernorm_backward
@pytest.mark.parametrize("shape", [(1, 3), (2, 1), (4, 5), (7, 13)])
def test_backward_matches_numerical_gradients(shape):
    x, gamma, beta = norm_inputs(np.random.default_rng(shape[1]), shape, 4, -3, shape[1])
    assert_norm_backward_matches_numeric(layernorm_forward, layernorm_backward, x, gamma, beta, {})
