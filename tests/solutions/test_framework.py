"""solutions/framework.py: the conversions between our batch-norm conventions and PyTorch's.

Without PyTorch the conversions are tested against an independent computation (the two running
average rules written out, the unbiased variance taken from the data with ``ddof=1``). With
PyTorch importable (it is optional, not in the requirements) the reference batch norm of
solutions/layers.py is also compared with ``torch.nn.functional.batch_norm`` and
``torch.nn.BatchNorm1d`` in float64: outputs, gradients and running statistics agree to 1e-6 once
the conventions are converted, and the running statistics do not agree without the conversion.
"""

import numpy as np
import pytest

from solutions.framework import torch_momentum_from_normlab, torch_running_var
from solutions.layers import batchnorm_backward, batchnorm_backward_alt, batchnorm_forward

TOL = 1e-6


# --------------------------------------------------------------------------------------------------
# The conversions, without PyTorch
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ours", [0.0, 0.1, 0.5, 0.9, 0.99, 1.0])
def test_momentum_makes_one_running_average_step_agree(ours):
    rng = np.random.default_rng(3)
    old, batch = rng.normal(size=6), rng.normal(size=6)
    theirs = torch_momentum_from_normlab(ours)
    assert np.ndim(theirs) == 0
    ours_step = ours * old + (1 - ours) * batch  # our rule: momentum weights the old value
    torch_step = (1 - theirs) * old + theirs * batch  # PyTorch: momentum weights the new one
    np.testing.assert_allclose(torch_step, ours_step, rtol=1e-12, atol=1e-15)


def test_momentum_defaults_and_arrays():
    assert torch_momentum_from_normlab(0.9) == pytest.approx(0.1, abs=1e-15)  # the two defaults
    assert torch_momentum_from_normlab(torch_momentum_from_normlab(0.3)) == pytest.approx(0.3)
    many = np.array([[0.9, 0.5], [0.0, 0.75]])
    got = torch_momentum_from_normlab(many)
    assert got.shape == many.shape
    np.testing.assert_allclose((1 - got) * 2.0 + got * 5.0, many * 2.0 + (1 - many) * 5.0)


@pytest.mark.parametrize("N, D", [(2, 3), (3, 1), (8, 5), (100, 4)])
@pytest.mark.parametrize("momentum", [0.0, 0.9, 1.0])
def test_running_var_uses_the_unbiased_variance_of_the_data(N, D, momentum):
    rng = np.random.default_rng(N * 10 + D)
    x = rng.normal(rng.uniform(-3, 3, D), rng.uniform(0.5, 3, D), size=(N, D))
    running_var = rng.uniform(0.5, 2.0, D)
    biased = x.var(axis=0)
    before = (running_var.copy(), biased.copy())
    got = torch_running_var(running_var, biased, N, momentum)
    # Independent: the unbiased variance straight from the data, averaged by our momentum rule.
    unbiased = ((x - x.mean(axis=0)) ** 2).sum(axis=0) / (N - 1)
    np.testing.assert_allclose(got, momentum * running_var + (1 - momentum) * unbiased,
                               rtol=1e-12)
    assert got.shape == (D,)
    np.testing.assert_array_equal(running_var, before[0])  # inputs untouched
    np.testing.assert_array_equal(biased, before[1])


def test_running_var_rejects_a_single_example():
    with pytest.raises(ValueError, match="N >= 2"):
        torch_running_var(np.ones(3), np.zeros(3), 1, 0.9)


def test_running_var_is_ours_times_n_over_n_minus_1_from_zero_with_a_fixed_batch_size():
    """Iterating the conversion from zeros gives our batchnorm_forward's running variance times
    N / (N - 1): the running average is linear in what is added."""
    rng = np.random.default_rng(5)
    N, D, momentum = 6, 4, 0.8
    bn_param = {"mode": "train", "momentum": momentum}
    predicted = np.zeros(D)
    for _ in range(12):
        x = rng.normal(2.0, 3.0, size=(N, D))
        batchnorm_forward(x, np.ones(D), np.zeros(D), bn_param)
        predicted = torch_running_var(predicted, x.var(axis=0), N, momentum)
    np.testing.assert_allclose(predicted, bn_param["running_var"] * N / (N - 1), rtol=1e-12)


# --------------------------------------------------------------------------------------------------
# Parity with PyTorch (skipped without it)
# --------------------------------------------------------------------------------------------------


def _batches(seed, N, D, steps):
    rng = np.random.default_rng(seed)
    loc, spread = rng.uniform(-3, 3, D), rng.uniform(0.5, 3.0, D)
    low = int(rng.integers(D))
    spread[low] = 2e-3  # one feature whose variance is comparable to eps
    batches = [rng.normal(loc, spread, size=(N, D)) for _ in range(steps)]
    gamma, beta = rng.uniform(0.5, 2.0, D), rng.normal(0, 1, D)
    return batches, gamma, beta, rng.standard_normal((N, D))


