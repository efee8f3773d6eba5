"""The five notebooks: built from their sources, nbgrader source format, the conventions every
notebook of the release follows, and execution. What only one notebook has is in
``test_notebook_specifics.py``.

The slow tests execute each notebook in a fresh kernel (nbclient, kernel ``python3``), in FAST
mode, on a synthetic CIFAR-10 and MNIST written under a temporary folder (nothing is downloaded
and nothing is written into the repository):

* in an instructor copy (full solutions, hidden tests included): no cell may fail, every
  autograded cell passes its self-check and its extra cases; FrameworkParity and KerasMNIST run
  as the machine is and as if PyTorch (and Keras) were missing;
* in a kit holding the committed student stubs, every cell run as a student running them one by
  one would (errors allowed): the first error is the ``first-task`` cell's NotImplementedError,
  every later error is a task not implemented yet, and every experiment skips with one sentence.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import re
import shutil
import time

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

from autograder.authoring import instructor, stubgen
from autograder.config import load_config
from solutions.synthetic_cifar import write_synthetic_cifar10
from solutions.synthetic_mnist import write_synthetic_mnist
from tests.support.notebooks import (
    NAMES,
    NB,
    NOTEBOOKS,
    builder,
    by_id,
    errors_of,
    expected_points,
    load,
    nbgrader_cells,
    text_of,
)
from tests.support.paths import REPO

CELL_TIMEOUT = 120  # seconds per cell
SHARED_CELLS = ("setup-md", "setup", "submit-md", "submit")


# --------------------------------------------------------------------------------------------------
# The committed files and their sources
# --------------------------------------------------------------------------------------------------


def test_every_notebook_of_the_release_has_a_source():
    assert sorted(n.removesuffix(".ipynb") for n in load_config().notebooks) == NAMES
    assert builder().names() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_what_its_source_builds(name):
    assert (NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8") == builder().render(name), (
        f"notebooks/{name}.ipynb is out of date: run .venv/bin/python notebooks/build.py")


def test_build_check_fails_on_a_stale_notebook_and_writing_fixes_it(tmp_path, monkeypatch,
                                                                     capsys):
    build = builder()
    for name in NAMES:
        shutil.copy2(NOTEBOOKS / f"{name}.ipynb", tmp_path)
    monkeypatch.setattr(build, "NOTEBOOKS_DIR", tmp_path)
    assert build.main(["--check"]) == 0
    stale = tmp_path / "KerasMNIST.ipynb"
    stale.write_text(stale.read_text().replace("Keras", "Kreas"))
    assert build.main(["--check"]) == 1
    assert "out of date: KerasMNIST.ipynb" in capsys.readouterr().err
    assert build.main([]) == 0 and build.main(["--check"]) == 0
    assert stale.read_bytes() == (NOTEBOOKS / "KerasMNIST.ipynb").read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_committed_without_outputs_and_with_a_python3_kernel(name):
    nb = load(name)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {cell.id} has outputs"
            assert cell.execution_count is None, f"cell {cell.id} has an execution count"


@pytest.mark.parametrize("name", NAMES)
def test_nbgrader_metadata_and_points_come_from_the_checks(name):
    nb, spec, points = load(name), NB[name], expected_points()
    MetadataValidator().validate_nb(nb)  # schema v3; raises on duplicate grade ids
    ids = [c.metadata.nbgrader["grade_id"] for c in nbgrader_cells(nb)]
    # An autograded cell exactly for the tasks a check credits (else the release would refuse).
    assert sorted(ids) == sorted({t for t in spec.tasks if t in points} | spec.questions)
    for cell in nbgrader_cells(nb):
        meta = cell.metadata.nbgrader
        assert meta["schema_version"] == 3 and meta["grade"] and not meta["task"]
        if meta["grade_id"] in spec.tasks:
            assert cell.cell_type == "code" and meta["locked"] and not meta["solution"]
            assert cell.id == f"test-{meta['grade_id']}"
            assert meta["points"] == pytest.approx(points[meta["grade_id"]]), meta
            assert f"({meta['points']} points)" in cell.source.splitlines()[0]
        else:
            assert cell.cell_type == "markdown" and meta["solution"] and not meta["locked"]
            assert meta["points"] == 2
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source


@pytest.mark.parametrize("name", NAMES)
def test_autograded_cells_run_the_self_check_then_its_extra_cases(name):
    """The visible part runs the task's check (or the notebook's own gradient check); the hidden
    part is one call of the one helper, never a re-implementation of the checks."""
    for cell in nbgrader_cells(load(name)):
        task = cell.metadata.nbgrader["grade_id"]
        if task not in NB[name].tasks:
            continue
        visible, hidden = cell.source.split("### BEGIN HIDDEN TESTS")
        assert "assert " in visible
        assert f"report = check_{task}()" in visible or name == "LayersAsObjects", task
        assert hidden.strip().splitlines() == [
            "from assignment.checks import assert_passes", "",
            f'print(assert_passes("{task}", extra=True).summary())', "### END HIDDEN TESTS"]


@pytest.mark.parametrize("name", NAMES)
def test_every_task_has_a_visible_self_check_cell(name):
    lines = {line for c in load(name).cells if "nbgrader" not in c.metadata
             for line in c.source.splitlines()}
    for task in NB[name].tasks:
        assert f"check_{task}()" in lines, task


@pytest.mark.parametrize("name", NAMES)
def test_first_task_cell_is_the_first_to_run_student_code(name):
    nb, spec = load(name), NB[name]
    tagged = [i for i, c in enumerate(nb.cells) if "first-task" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert spec.first_call in nb.cells[tagged[0]].source
    for cell in nb.cells[:tagged[0]]:
        if cell.cell_type != "code":
            continue
        for stmt in ast.parse(cell.source).body:  # definitions run nothing yet
            if not isinstance(stmt, ast.FunctionDef | ast.ClassDef):
                assert not re.search(spec.task_call, ast.unparse(stmt)), (cell.id, stmt.lineno)


@pytest.mark.parametrize("name", NAMES)
def test_fast_mode_is_documented_and_read(name):
    nb = load(name)
    assert "NORMLAB_FAST=1" in nb.cells[0].source
    assert 'os.environ.get("NORMLAB_FAST"' in by_id(nb)["setup"].source
    assert "DRIVE_FOLDER = None" in by_id(nb)["setup"].source


def test_every_notebook_shares_the_setup_and_ends_with_the_submission_cells():
    first = by_id(load(NAMES[0]))
    for name in NAMES:
        nb = load(name)
        assert [c.id for c in nb.cells][-2:] == ["submit-md", "submit"], name
        for cell_id in SHARED_CELLS:
            assert by_id(nb)[cell_id].source == first[cell_id].source, (name, cell_id)
            assert by_id(nb)[cell_id].metadata == first[cell_id].metadata, (name, cell_id)


def test_grade_ids_are_unique_across_the_assignment_and_cell_ids_within_a_notebook():
    """The notebooks are one assignment in the gradebook: no grade_id may be in two of them."""
    seen: dict[str, str] = {}
    for name in NAMES:
        nb = load(name)
        ids = [c.id for c in nb.cells]
        assert len(ids) == len(set(ids)), name
        for cell in nbgrader_cells(nb):
            grade_id = cell.metadata.nbgrader["grade_id"]
            assert grade_id not in seen, f"{grade_id} in {seen.get(grade_id)} and {name}"
            seen[grade_id] = name


@pytest.mark.parametrize("name", NAMES)
def test_student_release_hides_model_answers_and_hidden_tests(name):
    """nbgrader's release preprocessors turn the source notebook into the student version."""
    nb = copy.deepcopy(load(name))
    answers = [c.source for c in nbgrader_cells(nb) if c.cell_type == "markdown"]
    assert len(answers) == len(NB[name].questions)
    assert all("Model answer" in text for text in answers)
    resources = {}
    for preprocessor in (ClearSolutions(), ClearHiddenTests()):
        nb, resources = preprocessor.preprocess(nb, resources)
    released = nbformat.writes(nb)
    for marker in ("BEGIN SOLUTION", "Model answer", "BEGIN HIDDEN TESTS", "assert_passes"):
        assert marker not in released, marker
    for cell in nbgrader_cells(nb):
        if cell.cell_type == "markdown":
            assert cell.source == "**Your answer:**\n\nYOUR ANSWER HERE"


