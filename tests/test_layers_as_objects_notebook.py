"""The LayersAsObjects notebook: nbgrader source format, its place in the release, and execution.

The two slow tests execute it in a fresh kernel (nbclient, kernel ``python3``), reading a
synthetic CIFAR-10 written under tmp_path through ``NORMLAB_CIFAR10_DIR``:

* in an instructor copy (full solutions) with ``NORMLAB_FAST=1``: no cell may fail;
* in a kit holding the committed student stubs, every cell (errors allowed): everything before
  the ``first-task`` cell runs (the given ``Dense`` layer included), that cell fails first with
  the NotImplementedError of BatchNorm.forward, and the experiment skips with one sentence.
"""

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

from autograder.authoring import instructor, stubgen
from autograder.config import load_config
from autograder.judging import cases
from solutions.synthetic_cifar import write_synthetic_cifar10
from tests.test_notebooks import run_on_the_stubs

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "LayersAsObjects.ipynb"
BUILDER = REPO / "notebooks" / "build.py"

TASKS = {"nn_batchnorm", "nn_layernorm", "nn_model"}
QUESTIONS = {"nn_question_1"}
CELL_TIMEOUT = 120  # seconds per cell


def load():
    return nbformat.read(NOTEBOOK, as_version=4)


def nbgrader_cells(nb):
    return [c for c in nb.cells if "nbgrader" in c.metadata]


def by_id(nb):
    return {c.get("id"): c for c in nb.cells}


# --------------------------------------------------------------------------------------------------
# The committed file
# --------------------------------------------------------------------------------------------------


