# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/experiments.py by `make stubs`; edit the solution.
"""The notebooks' experiments: their data, gradient printouts, training runs and plots.

This module is given code: nothing here is part of the assignment. The notebooks call these
functions so that each cell shows what it measures in a line or two; read a function here to see
how it measures it. They call your code (``layers.py``, ``fc_net.py``) like any other caller.

* Data: :func:`load_data` (CIFAR-10 or MNIST, sized for FAST mode), :func:`training_subset`,
  :func:`relu_net_outputs` and :func:`relu_net_batches` (activations far from mean 0 and
  standard deviation 1, drawn as CS231n's cells draw them), :func:`show_stats`.
* Gradients against numerical ones: :func:`random_layer_inputs`,
  :func:`print_layer_gradient_errors` (a normalization layer), :func:`print_fc_net_gradient_errors`
  (a small ``FullyConnectedNet``); and their speed: :func:`print_timings`.
* Training: :func:`train_with_adam` (one ``Solver`` run), :func:`weight_scale_sweep`,
  :func:`batch_size_experiment`, :func:`print_final`.
* Plots: :func:`plot_training` (loss and accuracy curves), :func:`plot_sweep` (results against a
  swept setting). They draw with matplotlib and show the figure.

The random draws follow ``np.random`` (NumPy's global state, seeded by the functions that take a
``seed``), as CS231n's notebooks do, so that their published numbers come back.
"""

from __future__ import annotations

import statistics
import timeit

import numpy as np

from .data_utils import find_cifar10, get_CIFAR10_data
from .fc_net import FullyConnectedNet
from .gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from .mnist import find_mnist, get_MNIST_data
from .solver import Solver

# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------

#: The splits the notebooks load: data set -> (in FAST mode, of the synthetic stand-in, of the
#: real data set), each the numbers of training, validation and test examples.
DATA_SIZES = {
    "CIFAR-10": ((1000, 200, 200), (4000, 1000, 1000), (49000, 1000, 1000)),
    "MNIST": ((1000, 200, 200), (5000, 1000, 1000), (55000, 5000, 10000)),
}


def load_data(name="CIFAR-10", fast=False):
    """Load the train / validation / test split of a data set and print what was loaded.

    ``name`` is ``"CIFAR-10"`` or ``"MNIST"``. The data set is the downloaded one
    (``bash datasets/get_datasets.sh``, or ``... mnist``) or else a small synthetic stand-in in
    the same format, written on first use (`find_cifar10`, `find_mnist`). The split is sized by
    `DATA_SIZES`: small with ``fast`` (FAST mode), larger for the synthetic set, the usual one for
    the real data. Prints where the data came from and the shape and dtype of every array.

    Returns a dict: ``X_train`` of shape (N, 3, 32, 32) for CIFAR-10 (mean image subtracted) or
    (N, 784) for MNIST (pixels in [0, 1]), ``y_train`` (N,), and likewise ``X_val``, ``y_val``,
    ``X_test``, ``y_test``.
    """
    find, load, folder = {"CIFAR-10": (find_cifar10, get_CIFAR10_data, "cifar10_dir"),
                          "MNIST": (find_mnist, get_MNIST_data, "mnist_dir")}[name]
    where, is_synthetic = find()
    fast_sizes, synthetic_sizes, real_sizes = DATA_SIZES[name]
    sizes = fast_sizes if fast else synthetic_sizes if is_synthetic else real_sizes
    data = load(**{folder: where},
                **dict(zip(("num_training", "num_validation", "num_test"), sizes, strict=True)))
    print("Data:", where, "(SYNTHETIC stand-in)" if is_synthetic else f"({name})")
    for key, array in data.items():
        print(f"  {key}: {array.shape} {array.dtype}")
    return data


def training_subset(data, num_train):
    """The first ``num_train`` training examples of ``data`` and its whole validation set: a dict
    ``X_train`` (num_train, ...), ``y_train`` (num_train,), ``X_val``, ``y_val`` (for Solver)."""
    return {"X_train": data["X_train"][:num_train], "y_train": data["y_train"][:num_train],
            "X_val": data["X_val"], "y_val": data["y_val"]}