@pytest.mark.parametrize("name, cell_id", [("ConvNormalization", "experiment-plot"),
                                           ("LayersAsObjects", "experiment-plot"),
                                           ("BatchNormalization", "weight-scale-plot")])
def test_plots_have_titles_labels_and_legends(name, cell_id):
    """The plot cells draw with assignment/experiments.py, whose plot functions give every panel
    a title, axis labels and a legend (tests/solutions/test_experiments.py)."""
    plot = by_id(load(name))[cell_id].source
    assert re.search(r"^\s*plot_(training|sweep)\(", plot, re.MULTILINE), plot


# --------------------------------------------------------------------------------------------------
# Executing the notebooks
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    """A small synthetic CIFAR-10 (enough for FAST mode's 1000 / 200 / 200 split)."""
    return write_synthetic_cifar10(tmp_path_factory.mktemp("data") / "cifar", 1500, 300, seed=1)


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    """A small synthetic MNIST (enough for FAST mode's 1000 / 200 / 200 split)."""
    return write_synthetic_mnist(tmp_path_factory.mktemp("data") / "mnist", 1300, 300, seed=5)


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
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            allow_errors=allow_errors,
                            resources={"metadata": {"path": str(notebook_path.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        return nb, exc
    return nb, None


def importable(name) -> bool:
    return importlib.util.find_spec(name) is not None


#: Each execution of an instructor copy: (notebook, mode), the frameworks switched off by mode.
RUNS = [("BatchNormalization", ""), ("ConvNormalization", ""), ("LayersAsObjects", ""),
        ("FrameworkParity", "as-installed"), ("FrameworkParity", "NORMLAB_NO_TORCH=1"),
        ("KerasMNIST", "as-installed"), ("KerasMNIST", "no frameworks")]
SWITCHES = {"NORMLAB_NO_TORCH=1": ("NORMLAB_NO_TORCH",),
            "no frameworks": ("NORMLAB_NO_KERAS", "NORMLAB_NO_TORCH")}


@pytest.mark.slow
@pytest.mark.parametrize("name, mode", RUNS)
def test_instructor_copy_runs_every_cell_without_error(name, mode, tmp_path, monkeypatch,
                                                       synthetic_dir, mnist_dir):
    from tests.notebooks.notebook_outputs import CHECK_OUTPUTS

    if mode == "NORMLAB_NO_TORCH=1" and not importable("torch"):
        pytest.skip("PyTorch is not installed: the as-installed run already had no PyTorch")
    for variable in ("NORMLAB_NO_KERAS", "NORMLAB_NO_TORCH"):
        monkeypatch.delenv(variable, raising=False)
    for variable in SWITCHES.get(mode, ()):
        monkeypatch.setenv(variable, "1")
    monkeypatch.setenv("NORMLAB_MNIST_DIR", str(mnist_dir))
    out = instructor.build(tmp_path / "instructor", link_data=False)
    path = out / "notebooks" / f"{name}.ipynb"
    assert path.read_bytes() == (NOTEBOOKS / path.name).read_bytes()
    start = time.perf_counter()
    nb, error = execute(path, monkeypatch, synthetic_dir, setup_twice=True)
    print(f"\n{name} {mode}, instructor copy, FAST mode: {time.perf_counter() - start:.1f} s")
    failed = [(c.get("id"), errors_of(c)[0].evalue) for c in nb.cells if errors_of(c)]
    assert error is None and not failed, failed or str(error)[:2000]
    cells = by_id(nb)
    assert text_of(cells["setup-again"]) == text_of(cells["setup"])  # harmless when re-run
    for cell in nbgrader_cells(nb):
        task = cell.metadata.nbgrader["grade_id"]
        if task in NB[name].tasks:  # the hidden part ran and passed on the reference
            assert f"{task} (extra cases): " in text_of(cell), task
            assert text_of(cell).rstrip().endswith("(all passed)"), task
    assert not any("Skipped:" in text_of(c) for c in nb.cells)  # nothing is a stub here
    CHECK_OUTPUTS[name](cells, mode)


@pytest.fixture(scope="module")
def committed_stubs():
    drift = stubgen.check(REPO / "solutions", REPO / "assignment",
                          stubgen.load_tasks(stubgen.DEFAULT_CONFIG))
    assert not drift, f"assignment/ is out of date, run `make stubs`: {drift}"
    return REPO / "assignment"


def stub_kit(tmp_path, notebook, stubs, subfolder=""):
    """A student's folder as the release lays it out: the committed stubs in assignment/ and
    the notebook beside them (or in ``subfolder``)."""
    kit = tmp_path / "kit"
    shutil.copytree(stubs, kit / "assignment", ignore=shutil.ignore_patterns("__pycache__"))
    (kit / subfolder).mkdir(parents=True, exist_ok=True)
    shutil.copy2(notebook, kit / subfolder / notebook.name)
    shutil.copy2(REPO / "requirements.txt", kit / "requirements.txt")
    return kit


#: On the stubs: (notebook, the start of the first NotImplementedError, the experiment cells).
STUB_RUNS = [
    ("BatchNormalization", "batchnorm_forward:",
     ("deep-train", "deep-plot", "weight-scale-sweep", "weight-scale-plot", "batch-size-bn",
      "batch-size-ln")),
    ("ConvNormalization", "spatial_batchnorm_forward:", ("experiment", "experiment-plot")),
    ("LayersAsObjects", "BatchNorm.forward:", ("experiment-train", "experiment-plot")),
    ("KerasMNIST", "keras_batchnorm_from_normlab:", ("lab",)),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, first_error, experiments", STUB_RUNS)
def test_on_the_committed_stubs_the_first_task_cell_fails_first(
        name, first_error, experiments, tmp_path, monkeypatch, synthetic_dir, mnist_dir,
        committed_stubs):
    """Every cell on the committed stubs, errors allowed: the cells before the ``first-task``
    cell work, that cell fails first with the NotImplementedError starting ``first_error``,
    every later failure is a task that is not implemented yet (no NameError or TypeError from an
    earlier failure), and each experiment prints one "Skipped: ..." sentence and trains nothing.
    With the frameworks switched off, as most students' machines are."""
    from tests.notebooks.notebook_outputs import CHECK_STUB_OUTPUTS

    monkeypatch.setenv("NORMLAB_MNIST_DIR", str(mnist_dir))
    monkeypatch.setenv("NORMLAB_NO_KERAS", "1")
    monkeypatch.setenv("NORMLAB_NO_TORCH", "1")
    kit = stub_kit(tmp_path, NOTEBOOKS / f"{name}.ipynb", committed_stubs)
    start = time.perf_counter()
    nb, error = execute(kit / f"{name}.ipynb", monkeypatch, synthetic_dir, allow_errors=True)
    print(f"\n{name} on the stubs, every cell, FAST mode: {time.perf_counter() - start:.1f} s")
    assert error is None
    failed = [i for i, c in enumerate(nb.cells) if errors_of(c)]
    assert failed, "the notebook ran to the end on the stubs"
    cell = nb.cells[failed[0]]
    assert "first-task" in cell.metadata.get("tags", [])
    [err] = errors_of(cell)
    assert err.ename == "NotImplementedError" and err.evalue.startswith(first_error)
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
    for later in failed:
        [err] = errors_of(nb.cells[later])
        assert err.ename in ("NotImplementedError", "AssertionError"), (nb.cells[later].id, err)
        assert "not implemented yet" in err.evalue, (nb.cells[later].id, err.evalue[:300])
    cells = by_id(nb)
    for cell_id in experiments:
        text = text_of(cells[cell_id])
        assert not errors_of(cells[cell_id]), cell_id
        assert re.fullmatch(r"Skipped: this (experiment|plot) needs [^\n]+, which (is|are) not "
                            r"implemented yet\.\n", text), (cell_id, text[:500])
    assert f"Kit folder: {kit.resolve()}" in text_of(cells["setup"])
    CHECK_STUB_OUTPUTS[name](cells)


@pytest.mark.slow
def test_framework_parity_on_the_stubs_stops_at_the_conversion_task(tmp_path, monkeypatch,
                                                                    synthetic_dir,
                                                                    committed_stubs):
    """A student's first run: setup, the PyTorch check, the imports and the helpers work on the
    stubs (the notebook one folder below the kit); the first error is the conversion task's."""
    if not {"framework.torch_momentum_from_normlab"} <= load_config().tasks:
        pytest.skip("the conversions are given code in this release, not tasks")
    kit = stub_kit(tmp_path, NOTEBOOKS / "FrameworkParity.ipynb", committed_stubs, "notebooks")
    nb, error = execute(kit / "notebooks" / "FrameworkParity.ipynb", monkeypatch, synthetic_dir)
    assert error is not None, "the notebook ran to the end on the stubs"
    failed = [c for c in nb.cells if errors_of(c)]
    assert len(failed) == 1 and "first-task" in failed[0].metadata.get("tags", [])
    [err] = errors_of(failed[0])
    assert err.ename == "NotImplementedError"
    assert err.evalue.startswith("torch_momentum_from_normlab:")
