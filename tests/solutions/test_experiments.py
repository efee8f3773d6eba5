"""solutions/experiments.py: what the notebooks' experiment cells call.

The data loader against the split sizes it promises; the gradient printouts against a right and
a wrong backward pass and CS231n's published losses; the timing printout against given times;
the training runs for one value per setting; the plots for a title, axis labels and a legend on
every panel, and for where their curves lie. (The published draws of `relu_net_outputs` and
`relu_net_batches` are in test_published_numbers.py.)
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest

from solutions import experiments, layers
from solutions.synthetic_cifar import write_synthetic_cifar10
from solutions.synthetic_mnist import write_synthetic_mnist
from solutions.training import History

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:FigureCanvasAgg is non-interactive")


def errors_of(text):
    """name -> the relative error a printout gives it."""
    return {m[1]: float(m[2]) for m in re.finditer(r"^(\w+) relative error:\s+(\S+)$", text, re.M)}


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, variable, write, shape", [
    ("CIFAR-10", "NORMLAB_CIFAR10_DIR", write_synthetic_cifar10, (3, 32, 32)),
    ("MNIST", "NORMLAB_MNIST_DIR", write_synthetic_mnist, (784,)),
])
@pytest.mark.parametrize("fast", [True, False])
def test_load_data_sizes_the_split_and_says_it_is_synthetic(name, variable, write, shape, fast,
                                                            tmp_path, monkeypatch, capsys):
    sizes = experiments.DATA_SIZES[name][0 if fast else 1]
    root = write(tmp_path / "data", sizes[0] + sizes[1], sizes[2], seed=3)
    monkeypatch.setenv(variable, str(root))
    data = experiments.load_data(name, fast=fast)
    printed = capsys.readouterr().out
    assert f"Data: {root} (SYNTHETIC stand-in)" in printed
    for split, size in zip(("train", "val", "test"), sizes, strict=True):
        assert data[f"X_{split}"].shape == (size, *shape)
        assert data[f"y_{split}"].shape == (size,)
        assert f"  X_{split}: {(size, *shape)} float" in printed


def test_training_subset_keeps_the_validation_set():
    data = {key: np.arange(10) for key in ("X_train", "y_train", "X_val", "y_val", "X_test")}
    subset = experiments.training_subset(data, 4)
    assert sorted(subset) == ["X_train", "X_val", "y_train", "y_val"]
    assert list(subset["X_train"]) == [0, 1, 2, 3] and len(subset["X_val"]) == 10


def test_relu_net_batches_share_one_network():
    """Every batch comes from the same weights: a batch of fresh inputs through W1 and W2."""
    batches = experiments.relu_net_batches(3, N=4, D1=5, D2=6, D3=2, seed=7)
    np.random.seed(7)
    W1, W2 = np.random.randn(5, 6), np.random.randn(6, 2)
    for batch in batches:
        np.testing.assert_allclose(batch, np.maximum(0, np.random.randn(4, 5) @ W1) @ W2)
    assert experiments.relu_net_outputs(4, 5, 6, 2).shape == (4, 2)


def test_show_stats_prints_means_and_stds(capsys):
    experiments.show_stats("title", np.array([[1.0, 2.0], [3.0, 6.0]]), axis=0)
    assert capsys.readouterr().out == "title\n  means: [2. 4.]\n  stds:  [1. 2.]\n\n"


# --------------------------------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------------------------------


def test_random_layer_inputs_have_the_shapes_asked_for():
    x, gamma, beta, dout = experiments.random_layer_inputs((2, 3, 4, 5))
    assert x.shape == dout.shape == (2, 3, 4, 5) and gamma.shape == beta.shape == (3,)
    assert 8 < x.mean() < 16  # 5 * randn + 12: far from mean 0
    _, gamma, _, _ = experiments.random_layer_inputs((2, 6, 4, 5), param_shape=(1, 6, 1, 1))
    assert gamma.shape == (1, 6, 1, 1)
    again = experiments.random_layer_inputs((2, 6, 4, 5), param_shape=(1, 6, 1, 1))
    np.testing.assert_array_equal(again[1], gamma)


def test_layer_gradient_errors_are_small_for_a_right_backward_pass(capsys):
    experiments.print_layer_gradient_errors(layers.batchnorm_forward, layers.batchnorm_backward,
                                            {"mode": "train"}, x_shape=(4, 5))
    experiments.print_layer_gradient_errors(
        layers.spatial_groupnorm_forward, layers.spatial_groupnorm_backward, 2, {},
        x_shape=(2, 6, 4, 5), param_shape=(1, 6, 1, 1))
    bn, gn = capsys.readouterr().out.split("dgamma has shape")[1:]
    assert bn.startswith(" (5,) and dbeta (5,)") and gn.startswith(" (1, 6, 1, 1)")
    for printed in (bn, gn):
        errors = errors_of(printed)
        assert sorted(errors) == ["dbeta", "dgamma", "dx"]
        assert max(errors.values()) < 1e-7, errors


def test_layer_gradient_errors_show_a_wrong_backward_pass(capsys):
    def twice_dgamma(dout, cache):
        dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
        return dx, 2 * dgamma, dbeta

    experiments.print_layer_gradient_errors(layers.batchnorm_forward, twice_dgamma,
                                            {"mode": "train"}, x_shape=(4, 5))
    errors = errors_of(capsys.readouterr().out)
    assert errors["dx"] < 1e-7 and errors["dbeta"] < 1e-7
    # |2g - g| / (|2g| + |g|), printed to three digits
    assert errors["dgamma"] == pytest.approx(1 / 3, abs=1e-3)


def test_fc_net_gradient_errors_print_cs231ns_initial_losses(capsys):
    """CS231n's published initial losses of the batch-norm net, reg 0 and 3.14."""
    experiments.print_fc_net_gradient_errors("batchnorm")
    printed = capsys.readouterr().out
    losses = [float(v) for v in re.findall(r"initial loss: (\S+)", printed)]
    assert losses == pytest.approx([2.2611955101340957, 6.996533220108303], rel=1e-12)
    errors = [float(v) for v in re.findall(r"relative error (\S+)", printed)]
    assert len(errors) == 2 * 10 and max(errors) < 1e-2  # W1, b1, gamma1, beta1, ..., W3, b3


