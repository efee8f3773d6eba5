"""The BatchNormalization notebook: nbgrader source format, release behaviour, and execution.

The two slow tests execute the notebook in a fresh kernel (nbclient, kernel ``python3``):

* in an instructor copy (full solutions) with ``NORMLAB_FAST=1``: no cell may fail;
* in a kit holding the committed student stubs, every cell run as a student running them one by
  one would (errors allowed): setup and data cells succeed, the first error is the
  ``first-task`` cell's NotImplementedError naming batchnorm_forward, every later error is a
  task's NotImplementedError (or a self-check saying "not implemented yet"), and every
  experiment skips with one sentence instead of training.

Both read a synthetic CIFAR-10 written under tmp_path through ``NORMLAB_CIFAR10_DIR``; nothing is
downloaded and nothing is written into the repository.
"""

import copy
import importlib.util
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

from autograder.authoring import instructor, stubgen
from autograder.config import load_config
from solutions.synthetic_cifar import write_synthetic_cifar10

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "BatchNormalization.ipynb"
BUILDER = REPO / "notebooks" / "build.py"

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
#: The cells that train or measure something: on the stubs each says "Skipped: ..." instead.
EXPERIMENTS = ("deep-train", "deep-plot", "weight-scale-sweep", "weight-scale-plot",
               "batch-size-bn", "batch-size-ln")
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
    spec = importlib.util.spec_from_file_location("notebooks_build", BUILDER)
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    assert NOTEBOOK.read_text(encoding="utf-8") == builder.render(NOTEBOOK.stem), (
        "notebooks/BatchNormalization.ipynb is out of date: run "
        ".venv/bin/python notebooks/build.py"
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
        assert f'assert_passes("{task}", extra=True)' in hidden, task


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


def test_every_released_notebook_shares_the_setup_and_ends_with_the_submission_cells():
    """One setup cell and one submission cell for the whole release, the submission last."""
    ours = {c.id: c for c in load().cells}
    assert [c.id for c in load().cells][-2:] == ["submit-md", "submit"]
    for name in load_config().notebooks:
        cells = nbformat.read(NOTEBOOK.parent / name, as_version=4).cells
        assert [c.id for c in cells][-2:] == ["submit-md", "submit"], name
        theirs = {c.id: c for c in cells}
        for cell_id in ("setup-md", "setup", "submit-md", "submit"):
            assert theirs[cell_id].source == ours[cell_id].source, (name, cell_id)
            assert theirs[cell_id].metadata == ours[cell_id].metadata, (name, cell_id)


def test_the_drive_folder_example_is_the_student_readmes():
    """The notebooks and the student README suggest the same DRIVE_FOLDER: the release folder."""
    from autograder.authoring.release import student_readme

    config = load_config()
    example = f"cs231n/{config.assignment}"
    cells = {c.id: c.source for c in load().cells
             if c.id in ("setup-md", "setup", "submit-md", "submit")}
    assert f'DRIVE_FOLDER = None  # e.g. "{example}"' in cells["setup"]
    assert f'`"{example}"`' in cells["setup-md"]
    readme = student_readme(config)
    colab = readme.split("## Working in Google Colab")[1].split("\n## ")[0]
    assert f"`My Drive/{example}`" in colab and f'`"{example}"`' in colab
    assert "STUDENT_ID" in colab and f"{config.assignment}_YOUR_ID.zip" in colab
    assert set(re.findall(r"cs231n/[\w-]+", readme + "".join(cells.values()))) == {example}
    for text in cells.values():
        assert "notebooks/" not in text  # the release has no notebooks/ folder


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
    for marker in ("BEGIN SOLUTION", "Model answer", "BEGIN HIDDEN TESTS", "assert_passes"):
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


def execute(notebook_path, monkeypatch, data_dir, setup_twice=False, allow_errors=False):
    """Run the notebook top to bottom in FAST mode; return (notebook, error or None).

    With ``setup_twice`` the setup cell runs a second time right after the first, as a student
    re-running it would. With ``allow_errors`` every cell runs whatever the earlier ones did, as
    when a student runs them one by one (the error returned is then None).
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
        allow_errors=allow_errors,
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


def stub_kit(tmp_path, notebook):
    """A student's folder as the release lays it out: the committed stubs in assignment/ and
    the notebook beside them."""
    kit = tmp_path / "kit"
    shutil.copytree(REPO / "assignment", kit / "assignment",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(notebook, kit / notebook.name)
    shutil.copy2(REPO / "requirements.txt", kit / "requirements.txt")
    return kit


def run_on_the_stubs(tmp_path, monkeypatch, data_dir, notebook, first_error, experiments):
    """Run every cell of ``notebook`` on the committed stubs, errors allowed, and check what a
    student who has not started sees: the cells before the ``first-task`` cell work, that cell
    fails first with the NotImplementedError starting ``first_error``, every later failure is a
    task that is not implemented yet (no NameError or TypeError from an earlier failure), and
    each of the ``experiments`` cells prints one "Skipped: ..." sentence and trains nothing.
    Returns (notebook, kit, seconds)."""
    kit = stub_kit(tmp_path, notebook)
    start = time.perf_counter()
    nb, error = execute(kit / notebook.name, monkeypatch, data_dir, allow_errors=True)
    seconds = time.perf_counter() - start
    print(f"\n{notebook.name} on the stubs, every cell, FAST mode: {seconds:.1f} s")
    assert error is None
    failed = [i for i, c in enumerate(nb.cells) if errors_of(c)]
    assert failed, "the notebook ran to the end on the stubs"
    cell = nb.cells[failed[0]]
    assert "first-task" in cell.metadata.get("tags", [])
    [err] = errors_of(cell)
    assert err.ename == "NotImplementedError"
    assert err.evalue.startswith(first_error)
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
    for later in failed:
        [err] = errors_of(nb.cells[later])
        assert err.ename in ("NotImplementedError", "AssertionError"), (nb.cells[later].id, err)
        assert "not implemented yet" in err.evalue, (nb.cells[later].id, err.evalue[:300])
    cells = {c.get("id"): c for c in nb.cells}
    for cell_id in experiments:
        text = text_of(cells[cell_id])
        assert not errors_of(cells[cell_id]), cell_id
        assert re.fullmatch(r"Skipped: this (experiment|plot) needs [^\n]+, which (is|are) not "
                            r"implemented yet\.\n", text), (cell_id, text[:500])
    return nb, kit, seconds


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
    assert not any("Skipped:" in text_of(c) for c in nb.cells)  # nothing is a stub here
    assert "is not a student's copy" in text_of(by_id["submit"])  # no collect_submission.py


@pytest.mark.slow
def test_on_the_committed_stubs_the_first_task_cell_fails_first(tmp_path, monkeypatch,
                                                               synthetic_dir):
    drift = stubgen.check(REPO / "solutions", REPO / "assignment",
                          stubgen.load_tasks(stubgen.DEFAULT_CONFIG))
    assert not drift, f"assignment/ is out of date, run `make stubs`: {drift}"
    nb, kit, _ = run_on_the_stubs(tmp_path, monkeypatch, synthetic_dir, NOTEBOOK,
                                  "batchnorm_forward:", EXPERIMENTS)
    by_id = {c.get("id"): c for c in nb.cells}
    assert f"Kit folder: {kit.resolve()}" in text_of(by_id["setup"])
    assert "X_train: (1000, 3, 32, 32)" in text_of(by_id["data"])
    skipped = text_of(by_id["deep-train"])
    for name in ("batchnorm_forward", "affine_norm_relu_forward", "FullyConnectedNet.__init__"):
        assert name in skipped
    assert "layernorm_forward" in text_of(by_id["batch-size-ln"])