def relu_net_outputs(N, D1=50, D2=60, D3=3, seed=231):
    """The outputs of a random two-layer ReLU network on random inputs, shape (N, D3).

    After ``np.random.seed(seed)``: inputs X (N, D1), then weights W1 (D1, D2) and W2 (D2, D3),
    all standard normal, and the outputs ``max(0, X W1) W2``. Their features have large, unequal
    means and spreads, which a normalization layer should remove. With the defaults these are
    the draws of CS231n's batch-norm notebook, and so are its printed statistics.
    """
    np.random.seed(seed)
    X = np.random.randn(N, D1)
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    return np.maximum(0, X @ W1) @ W2


def relu_net_batches(num_batches, N, D1=50, D2=60, D3=3, seed=231):
    """``num_batches`` batches of one random two-layer ReLU network's outputs, each (N, D3).

    After ``np.random.seed(seed)``: the weights W1 (D1, D2) and W2 (D2, D3) once, then for every
    batch fresh inputs X (N, D1), all standard normal; a batch is ``max(0, X W1) W2``. All
    batches come from one distribution, so running averages over them settle. With the defaults
    these are the draws of CS231n's test-time batch-norm cell. Returns a list of arrays.
    """
    np.random.seed(seed)
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    return [np.maximum(0, np.random.randn(N, D1) @ W1) @ W2 for _ in range(num_batches)]


def show_stats(title, a, axis):
    """Print ``title``, then the mean and the standard deviation of the array ``a`` along
    ``axis`` (an int or a tuple of ints: 0 for each feature of an (N, D) batch, 1 for each
    example, (0, 2, 3) for each channel of (N, C, H, W) feature maps)."""
    print(title)
    print("  means:", a.mean(axis=axis))
    print("  stds: ", a.std(axis=axis))
    print()


# --------------------------------------------------------------------------------------------------
# Gradients against numerical ones
# --------------------------------------------------------------------------------------------------


def random_layer_inputs(x_shape, param_shape=None, seed=231):
    """Random inputs of a normalization layer's forward and backward pass: (x, gamma, beta, dout).

    Drawn after ``np.random.seed(seed)`` in CS231n's order: x of shape ``x_shape`` (e.g. (N, D)
    or (N, C, H, W)) as ``5 * randn + 12``, far from mean 0 and standard deviation 1; gamma and
    beta of shape ``param_shape`` (default ``(x_shape[1],)``: one per feature or channel),
    standard normal; the upstream gradient dout, of x's shape, standard normal.
    """
    np.random.seed(seed)
    param_shape = (x_shape[1],) if param_shape is None else param_shape
    x = 5 * np.random.randn(*x_shape) + 12
    gamma = np.random.randn(*param_shape)
    beta = np.random.randn(*param_shape)
    dout = np.random.randn(*x_shape)
    return x, gamma, beta, dout


def print_layer_gradient_errors(forward, backward, *args, x_shape, param_shape=None, seed=231):
    """Print how far ``backward``'s gradients are from numerical ones, on random inputs.

    ``forward(x, gamma, beta, *args)`` returns ``(out, cache)`` and ``backward(dout, cache)``
    returns ``(dx, dgamma, dbeta)``: a normalization layer, e.g. ``batchnorm_forward`` and
    ``batchnorm_backward`` with ``args = ({"mode": "train"},)``, or ``spatial_groupnorm_forward``
    and ``spatial_groupnorm_backward`` with ``args = (G, {})``. The inputs are
    ``random_layer_inputs(x_shape, param_shape, seed)``. The numerical gradients nudge each entry
    of x, gamma and beta and watch ``forward``'s output (`eval_numerical_gradient_array`).

    Prints the shapes of dgamma and dbeta, then the relative error of dx, dgamma and dbeta:
    about 1e-8 or less when the backward pass is right, near 1 when it is wrong.
    """
    x, gamma, beta, dout = random_layer_inputs(x_shape, param_shape, seed)

    def out(x, gamma, beta):
        return forward(x, gamma, beta, *args)[0]

    numeric = {"dx": eval_numerical_gradient_array(lambda v: out(v, gamma, beta), x, dout),
               "dgamma": eval_numerical_gradient_array(lambda v: out(x, v, beta), gamma.copy(),
                                                       dout),
               "dbeta": eval_numerical_gradient_array(lambda v: out(x, gamma, v), beta.copy(),
                                                      dout)}
    _, cache = forward(x, gamma, beta, *args)
    analytic = dict(zip(("dx", "dgamma", "dbeta"), backward(dout, cache), strict=True))
    print(f"dgamma has shape {analytic['dgamma'].shape} and dbeta {analytic['dbeta'].shape}")
    for name, grad in analytic.items():
        print(f"{name + ' relative error:':<23}{rel_error(numeric[name], grad):.2e}")


