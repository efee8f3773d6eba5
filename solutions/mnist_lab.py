"""The Keras MNIST lab's experiment, in this kit's NumPy layers and in Keras (KerasMNIST notebook).

This module is given code: nothing here is part of the assignment.

The lab trains one network with and without batch normalization and compares the curves::

    784 -> Dense(32) -> [BatchNorm] -> ReLU -> Dense(32) -> [BatchNorm] -> ReLU -> Dense(10)

with a softmax cross-entropy loss, Adam at learning rate 0.01, minibatches of 32, ten epochs.
:func:`train_normlab` builds it from ``nn.py`` (``Dense``, ``BatchNorm`` with a fused ReLU,
``Adam``), :func:`train_keras` from ``keras.layers`` (``Dense``, ``BatchNormalization``,
``Activation("relu")``) on whichever backend Keras runs.

To make the two halves the same experiment, the NumPy side takes Keras's defaults where the two
differ: batch norm with momentum 0.99 and eps 1e-3 (``keras.layers.BatchNormalization``; the
momentum means the same in both, see ``framework.py``), Adam's epsilon 1e-7, Glorot-uniform
weights with zero biases (``keras.layers.Dense``). And it reports what Keras's ``fit`` reports:
per epoch, the training loss and accuracy averaged over that epoch's minibatches (in training
mode, as they were computed for the updates), and the validation loss and accuracy measured
after the epoch in test mode. Every epoch reshuffles the training set and the last, smaller
minibatch is used too, as in ``fit``.

A history is a dict of four lists with one float per epoch: ``"loss"``, ``"accuracy"``,
``"val_loss"``, ``"val_accuracy"`` (the keys of Keras's ``History.history``).
"""

from __future__ import annotations

import numpy as np

from . import nn
from .layers import softmax_loss

#: The lab's settings.
HIDDEN = (32, 32)
LEARNING_RATE = 0.01
BATCH_SIZE = 32
EPOCHS = 10
#: keras.layers.BatchNormalization's defaults, which the lab uses, in our names.
BN_MOMENTUM, BN_EPS = 0.99, 1e-3
#: keras.optimizers.Adam's default epsilon (nn.Adam's own default is 1e-8).
ADAM_EPS = 1e-7
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def glorot_uniform(rng, fan_in, fan_out):
    """Keras's default Dense initializer: uniform in +-sqrt(6 / (fan_in + fan_out)); (fan_in,
    fan_out) float64."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out))


def build_normlab_model(batchnorm, input_dim=784, hidden=HIDDEN, num_classes=10, seed=0):
    """The lab's network as an ``nn.Model`` (BatchNorm layers with a fused ReLU when
    ``batchnorm``, else Dense layers with a fused ReLU); weights Glorot-uniform from ``seed``."""
    rng = np.random.default_rng(seed)
    model = nn.Model()
    dims = (input_dim, *hidden)
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:], strict=True), start=1):
        dense = model.add(nn.Dense(d_in, d_out, activation=None if batchnorm else "relu"),
                          f"dense{i}")
        dense.params["W"] = glorot_uniform(rng, d_in, d_out)
        if batchnorm:
            model.add(nn.BatchNorm(d_out, eps=BN_EPS, momentum=BN_MOMENTUM, activation="relu"),
                      f"batchnorm{i}")
    scores = model.add(nn.Dense(dims[-1], num_classes), "scores")
    scores.params["W"] = glorot_uniform(rng, dims[-1], num_classes)
    model.add_loss(softmax_loss)
    return model


def _evaluate(model, X, y, batch_size=1000):
    """Test-mode (mean loss, accuracy) of ``model`` on X (N, D) and labels y (N,)."""
    loss_sum, correct = 0.0, 0
    for i in range(0, len(X), batch_size):
        scores = model.forward(X[i:i + batch_size], "test")
        loss_sum += float(softmax_loss(scores, y[i:i + batch_size])[0]) * len(scores)
        correct += int(np.sum(np.argmax(scores, axis=1) == y[i:i + batch_size]))
    return loss_sum / len(X), correct / len(X)


def train_normlab(data, batchnorm, epochs=EPOCHS, batch_size=BATCH_SIZE,
                  learning_rate=LEARNING_RATE, seed=0):
    """Train the lab's network in NumPy (``nn.py``) on ``data``; return its history.

    Inputs:
    - data: dict with "X_train" (N, 784), "y_train" (N,), "X_val" (M, 784), "y_val" (M,), as
      ``mnist.get_MNIST_data`` returns.
    - batchnorm: with or without the two batch-norm layers.
    - epochs, batch_size, learning_rate: the lab's by default.
    - seed: seeds the weights and the shuffles.

    Returns the history (see the module docstring).
    """
    model = build_normlab_model(batchnorm, data["X_train"].shape[1], seed=seed)
    optimizer = nn.Adam(learning_rate, model, eps=ADAM_EPS)
    rng = np.random.default_rng([seed, 1])
    X, y = data["X_train"], data["y_train"]
    history = {key: [] for key in HISTORY_KEYS}
    for _ in range(epochs):
        order = rng.permutation(len(X))
        loss_sum, correct = 0.0, 0
        for i in range(0, len(X), batch_size):
            batch = order[i:i + batch_size]
            scores = model.forward(X[batch], "train")
            loss, dscores = model.calculate_loss(scores, y[batch])[:2]
            model.backward(dscores)
            optimizer.step()
            loss_sum += float(loss) * len(batch)
            correct += int(np.sum(np.argmax(scores, axis=1) == y[batch]))
        history["loss"].append(loss_sum / len(X))
        history["accuracy"].append(correct / len(X))
        val_loss, val_accuracy = _evaluate(model, data["X_val"], data["y_val"])
        history["val_loss"].append(val_loss)
        history["val_accuracy"].append(val_accuracy)
    return history


def build_keras_model(keras, batchnorm, input_dim=784, hidden=HIDDEN, num_classes=10,
                      learning_rate=LEARNING_RATE):
    """The lab's network in Keras, compiled with Adam and the softmax cross-entropy (on logits).
    Seed Keras first (``keras.utils.set_random_seed``) for reproducible weights."""
    layers = [keras.Input((input_dim,))]
    for width in hidden:
        layers.append(keras.layers.Dense(width))
        if batchnorm:
            layers.append(keras.layers.BatchNormalization())  # the lab's defaults
        layers.append(keras.layers.Activation("relu"))
    layers.append(keras.layers.Dense(num_classes))
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def train_keras(keras, data, batchnorm, epochs=EPOCHS, batch_size=BATCH_SIZE,
                learning_rate=LEARNING_RATE, seed=0):
    """Train the lab's network in Keras with ``fit``; return its history (same keys and meaning
    as :func:`train_normlab`'s). ``data`` as there."""
    keras.utils.set_random_seed(seed)
    model = build_keras_model(keras, batchnorm, data["X_train"].shape[1],
                              learning_rate=learning_rate)
    fitted = model.fit(data["X_train"], data["y_train"], batch_size=batch_size, epochs=epochs,
                       validation_data=(data["X_val"], data["y_val"]), shuffle=True, verbose=0)
    return {key: [float(v) for v in fitted.history[key]] for key in HISTORY_KEYS}


