"""Solver with small models defined here: a linear softmax classifier and a scripted toy model."""

import pickle

import numpy as np
import pytest

from solutions import optim
from solutions.solver import Solver

pytestmark = pytest.mark.given


class LinearSoftmax:
    """Linear classifier with softmax loss; params W (D, C) and b (C,)."""

    def __init__(self, D, C, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W": 0.01 * rng.standard_normal((D, C)), "b": np.zeros(C)}

    def loss(self, X, y=None):
        scores = X @ self.params["W"] + self.params["b"]
        if y is None:
            return scores
        shifted = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        probs /= probs.sum(axis=1, keepdims=True)
        N = X.shape[0]
        loss = -np.mean(np.log(probs[np.arange(N), y]))
        dscores = probs
        dscores[np.arange(N), y] -= 1
        dscores /= N
        return loss, {"W": X.T @ dscores, "b": dscores.sum(axis=0)}


class ScriptedBN:
    """Toy model with batch-norm-like state whose test-time accuracy follows a script.

    Every train-mode call adds 1 to ``bn_params[0]["running_mean"]`` (created on the first
    call, as FullyConnectedNet does) and returns the gradient 1 for ``w``. In test mode the
    first ``round(script[running_mean] * N)`` examples are classified correctly, so validation
    accuracy is a function of the running statistics alone.
    """

    def __init__(self, script, default_acc=0.5):
        self.params = {"w": np.array([10.0, 20.0])}
        self.bn_params = [{"mode": "train"}]
        self.script = script
        self.default_acc = default_acc

    def loss(self, X, y=None):
        bn = self.bn_params[0]
        if y is None:
            bn["mode"] = "test"
            steps = int(bn["running_mean"][0])
            n_correct = round(self.script.get(steps, self.default_acc) * X.shape[0])
            scores = np.zeros((X.shape[0], 2))
            scores[:n_correct, 0] = 1.0  # labels are all 0
            scores[n_correct:, 1] = 1.0
            return scores
        bn["mode"] = "train"
        if "running_mean" not in bn:
            bn["running_mean"] = np.zeros(1)
            bn["running_var"] = np.ones(1)
        bn["running_mean"] = bn["running_mean"] + 1
        bn["running_var"] = bn["running_var"] * 2
        return float(np.sum(self.params["w"])), {"w": np.ones(2)}


def separable_data(n_train=150, n_val=50, D=5, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_train + n_val, D))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    return {"X_train": X[:n_train], "y_train": y[:n_train],
            "X_val": X[n_train:], "y_val": y[n_train:]}


def constant_data(n_train=20, n_val=10):
    """Labels all 0 (for ScriptedBN)."""
    return {"X_train": np.zeros((n_train, 1)), "y_train": np.zeros(n_train, dtype=np.int64),
            "X_val": np.zeros((n_val, 1)), "y_val": np.zeros(n_val, dtype=np.int64)}


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)  # Solver samples minibatches with the global NumPy RNG, as CS231n does


def test_loss_decreases_and_model_learns_separable_data():
    solver = Solver(LinearSoftmax(5, 2), separable_data(), update_rule="sgd_momentum",
                    optim_config={"learning_rate": 0.5}, batch_size=30, num_epochs=6,
                    verbose=False)
    solver.train()
    losses = solver.loss_history
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    assert solver.best_val_acc >= 0.9
    assert solver.check_accuracy(solver.X_val, solver.y_val) == solver.best_val_acc


@pytest.mark.parametrize(("n_train", "batch_size", "per_epoch"), [(150, 30, 5), (140, 30, 4),
                                                                   (20, 50, 1)])
def test_history_lengths(n_train, batch_size, per_epoch):
    solver = Solver(LinearSoftmax(5, 2), separable_data(n_train=n_train), batch_size=batch_size,
                    num_epochs=3, verbose=False)
    solver.train()
    assert len(solver.loss_history) == 3 * per_epoch
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 3 + 1
    assert solver.epoch == 3
    assert all(isinstance(v, float) for v in solver.loss_history)


