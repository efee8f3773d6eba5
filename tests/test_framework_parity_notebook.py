"""The FrameworkParity notebook: its builder, nbgrader format, PyTorch guards, and execution.

PyTorch is optional (not in requirements.txt). The slow tests execute the notebook in an
instructor copy (full solutions) in FAST mode and require zero errors:

* as the machine is (with PyTorch when it is importable, else without it), and
* when PyTorch is importable, a second time with ``NORMLAB_NO_TORCH=1``, the notebook's own
  switch for behaving as if PyTorch were missing.

Both read a synthetic CIFAR-10 written under a temporary folder through ``NORMLAB_CIFAR10_DIR``.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

from autograder.authoring import instructor
from autograder.config import load_config
from solutions.synthetic_cifar import write_synthetic_cifar10
from tests.test_notebooks import errors_of, execute, text_of

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "FrameworkParity.ipynb"
BUILDER = REPO / "notebooks" / "build.py"
QUESTIONS = {"framework_question_1", "framework_question_2"}
TORCH_NAMES = re.compile(r"\b(torch|F|nn)\b")
PARITY_ROWS = ("out", "dx", "dgamma", "dbeta", "running_mean", "running_var")


def load():
    return nbformat.read(NOTEBOOK, as_version=4)


def builder():
    spec = importlib.util.spec_from_file_location("notebooks_build", BUILDER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nbgrader_cells(nb):
    return [c for c in nb.cells if "nbgrader" in c.metadata]


def graded_points():
    """The points of the autograded cell: the checks crediting it, None when none does."""
    from autograder.judging.cases import select_checks

    credited = [c for c in select_checks(load_config()) if c.grade_id == "framework_conventions"]
    return sum(c.points for c in credited) if credited else None


def torch_importable() -> bool:
    return importlib.util.find_spec("torch") is not None


# --------------------------------------------------------------------------------------------------
# The committed file
# --------------------------------------------------------------------------------------------------


def test_committed_notebook_is_what_the_builder_writes(capsys):
    assert builder().main(["--check"]) == 0, (
        "notebooks/FrameworkParity.ipynb is out of date: run "
        ".venv/bin/python notebooks/build.py")
    assert "up to date" in capsys.readouterr().out


def test_committed_without_outputs_and_with_a_python3_kernel():
    nb = load()
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {cell.id} has outputs"
            assert cell.execution_count is None, f"cell {cell.id} has an execution count"


def test_nbgrader_metadata_schema_v3_and_the_graded_cells():
    nb = load()
    MetadataValidator().validate_nb(nb)
    graded = graded_points()
    expected = QUESTIONS | ({"framework_conventions"} if graded is not None else set())
    ids = [c.metadata.nbgrader["grade_id"] for c in nbgrader_cells(nb)]
    assert sorted(ids) == sorted(expected)
    for cell in nbgrader_cells(nb):
        meta = cell.metadata.nbgrader
        assert meta["schema_version"] == 3 and meta["grade"] and meta["points"] > 0
        if meta["grade_id"] in QUESTIONS:
            assert cell.cell_type == "markdown" and meta["points"] == 2
            assert meta["solution"] and not meta["locked"]
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        else:
            assert cell.cell_type == "code" and meta["locked"] and not meta["solution"]
            assert meta["points"] == graded
            visible, hidden = cell.source.split("### BEGIN HIDDEN TESTS")
            assert "check_framework_conventions()" in visible
            assert hidden.rstrip().endswith("### END HIDDEN TESTS")


def test_the_autograded_cell_exists_exactly_when_the_grader_checks_it():
    """Its points are the checks' (autograder/judging/cases.py + release.toml); without checks no
    cell,
    since the release refuses an autograded cell whose points could never be earned."""
    from autograder.judging.cases import select_checks

    credited = [c for c in select_checks(load_config()) if c.grade_id == "framework_conventions"]
    graded = graded_points()
    assert (graded is None) == (not credited)
    if credited:
        assert graded == pytest.approx(sum(c.points for c in credited))


def test_grade_ids_are_unique_across_all_notebooks():
    seen: dict[str, str] = {}
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        for cell in nbgrader_cells(nbformat.read(path, as_version=4)):
            grade_id = cell.metadata.nbgrader["grade_id"]
            assert grade_id not in seen, f"{grade_id} in {path.name} and {seen[grade_id]}"
            seen[grade_id] = path.name


def test_it_is_part_of_the_release():
    assert NOTEBOOK.name in load_config().notebooks


def test_student_release_hides_model_answers_and_hidden_tests():
    nb = copy.deepcopy(load())
    resources = {}
    for preprocessor in (ClearSolutions(), ClearHiddenTests()):
        nb, resources = preprocessor.preprocess(nb, resources)
    released = nbformat.writes(nb)
    for marker in ("BEGIN SOLUTION", "Model answer", "BEGIN HIDDEN TESTS", "assert_passes"):
        assert marker not in released
    answers = [c for c in nbgrader_cells(nb) if c.cell_type == "markdown"]
    assert len(answers) == 2
    assert all(c.source == "**Your answer:**\n\nYOUR ANSWER HERE" for c in answers)


def test_pytorch_is_optional_and_documented():
    nb = load()
    intro = nb.cells[0].source
    for text in ("pip install torch --index-url https://download.pytorch.org/whl/cpu", "Colab",
                 "NORMLAB_NO_TORCH=1", "NORMLAB_FAST=1"):
        assert text in intro, text
    by_id = {c.id: c for c in nb.cells}
    setup = by_id["torch-setup"].source
    assert 'os.environ.get("NORMLAB_NO_TORCH"' in setup
    assert "HAVE_TORCH = torch is not None" in setup
    for name in ("requirements.txt", "requirements-dev.txt"):
        assert "torch" not in (REPO / name).read_text(), f"PyTorch must stay optional ({name})"


def test_every_torch_statement_is_guarded():
    """Outside the cell that imports it, PyTorch is only touched inside function bodies or under
    ``if HAVE_TORCH:``; the top level of every other statement never names torch, F or nn."""
    for cell in load().cells:
        if cell.cell_type != "code" or cell.id == "torch-setup":
            continue
        for stmt in ast.parse(cell.source).body:
            if isinstance(stmt, ast.FunctionDef):
                continue
            if isinstance(stmt, ast.If) and ast.unparse(stmt.test) == "HAVE_TORCH":
                continue
            assert not TORCH_NAMES.search(ast.unparse(stmt)), (cell.id, ast.unparse(stmt)[:200])


# --------------------------------------------------------------------------------------------------
# Executing the notebook
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    """A small synthetic CIFAR-10 (enough for FAST mode's 1000 / 200 / 200 split)."""
    return write_synthetic_cifar10(tmp_path_factory.mktemp("data") / "cifar", 1500, 300, seed=2)


def _parity_table(text):
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^(\w+(?: \(.*\))?)\s+([0-9.e+-]+)(?:\s+([0-9.e+-]+))?$", line)
        if match:
            rows[match.group(1)] = (float(match.group(2)),
                                    float(match.group(3)) if match.group(3) else None)
    return rows


MODES = ["as-installed", "NORMLAB_NO_TORCH=1"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_instructor_copy_runs_without_errors(mode, tmp_path, monkeypatch, cifar_dir):
    if mode == "NORMLAB_NO_TORCH=1":
        if not torch_importable():
            pytest.skip("PyTorch is not installed: the as-installed run already had no PyTorch")
        monkeypatch.setenv("NORMLAB_NO_TORCH", "1")
    else:
        monkeypatch.delenv("NORMLAB_NO_TORCH", raising=False)
    with_torch = mode == "as-installed" and torch_importable()

    out = instructor.build(tmp_path / "instructor", link_data=False)
    assert (out / "notebooks" / NOTEBOOK.name).read_bytes() == NOTEBOOK.read_bytes()
    start = time.perf_counter()
    nb, error = execute(out / "notebooks" / NOTEBOOK.name, monkeypatch, cifar_dir)
    seconds = time.perf_counter() - start
    print(f"\nFrameworkParity, FAST mode, {'with' if with_torch else 'without'} PyTorch: "
          f"{seconds:.1f} s")
    failed = [(c.get("id"), errors_of(c)[0].evalue) for c in nb.cells if errors_of(c)]
    assert error is None and not failed, failed or str(error)[:2000]

    by_id = {c.get("id"): c for c in nb.cells}
    assert "framework_conventions: 3 of 3 checks passed (all passed)" in text_of(
        by_id["conversions-check"])
    assert "SYNTHETIC" in text_of(by_id["data"])
    assert "normlab, batch norm" in text_of(by_id["train-ours"])
    images = [o for o in by_id["train-ours"].outputs if "image/png" in o.get("data", {})]
    assert images, "the FullyConnectedNet comparison drew no plot"
    torch_cells = ("parity", "test-mode", "train-torch")
    if with_torch:
        assert "the PyTorch cells will run" in text_of(by_id["torch-setup"])
        table = _parity_table(text_of(by_id["parity"]))
        for row in PARITY_ROWS:
            converted, naive = table[row]
            assert converted < 1e-6, (row, converted)
            if row.startswith("running"):
                assert naive > 1e-3, (row, naive)  # without the conversion they differ
        assert "agree with PyTorch to within 1e-06" in text_of(by_id["parity"])
        loaded = re.search(r"PyTorch's buffers loaded:\s+([0-9.e+-]+)",
                           text_of(by_id["test-mode"]))
        assert float(loaded.group(1)) < 1e-6
        assert "PyTorch, nn.BatchNorm1d" in text_of(by_id["train-torch"])
    else:
        for cell_id in torch_cells:
            assert text_of(by_id[cell_id]).startswith("Skipped ("), cell_id
        if mode == "NORMLAB_NO_TORCH=1":
            assert "NORMLAB_NO_TORCH is set" in text_of(by_id["torch-setup"])
        else:
            assert "pip install torch --index-url" in text_of(by_id["torch-setup"])


@pytest.mark.slow
def test_on_the_committed_stubs_the_first_task_cell_fails_first(tmp_path, monkeypatch, cifar_dir):
    """A student's first run: setup, the PyTorch check, the imports and the helpers work on the
    stubs; the first error is the conversion task's NotImplementedError."""
    if "framework.torch_momentum_from_normlab" not in load_config().tasks:
        pytest.skip("the conversions are given code in this release, not tasks")
    kit = tmp_path / "kit"
    shutil.copytree(REPO / "assignment", kit / "assignment",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (kit / "notebooks").mkdir()
    shutil.copy2(NOTEBOOK, kit / "notebooks" / NOTEBOOK.name)
    nb, error = execute(kit / "notebooks" / NOTEBOOK.name, monkeypatch, cifar_dir)
    assert error is not None, "the notebook ran to the end on the stubs"
    failed = [c for c in nb.cells if errors_of(c)]
    assert len(failed) == 1 and "first-task" in failed[0].metadata.get("tags", [])
    [err] = errors_of(failed[0])
    assert err.ename == "NotImplementedError"
    assert err.evalue.startswith("torch_momentum_from_normlab:")
