"""solutions/mnist_lab.py: the Keras MNIST lab's network in NumPy (nn.py) and in Keras.

The NumPy half is checked against the lab's specification (layer sizes, batch norm with Keras's
momentum and eps before each ReLU, Glorot weights, Keras-style histories) and for learning on the
synthetic MNIST; the Keras half (skipped without Keras) for the same architecture and history
format. Runs are a few epochs on a few hundred images.
"""

from __future__ import annotations

import numpy as np
import pytest

from solutions import mnist, mnist_lab, nn, parity
from solutions.synthetic_mnist import write_synthetic_mnist

#: What keras.Model.fit returns with metrics=["accuracy"] and validation data: its History keys.
KERAS_HISTORY_KEYS = {"loss", "accuracy", "val_loss", "val_accuracy"}

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:keras")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = write_synthetic_mnist(tmp_path_factory.mktemp("mnist"), 1200, 200, seed=6)
    return mnist.get_MNIST_data(1000, 200, 200, mnist_dir=root)


def test_numpy_network_is_the_labs():
    model = mnist_lab.build_normlab_model(batchnorm=True)
    kinds = [(name, type(layer).__name__, layer.activation) for name, layer in
             model.layers.items()]
    assert kinds == [("dense1", "Dense", None), ("batchnorm1", "BatchNorm", "relu"),
                     ("dense2", "Dense", None), ("batchnorm2", "BatchNorm", "relu"),
                     ("scores", "Dense", None)]
    assert [model.layers[n].params["W"].shape for n in ("dense1", "dense2", "scores")] == [
        (784, 32), (32, 32), (32, 10)]
    assert model.layers["batchnorm1"].bn_param["momentum"] == 0.99
    assert model.layers["batchnorm1"].bn_param["eps"] == 1e-3
    W = model.layers["dense1"].params["W"]
    limit = np.sqrt(6 / (784 + 32))
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.95 * limit  # Glorot uniform
    plain = mnist_lab.build_normlab_model(batchnorm=False)
    assert [type(layer).__name__ for layer in plain.layers.values()] == ["Dense"] * 3
    assert plain.layers["dense1"].activation == "relu" and plain.layers["scores"].activation is None
    np.testing.assert_array_equal(plain.layers["dense1"].params["W"],
                                  mnist_lab.build_normlab_model(False).layers["dense1"].params["W"])


def test_numpy_history_is_kerass_and_the_network_learns(data):
    history = mnist_lab.train_normlab(data, batchnorm=True, epochs=3)
    assert set(history) == KERAS_HISTORY_KEYS
    assert all(len(v) == 3 and all(isinstance(x, float) for x in v) for v in history.values())
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.5  # chance is 0.1
    again = mnist_lab.train_normlab(data, batchnorm=True, epochs=3)
    assert again == history  # seeded


def test_the_training_metrics_are_the_epochs_minibatch_averages(data, monkeypatch):
    """What fit reports: each minibatch's training-mode loss, weighted by its size (the last,
    smaller one included), averaged over the epoch."""
    seen = []
    original = nn.Model.calculate_loss

    def spy(self, scores, y, reg=0.0):
        outputs = original(self, scores, y, reg)
        seen.append((float(outputs[0]), len(y)))
        return outputs

    monkeypatch.setattr(nn.Model, "calculate_loss", spy)
    small = {k: v[:100] for k, v in data.items()}
    history = mnist_lab.train_normlab(small, batchnorm=True, epochs=1, batch_size=32)
    assert [n for _, n in seen] == [32, 32, 32, 4]
    assert history["loss"][0] == pytest.approx(sum(loss * n for loss, n in seen) / 100)


def test_summary_and_plot(data):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    small = {k: v[:200] for k, v in data.items()}
    results = mnist_lab.run_lab(small, epochs=1)
    assert list(results) == ["NumPy (normlab)"]
    assert list(results["NumPy (normlab)"]) == ["batch norm", "no batch norm"]
    assert "NumPy (normlab), no batch norm:" in mnist_lab.summary(results)
    fig = mnist_lab.plot_lab(results, plt)
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "NumPy (normlab): loss"
    plt.close(fig)


def test_keras_network_is_the_labs_and_its_history_has_the_same_form(data):
    keras, why = parity.import_keras()
    if keras is None:
        pytest.skip(why)
    model = mnist_lab.build_keras_model(keras, batchnorm=True)
    names = [type(layer).__name__ for layer in model.layers]
    assert names == ["Dense", "BatchNormalization", "Activation", "Dense", "BatchNormalization",
                     "Activation", "Dense"]
    bn = model.layers[1]
    assert (bn.momentum, bn.epsilon) == (0.99, 1e-3)  # Keras's defaults, as the lab uses
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.01)
    assert model.optimizer.epsilon == 1e-7  # Keras's Adam default
    history = mnist_lab.train_keras(keras, {k: v[:400] for k, v in data.items()}, True, epochs=2)
    assert set(history) == KERAS_HISTORY_KEYS
    assert all(len(v) == 2 for v in history.values())
    assert history["loss"][1] < history["loss"][0]