@pytest.mark.parametrize("N, D, steps, momentum, eps", [
    (2, 3, 4, 0.9, 1e-5),
    (8, 5, 30, 0.9, 1e-5),
    (7, 1, 5, 0.6, 1e-3),
    (33, 6, 10, 0.99, 1e-5),
])
def test_parity_with_torch_functional_batch_norm(N, D, steps, momentum, eps):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    batches, gamma, beta, dout = _batches(N + D, N, D, steps)

    bn_param = {"mode": "train", "momentum": momentum, "eps": eps}
    running_mean_t = torch.zeros(D, dtype=torch.float64)  # our bn_param starts at zeros too
    running_var_t = torch.zeros(D, dtype=torch.float64)
    predicted_var = np.zeros(D)
    for x in batches:
        out, cache = batchnorm_forward(x, gamma, beta, bn_param)
        predicted_var = torch_running_var(predicted_var, x.var(axis=0), N, momentum)
        x_t = torch.tensor(x, requires_grad=True)
        weight = torch.tensor(gamma, requires_grad=True)
        bias = torch.tensor(beta, requires_grad=True)
        out_t = F.batch_norm(x_t, running_mean_t, running_var_t, weight, bias, training=True,
                             momentum=float(torch_momentum_from_normlab(momentum)), eps=eps)
        np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=0, atol=TOL)
    out_t.backward(torch.from_numpy(dout))
    for backward in (batchnorm_backward, batchnorm_backward_alt):
        dx, dgamma, dbeta = backward(dout, cache)
        np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=0, atol=TOL)
        np.testing.assert_allclose(dgamma, weight.grad.numpy(), rtol=0, atol=TOL)
        np.testing.assert_allclose(dbeta, bias.grad.numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(bn_param["running_mean"], running_mean_t.numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(predicted_var, running_var_t.numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(bn_param["running_var"] * N / (N - 1), running_var_t.numpy(),
                               rtol=0, atol=TOL)

    # Test mode: PyTorch's buffers loaded into bn_param give PyTorch's eval output.
    x_test = batches[0][: max(1, N // 2)] + 0.5
    loaded = {"mode": "test", "eps": eps, "running_mean": running_mean_t.numpy().copy(),
              "running_var": running_var_t.numpy().copy()}
    ours_test, _ = batchnorm_forward(x_test, gamma, beta, loaded)
    torch_test = F.batch_norm(torch.from_numpy(x_test), running_mean_t, running_var_t,
                              torch.from_numpy(gamma), torch.from_numpy(beta), training=False,
                              eps=eps)
    np.testing.assert_allclose(ours_test, torch_test.numpy(), rtol=0, atol=TOL)


def test_without_the_conversion_only_the_running_statistics_differ():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    N, D, momentum = 8, 4, 0.9
    batches, gamma, beta, _ = _batches(1, N, D, 5)
    bn_param = {"mode": "train", "momentum": momentum}
    running_mean_t = torch.zeros(D, dtype=torch.float64)
    running_var_t = torch.zeros(D, dtype=torch.float64)
    for x in batches:
        out, _ = batchnorm_forward(x, gamma, beta, bn_param)
        out_t = F.batch_norm(torch.from_numpy(x), running_mean_t, running_var_t,
                             torch.from_numpy(gamma), torch.from_numpy(beta), training=True,
                             momentum=momentum, eps=1e-5)  # our number passed unchanged
        np.testing.assert_allclose(out, out_t.numpy(), rtol=0, atol=TOL)
    assert np.abs(bn_param["running_mean"] - running_mean_t.numpy()).max() > 0.1
    assert np.abs(bn_param["running_var"] - running_var_t.numpy()).max() > 0.1


def test_parity_with_torch_batchnorm1d_module_from_its_initial_buffers():
    """nn.BatchNorm1d starts at running_var = 1; starting bn_param there, and predicting the
    variance buffer with torch_running_var, matches the module step by step."""
    torch = pytest.importorskip("torch")
    N, D, momentum = 5, 3, 0.9
    batches, gamma, beta, _ = _batches(2, N, D, 6)
    layer = torch.nn.BatchNorm1d(D, eps=1e-5, momentum=torch_momentum_from_normlab(momentum),
                                 dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(gamma))
        layer.bias.copy_(torch.from_numpy(beta))
    layer.train()
    bn_param = {"mode": "train", "momentum": momentum,
                "running_mean": layer.running_mean.numpy().copy(),
                "running_var": layer.running_var.numpy().copy()}
    predicted_var = layer.running_var.numpy().copy()
    for x in batches:
        with torch.no_grad():
            out_t = layer(torch.from_numpy(x)).numpy()
        out, _ = batchnorm_forward(x, gamma, beta, bn_param)
        predicted_var = torch_running_var(predicted_var, x.var(axis=0), N, momentum)
        np.testing.assert_allclose(out, out_t, rtol=0, atol=TOL)
        np.testing.assert_allclose(bn_param["running_mean"], layer.running_mean.numpy(),
                                   rtol=0, atol=TOL)
        np.testing.assert_allclose(predicted_var, layer.running_var.numpy(), rtol=0, atol=TOL)