def test_print_timings_gives_the_times_and_the_speedup(monkeypatch, capsys):
    monkeypatch.setattr(experiments, "median_seconds", lambda func, repeats: func())
    experiments.print_timings({"slow": lambda: 3e-3, "fast one": lambda: 1e-3}, repeats=2)
    assert capsys.readouterr().out.splitlines() == [
        "  slow:     3.000 ms per call", "  fast one: 1.000 ms per call",
        "  speedup:  3.00x"]


def test_median_seconds_times_one_call():
    calls = []
    seconds = experiments.median_seconds(lambda: calls.append(1), repeats=3)
    assert 0 < seconds < 1e-3 and len(calls) > 3


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3, 2, 2))
    y = (X[:, 0, 0, 0] > 0).astype(int)
    return {"X_train": X[:40], "y_train": y[:40], "X_val": X[40:], "y_val": y[40:]}


def test_train_with_adam_trains_for_the_epochs_asked(tiny_data):
    from solutions.fc_net import FullyConnectedNet

    model = FullyConnectedNet([8], input_dim=12, weight_scale=1e-1)
    solver = experiments.train_with_adam(model, tiny_data, num_epochs=3, batch_size=10,
                                         verbose=False)
    assert len(solver.loss_history) == 3 * 4 and len(solver.val_acc_history) == 3 + 1
    assert solver.optim_configs["W1"]["learning_rate"] == 1e-3
    assert np.mean(solver.loss_history[-4:]) < np.mean(solver.loss_history[:4])


