"""The object API (solutions/nn.py): every layer and a whole model against numerical gradients,
the forward passes against independent formulas, the optimizers against a hand-written oracle,
and the training loop on the synthetic CIFAR-10."""

import numpy as np
import pytest

from solutions.data_utils import get_CIFAR10_data
from solutions.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    relative_errors,
)
from solutions.layers import softmax_loss
from solutions.nn import (
    SGD,
    Adam,
    BatchNorm,
    Dense,
    Dropout,
    LayerNorm,
    Model,
    accuracy,
    epoch_solver,
)
from solutions.synthetic_cifar import write_synthetic_cifar10

TOL = 1e-7  # largest relative error of an analytic gradient (float64, h = 1e-5)


def rel_error(analytic, numeric, scale=None, floor=1e-6):
    """Largest elementwise relative error, with a floor at ``floor`` times ``scale`` (default:
    the largest element of the two gradients)."""
    if scale is None:
        scale = max(np.abs(numeric).max(), np.abs(analytic).max(), 1e-12)
    return float(np.max(relative_errors(analytic, numeric, floor=floor * scale)))


def assert_layer_gradients(layer, x, seed=0, mode="train"):
    """backward(dout) of ``layer`` vs centered differences of its forward, for x and every
    parameter (the parameter arrays are perturbed in place, as the layer reads them)."""
    rng = np.random.default_rng(seed)
    out = layer.forward(x, mode)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    assert set(layer.grads) == set(layer.params)
    numeric = eval_numerical_gradient_array(lambda v: layer.forward(v, mode), x, dout)
    assert dx.shape == x.shape
    assert rel_error(dx, numeric) < TOL, ("dx", rel_error(dx, numeric))
    for key, value in layer.params.items():
        numeric = eval_numerical_gradient_array(lambda _: layer.forward(x, mode), value, dout)
        assert layer.grads[key].shape == value.shape, key
        assert rel_error(layer.grads[key], numeric) < TOL, (key, rel_error(layer.grads[key],
                                                                          numeric))


def features(rng, n, d):
    """(n, d) data whose features have their own means and spreads."""
    return rng.uniform(-2, 2, d) + rng.uniform(0.5, 3, d) * rng.standard_normal((n, d))


def set_norm_params(layer, rng):
    """Non-trivial gamma and beta, beta spread so that a fused ReLU cuts some units."""
    d = layer.params["gamma"].shape[0]
    layer.params["gamma"] = rng.uniform(0.5, 2.0, d)
    layer.params["beta"] = rng.normal(0, 1.0, d)


# --------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", [None, "relu"])
def test_dense_gradients_and_output(activation):
    rng = np.random.default_rng(1)
    np.random.seed(1)
    layer = Dense(12, 5, weight_scale=0.5, activation=activation)
    layer.params["b"] = rng.normal(0, 0.5, 5)
    x = rng.standard_normal((4, 3, 2, 2))  # flattened to 12 features
    out = layer.forward(x)
    a = x.reshape(4, 12) @ layer.params["W"] + layer.params["b"]
    np.testing.assert_allclose(out, np.maximum(a, 0) if activation else a, rtol=1e-12)
    assert_layer_gradients(layer, x)


def test_dense_initialization():
    np.random.seed(0)
    layer = Dense(400, 300, weight_scale=0.1)
    assert layer.params["W"].shape == (400, 300) and np.all(layer.params["b"] == 0)
    assert layer.params["W"].std() == pytest.approx(0.1, rel=0.02)
    he = Dense(200, 300, weight_scale=None, activation="relu")
    assert he.params["W"].std() == pytest.approx(np.sqrt(2 / 200), rel=0.02)
    xavier = Dense(200, 300, weight_scale=None)
    assert xavier.params["W"].std() == pytest.approx(np.sqrt(2 / 500), rel=0.02)
    # IFT780's defaults: 10 outputs, weight scale 1e-4, no activation ('identity').
    default = Dense(50)
    assert default.params["W"].shape == (50, 10) and default.activation is None
    assert default.params["W"].std() == pytest.approx(1e-4, rel=0.1)
    assert Dense(5, 2, activation="identity").activation is None


