"""The BatchNormalization notebook: nbgrader source format, release behaviour, and execution.

The two slow tests execute the notebook in a fresh kernel (nbclient, kernel ``python3``):

* in an instructor copy (full solutions) with ``NORMLAB_FAST=1``: no cell may fail;
* in a kit holding the committed student stubs: setup and data cells succeed and the first error
  is the ``first-task`` cell's NotImplementedError naming batchnorm_forward.

Both read a synthetic CIFAR-10 written under tmp_path through ``NORMLAB_CIFAR10_DIR``; nothing is
downloaded and nothing is written into the repository.
"""

import copy
import importlib.util
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

from autograder import instructor, stubgen
from solutions.synthetic_cifar import write_synthetic_cifar10

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "BatchNormalization.ipynb"
BUILDER = REPO / "notebooks" / "build_batchnorm.py"

TASKS = {
    "batchnorm_forward",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "fc_net_batchnorm",
    "layernorm_forward",
    "layernorm_backward",
    "fc_net_layernorm",
}
QUESTIONS = {f"inline_question_{i}" for i in range(1, 5)}
CELL_TIMEOUT = 120  # seconds per cell


def load():
    return nbformat.read(NOTEBOOK, as_version=4)


def nbgrader_cells(nb):
    return [c for c in nb.cells if "nbgrader" in c.metadata]


# --------------------------------------------------------------------------------------------------
# The committed file
# --------------------------------------------------------------------------------------------------


def test_committed_without_outputs_and_with_a_python3_kernel():
    nb = load()
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {cell.id} has outputs"
            assert cell.execution_count is None, f"cell {cell.id} has an execution count"


def test_committed_notebook_is_what_the_builder_writes():
    spec = importlib.util.spec_from_file_location("build_batchnorm", BUILDER)
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    assert NOTEBOOK.read_text(encoding="utf-8") == builder.render(), (
        "notebooks/BatchNormalization.ipynb is out of date: run "
        ".venv/bin/python notebooks/build_batchnorm.py"
    )


def test_nbgrader_metadata_validates_with_unique_ids_and_points():
    nb = load()
    MetadataValidator().validate_nb(nb)  # schema v3; raises on duplicate grade ids
    ids = [c.metadata.nbgrader["grade_id"] for c in nbgrader_cells(nb)]
    assert len(ids) == len(set(ids))
    assert set(ids) == TASKS | QUESTIONS
    for cell in nbgrader_cells(nb):
        meta = cell.metadata.nbgrader
        assert meta["schema_version"] == 3
        assert meta["grade"] and meta.get("points", 0) > 0, meta["grade_id"]
        if meta["grade_id"] in TASKS:
            assert cell.cell_type == "code"
            assert meta["locked"] and not meta["solution"]
        else:
            assert cell.cell_type == "markdown"
            assert meta["solution"] and not meta["locked"]


def test_test_cells_assert_the_self_check_and_carry_hidden_tests():
    for cell in nbgrader_cells(load()):
        task = cell.metadata.nbgrader["grade_id"]
        if task not in TASKS:
            continue
        source = cell.source
        assert f"report = check_{task}()" in source and "assert report.passed" in source
        visible, hidden = source.split("### BEGIN HIDDEN TESTS")
        assert hidden.rstrip().endswith("### END HIDDEN TESTS")
        assert len(hidden.strip().splitlines()) > 5, f"{task}: hidden tests are missing"


def test_every_task_has_a_visible_self_check_cell():
    sources = [c.source.strip() for c in load().cells if "nbgrader" not in c.metadata]
    for task in TASKS:
        assert f"check_{task}()" in sources, task