def test_sweeps_give_one_value_per_setting(tiny_data, monkeypatch):
    monkeypatch.setattr(experiments, "FullyConnectedNet", _tiny_net)
    sweep = experiments.weight_scale_sweep([1e-2, 1e-1], {"bn": "batchnorm", "plain": None},
                                           tiny_data, [8], num_epochs=1)
    assert sorted(sweep) == ["bn", "plain"]
    assert all(len(sweep[label][key]) == 2 for label in sweep for key in ("train", "val", "loss"))
    solvers = experiments.batch_size_experiment("layernorm", tiny_data, [8], 1,
                                                batch_sizes=(5, 20), baseline_batch_size=10)
    assert list(solvers) == ["no normalization, batch 10", "layernorm, batch 5",
                             "layernorm, batch 20"]
    assert [len(s.loss_history) for s in solvers.values()] == [4, 8, 2]


def _tiny_net(hidden_dims, weight_scale, normalization):
    from solutions.fc_net import FullyConnectedNet

    return FullyConnectedNet(hidden_dims, input_dim=12, weight_scale=weight_scale,
                             normalization=normalization)


def test_print_final_reads_solvers_and_histories(capsys):
    solver = SimpleNamespace(loss_history=[2.0, 1.5], train_acc_history=[0.1, 0.2],
                             val_acc_history=[0.1, 0.25])
    experiments.print_final({"solver": solver, "epochs": History([3.0, 0.75], [0.5], [0.5])})
    assert capsys.readouterr().out.splitlines() == [
        f"  {'solver':<28} final training loss 1.500   validation accuracy 0.250",
        f"  {'epochs':<28} final training loss 0.750   validation accuracy 0.500"]


# --------------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------------


def _panels():
    """The axes of the figure just drawn; they must each have a title, labels and a legend."""
    axes = plt.gcf().axes
    for ax in axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert ax.get_legend() is not None
    plt.close("all")
    return axes


def test_plot_training_draws_solvers_from_epoch_0_and_histories_from_epoch_1():
    solver = SimpleNamespace(loss_history=[2.0, 1.5, 1.0, 0.5], train_acc_history=[0.1, 0.2, 0.3],
                             val_acc_history=[0.1, 0.15, 0.2])
    history = History([2.0, 1.0], [0.2, 0.4], [0.3, 0.35])
    experiments.plot_training({"solver": solver, "epoch_solver": history}, "net")
    loss, train, val = _panels()
    assert [ax.get_title() for ax in (loss, train, val)] == [
        "net: training loss", "net: training accuracy", "net: validation accuracy"]
    solver_line, history_line = val.get_lines()
    assert list(solver_line.get_xdata()) == [0, 1, 2] and list(history_line.get_xdata()) == [1, 2]
    assert list(history_line.get_ydata()) == [0.3, 0.35]
    assert [line.get_label() for line in loss.get_lines()] == ["solver", "epoch_solver"]

    experiments.plot_training({"solver": solver}, "two", panels=["val_acc"])
    [val] = _panels()
    assert val.get_title() == "two: validation accuracy"


def test_plot_sweep_draws_each_key_against_the_settings():
    results = {"a": {"spread": [3.0, 2.0, 1.0], "gap": [1e-1, 1e-2, 1e-3]},
               "b": {"spread": [0.0, 0.0, 0.0], "gap": [1.0, 1.0, 1.0]}}
    experiments.plot_sweep([2, 8, 32], results, [("spread", "the spread", "std"),
                                                  ("gap", "the gap", "rms")],
                           xlabel="batch size", log_base=2, log_y=["gap"], label_every_x=True)
    spread, gap = _panels()
    assert spread.get_xscale() == "log" and gap.get_yscale() == "log"
    assert spread.get_yscale() == "linear"
    assert [t.get_text() for t in spread.get_xticklabels()] == ["2", "8", "32"]
    first, second = gap.get_lines()
    assert list(first.get_xdata()) == [2, 8, 32] and list(first.get_ydata()) == [1e-1, 1e-2, 1e-3]
    assert second.get_label() == "b"