def print_fc_net_gradient_errors(normalization, regs=(0, 3.14), seed=231):
    """Print the initial loss of a small ``FullyConnectedNet`` and how far each of its gradients
    is from a numerical one, once for each regularization strength in ``regs``.

    The network: two hidden layers of 20 and 30 units with ``normalization`` (``"batchnorm"``,
    ``"layernorm"`` or None), inputs of 15 features, 10 classes, weight scale 5e-2, float64. After
    ``np.random.seed(seed)`` it draws a batch of two examples X (2, 15) and labels y (2,), then
    builds one network per ``reg``, as CS231n's notebook does (so its published initial losses
    come back). For each parameter it prints the relative error and the largest entry of its
    numerical gradient (an error between two gradients that are both about zero means nothing).
    """
    np.random.seed(seed)
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    for reg in regs:
        print(f"Gradient check with reg = {reg}")
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg,
                                  weight_scale=5e-2, dtype=np.float64,
                                  normalization=normalization)
        loss, grads = model.loss(X, y)
        print("  initial loss:", loss)

        def loss_at(_, model=model):  # the loss, read after eval_numerical_gradient nudged
            return model.loss(X, y)[0]  # an entry of the parameter in place

        for name in sorted(grads):
            numeric = eval_numerical_gradient(loss_at, model.params[name], verbose=False, h=1e-5)
            print(f"  {name:>6} relative error {rel_error(numeric, grads[name]):.2e}"
                  f"   (largest |gradient| {np.abs(numeric).max():.1e})")
        print()


def median_seconds(func, repeats):
    """The median time of one call of ``func()``, in seconds, over ``repeats`` measurements of
    many calls each (enough calls to take at least 0.2 s per measurement)."""
    timer = timeit.Timer(func)
    calls, _ = timer.autorange()
    return statistics.median(timer.repeat(repeat=repeats, number=calls)) / calls


def print_timings(calls, repeats=7):
    """Time each function of ``calls`` (label -> function of no arguments) with
    `median_seconds` and print its time per call, then how many times faster the last one is
    than the first. One measurement mostly measures the noise of the machine: the median of
    several is steadier (run it twice and see how much the ratio still moves)."""
    seconds = {label: median_seconds(func, repeats) for label, func in calls.items()}
    width = max(len(label) for label in [*seconds, "speedup"]) + 1
    for label, value in seconds.items():
        print(f"  {label + ':':<{width}} {1e3 * value:.3f} ms per call")
    times = list(seconds.values())
    print(f"  {'speedup:':<{width}} {times[0] / times[-1]:.2f}x")


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


def train_with_adam(model, data, num_epochs, batch_size=50, learning_rate=1e-3, verbose=True):
    """Train ``model`` on ``data`` (a dict ``X_train``, ``y_train``, ``X_val``, ``y_val``) with
    `Solver` and Adam; return the Solver, whose ``loss_history`` (one loss per step),
    ``train_acc_history`` and ``val_acc_history`` (after the first step and after every epoch)
    the plots read. ``verbose`` prints the loss every 20 steps and the accuracies per epoch."""
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": learning_rate},
                    num_epochs=num_epochs, batch_size=batch_size, print_every=20, verbose=verbose)
    solver.train()
    return solver


def weight_scale_sweep(weight_scales, variants, data, hidden_dims, num_epochs, seed=231):
    """Train a deep ``FullyConnectedNet`` from each initial weight scale, in each variant.

    ``variants`` maps a label to a ``normalization`` (``"batchnorm"`` or None); each network has
    the hidden layers ``hidden_dims`` and is trained by `train_with_adam` (quietly) on ``data``,
    after ``np.random.seed(seed)`` before the first. Returns label -> {"train": best training
    accuracy, "val": best validation accuracy, "loss": mean loss of the last 10 steps}, each a
    list with one value per weight scale.
    """
    from tqdm.auto import tqdm  # here, not at the top: the grader imports the package often

    np.random.seed(seed)
    sweep = {label: {"train": [], "val": [], "loss": []} for label in variants}
    for scale in tqdm(weight_scales, desc="weight scales"):
        for label, normalization in variants.items():
            model = FullyConnectedNet(hidden_dims, weight_scale=scale,
                                      normalization=normalization)
            solver = train_with_adam(model, data, num_epochs, verbose=False)
            sweep[label]["train"].append(max(solver.train_acc_history))
            sweep[label]["val"].append(max(solver.val_acc_history))
            sweep[label]["loss"].append(float(np.mean(solver.loss_history[-10:])))
    return sweep