def test_dense_without_an_input_size_takes_it_from_the_first_batch():
    """IFT780's first layer, ``Dense(dim_output=H, ...)``: W drawn from np.random at the first
    forward pass, with the input's flattened width."""
    x = np.random.default_rng(19).standard_normal((4, 3, 2, 2))
    layer = Dense(dim_output=5, weight_scale=0.3, activation="relu")
    assert "W" not in layer.params and layer.params["b"].shape == (5,)
    np.random.seed(7)
    out = layer.forward(x)
    np.random.seed(7)
    W = 0.3 * np.random.randn(12, 5)
    np.testing.assert_array_equal(layer.params["W"], W)
    assert list(layer.params) == ["W", "b"] and layer.dim_input == 12
    np.testing.assert_allclose(out, np.maximum(x.reshape(4, 12) @ W, 0), rtol=1e-12)
    np.testing.assert_array_equal(layer.forward(x), out)  # drawn once
    assert_layer_gradients(layer, x)


#: layer -> (seed of its data, batch size, the (mode, seed of dout) of each gradient check).
#: LayerNorm is checked in test mode too: it normalizes each example the same way in both.
NORM_GRADIENT_CHECKS = {
    BatchNorm: (2, 7, [("train", 3)]),
    LayerNorm: (4, 5, [("train", 5), ("test", 6)]),
}


@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("layer_class", NORM_GRADIENT_CHECKS, ids=lambda c: c.__name__)
def test_norm_layer_gradients_with_fused_activation(layer_class, activation):
    seed, n, checks = NORM_GRADIENT_CHECKS[layer_class]
    rng = np.random.default_rng(seed)
    layer = layer_class(6, activation=activation)
    set_norm_params(layer, rng)
    for mode, dout_seed in checks:
        assert_layer_gradients(layer, features(rng, n, 6), seed=dout_seed, mode=mode)


def test_batchnorm_forward_against_the_formula_in_both_modes():
    rng = np.random.default_rng(7)
    layer = BatchNorm(4, eps=1e-3, momentum=0.7, activation="relu")
    set_norm_params(layer, rng)
    gamma, beta = layer.params["gamma"], layer.params["beta"]
    x = features(rng, 9, 4)
    mean, var = x.mean(axis=0), x.var(axis=0)
    out = layer.forward(x, "train")
    np.testing.assert_allclose(out, np.maximum(gamma * (x - mean) / np.sqrt(var + 1e-3) + beta,
                                               0), rtol=1e-10, atol=1e-12)
    assert (out == 0).any() and (out > 0).any()  # the ReLU really cuts here
    running_mean, running_var = 0.3 * mean, 0.3 * var  # from zeros, momentum 0.7
    xt = features(rng, 3, 4)
    expected = np.maximum(gamma * (xt - running_mean) / np.sqrt(running_var + 1e-3) + beta, 0)
    np.testing.assert_allclose(layer.forward(xt, "test"), expected, rtol=1e-10, atol=1e-12)
    # Test mode is per example: one example alone gives the same output.
    np.testing.assert_allclose(layer.forward(xt[1:2], "test"), expected[1:2], rtol=1e-12)


def test_layernorm_forward_against_the_formula():
    rng = np.random.default_rng(8)
    layer = LayerNorm(5, eps=1e-2)
    set_norm_params(layer, rng)
    x = features(rng, 3, 5)
    mean, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    expected = layer.params["gamma"] * (x - mean) / np.sqrt(var + 1e-2) + layer.params["beta"]
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12)


def test_batchnorm_gamma_beta_gradients_come_after_the_relu():
    """The French course's slip: dgamma and dbeta from the gradient before the ReLU's backward.
    Ours: only the units the ReLU let through contribute."""
    rng = np.random.default_rng(9)
    layer = BatchNorm(5, activation="relu")
    set_norm_params(layer, rng)
    x = features(rng, 8, 5)
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    layer.backward(dout)
    x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-5)
    passed = (layer.params["gamma"] * x_hat + layer.params["beta"]) > 0
    np.testing.assert_allclose(layer.grads["gamma"], (dout * passed * x_hat).sum(axis=0),
                               rtol=1e-10)
    np.testing.assert_allclose(layer.grads["beta"], (dout * passed).sum(axis=0), rtol=1e-10)
    assert not np.allclose(layer.grads["beta"], dout.sum(axis=0))