def run_lab(data, keras=None, epochs=EPOCHS, batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE,
            seed=0):
    """Both networks (with and without batch norm) in NumPy and, if ``keras`` is given, in Keras.

    Returns {"NumPy (normlab)": {"batch norm": history, "no batch norm": history}, "Keras":
    {...}}; the Keras entry only with ``keras``.
    """
    settings = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
                "seed": seed}
    results = {"NumPy (normlab)": {label: train_normlab(data, bn, **settings)
                                   for label, bn in (("batch norm", True),
                                                     ("no batch norm", False))}}
    if keras is not None:
        results["Keras"] = {label: train_keras(keras, data, bn, **settings)
                            for label, bn in (("batch norm", True), ("no batch norm", False))}
    return results


def plot_lab(results, plt):
    """The curves side by side: one column per framework, loss in the top row and accuracy in
    the bottom one, training (solid) and validation (dashed) with and without batch norm.
    Rows share their y axis. ``plt`` is matplotlib.pyplot; returns the figure."""
    from matplotlib.ticker import MaxNLocator

    columns = list(results)
    fig, axes = plt.subplots(2, len(columns), figsize=(6.5 * len(columns), 7), squeeze=False,
                             sharey="row")
    colours = {"batch norm": "tab:blue", "no batch norm": "tab:orange"}
    for col, framework in enumerate(columns):
        for label, history in results[framework].items():
            epochs = np.arange(1, len(history["loss"]) + 1)
            for row, metric in enumerate(("loss", "accuracy")):
                ax = axes[row, col]
                ax.plot(epochs, history[metric], "-o", color=colours[label], markersize=3,
                        label=f"{label}, training")
                ax.plot(epochs, history[f"val_{metric}"], "--s", color=colours[label],
                        markersize=3, label=f"{label}, validation")
        for row, metric in enumerate(("loss", "accuracy")):
            axes[row, col].set_title(f"{framework}: {metric}")
            axes[row, col].set_xlabel("epoch")
            axes[row, col].xaxis.set_major_locator(MaxNLocator(integer=True))
            axes[row, col].legend(fontsize=8)
    fig.tight_layout()
    return fig


def summary(results):
    """One line per run: the last epoch's training and validation loss and accuracy."""
    lines = []
    for framework, runs in results.items():
        for label, h in runs.items():
            lines.append(f"{framework + ', ' + label + ':':<34} loss {h['loss'][-1]:.3f} / "
                         f"val {h['val_loss'][-1]:.3f}   accuracy {h['accuracy'][-1]:.3f} / "
                         f"val {h['val_accuracy'][-1]:.3f}")
    return "\n".join(lines)
