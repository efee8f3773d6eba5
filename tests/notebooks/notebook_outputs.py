"""What each notebook prints when tests/notebooks/test_notebooks.py executes it: one function a
notebook, called with its cells by id (and the run's mode), for the instructor copy and for the
stubs."""

from __future__ import annotations

import importlib.util
import re

import pytest

PARITY_ROWS = ("out", "dx", "dgamma", "dbeta", "running_mean", "running_var")


def text_of(cell):
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "")
                   for o in cell.get("outputs", []))


def has_plot(cell):
    return any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))


def importable(name) -> bool:
    return importlib.util.find_spec(name) is not None


def batchnorm(cells, mode):
    assert "SYNTHETIC" in text_of(cells["data"])
    # The published CS231n numbers appear where a course porting its notebook expects them.
    assert "[ -2.3814598  -13.18038246   1.91780462]" in text_of(cells["bn-forward-train"])
    assert "[-0.03927354 -0.04349152 -0.10452688]" in text_of(cells["bn-forward-test"])
    losses = text_of(cells["fc-bn-gradcheck"])
    assert "2.2611955101340957" in losses and "6.996533220108303" in losses
    assert "8 of 8 tasks pass" in text_of(cells["summary"])
    assert "is not a student's copy" in text_of(cells["submit"])  # no collect_submission.py


def convnorm(cells, mode):
    # What CS231n's ConvolutionalNetworks notebook prints for np.random.seed(231) and
    # x = 4 * randn(2, 3, 4, 5) + 10: the per-channel means and stds before spatial batch norm.
    forward = text_of(cells["sbn-forward-train"])
    assert "means: [9.33463814 8.90909116 9.11056338]" in forward
    assert "stds:  [3.61447857 3.19347686 3.5168142 ]" in forward
    assert "out has shape (2, 3, 4, 5)" in forward
    for line in forward.split("After, with gamma = [3, 4, 5]")[1].splitlines()[1:3]:
        values = [float(v) for v in line.split("[")[1].rstrip("] ").split()]
        assert values == pytest.approx([6, 7, 8] if "means" in line else [3, 4, 5], abs=1e-4)
    for cell_id in ("sbn-backward-numeric", "gn-backward-numeric"):
        errors = re.findall(r"relative error:\s+(\S+)", text_of(cells[cell_id]))
        assert len(errors) == 3 and all(float(e) < 1e-6 for e in errors), (cell_id, errors)
    assert "dgamma has shape (1, 6, 1, 1)" in text_of(cells["gn-backward-numeric"])
    assert len(re.findall(r"^G = \d", text_of(cells["gn-groups"]), re.MULTILINE)) == 4
    # The experiment ran on the synthetic images; group norm does not depend on the batch.
    assert "SYNTHETIC" in text_of(cells["data"])
    table = text_of(cells["experiment"]).splitlines()[2:]
    assert [int(row.split()[0]) for row in table] == [2, 8, 32]  # FAST mode's batch sizes
    for row in table:
        bn_spread, gn_spread, bn_gap, gn_gap = (float(v) for v in row.split()[1:])
        assert bn_spread > 1e-3 and bn_gap > 1e-3 and gn_spread < 1e-9 and gn_gap < 1e-9, row
    assert has_plot(cells["experiment-plot"])
    assert "2 of 2 tasks pass" in text_of(cells["summary"])


def layers_as_objects(cells, mode):
    assert "SYNTHETIC" in text_of(cells["data"])
    for cell_id in ("bn-backward-check", "ln-check", "model-check", "dense-check"):
        assert "wrong" not in text_of(cells[cell_id]), cell_id
    assert "[0.5  0.86 0.14]" in text_of(cells["bn-forward"])  # the ReLU after the shift
    for cell_id in ("bn-selfcheck", "ln-selfcheck", "model-selfcheck"):
        assert "(all passed)" in text_of(cells[cell_id]), cell_id
    for task, name in (("nn_batchnorm", "BatchNorm"), ("nn_layernorm", "LayerNorm"),
                       ("nn_model", "Model")):
        assert f"{name}: " in text_of(cells[f"test-{task}"])
        assert "look right" in text_of(cells[f"test-{task}"])
    trained = text_of(cells["experiment-train"])
    for label in ("no normalization", "batch norm", "layer norm"):
        assert f"{label}:" in trained
    assert trained.count("epoch 2/2") == 3
    assert has_plot(cells["experiment-plot"])


def _parity_table(text):
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^(\w+(?: \(.*\))?)\s+([0-9.e+-]+)(?:\s+([0-9.e+-]+))?$", line)
        if match:
            rows[match.group(1)] = (float(match.group(2)),
                                    float(match.group(3)) if match.group(3) else None)
    return rows