def batch_size_experiment(normalization, data, hidden_dims, num_epochs, batch_sizes=(5, 10, 50),
                          baseline_batch_size=10, weight_scale=2e-2, seed=231):
    """Train a deep ``FullyConnectedNet`` with ``normalization`` at each of ``batch_sizes``, and
    a baseline without normalization at ``baseline_batch_size``, for ``num_epochs`` epochs each
    (a smaller batch takes more, noisier steps per epoch) with `train_with_adam`, after
    ``np.random.seed(seed)`` before the first. Returns label -> Solver, for `plot_training`."""
    from tqdm.auto import tqdm

    np.random.seed(seed)
    runs = [(f"no normalization, batch {baseline_batch_size}", None, baseline_batch_size)]
    runs += [(f"{normalization}, batch {size}", normalization, size) for size in batch_sizes]
    solvers = {}
    for label, norm, size in tqdm(runs, desc=f"{normalization} batch sizes"):
        model = FullyConnectedNet(hidden_dims, weight_scale=weight_scale, normalization=norm)
        solvers[label] = train_with_adam(model, data, num_epochs, batch_size=size, verbose=False)
    return solvers


def _curves(run):
    """(loss per step, the epochs of the accuracies, training accuracies, validation accuracies)
    of a Solver (or anything with its three histories: accuracies after the first step and after
    every epoch, so epochs 0, 1, ...) or of a History of `epoch_solver` (loss, train_acc,
    val_acc: accuracies after every epoch, so epochs 1, 2, ...)."""
    if hasattr(run, "loss_history"):
        val = run.val_acc_history
        return run.loss_history, np.arange(len(val)), run.train_acc_history, val
    loss, train, val = run
    return loss, np.arange(1, len(val) + 1), train, val


def print_final(runs):
    """One line per run of ``runs`` (label -> Solver or History): its last training loss and
    its last validation accuracy."""
    for label, run in runs.items():
        loss, _, _, val = _curves(run)
        print(f"  {label:<28} final training loss {loss[-1]:.3f}   "
              f"validation accuracy {val[-1]:.3f}")


# --------------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------------

_PANELS = {"loss": ("training loss", "iteration", "loss"),
           "train_acc": ("training accuracy", "epoch", "accuracy"),
           "val_acc": ("validation accuracy", "epoch", "accuracy")}


def plot_training(runs, title, panels=("loss", "train_acc", "val_acc")):
    """Plot training curves side by side, one curve per run, and show the figure.

    ``runs`` maps a label to a Solver or a History of `epoch_solver`; ``panels`` chooses among
    the training loss per step (``"loss"``) and the training and validation accuracy per epoch
    (``"train_acc"``, ``"val_acc"``); each panel's title starts with ``title``.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        name, xlabel, ylabel = _PANELS[panel]
        for label, run in runs.items():
            loss, epochs, train, val = _curves(run)
            if panel == "loss":
                ax.plot(loss, "o", markersize=2, alpha=0.4, label=label)
            else:
                ax.plot(epochs, train if panel == "train_acc" else val, "-o", markersize=4,
                        label=label)
        ax.set_title(f"{title}: {name}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend()
    fig.tight_layout()
    plt.show()


def plot_sweep(x, results, panels, xlabel, log_base=10, log_y=(), label_every_x=False):
    """Plot results against a swept setting, one panel per quantity, and show the figure.

    ``x``: the settings (e.g. weight scales or batch sizes), drawn on a log axis of base
    ``log_base``; ``results``: label -> {key: one value per setting}, one curve per label;
    ``panels``: (key, title, y label) per panel; ``log_y``: the keys whose panel gets a log y
    axis; ``label_every_x``: a tick with its value at every setting.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (key, title, ylabel) in zip(axes[0], panels, strict=True):
        for label, values in results.items():
            ax.plot(x, values[key], "-o", markersize=4, label=label)
        ax.set_xscale("log", base=log_base)
        if label_every_x:
            ax.set_xticks(x, labels=[f"{v:g}" for v in x])
        if key in log_y:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend()
    fig.tight_layout()
    plt.show()