def test_unknown_kwarg_raises_and_names_it():
    with pytest.raises(ValueError, match="learning_rate"):
        Solver(LinearSoftmax(5, 2), separable_data(), learning_rate=1e-3)
    with pytest.raises(ValueError, match="epochs.*lr") as info:
        Solver(LinearSoftmax(5, 2), separable_data(), lr=1, epochs=2, batch_size=10)
    assert "batch_size" not in str(info.value).split("(accepted")[0]


@pytest.mark.parametrize("rule", ["adamw", "np", "__all__", ""])
def test_unknown_update_rule_raises(rule):
    with pytest.raises(ValueError, match="update_rule"):
        Solver(LinearSoftmax(5, 2), separable_data(), update_rule=rule)


def test_update_rule_must_be_name_or_callable():
    with pytest.raises(TypeError):
        Solver(LinearSoftmax(5, 2), separable_data(), update_rule=3)


@pytest.mark.parametrize("rule", optim.__all__)
def test_named_rules_resolve_to_optim(rule):
    solver = Solver(LinearSoftmax(5, 2), separable_data(), update_rule=rule)
    assert solver.update_rule is getattr(optim, rule)


def test_callable_update_rule_and_per_param_config_copies():
    calls = []

    def halve(w, dw, config):
        calls.append(config)
        config["n"] = config.get("n", 0) + 1
        return w - config["learning_rate"] * dw, config

    user_config = {"learning_rate": 0.1, "extra": [1, 2]}
    solver = Solver(LinearSoftmax(5, 2), separable_data(), update_rule=halve,
                    optim_config=user_config, batch_size=50, num_epochs=2, verbose=False)
    assert solver.optim_configs["W"] is not solver.optim_configs["b"]
    assert solver.optim_configs["W"]["extra"] is not user_config["extra"]  # deep copies
    solver.train()
    assert len(calls) == 2 * 3 * 2  # params x iterations x epochs
    assert solver.optim_configs["W"]["n"] == solver.optim_configs["b"]["n"] == 6
    assert user_config == {"learning_rate": 0.1, "extra": [1, 2]}  # the caller's dict untouched


def test_lr_decay_applied_once_per_epoch():
    # ScriptedBN has gradient 1 for every weight, so each SGD step moves w by -learning_rate.
    model = ScriptedBN(script={}, default_acc=0.5)
    solver = Solver(model, constant_data(n_train=20), optim_config={"learning_rate": 0.1},
                    lr_decay=0.5, batch_size=10, num_epochs=3, verbose=False)
    solver.train()
    assert solver.optim_configs["w"]["learning_rate"] == pytest.approx(0.1 * 0.5**3)
    # two steps per epoch at 0.1, 0.05, 0.025; val acc never improves after the first
    # check, so the restored weights are those after the first step (lr 0.1)
    np.testing.assert_allclose(solver.best_params["w"], [10.0 - 0.1, 20.0 - 0.1])

    model = ScriptedBN(script={}, default_acc=0.5)
    model.script = {6: 1.0}  # best at the end: weights after all six steps
    solver = Solver(model, constant_data(n_train=20), optim_config={"learning_rate": 0.1},
                    lr_decay=0.5, batch_size=10, num_epochs=3, verbose=False)
    solver.train()
    moved = 2 * (0.1 + 0.05 + 0.025)
    np.testing.assert_allclose(model.params["w"], [10.0 - moved, 20.0 - moved])


def test_best_params_and_bn_running_stats_restored_together():
    # 20 training examples, batch 10: two steps per epoch; checks after steps 1, 2, 4, 6, 8.
    script = {1: 0.2, 2: 0.5, 4: 0.9, 6: 0.4, 8: 0.3}
    model = ScriptedBN(script)
    bn_dict = model.bn_params[0]
    solver = Solver(model, constant_data(), optim_config={"learning_rate": 0.5}, batch_size=10,
                    num_epochs=4, verbose=False)
    solver.train()

    assert solver.val_acc_history == [0.2, 0.5, 0.9, 0.4, 0.3]
    assert solver.best_val_acc == 0.9
    # parameters: the snapshot after 4 SGD steps of size 0.5
    np.testing.assert_array_equal(solver.best_params["w"], [8.0, 18.0])
    np.testing.assert_array_equal(model.params["w"], [8.0, 18.0])
    assert model.params["w"] is not solver.best_params["w"]
    # running statistics: the values after 4 train-mode passes, not after 8
    assert model.bn_params[0] is bn_dict  # restored in place
    np.testing.assert_array_equal(bn_dict["running_mean"], [4.0])
    np.testing.assert_array_equal(bn_dict["running_var"], [16.0])
    np.testing.assert_array_equal(solver.best_bn_params[0]["running_mean"], [4.0])
    assert solver.best_bn_params[0]["running_mean"] is not bn_dict["running_mean"]
    # so the restored model scores what the best epoch scored
    assert solver.check_accuracy(solver.X_val, solver.y_val) == 0.9


