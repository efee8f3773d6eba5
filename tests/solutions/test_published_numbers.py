"""Numbers printed in public completed copies of the CS231n BatchNormalization and Dropout
notebooks.

They are reproduced with ``np.random.seed(231)`` and the same sequence of random draws, so a
course porting its notebook sees the values its students and answer keys expect. Dropout draws
its masks from NumPy's global state, and a ``seed`` in dropout_param reseeds that state, as
CS231n's does: the Dropout notebook's losses at keep 0.75 and 0.5 depend on both. The kit's own
notebook draws its batches with ``solutions/experiments.py``, which must draw the same ones.
"""

import numpy as np
import pytest

from solutions.experiments import relu_net_batches, relu_net_outputs
from solutions.fc_net import FullyConnectedNet
from solutions.layers import batchnorm_forward, dropout_forward, spatial_batchnorm_forward

N, D1, D2, D3 = 200, 50, 60, 3
#: The test-time cell's printout: per-feature means and standard deviations.
TEST_TIME_MEANS = [-0.03927354, -0.04349152, -0.10452688]
TEST_TIME_STDS = [1.01531428, 1.01238373, 0.97819988]


def test_two_layer_simulation_means_before_batchnorm():
    """The kit's relu_net_outputs draws the first cell's activations."""
    a = relu_net_outputs(N)
    assert a.shape == (N, D3)
    np.testing.assert_allclose(a.mean(axis=0), [-2.3814598, -13.18038246, 1.91780462], rtol=1e-7)


def test_relu_net_batches_are_the_test_time_cells_batches():
    """The kit's relu_net_batches draws the test-time cell's 51 batches: normalized by hand (the
    running averages of momentum 0.9 from zero over the first 50, eps 1e-5), the last has the
    published statistics. No batchnorm_forward involved."""
    *train, test = relu_net_batches(51, N)
    running_mean, running_var = np.zeros(D3), np.zeros(D3)
    for a in train:
        running_mean = 0.9 * running_mean + 0.1 * a.mean(axis=0)
        running_var = 0.9 * running_var + 0.1 * a.var(axis=0)
    a_norm = (test - running_mean) / np.sqrt(running_var + 1e-5)
    np.testing.assert_allclose(a_norm.mean(axis=0), TEST_TIME_MEANS, rtol=1e-6)
    np.testing.assert_allclose(a_norm.std(axis=0), TEST_TIME_STDS, rtol=1e-7)


@pytest.mark.batchnorm_forward
def test_test_time_statistics_after_50_training_passes():
    """CS231n's test-time cell as it stands, with the kit's batchnorm_forward."""
    np.random.seed(231)
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    bn_param = {"mode": "train"}
    gamma, beta = np.ones(D3), np.zeros(D3)
    for _ in range(50):
        X = np.random.randn(N, D1)
        batchnorm_forward(np.maximum(0, X @ W1) @ W2, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    X = np.random.randn(N, D1)
    a_norm, _ = batchnorm_forward(np.maximum(0, X @ W1) @ W2, gamma, beta, bn_param)
    np.testing.assert_allclose(a_norm.mean(axis=0), TEST_TIME_MEANS, rtol=1e-6)
    np.testing.assert_allclose(a_norm.std(axis=0), TEST_TIME_STDS, rtol=1e-7)


@pytest.mark.fc_net_normalization
def test_fully_connected_net_initial_losses():
    """The notebook builds the reg=0 and reg=3.14 nets in one loop after a single seed."""
    np.random.seed(231)
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    losses = []
    for reg in (0, 3.14):
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg,
                                  weight_scale=5e-2, dtype=np.float64, normalization="batchnorm")
        losses.append(model.loss(X, y)[0])
    assert losses == pytest.approx([2.2611955101340957, 6.996533220108303], rel=1e-12)


@pytest.mark.spatial_batchnorm
def test_spatial_batchnorm_means_before_normalization():
    """The ConvNormalization notebook's first printout (means of x = 4 * randn + 10)."""
    np.random.seed(231)
    x = 4 * np.random.randn(2, 3, 4, 5) + 10
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), [9.33463814, 8.90909116, 9.11056338],
                               rtol=1e-8)
    out, _ = spatial_batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, rtol=1e-5)


def test_dropout_forward_without_a_seed_follows_np_random():
    """The Dropout notebook's first cell: masks drawn after np.random.seed(231), no seed."""
    np.random.seed(231)
    x = np.random.randn(500, 500) + 10
    printed = {0.25: (10.014059116977283, 0.749784), 0.4: (9.977917658761159, 0.600796),
               0.7: (9.987811912159426, 0.30074)}
    for p, (mean, zeros) in printed.items():
        out, _ = dropout_forward(x, {"mode": "train", "p": p})
        out_test, _ = dropout_forward(x, {"mode": "test", "p": p})
        assert out.mean() == pytest.approx(mean, rel=1e-12)
        assert (out == 0).mean() == zeros
        assert out_test.mean() == pytest.approx(10.000207878477502, rel=1e-14)


@pytest.mark.parametrize("keyword", ["dropout_keep_ratio", "dropout"])
def test_fully_connected_net_initial_losses_with_dropout(keyword):
    """The Dropout notebook's gradient-check loop: one seed, then three nets with dropout seed
    123. Each net's weights are drawn after the previous net's seeded dropout reseeded
    np.random (its gradient check only repeats that loss), hence one loss call per net.

    2018 and 2019 spell the keep probability ``dropout=`` in the same loop and print the same
    losses (2.3042759220785896 for keep 0.5: the same double, printed with more digits)."""
    np.random.seed(231)
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    losses = []
    for keep in (1, 0.75, 0.5):
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=5e-2,
                                  dtype=np.float64, seed=123, **{keyword: keep})
        losses.append(model.loss(X, y)[0])
    assert losses == pytest.approx([2.3004790897684924, 2.302371489704412, 2.30427592207859],
                                   rel=1e-12)