def test_builder_check_passes_and_the_file_is_what_it_writes():
    proc = subprocess.run([sys.executable, str(BUILDER), "--check"], capture_output=True,
                          text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "up to date" in proc.stdout


def test_committed_without_outputs_and_with_a_python3_kernel():
    nb = load()
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {cell.id} has outputs"
            assert cell.execution_count is None, f"cell {cell.id} has an execution count"


def test_nbgrader_metadata_validates_and_points_come_from_the_checks():
    nb = load()
    MetadataValidator().validate_nb(nb)  # schema v3; raises on duplicate grade ids
    ids = [c.metadata.nbgrader["grade_id"] for c in nbgrader_cells(nb)]
    assert len(ids) == len(set(ids)) and set(ids) == TASKS | QUESTIONS
    points = {}
    for check in cases.select_checks(load_config()):
        points[check.grade_id] = points.get(check.grade_id, 0.0) + check.points
    for cell in nbgrader_cells(nb):
        meta = cell.metadata.nbgrader
        assert meta["schema_version"] == 3 and meta["grade"]
        if meta["grade_id"] in TASKS:
            assert cell.cell_type == "code" and meta["locked"] and not meta["solution"]
            assert meta["points"] == pytest.approx(points[meta["grade_id"]]), meta
            visible, hidden = cell.source.split("### BEGIN HIDDEN TESTS")
            assert "assert " in visible and hidden.rstrip().endswith("### END HIDDEN TESTS")
            grade_id = meta["grade_id"]
            assert f'assert_passes("{grade_id}", extra=True)' in hidden, grade_id
        else:
            assert cell.cell_type == "markdown" and meta["solution"] and not meta["locked"]
            assert meta["points"] > 0


def test_grade_ids_are_unique_across_all_notebooks():
    seen = {}
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id is None:
                continue
            assert grade_id not in seen, f"{grade_id} in {seen.get(grade_id)} and {path.name}"
            seen[grade_id] = path.name
    assert set(seen) >= TASKS | QUESTIONS


def test_the_release_ships_and_grades_it():
    config = load_config()
    assert NOTEBOOK.name in config.notebooks
    assert {c.grade_id for c in cases.select_checks(config)} >= TASKS
    assert not [t for t in cases.ungraded_tasks(config) if t.startswith("nn.")]


def test_first_task_cell_is_the_first_to_call_student_code():
    nb = load()
    tagged = [i for i, c in enumerate(nb.cells) if "first-task" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    first = tagged[0]
    assert "BatchNorm(" in nb.cells[first].source and ".forward(" in nb.cells[first].source
    task_call = re.compile(r"\b(BatchNorm|LayerNorm)\(|calculate_loss|\.backward\(|"
                           r"model_gradient_errors\(|epoch_solver\(")
    for cell in nb.cells[:first]:
        if cell.cell_type == "code" and cell.get("id") != "helpers":
            assert not task_call.search(cell.source), cell.source[:200]


def test_setup_and_data_cells_are_the_batch_norm_notebooks():
    ours = by_id(load())
    theirs = by_id(nbformat.read(REPO / "notebooks" / "BatchNormalization.ipynb", as_version=4))
    for cell_id in ("setup-md", "setup", "data-md", "data"):
        assert ours[cell_id].source == theirs[cell_id].source, cell_id
    assert "NORMLAB_FAST=1" in load().cells[0].source
    assert 'os.environ.get("NORMLAB_FAST"' in ours["setup"].source


def test_plots_have_titles_labels_and_legends():
    plot = by_id(load())["experiment-plot"].source
    for call in ("set_title(", "set_xlabel(", "set_ylabel(", "legend("):
        assert call in plot, call


def test_student_release_hides_model_answers_and_hidden_tests():
    nb = copy.deepcopy(load())
    resources = {}
    for preprocessor in (ClearSolutions(), ClearHiddenTests()):
        nb, resources = preprocessor.preprocess(nb, resources)
    released = nbformat.writes(nb)
    for marker in ("BEGIN SOLUTION", "Model answer", "BEGIN HIDDEN TESTS", "assert_passes"):
        assert marker not in released, marker
    answers = [c for c in nbgrader_cells(nb) if c.cell_type == "markdown"]
    assert [c.source for c in answers] == ["**Your answer:**\n\nYOUR ANSWER HERE"]


# --------------------------------------------------------------------------------------------------
# Executing the notebook
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    """A small synthetic CIFAR-10 (enough for FAST mode's 1000 / 200 / 200 split)."""
    return write_synthetic_cifar10(tmp_path_factory.mktemp("data") / "cifar", 1500, 300, seed=2)


def execute(notebook_path, monkeypatch, data_dir):
    """Run the notebook top to bottom in FAST mode; return (notebook, error or None)."""
    monkeypatch.setenv("NORMLAB_FAST", "1")
    monkeypatch.setenv("NORMLAB_CIFAR10_DIR", str(data_dir))
    nb = nbformat.read(notebook_path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook_path.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        return nb, exc
    return nb, None


def errors_of(cell):
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def text_of(cell):
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "")
                   for o in cell.get("outputs", []))


@pytest.mark.slow
def test_instructor_copy_runs_every_cell_without_error(tmp_path, monkeypatch, synthetic_dir):
    out = instructor.build(tmp_path / "instructor", link_data=False)
    nb, error = execute(out / "notebooks" / NOTEBOOK.name, monkeypatch, synthetic_dir)
    failed = [(c.get("id"), errors_of(c)[0].evalue) for c in nb.cells if errors_of(c)]
    assert error is None and not failed, failed or str(error)[:2000]
    cells = by_id(nb)
    assert "SYNTHETIC" in text_of(cells["data"])
    assert "wrong" not in text_of(cells["bn-backward-check"]) + text_of(cells["ln-check"])
    assert "wrong" not in text_of(cells["model-check"]) + text_of(cells["dense-check"])
    assert "[0.5  0.86 0.14]" in text_of(cells["bn-forward"])  # the ReLU after the shift
    for cell_id in ("bn-selfcheck", "ln-selfcheck", "model-selfcheck"):
        assert "(all passed)" in text_of(cells[cell_id]), cell_id
    for task, name in (("nn_batchnorm", "BatchNorm"), ("nn_layernorm", "LayerNorm"),
                       ("nn_model", "Model")):
        assert f"{name}: " in text_of(cells[f"test-{task}"]) and "look right" in text_of(
            cells[f"test-{task}"])
    trained = text_of(cells["experiment-train"])
    for label in ("no normalization", "batch norm", "layer norm"):
        assert f"{label}:" in trained
    assert trained.count("epoch 2/2") == 3
    assert any("image/png" in o.get("data", {}) for o in cells["experiment-plot"].outputs)
    assert not any("Skipped:" in text_of(c) for c in nb.cells)  # nothing is a stub here


@pytest.mark.slow
def test_on_the_committed_stubs_the_first_task_cell_fails_first(tmp_path, monkeypatch,
                                                               synthetic_dir):
    drift = stubgen.check(REPO / "solutions", REPO / "assignment",
                          stubgen.load_tasks(stubgen.DEFAULT_CONFIG))
    assert not [d for d in drift if d.endswith("nn.py")], drift
    nb, kit, _ = run_on_the_stubs(tmp_path, monkeypatch, synthetic_dir, NOTEBOOK,
                                  "BatchNorm.forward:", ("experiment-train", "experiment-plot"))
    cells = by_id(nb)
    assert f"Kit folder: {kit.resolve()}" in text_of(cells["setup"])
    assert "wrong" not in text_of(cells["dense-check"])  # the given layer works on the stubs
    assert "Model.calculate_loss" in text_of(cells["experiment-train"])