def test_model_without_bn_params():
    solver = Solver(LinearSoftmax(5, 2), separable_data(), batch_size=50, num_epochs=1,
                    verbose=False)
    solver.train()
    assert solver.best_bn_params == []
    assert set(solver.best_params) == {"W", "b"}


def test_check_accuracy_batches_and_subsampling():
    class Counting:
        params = {}

        def __init__(self):
            self.rows = []

        def loss(self, X, y=None):
            self.rows.append(X.shape[0])
            return np.stack([X[:, 0], -X[:, 0]], axis=1)  # predicts 0 where x > 0

    X = np.concatenate([np.ones(30), -np.ones(20)])[:, None]
    y = np.zeros(50, dtype=np.int64)  # first 30 correct
    model = Counting()
    solver = Solver(model, {"X_train": X, "y_train": y, "X_val": X, "y_val": y})
    assert solver.check_accuracy(X, y, batch_size=16) == 0.6
    assert model.rows == [16, 16, 16, 2]

    model.rows.clear()
    acc = solver.check_accuracy(X, y, num_samples=10, batch_size=4)
    assert model.rows == [4, 4, 2]
    assert acc in {k / 10 for k in range(11)}
    assert solver.check_accuracy(X, y, num_samples=500) == 0.6  # more than N: use all


def test_checkpoints_written(tmp_path):
    name = tmp_path / "ckpt"
    solver = Solver(LinearSoftmax(5, 2), separable_data(), update_rule="adam", batch_size=50,
                    num_epochs=2, checkpoint_name=str(name), lr_decay=0.9, verbose=False)
    solver.train()
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["ckpt_epoch_0.pkl", "ckpt_epoch_1.pkl", "ckpt_epoch_2.pkl"]
    with open(tmp_path / "ckpt_epoch_2.pkl", "rb") as f:
        checkpoint = pickle.load(f)
    assert set(checkpoint) == {"model", "update_rule", "lr_decay", "optim_config", "batch_size",
                               "num_train_samples", "num_val_samples", "epoch", "loss_history",
                               "train_acc_history", "val_acc_history"}
    assert checkpoint["epoch"] == 2
    assert checkpoint["update_rule"] is optim.adam
    assert checkpoint["lr_decay"] == 0.9
    assert checkpoint["batch_size"] == 50
    assert len(checkpoint["loss_history"]) == 6
    assert len(checkpoint["val_acc_history"]) == 3
    assert isinstance(checkpoint["model"], LinearSoftmax)


def test_no_checkpoint_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Solver(LinearSoftmax(5, 2), separable_data(), batch_size=50, num_epochs=1,
           verbose=False).train()
    assert list(tmp_path.iterdir()) == []


def test_verbose_false_prints_nothing(capsys, tmp_path):
    solver = Solver(LinearSoftmax(5, 2), separable_data(), batch_size=50, num_epochs=2,
                    checkpoint_name=str(tmp_path / "quiet"), verbose=False)
    solver.train()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


def test_verbose_shows_progress_and_epoch_lines(capsys):
    solver = Solver(LinearSoftmax(5, 2), separable_data(), batch_size=50, num_epochs=2)
    solver.train()
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "(Epoch 1 / 2)" in output
    assert "(Epoch 2 / 2)" in output
    assert "val acc" in output
    assert "6/6" in captured.err  # the progress bar reached the last iteration
    assert "loss=" in captured.err