def test_normalization_initialization():
    np.random.seed(3)
    bn = BatchNorm(7)
    np.testing.assert_array_equal(bn.params["gamma"], np.ones(7))
    np.testing.assert_array_equal(bn.params["beta"], np.zeros(7))
    noisy = LayerNorm(500, weight_scale=0.1)
    assert noisy.params["gamma"].mean() == pytest.approx(0, abs=0.02)
    assert noisy.params["gamma"].std() == pytest.approx(0.1, rel=0.1)
    # IFT780's: gamma is weight_scale * randn(D) (around zero), drawn from np.random.
    np.random.seed(0)
    gamma = BatchNorm(3, weight_scale=1e-4).params["gamma"]
    np.random.seed(0)
    np.testing.assert_array_equal(gamma, 1e-4 * np.random.randn(3))
    np.testing.assert_array_equal(BatchNorm(3, weight_scale=None).params["gamma"], np.ones(3))


def test_dropout_with_a_seed_is_deterministic_and_checks_numerically():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((20, 30))
    layer = Dropout(p=0.6, seed=42)
    out = layer.forward(x, "train")
    np.testing.assert_array_equal(out, layer.forward(x, "train"))  # same mask each call
    kept = out != 0
    assert 0.5 < kept.mean() < 0.7
    np.testing.assert_allclose(out[kept], x[kept] / 0.6, rtol=1e-12)
    assert_layer_gradients(layer, x, seed=11)
    np.testing.assert_array_equal(layer.forward(x, "test"), x)
    assert layer.params == {} and layer.grads == {}
    other = Dropout(p=0.6, seed=43).forward(x, "train")
    assert not np.array_equal(other != 0, kept)


def test_layer_arguments_are_checked():
    with pytest.raises(ValueError, match="activation"):
        Dense(3, 4, activation="tanh")
    with pytest.raises(ValueError, match="activation"):
        BatchNorm(3, activation="sigmoid")
    with pytest.raises(ValueError, match="mode"):
        BatchNorm(3).forward(np.ones((2, 3)), "eval")
    bn = BatchNorm(3)
    bn.forward(np.random.default_rng(0).standard_normal((4, 3)), "test")
    with pytest.raises(RuntimeError, match="train"):
        bn.backward(np.ones((4, 3)))


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------


def make_model(rng, dims=(6, 7, 5, 4), keep=0.75, seed=5):
    """Dense - BatchNorm+relu - Dropout(seed) - Dense - LayerNorm+relu - Dense, softmax loss."""
    d0, d1, d2, C = dims
    np.random.seed(int(rng.integers(1000)))
    model = Model()
    model.add(Dense(d0, d1, weight_scale=0.5), "fc1")
    model.add(BatchNorm(d1, activation="relu"), "bn1")
    model.add(Dropout(keep, seed=seed), "drop1")
    model.add(Dense(d1, d2, weight_scale=0.5), "fc2")
    model.add(LayerNorm(d2, activation="relu"), "ln2")
    model.add(Dense(d2, C, weight_scale=0.5), "scores")
    model.add_loss(softmax_loss)
    for layer in model.layers.values():
        for key, value in layer.params.items():
            layer.params[key] = value + rng.normal(0, 0.3, value.shape)
    return model


