"""The KerasMNIST notebook: its builder, nbgrader format, and execution with and without the
frameworks.

Keras and PyTorch are optional (requirements-frameworks.txt, which `make test` installs). The slow
tests execute the instructor copy in FAST mode and require zero errors:

* as the machine is (with the Keras and PyTorch cells running when they are importable), and
* with ``NORMLAB_NO_KERAS=1`` and ``NORMLAB_NO_TORCH=1``, the notebook's switches for behaving as
  a student's machine without them (always run: it is the path every student without the
  frameworks takes).

Both read a small synthetic MNIST written under a temporary folder through ``NORMLAB_MNIST_DIR``.
"""

from __future__ import annotations

import importlib.util
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator

from autograder.authoring import instructor
from autograder.config import load_config
from autograder.judging.cases import select_checks
from solutions.synthetic_mnist import write_synthetic_mnist
from tests.test_notebooks import errors_of, execute, run_on_the_stubs, text_of

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "KerasMNIST.ipynb"
BUILDER = REPO / "notebooks" / "build.py"
GRADE_ID = "keras_conventions"


def load():
    return nbformat.read(NOTEBOOK, as_version=4)


def builder():
    spec = importlib.util.spec_from_file_location("notebooks_build", BUILDER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def importable(name) -> bool:
    return importlib.util.find_spec(name) is not None


def test_committed_notebook_is_what_the_builder_writes(capsys):
    assert builder().main(["--check"]) == 0, (
        "notebooks/KerasMNIST.ipynb is out of date: run .venv/bin/python "
        "notebooks/build.py")
    assert "up to date" in capsys.readouterr().out


def test_committed_without_outputs_part_of_the_release_and_graded_as_configured():
    nb = load()
    nbformat.validate(nb)
    MetadataValidator().validate_nb(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.id
    assert NOTEBOOK.name in load_config().notebooks
    graded = [c for c in nb.cells if "nbgrader" in c.metadata]
    credited = [c for c in select_checks(load_config()) if c.grade_id == GRADE_ID]
    assert len(graded) == (1 if credited else 0)
    if credited:
        meta = graded[0].metadata.nbgrader
        assert meta["grade_id"] == GRADE_ID and meta["locked"] and not meta["solution"]
        assert meta["points"] == pytest.approx(sum(c.points for c in credited))
        visible, hidden = graded[0].source.split("### BEGIN HIDDEN TESTS")
        assert "check_keras_conventions()" in visible
        assert hidden.rstrip().endswith("### END HIDDEN TESTS")


def test_frameworks_are_optional_and_documented():
    nb = load()
    intro = nb.cells[0].source
    for text in ("NORMLAB_NO_KERAS=1", "NORMLAB_NO_TORCH=1", "NORMLAB_FAST=1", "Colab",
                 "KERAS_BACKEND", "--index-url https://download.pytorch.org/whl/cpu"):
        assert text in intro, text
    # No cell imports a framework itself: they come from import_keras / import_torch, as modules
    # or None, and go only into functions of assignment/ that take None.
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not re.search(r"^\s*(import|from) (keras|torch|tensorflow|jax)\b", cell.source,
                                 re.M), cell.id


# --------------------------------------------------------------------------------------------------
# Executing the notebook
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    """A small synthetic MNIST (enough for FAST mode's 1000 / 200 / 200 split)."""
    return write_synthetic_mnist(tmp_path_factory.mktemp("data") / "mnist", 1300, 300, seed=5)


def _table(text):
    """The parity table's rows: row name -> list of floats."""
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^(\w+(?: \(test mode\))?)((?:\s+[0-9.e+-]+)+)$", line)
        if match:
            rows[match.group(1)] = [float(v) for v in match.group(2).split()]
    return rows


MODES = ["as-installed", "no frameworks"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_instructor_copy_runs_without_errors(mode, tmp_path, monkeypatch, mnist_dir):
    monkeypatch.setenv("NORMLAB_MNIST_DIR", str(mnist_dir))
    for variable in ("NORMLAB_NO_KERAS", "NORMLAB_NO_TORCH"):
        if mode == "no frameworks":
            monkeypatch.setenv(variable, "1")
        else:
            monkeypatch.delenv(variable, raising=False)
    with_keras = mode == "as-installed" and importable("keras")
    with_torch = mode == "as-installed" and importable("torch")

    out = instructor.build(tmp_path / "instructor", link_data=False)
    start = time.perf_counter()
    nb, error = execute(out / "notebooks" / NOTEBOOK.name, monkeypatch, tmp_path / "no-cifar")
    print(f"\nKerasMNIST, FAST mode, {mode} (Keras: {with_keras}, PyTorch: {with_torch}): "
          f"{time.perf_counter() - start:.1f} s")
    failed = [(c.get("id"), errors_of(c)[0].evalue) for c in nb.cells if errors_of(c)]
    assert error is None and not failed, failed or str(error)[:2000]

    by_id = {c.get("id"): c for c in nb.cells}
    assert "SYNTHETIC" in text_of(by_id["data"])
    assert f"{GRADE_ID}: 2 of 2 checks passed (all passed)" in text_of(by_id["task-check"])
    lab = text_of(by_id["lab"])
    assert "NumPy (normlab), batch norm:" in lab and "NumPy (normlab), no batch norm:" in lab
    assert any("image/png" in o.get("data", {}) for o in by_id["lab"].outputs), "no plot"
    frameworks = text_of(by_id["frameworks"])
    parity = text_of(by_id["parity"])
    if mode == "no frameworks":
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
        table = _table(parity)
        assert len(table) == 7
        for row, (torch_conv, torch_naive, keras_conv, keras_naive) in table.items():
            assert torch_conv < 1e-12 and keras_conv < 1e-5, row
            if row.startswith("running") or row == "out (test mode)":
                assert torch_naive > 1e-2 and keras_naive > 1e-2, row  # unconverted: off


@pytest.mark.slow
def test_on_the_committed_stubs_the_task_cell_fails_first(tmp_path, monkeypatch, mnist_dir):
    """A student's first run, cell by cell: everything before the task works on the stubs (the
    data, the framework checks); the first error is the conversion's NotImplementedError, and
    the lab skips with one sentence instead of training on stubs. With the frameworks switched
    off, as most students' machines are, and on."""
    if "framework.keras_batchnorm_from_normlab" not in load_config().tasks:
        pytest.skip("the conversion is given code in this release, not a task")
    monkeypatch.setenv("NORMLAB_MNIST_DIR", str(mnist_dir))
    monkeypatch.setenv("NORMLAB_NO_KERAS", "1")
    monkeypatch.setenv("NORMLAB_NO_TORCH", "1")
    nb, _, _ = run_on_the_stubs(tmp_path, monkeypatch, tmp_path / "no-cifar", NOTEBOOK,
                                "keras_batchnorm_from_normlab:", ("lab",))
    by_id = {c.get("id"): c for c in nb.cells}
    assert "BatchNorm.forward" in text_of(by_id["lab"])
    assert "X_train: (1000, 784)" in text_of(by_id["data"])