def framework_parity(cells, mode):
    with_torch = mode == "as-installed" and importable("torch")
    assert "framework_conventions: 3 of 3 checks passed (all passed)" in text_of(
        cells["conversions-check"])
    assert "SYNTHETIC" in text_of(cells["data"])
    assert "normlab, batch norm" in text_of(cells["train-ours"])
    assert has_plot(cells["train-ours"]), "the FullyConnectedNet comparison drew no plot"
    if with_torch:
        assert "the PyTorch cells will run" in text_of(cells["torch-setup"])
        table = _parity_table(text_of(cells["parity"]))
        for row in PARITY_ROWS:
            converted, naive = table[row]
            assert converted < 1e-6, (row, converted)
            if row.startswith("running"):
                assert naive > 1e-3, (row, naive)  # without the conversion they differ
        assert "agree with PyTorch to within 1e-06" in text_of(cells["parity"])
        loaded = re.search(r"PyTorch's buffers loaded:\s+([0-9.e+-]+)",
                           text_of(cells["test-mode"]))
        assert float(loaded.group(1)) < 1e-6
        assert "PyTorch, nn.BatchNorm1d" in text_of(cells["train-torch"])
        return
    for cell_id in ("parity", "test-mode", "train-torch"):
        assert text_of(cells[cell_id]).startswith("Skipped ("), cell_id
    if mode == "NORMLAB_NO_TORCH=1":
        assert "NORMLAB_NO_TORCH is set" in text_of(cells["torch-setup"])
    else:
        assert "pip install torch --index-url" in text_of(cells["torch-setup"])


def _keras_table(text):
    """The parity table's rows: row name -> list of floats."""
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^(\w+(?: \(test mode\))?)((?:\s+[0-9.e+-]+)+)$", line)
        if match:
            rows[match.group(1)] = [float(v) for v in match.group(2).split()]
    return rows


def keras_mnist(cells, mode):
    with_keras = mode == "as-installed" and importable("keras")
    with_torch = mode == "as-installed" and importable("torch")
    assert "SYNTHETIC" in text_of(cells["data"])
    assert "keras_conventions: 2 of 2 checks passed (all passed)" in text_of(cells["task-check"])
    lab, parity = text_of(cells["lab"]), text_of(cells["parity"])
    assert "NumPy (normlab), batch norm:" in lab and "NumPy (normlab), no batch norm:" in lab
    assert has_plot(cells["lab"]), "no plot"
    if mode == "no frameworks":
        frameworks = text_of(cells["frameworks"])
        assert "NORMLAB_NO_KERAS is set" in frameworks and "NORMLAB_NO_TORCH is set" in frameworks
        assert parity.startswith("Skipped (the parity table)")
        assert "only the NumPy half runs" in lab and "Keras, batch norm" not in lab
        return
    if with_keras:
        assert "Keras, batch norm:" in lab and "Keras, no batch norm:" in lab
        assert "Keras: all 7 rows agree within 1e-05 after the conversion." in parity
    if with_torch:
        assert "PyTorch: all 7 rows agree within 1e-10 after the conversion." in parity
    if with_keras and with_torch:
        table = _keras_table(parity)
        assert len(table) == 7
        for row, (torch_conv, torch_naive, keras_conv, keras_naive) in table.items():
            assert torch_conv < 1e-12 and keras_conv < 1e-5, row
            if row.startswith("running") or row == "out (test mode)":
                assert torch_naive > 1e-2 and keras_naive > 1e-2, row  # unconverted: off


CHECK_OUTPUTS = {"BatchNormalization": batchnorm, "ConvNormalization": convnorm,
                 "LayersAsObjects": layers_as_objects, "FrameworkParity": framework_parity,
                 "KerasMNIST": keras_mnist}


def _batchnorm_stubs(cells):
    assert "X_train: (1000, 3, 32, 32)" in text_of(cells["data"])
    skipped = text_of(cells["deep-train"])
    for name in ("batchnorm_forward", "affine_norm_relu_forward", "FullyConnectedNet.__init__"):
        assert name in skipped
    assert "layernorm_forward" in text_of(cells["batch-size-ln"])


def _convnorm_stubs(cells):
    assert "spatial_groupnorm_forward" in text_of(cells["experiment"])


def _layers_as_objects_stubs(cells):
    assert "wrong" not in text_of(cells["dense-check"])  # the given layer works on the stubs
    assert "Model.calculate_loss" in text_of(cells["experiment-train"])


def _keras_mnist_stubs(cells):
    assert "BatchNorm.forward" in text_of(cells["lab"])
    assert "X_train: (1000, 784)" in text_of(cells["data"])


CHECK_STUB_OUTPUTS = {"BatchNormalization": _batchnorm_stubs, "ConvNormalization": _convnorm_stubs,
                      "LayersAsObjects": _layers_as_objects_stubs,
                      "KerasMNIST": _keras_mnist_stubs}