def model_loss(model, X, y, reg):
    return model.calculate_loss(model.forward(X, "train"), y, reg)[0]


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_model_gradients_with_fused_relu_batchnorm_dropout_and_reg(reg):
    rng = np.random.default_rng(12)
    model = make_model(rng)
    X, y = rng.standard_normal((9, 6)), rng.integers(4, size=9)
    loss, dscores, extra = model.calculate_loss(model.forward(X, "train"), y, reg)
    assert extra is None  # softmax_loss has no third output
    dX = model.backward(dscores)
    assert np.isfinite(loss) and dX.shape == X.shape
    numeric = eval_numerical_gradient(lambda v: model_loss(model, v, y, reg), X, verbose=False)
    # Through the whole model centered differences carry ~1e-11 of noise, and some elements of
    # dX are 1e-4 of the largest: elements below 1e-3 of it are judged on that scale.
    assert rel_error(dX, numeric, floor=1e-3) < TOL
    numerics = {(name, key): eval_numerical_gradient(lambda _: model_loss(model, X, y, reg),
                                                     layer.params[key], verbose=False)
                for name, key, layer in model.parameters()}
    # fc1's bias has a gradient of exactly zero (batch norm cancels it): compare on the scale
    # of all the gradients, not on its own.
    scale = max(np.abs(n).max() for n in numerics.values())
    for name, key, layer in model.parameters():
        error = rel_error(layer.grads[key], numerics[(name, key)], scale)
        assert error < TOL, (name, key, error)
    np.testing.assert_allclose(model.layers["fc1"].grads["b"], 0, atol=1e-12)


def test_only_the_weights_are_regularized():
    rng = np.random.default_rng(13)
    model = make_model(rng)
    X, y = rng.standard_normal((7, 6)), rng.integers(4, size=7)
    scores = model.forward(X, "train")
    data_loss, _ = softmax_loss(scores, y)
    loss0, dscores, _ = model.calculate_loss(scores, y, 0.0)
    model.backward(dscores)
    grads0 = {(n, k): layer.grads[k].copy() for n, k, layer in model.parameters()}
    reg = 0.4
    loss, dscores, _ = model.calculate_loss(scores, y, reg)
    weights = [layer.params["W"] for layer in model.layers.values() if "W" in layer.params]
    assert len(weights) == 3
    assert loss0 == pytest.approx(data_loss, rel=1e-12)
    assert loss == pytest.approx(data_loss + 0.5 * reg * sum((W ** 2).sum() for W in weights),
                                 rel=1e-12)
    model.backward(dscores)
    for name, key, layer in model.parameters():
        extra = reg * layer.params[key] if key == "W" else 0.0
        np.testing.assert_allclose(layer.grads[key], grads0[(name, key)] + extra, rtol=1e-10,
                                   atol=1e-14, err_msg=f"{name}.{key}")


def test_model_bookkeeping():
    model = Model()
    first = model.add(Dense(4, 3))
    model.add(BatchNorm(3, activation="relu"))
    model.add(Dense(3, 2), "scores")
    assert list(model.layers) == ["dense1", "batchnorm2", "scores"] and first is model.layers[
        "dense1"]
    with pytest.raises(ValueError, match="scores"):
        model.add(Dense(2, 2), "scores")
    with pytest.raises(RuntimeError, match="add_loss"):
        model.calculate_loss(np.zeros((1, 2)), np.zeros(1, dtype=int))
    assert [(n, k) for n, k, _ in model.parameters()] == [
        ("dense1", "W"), ("dense1", "b"), ("batchnorm2", "gamma"), ("batchnorm2", "beta"),
        ("scores", "W"), ("scores", "b")]
    assert "BatchNorm(gamma(3,), beta(3,), activation='relu')" in repr(model)


def test_predict_shapes_and_batches():
    rng = np.random.default_rng(14)
    np.random.seed(14)
    model = Model()
    model.add(Dense(3 * 4 * 4, 8, weight_scale=0.3), "fc")
    model.add(BatchNorm(8, activation="relu"), "bn")
    model.add(Dense(8, 5, weight_scale=0.3), "scores")
    model.add_loss(softmax_loss)
    X = rng.standard_normal((23, 3, 4, 4))
    model.forward(X, "train")  # running averages away from zero
    labels = model.predict(X)
    assert labels.shape == (23,) and labels.dtype.kind == "i"
    assert labels.min() >= 0 and labels.max() < 5
    np.testing.assert_array_equal(labels, model.forward(X, "test").argmax(axis=1))
    np.testing.assert_array_equal(model.predict(X, batch_size=4), labels)  # test mode: per example
    assert model.predict(X[:0]).shape == (0,)
    assert accuracy(model, X, labels) == 1.0


# --------------------------------------------------------------------------------------------------
# Optimizers
# --------------------------------------------------------------------------------------------------


