"""solutions/framework.py's Keras conversion and solutions/parity.py (our batch norm against
PyTorch's and Keras's).

Without the frameworks the conversion is tested against what our batchnorm_forward does; with Keras
importable (requirements-frameworks.txt: Keras 3 on the torch backend) a Keras layer built from the
conversion is run against ours step by step, and the three-way table is checked for every
framework that is there. The import switches (NORMLAB_NO_KERAS, NORMLAB_NO_TORCH) and the backend
choice are tested in subprocesses, so that this process's imports do not matter.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from solutions import parity
from solutions.framework import keras_batchnorm_from_normlab
from solutions.layers import batchnorm_forward
from tests.support.paths import REPO

# Keras's torch backend converts tensors with np.array(x), which numpy 2 warns about.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:keras")


# --------------------------------------------------------------------------------------------------
# The conversion, without Keras
# --------------------------------------------------------------------------------------------------


def test_full_bn_param_is_passed_on_as_it_is_and_not_modified():
    gamma, beta = np.array([1.5, 0.5]), np.array([0.1, -0.2])
    bn_param = {"mode": "train", "momentum": 0.8, "eps": 2e-4,
                "running_mean": np.array([1.0, 2.0]), "running_var": np.array([3.0, 4.0])}
    before = {k: np.copy(v) for k, v in bn_param.items()}
    config, weights = keras_batchnorm_from_normlab(gamma, beta, bn_param)
    assert config == {"momentum": 0.8, "epsilon": 2e-4}
    assert all(type(v) is float for v in config.values())
    for got, want in zip(weights, [gamma, beta, before["running_mean"], before["running_var"]],
                         strict=True):
        np.testing.assert_array_equal(got, want)
        assert got is not want  # new arrays: the Keras layer's weights are not ours
    assert all(np.array_equal(bn_param[k], before[k]) for k in before) and bn_param.keys() == \
        before.keys()


def test_empty_bn_param_gives_what_our_first_batchnorm_forward_step_uses():
    gamma, beta = np.ones(3), np.zeros(3)
    config, weights = keras_batchnorm_from_normlab(gamma, beta, {})
    assert config == {"momentum": 0.9, "epsilon": 1e-5}
    # Our layer's running averages after one step from an empty bn_param, and Keras's rule
    # (moving = momentum * moving + (1 - momentum) * batch) from the converted start, agree.
    x = np.random.default_rng(0).normal(2, 3, (6, 3))
    bn_param = {"mode": "train"}
    batchnorm_forward(x, gamma, beta, bn_param)
    m = config["momentum"]
    np.testing.assert_allclose(m * weights[2] + (1 - m) * x.mean(axis=0),
                               bn_param["running_mean"])
    np.testing.assert_allclose(m * weights[3] + (1 - m) * x.var(axis=0), bn_param["running_var"])


# --------------------------------------------------------------------------------------------------
# The parity module
# --------------------------------------------------------------------------------------------------


def test_data_has_a_feature_below_keras_epsilon_and_ours_runs_without_frameworks():
    data = parity.parity_data(seed=3)
    variances = np.stack(data["batches"]).var(axis=1)
    assert (variances[:, 0] < 1e-3).all() and (variances[:, 1:] > 1e-2).all()
    ours = parity.run_ours(data)
    assert ours["out"].shape == (20, 8, 5) and ours["dx"].shape == (8, 5)
    assert set(parity.ROWS) <= set(ours)
    assert parity.three_way_parity() == {}
    assert parity.parity_table({}) == "No framework to compare with."


def test_table_says_which_converted_column_fails():
    good = dict.fromkeys(parity.ROWS, 1e-16)
    bad = dict(good, dx=0.3)
    text = parity.parity_table({"PyTorch, converted": good, "Keras, converted": bad,
                                "Keras, naive": bad})
    assert "PyTorch: all 7 rows agree within 1e-10 after the conversion." in text
    assert "Keras: MISMATCH after the conversion in dx (more than 1e-05)" in text
    assert text.splitlines()[2].split() == ["dx", "1.00e-16", "3.00e-01", "3.00e-01"]


def _run(code, **env):
    full = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND",
                                                             parity.NO_KERAS, parity.NO_TORCH)}
    full.update(env, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_switches_make_the_frameworks_absent():
    out = _run("from solutions import parity\n"
               "print(parity.import_keras()); print(parity.import_torch())",
               NORMLAB_NO_KERAS="1", NORMLAB_NO_TORCH="1")
    assert "(None, 'Keras: not used, because NORMLAB_NO_KERAS is set.')" in out
    assert "(None, 'PyTorch: not used, because NORMLAB_NO_TORCH is set.')" in out


@pytest.mark.parametrize("keras_json", [None, "tensorflow", "torch", "nonexistent_backend"])
def test_the_backend_is_the_configured_one_if_installed_else_the_first_installed(
        tmp_path, monkeypatch, keras_json):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    if keras_json is not None:
        (tmp_path / "keras.json").write_text(json.dumps({"backend": keras_json}))
    installed = [n for n in parity.KERAS_BACKENDS if importlib.util.find_spec(n)]
    chosen = parity.choose_keras_backend()
    if keras_json in installed:
        assert chosen == keras_json and "KERAS_BACKEND" not in os.environ  # keras.json rules
    else:  # Keras's own keras.json names TensorFlow even where it is not installed
        assert chosen == (installed[0] if installed else None)
        assert os.environ.get("KERAS_BACKEND") == chosen


def test_keras_backend_variable_is_respected(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert parity.choose_keras_backend() == "jax"


# --------------------------------------------------------------------------------------------------
# With the frameworks (requirements-frameworks.txt; skipped without them)
# --------------------------------------------------------------------------------------------------


def _imported(importer):
    module, why = importer()
    if module is None:
        pytest.skip(why)
    return module


@pytest.fixture(scope="module")
def keras():
    return _imported(parity.import_keras)


@pytest.fixture(scope="module")
def torch():
    return _imported(parity.import_torch)


@pytest.mark.parametrize("momentum, eps, start", [(0.9, 1e-5, False), (0.6, 1e-3, True)])
def test_keras_layer_from_the_conversion_follows_ours_step_by_step(keras, momentum, eps, start):
    rng = np.random.default_rng(7)
    D = 4
    gamma, beta = rng.uniform(0.5, 2, D), rng.normal(0, 1, D)
    bn_param = {"mode": "train", "momentum": momentum, "eps": eps}
    if start:
        bn_param.update(running_mean=rng.normal(0, 1, D), running_var=rng.uniform(0.5, 2, D))
    config, weights = keras_batchnorm_from_normlab(gamma, beta, bn_param)
    layer = keras.layers.BatchNormalization(dtype="float64", **config)
    layer.build((None, D))
    layer.set_weights(weights)
    for step in range(6):
        x = rng.normal(rng.uniform(-1, 1, D), rng.uniform(0.5, 2, D), (5 + step, D))
        ours, _ = batchnorm_forward(x, gamma, beta, bn_param)
        theirs = keras.ops.convert_to_numpy(layer(x, training=True))
        np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-5)  # Keras: float32
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_mean),
                                   bn_param["running_mean"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_variance),
                                   bn_param["running_var"], rtol=1e-5, atol=1e-6)
    x = rng.normal(0, 1, (3, D))
    ours, _ = batchnorm_forward(x, gamma, beta, dict(bn_param, mode="test"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x, training=False)), ours,
                               rtol=1e-5, atol=1e-5)


def test_three_way_table_with_every_framework_there_is(keras, torch):
    columns = parity.three_way_parity(torch=torch, keras=keras)
    assert list(columns) == ["PyTorch, converted", "PyTorch, naive", "Keras, converted",
                             "Keras, naive"]
    for row in parity.ROWS:
        assert columns["PyTorch, converted"][row] < 1e-12, row
        assert columns["Keras, converted"][row] < 1e-5, row
    for column in ("PyTorch, naive", "Keras, naive"):
        for row in ("running_mean", "running_var", "out (test mode)"):
            assert columns[column][row] > 1e-2, (column, row)
    # Training-mode outputs: PyTorch needs no conversion, Keras's default epsilon shows.
    assert columns["PyTorch, naive"]["out"] < 1e-12 < 0.1 < columns["Keras, naive"]["out"]
    text = parity.parity_table(columns)
    assert "PyTorch: all 7 rows agree" in text and "Keras: all 7 rows agree" in text


def test_a_wrong_conversion_shows_in_the_keras_column(keras, monkeypatch):
    def as_for_torch(gamma, beta, bn_param):
        config, weights = keras_batchnorm_from_normlab(gamma, beta, bn_param)
        return dict(config, momentum=1 - config["momentum"]), weights

    monkeypatch.setattr(parity, "keras_batchnorm_from_normlab", as_for_torch)
    columns = parity.three_way_parity(keras=keras)
    assert list(columns) == ["Keras, converted", "Keras, naive"]
    assert columns["Keras, converted"]["out"] < 1e-5  # training outputs do not see momentum
    assert columns["Keras, converted"]["running_mean"] > 1e-2
    assert "MISMATCH after the conversion in running_mean, running_var" in \
        parity.parity_table(columns)
