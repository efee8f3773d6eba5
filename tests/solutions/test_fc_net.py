"""FullyConnectedNet: construction contract, gradients with and without normalization."""

import numpy as np
import pytest

from solutions.fc_net import FullyConnectedNet
from solutions.gradient_check import check_gradient, eval_numerical_gradient

pytestmark = pytest.mark.fc_net_normalization


def small_problem(seed=0, N=3, D=7, C=4):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, D)), rng.integers(C, size=N), D, C


def assert_model_gradients(model, X, y, tol):
    loss, grads = model.loss(X, y)
    assert set(grads) == set(model.params), "one gradient per parameter"
    for name in sorted(model.params):
        numeric = eval_numerical_gradient(
            lambda _: model.loss(X, y)[0], model.params[name], verbose=False, h=1e-6
        )
        check_gradient(name, grads[name], numeric, tol=tol)


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
@pytest.mark.parametrize("reg", [0.0, 3.14])
def test_gradients_match_numerical(normalization, reg):
    X, y, D, C = small_problem(seed=1 if normalization else 2, N=4)
    np.random.seed(231)
    model = FullyConnectedNet(
        [6, 5], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-1,
        dtype=np.float64, normalization=normalization,
    )
    expected = {"W1", "b1", "W2", "b2", "W3", "b3"}
    if normalization:
        expected |= {"gamma1", "beta1", "gamma2", "beta2"}
    assert set(model.params) == expected
    assert_model_gradients(model, X, y, tol=1e-5)


def test_gradients_with_dropout_and_batchnorm():
    X, y, D, C = small_problem(seed=3, N=5)
    np.random.seed(0)
    model = FullyConnectedNet(
        [8, 8], input_dim=D, num_classes=C, dropout_keep_ratio=0.5, normalization="batchnorm",
        weight_scale=5e-1, dtype=np.float64, seed=123, reg=0.5,
    )
    assert_model_gradients(model, X, y, tol=1e-5)


def test_regularization_is_on_weights_only():
    X, y, D, C = small_problem(seed=4)
    losses, grads = {}, {}
    for reg in (0.0, 2.0):
        np.random.seed(5)
        model = FullyConnectedNet(
            [5], input_dim=D, num_classes=C, reg=reg, normalization="batchnorm", dtype=np.float64
        )
        model.params["gamma1"] += 1.0  # nonzero penalty if gamma were (wrongly) regularized
        losses[reg], grads[reg] = model.loss(X, y)
    penalty = 0.5 * 2.0 * sum(np.sum(model.params[w] ** 2) for w in ("W1", "W2"))
    assert losses[2.0] - losses[0.0] == pytest.approx(penalty, rel=1e-10)
    for name in ("gamma1", "beta1", "b1", "b2"):
        np.testing.assert_array_equal(grads[2.0][name], grads[0.0][name])
    np.testing.assert_allclose(grads[2.0]["W1"] - grads[0.0]["W1"], 2.0 * model.params["W1"])


def test_test_mode_returns_scores_and_keeps_running_stats():
    X, y, D, C = small_problem(seed=6, N=10)
    model = FullyConnectedNet([5, 5], input_dim=D, num_classes=C, normalization="batchnorm")
    model.loss(X, y)  # one train pass fills the running averages
    saved = [(p["running_mean"].copy(), p["running_var"].copy()) for p in model.bn_params]
    scores = model.loss(X)
    assert scores.shape == (10, C)
    assert scores.dtype == np.float32
    for p, (rm, rv) in zip(model.bn_params, saved, strict=True):
        assert p["mode"] == "test"
        np.testing.assert_array_equal(p["running_mean"], rm)
        np.testing.assert_array_equal(p["running_var"], rv)


def test_dtype_and_initialization():
    model = FullyConnectedNet([4, 3], input_dim=6, num_classes=2, normalization="layernorm")
    assert all(v.dtype == np.float32 for v in model.params.values())
    np.testing.assert_array_equal(model.params["gamma2"], np.ones(3))
    np.testing.assert_array_equal(model.params["beta1"], np.zeros(4))
    assert model.params["W1"].shape == (6, 4) and model.params["W3"].shape == (3, 2)
    assert "gamma3" not in model.params  # the scoring layer is not normalized


def test_use_batchnorm_alias_and_bad_normalization():
    model = FullyConnectedNet([4], input_dim=3, num_classes=2, use_batchnorm=True)
    assert model.normalization == "batchnorm" and "gamma1" in model.params
    assert FullyConnectedNet([4], input_dim=3, use_batchnorm=False).normalization is None
    with pytest.raises(ValueError, match="contradicts"):
        FullyConnectedNet([4], use_batchnorm=True, normalization="layernorm")
    with pytest.raises(ValueError, match="'group'"):
        FullyConnectedNet([4], normalization="group")


def test_dropout_is_2018_2019s_name_of_the_keep_ratio():
    X, y, D, C = small_problem(seed=3, N=5)
    losses = []
    for keyword in ("dropout_keep_ratio", "dropout"):
        np.random.seed(4)
        model = FullyConnectedNet([7], input_dim=D, num_classes=C, seed=5, **{keyword: 0.6})
        assert model.use_dropout and model.dropout_param["p"] == 0.6
        losses.append(model.loss(X, y)[0])
    assert losses[0] == losses[1]
    assert not FullyConnectedNet([7], dropout=1).use_dropout
    # 2016-2017's drop probability would be read the other way round: refused, pointing to UCLA.
    with pytest.raises(ValueError, match="KEEPING.*ucla.nndl.fc_net"):
        FullyConnectedNet([7], dropout=0)
    with pytest.raises(ValueError, match="2016-2017"):
        FullyConnectedNet([7], dropout=0.25, use_batchnorm=True)
    with pytest.raises(ValueError, match="not both"):
        FullyConnectedNet([7], dropout=0.5, dropout_keep_ratio=0.5)


def test_dropout_seed_makes_the_network_deterministic():
    X, y, D, C = small_problem(seed=7, N=6)
    losses = []
    for _ in range(2):
        np.random.seed(1)
        model = FullyConnectedNet([9], input_dim=D, num_classes=C, dropout_keep_ratio=0.3, seed=42)
        losses.append(model.loss(X, y)[0])
    assert losses[0] == losses[1]