def model_with_grads(seed):
    rng = np.random.default_rng(seed)
    model = make_model(rng)
    X, y = rng.standard_normal((8, 6)), rng.integers(4, size=8)
    _, dscores, _ = model.calculate_loss(model.forward(X, "train"), y, 0.3)
    model.backward(dscores)
    return model, X, y


def test_sgd_step_moves_every_parameter_against_its_gradient():
    model, _, _ = model_with_grads(15)
    before = {(n, k): layer.params[k].copy() for n, k, layer in model.parameters()}
    SGD(0.05, model).step()
    for name, key, layer in model.parameters():
        np.testing.assert_allclose(layer.params[key],
                                   before[(name, key)] - 0.05 * layer.grads[key], rtol=1e-12)


def adam_oracle(w, grads, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam written out for a sequence of gradients, t starting at 1."""
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        w = w - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return w


def test_adam_keeps_one_state_per_parameter_and_matches_the_oracle():
    model, X, y = model_with_grads(16)
    start = {(n, k): layer.params[k].copy() for n, k, layer in model.parameters()}
    seen = {key: [] for key in start}
    optimizer = Adam(0.01, model, beta1=0.8, beta2=0.99)
    for step in range(3):
        if step:
            _, dscores, _ = model.calculate_loss(model.forward(X, "train"), y, 0.3)
            model.backward(dscores)
        for n, k, layer in model.parameters():
            seen[(n, k)].append(layer.grads[k].copy())
        optimizer.step()
    for name, key, layer in model.parameters():
        expected = adam_oracle(start[(name, key)], seen[(name, key)], 0.01, 0.8, 0.99)
        np.testing.assert_allclose(layer.params[key], expected, rtol=1e-10, atol=1e-14,
                                   err_msg=f"{name}.{key}")
    assert {config["t"] for config in optimizer.state.values()} == {3}


def test_adam_first_step_moves_each_weight_by_about_lr():
    model, _, _ = model_with_grads(17)
    W = model.layers["fc2"].params["W"].copy()
    dW = model.layers["fc2"].grads["W"]
    Adam(1e-3, model).step()
    np.testing.assert_allclose(model.layers["fc2"].params["W"], W - 1e-3 * np.sign(dW),
                               rtol=0, atol=1e-7)


def test_step_before_backward_says_what_to_do():
    model = make_model(np.random.default_rng(18))
    with pytest.raises(KeyError, match="backward"):
        SGD(0.1, model).step()


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = write_synthetic_cifar10(tmp_path_factory.mktemp("cifar") / "syn", 700, 100, seed=3)
    return get_CIFAR10_data(500, 200, 0, cifar10_dir=folder)


@pytest.mark.parametrize("normalization", [None, "batchnorm"])
def test_epoch_solver_learns_the_synthetic_set(synthetic, normalization, capsys):
    np.random.seed(0)
    model = Model()
    if normalization:
        model.add(Dense(3 * 32 * 32, 50, weight_scale=1e-2), "fc1")
        model.add(BatchNorm(50, activation="relu"), "bn1")
    else:
        model.add(Dense(3 * 32 * 32, 50, weight_scale=None, activation="relu"), "fc1")
    model.add(Dense(50, 10, weight_scale=1e-2), "scores")
    model.add_loss(softmax_loss)
    history = epoch_solver(synthetic["X_train"], synthetic["y_train"], synthetic["X_val"],
                           synthetic["y_val"], reg=1e-3, optimizer=Adam(1e-3, model),
                           epochs=4, batch_size=64, seed=0, verbose=False)
    loss, train_acc, val_acc = history  # IFT780's unpacking: a tuple of three lists
    assert isinstance(history, tuple) and history.loss is loss and history.val_acc is val_acc
    assert all(isinstance(h, list) for h in history)
    assert len(loss) == 4 * (500 // 64)
    assert len(train_acc) == len(val_acc) == 4
    assert np.mean(loss[-5:]) < np.mean(loss[:5])
    assert train_acc[-1] > 0.3 and val_acc[-1] > 0.2  # chance: 0.1
    assert capsys.readouterr().out == ""


def test_epoch_solver_without_a_seed_follows_np_random(synthetic):
    """IFT780's notebooks seed NumPy's global state; two runs after the same seed agree."""
    runs = []
    for _ in range(2):
        np.random.seed(5)
        model = Model()
        model.add(Dense(dim_output=10, weight_scale=1e-3), "scores")
        model.add_loss(softmax_loss)
        runs.append(epoch_solver(synthetic["X_train"][:120], synthetic["y_train"][:120],
                                 synthetic["X_val"], synthetic["y_val"], 0.0,
                                 Adam(1e-3, model), epochs=2, batch_size=50, verbose=False))
    assert runs[0] == runs[1] and len(runs[0].loss) == 2 * 2


def test_epoch_solver_decays_the_rate_and_reports(synthetic, capsys):
    np.random.seed(1)
    model = Model()
    model.add(Dense(3 * 32 * 32, 10, weight_scale=1e-3), "scores")
    model.add_loss(softmax_loss)
    optimizer = SGD(1e-5, model)
    history = epoch_solver(synthetic["X_train"][:40], synthetic["y_train"][:40],
                           synthetic["X_val"], synthetic["y_val"], 0.0, optimizer, epochs=2,
                           batch_size=100, lr_decay=0.5, num_train_samples=10, seed=1)
    assert optimizer.lr == pytest.approx(0.25e-5)
    assert len(history.loss) == 2  # batch_size larger than the set: one step per epoch
    assert "epoch 2/2: loss" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# Grading the object API: the French course's version is caught and named
# --------------------------------------------------------------------------------------------------


def grade_nn(tmp_path, patches, seed=0):
    from autograder.judging import plan as planning
    from tests.support.job_helpers import config_for, make_submission
    from tests.support.job_inprocess_runner import run_probes_inprocess

    sub = make_submission(tmp_path, patches=patches)
    tasks = [t for t in config_for().tasks if t.startswith("nn.")]
    plan = planning.plan(config_for(*tasks, seed=seed))
    return {r.name: r for r in plan.evaluate(run_probes_inprocess(sub, plan.calls))}


def test_the_french_course_version_loses_points_and_its_slips_are_named(tmp_path):
    from tests.support.job_helpers import MISTAKE_PATCHES

    patches = [*MISTAKE_PATCHES["nn_grads_before_activation"][1],
               *MISTAKE_PATCHES["nn_gamma_regularized"][1]]
    results = grade_nn(tmp_path, patches)
    for name in ("BatchNorm.backward: dx/dgamma/dbeta vs numerical gradients (fused relu)",
                 "BatchNorm.backward: matches reference (with and without a fused relu)"):
        assert results[name].status == "failed", results[name]
        assert results[name].mistake == "nn_grads_before_activation"
        assert "before it went back through the layer's fused ReLU" in results[name].output
    model = results["Model.backward: gradients vs numerical (batch norm with a fused relu, "
                    "dropout, reg > 0)"]
    assert model.status == "failed" and 0 < model.score < model.max_score
    assert "bn1.grads['gamma']" in model.output
    # The forward passes, the loss and LayerNorm were right and keep their points.
    for name, result in results.items():
        if name.startswith(("BatchNorm.forward", "LayerNorm", "Model.calculate_loss")):
            assert result.status == "passed", result


def test_regularizing_every_layer_is_a_keyerror_the_student_can_locate(tmp_path):
    """The French course's run died with KeyError: 'W' (a BatchNorm layer has no W)."""
    results = grade_nn(tmp_path, [(
        "nn.py", '            if "W" in layer.params:\n'
                 '                layer.grads["W"] = layer.grads["W"] + self.reg * '
                 'layer.params["W"]\n',
        '            layer.grads["W"] = layer.grads["W"] + self.reg * layer.params["W"]\n')])
    result = results["Model.backward: gradients match reference (reg > 0)"]
    assert result.status == "error" and result.score == 0
    assert "KeyError: 'W'" in result.output
    assert results["Model.calculate_loss: data loss plus 0.5 * reg * sum(W ** 2) over the layers "
                   "with a W (reg = 0 and reg > 0)"].status == "passed"