def test_first_task_cell_is_the_first_to_call_student_code():
    nb = load()
    tagged = [i for i, c in enumerate(nb.cells) if "first-task" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    first = tagged[0]
    assert "batchnorm_forward(" in nb.cells[first].source
    task_call = re.compile(r"\b(batchnorm|layernorm)_\w+\(|FullyConnectedNet\(|check_\w+\(")
    for cell in nb.cells[:first]:
        if cell.cell_type == "code":
            assert not task_call.search(cell.source), cell.source[:200]


def test_fast_mode_is_documented_and_read():
    nb = load()
    assert "NORMLAB_FAST=1" in nb.cells[0].source
    setup = next(c for c in nb.cells if c.get("id") == "setup")
    assert 'os.environ.get("NORMLAB_FAST"' in setup.source
    assert "DRIVE_FOLDER = None" in setup.source and "assert " not in setup.source


def test_student_release_hides_model_answers_and_hidden_tests():
    """nbgrader's release preprocessors turn the source notebook into the student version."""
    nb = copy.deepcopy(load())
    source_answers = {
        c.metadata.nbgrader["grade_id"]: c.source
        for c in nbgrader_cells(nb) if c.cell_type == "markdown"
    }
    assert all("Model answer" in text for text in source_answers.values())
    resources = {}
    for preprocessor in (ClearSolutions(), ClearHiddenTests()):
        nb, resources = preprocessor.preprocess(nb, resources)
    released = nbformat.writes(nb)
    for marker in ("BEGIN SOLUTION", "Model answer", "BEGIN HIDDEN TESTS", "_bn_reference"):
        assert marker not in released
    for cell in nbgrader_cells(nb):
        if cell.cell_type == "markdown":
            assert cell.source == "**Your answer:**\n\nYOUR ANSWER HERE"


# --------------------------------------------------------------------------------------------------
# The instructor copy
# --------------------------------------------------------------------------------------------------


def test_instructor_copy_has_full_solutions_and_the_notebooks(tmp_path):
    out = instructor.build(tmp_path / "instructor", link_data=False)
    assignment = out / "assignment"
    for name in ("layers.py", "layer_utils.py", "fc_net.py", "checks.py", "solver.py"):
        text = (assignment / name).read_text(encoding="utf-8")
        assert "this is your task" not in text, f"{name} still has a stub"
    assert (out / "notebooks" / NOTEBOOK.name).read_bytes() == NOTEBOOK.read_bytes()
    assert (out / "datasets" / "get_datasets.sh").is_file()
    assert (out / "requirements.txt").read_bytes() == (REPO / "requirements.txt").read_bytes()
    assert "Do NOT give it to students" in (out / "README.txt").read_text()
    # Rebuilding replaces an earlier copy; anything else is refused, never deleted.
    (out / "stale.txt").write_text("old")
    instructor.build(out, link_data=False)
    assert not (out / "stale.txt").exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(instructor.InstructorBuildError, match="not an instructor copy"):
        instructor.build(foreign)
    assert (foreign / "keep.txt").read_text() == "mine"
    with pytest.raises(instructor.InstructorBuildError, match="repository"):
        instructor.build(REPO / "assignment")


def test_instructor_command_line(tmp_path, capsys):
    assert instructor.main(["--out", str(tmp_path / "copy"), "--no-data-links"]) == 0
    assert "do not distribute" in capsys.readouterr().out
    assert instructor.main(["--out", str(REPO)]) == 2


# --------------------------------------------------------------------------------------------------
# Executing the notebook
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    """A small synthetic CIFAR-10 (enough for FAST mode's 1000 / 200 / 200 split)."""
    return write_synthetic_cifar10(tmp_path_factory.mktemp("data") / "cifar", 1500, 300, seed=1)


def execute(notebook_path, monkeypatch, data_dir, setup_twice=False):
    """Run the notebook top to bottom in FAST mode; return (notebook, error or None).

    With ``setup_twice`` the setup cell runs a second time right after the first, as a student
    re-running it would.
    """
    monkeypatch.setenv("NORMLAB_FAST", "1")
    monkeypatch.setenv("NORMLAB_CIFAR10_DIR", str(data_dir))
    nb = nbformat.read(notebook_path, as_version=4)
    if setup_twice:
        index = next(i for i, c in enumerate(nb.cells) if c.get("id") == "setup")
        again = copy.deepcopy(nb.cells[index])
        again["id"] = "setup-again"
        nb.cells.insert(index + 1, again)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(notebook_path.parent)}},
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        return nb, exc
    return nb, None


def errors_of(cell):
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def text_of(cell):
    return "".join(
        o.get("text", "") or o.get("data", {}).get("text/plain", "")
        for o in cell.get("outputs", [])
    )


@pytest.mark.slow
def test_instructor_copy_runs_every_cell_without_error(tmp_path, monkeypatch, synthetic_dir):
    out = instructor.build(tmp_path / "instructor", link_data=False)
    nb, error = execute(out / "notebooks" / NOTEBOOK.name, monkeypatch, synthetic_dir,
                        setup_twice=True)
    failed = [(c.get("id"), errors_of(c)[0].evalue) for c in nb.cells if errors_of(c)]
    assert error is None and not failed, failed or str(error)[:2000]
    by_id = {c.get("id"): c for c in nb.cells}
    assert text_of(by_id["setup-again"]) == text_of(by_id["setup"])  # harmless when re-run
    assert "SYNTHETIC" in text_of(by_id["data"])
    # The published CS231n numbers appear where a course porting its notebook expects them.
    assert "[ -2.3814598  -13.18038246   1.91780462]" in text_of(by_id["bn-forward-train"])
    assert "[-0.03927354 -0.04349152 -0.10452688]" in text_of(by_id["bn-forward-test"])
    losses = text_of(by_id["fc-bn-gradcheck"])
    assert "2.2611955101340957" in losses and "6.996533220108303" in losses
    for task in TASKS:
        assert "(all passed)" in text_of(by_id[f"test-{task}"]), task
    assert "8 of 8 tasks pass" in text_of(by_id["summary"])


@pytest.mark.slow
def test_on_the_committed_stubs_the_first_task_cell_fails_first(tmp_path, monkeypatch,
                                                               synthetic_dir):
    drift = stubgen.check(REPO / "solutions", REPO / "assignment",
                          stubgen.load_tasks(stubgen.DEFAULT_CONFIG))
    assert not drift, f"assignment/ is out of date, run `make stubs`: {drift}"
    kit = tmp_path / "kit"
    shutil.copytree(REPO / "assignment", kit / "assignment",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (kit / "notebooks").mkdir()
    shutil.copy2(NOTEBOOK, kit / "notebooks" / NOTEBOOK.name)
    shutil.copy2(REPO / "requirements.txt", kit / "requirements.txt")

    nb, error = execute(kit / "notebooks" / NOTEBOOK.name, monkeypatch, synthetic_dir)
    assert error is not None, "the notebook ran to the end on the stubs"
    failed = [i for i, c in enumerate(nb.cells) if errors_of(c)]
    assert len(failed) == 1
    cell = nb.cells[failed[0]]
    assert "first-task" in cell.metadata.get("tags", [])
    [err] = errors_of(cell)
    assert err.ename == "NotImplementedError"
    assert err.evalue.startswith("batchnorm_forward:")
    before = nb.cells[: failed[0]]
    assert all(c.execution_count for c in before if c.cell_type == "code")
    by_id = {c.get("id"): c for c in before}
    assert f"Kit folder: {kit.resolve()}" in text_of(by_id["setup"])
    assert "X_train: (1000, 3, 32, 32)" in text_of(by_id["data"])
