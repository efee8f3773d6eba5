"""The ConvNormalization notebook: nbgrader source format, execution, and its place in the release.

Mirrors ``test_notebooks.py`` (the BatchNormalization notebook) and reuses its helpers. The slow
tests execute the notebook in a fresh kernel with ``NORMLAB_FAST=1`` and a synthetic CIFAR-10:

* in an instructor copy (full solutions): no cell may fail, the published CS231n numbers appear;
* in a kit holding the committed stubs, every cell (errors allowed): the first error is the
  ``first-task`` cell's NotImplementedError naming spatial_batchnorm_forward, and the experiment
  skips with one sentence;

and build the real student release (nbgrader generate_assignment included) to check that both
notebooks are in it, stripped, with every check's grade_id in a notebook and the gradebook.
"""

import copy
import importlib.util
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

from autograder.authoring import instructor, stubgen
from autograder.authoring.course import grade_cells, open_gradebook
from autograder.authoring.release import build_release
from autograder.cli import grade_all
from autograder.config import load_config
from autograder.demo import make_submissions
from autograder.judging import cases
from solutions.synthetic_cifar import write_synthetic_cifar10
from tests.test_notebooks import errors_of, execute, run_on_the_stubs, text_of

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "ConvNormalization.ipynb"
BUILDER = REPO / "notebooks" / "build.py"
BN_NOTEBOOK = REPO / "notebooks" / "BatchNormalization.ipynb"

TASKS = {"spatial_batchnorm", "groupnorm"}
QUESTIONS = {"convnorm_question_1", "convnorm_question_2"}
#: What CS231n's ConvolutionalNetworks notebook prints for np.random.seed(231) and
#: x = 4 * randn(2, 3, 4, 5) + 10: the per-channel means before spatial batch norm.
PUBLISHED_MEANS = "[9.33463814 8.90909116 9.11056338]"
PUBLISHED_STDS = "[3.61447857 3.19347686 3.5168142 ]"


def load(path=NOTEBOOK):
    return nbformat.read(path, as_version=4)


def nbgrader_cells(nb):
    return [c for c in nb.cells if "nbgrader" in c.metadata]


def load_builder():
    spec = importlib.util.spec_from_file_location("notebooks_build", BUILDER)
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    return builder


def expected_points() -> dict[str, float]:
    points: dict[str, float] = {}
    for check in cases.select_checks(load_config()):
        points[check.grade_id] = points.get(check.grade_id, 0.0) + check.points
    return points


# --------------------------------------------------------------------------------------------------
# The committed file
# --------------------------------------------------------------------------------------------------


def test_committed_notebook_is_what_the_builder_writes():
    assert NOTEBOOK.read_text(encoding="utf-8") == load_builder().render("ConvNormalization"), (
        "notebooks/ConvNormalization.ipynb is out of date: run "
        ".venv/bin/python notebooks/build.py"
    )
    assert load_builder().main(["--check"]) == 0


def test_committed_without_outputs_and_with_a_python3_kernel():
    nb = load()
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {cell.id} has outputs"
            assert cell.execution_count is None, f"cell {cell.id} has an execution count"


def test_nbgrader_metadata_validates_with_unique_ids_and_points():
    nb = load()
    MetadataValidator().validate_nb(nb)  # schema v3; raises on duplicate grade ids
    ids = [c.metadata.nbgrader["grade_id"] for c in nbgrader_cells(nb)]
    assert len(ids) == len(set(ids))
    assert set(ids) == TASKS | QUESTIONS
    points = expected_points()
    for cell in nbgrader_cells(nb):
        meta = cell.metadata.nbgrader
        assert meta["schema_version"] == 3
        assert meta["grade"] and meta.get("points", 0) > 0, meta["grade_id"]
        if meta["grade_id"] in TASKS:
            assert cell.cell_type == "code"
            assert meta["locked"] and not meta["solution"]
            # The cell is worth what the grader's checks credit it with (one source).
            assert meta["points"] == pytest.approx(points[meta["grade_id"]]), meta["grade_id"]
            assert f"({meta['points']} points)" in cell.source.splitlines()[0]
        else:
            assert cell.cell_type == "markdown"
            assert meta["solution"] and not meta["locked"]
            assert meta["points"] == 2


def test_grade_ids_and_cell_ids_are_unique_across_the_assignment():
    """The notebooks are one assignment in the gradebook: no grade_id may be in two of them."""
    ours = {c.metadata.nbgrader["grade_id"] for c in nbgrader_cells(load())}
    others = [path for path in sorted(NOTEBOOK.parent.glob("*.ipynb")) if path != NOTEBOOK]
    assert BN_NOTEBOOK in others
    for path in others:
        theirs = {c.metadata.nbgrader["grade_id"] for c in nbgrader_cells(load(path))}
        assert not ours & theirs, (path.name, ours & theirs)
    ids = [c.id for c in load().cells]
    assert len(ids) == len(set(ids))


def test_setup_cells_are_the_batchnorm_notebooks():
    ours = {c.id: c for c in load().cells}
    theirs = {c.id: c for c in load(BN_NOTEBOOK).cells}
    for cell_id in ("setup-md", "setup", "submit-md", "submit"):
        assert ours[cell_id].source == theirs[cell_id].source
        assert ours[cell_id].metadata == theirs[cell_id].metadata


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
    assert "spatial_batchnorm_forward(" in nb.cells[first].source
    task_call = re.compile(r"\bspatial_(batchnorm|groupnorm)_\w+\(|check_\w+\(|run_all\(")
    for cell in nb.cells[:first]:
        if cell.cell_type == "code":
            assert not task_call.search(cell.source), cell.source[:200]


def test_fast_mode_is_documented_and_read():
    nb = load()
    assert "NORMLAB_FAST=1" in nb.cells[0].source
    setup = next(c for c in nb.cells if c.get("id") == "setup")
    assert 'os.environ.get("NORMLAB_FAST"' in setup.source
    helpers = next(c for c in nb.cells if c.get("id") == "helpers")
    assert "if FAST else" in helpers.source


def test_experiment_plot_has_titles_labels_and_legends():
    plot = next(c for c in load().cells if c.get("id") == "experiment-plot").source
    for call in ("set_title(", "set_xlabel(", "set_ylabel(", "legend("):
        assert call in plot, call


def test_student_release_hides_model_answers_and_hidden_tests():
    """nbgrader's release preprocessors turn the source notebook into the student version."""
    nb = copy.deepcopy(load())
    answers = [c.source for c in nbgrader_cells(nb) if c.cell_type == "markdown"]
    assert len(answers) == 2 and all("Model answer" in text for text in answers)
    resources = {}
    for preprocessor in (ClearSolutions(), ClearHiddenTests()):
        nb, resources = preprocessor.preprocess(nb, resources)
    released = nbformat.writes(nb)
    for marker in ("BEGIN SOLUTION", "Model answer", "BEGIN HIDDEN TESTS", "assert_passes",
                   "instance normalization"):
        assert marker not in released, marker
    for cell in nbgrader_cells(nb):
        if cell.cell_type == "markdown":
            assert cell.source == "**Your answer:**\n\nYOUR ANSWER HERE"


# --------------------------------------------------------------------------------------------------
# Executing the notebook
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    """A small synthetic CIFAR-10 (FAST mode's experiment draws from 1000 of its images)."""
    return write_synthetic_cifar10(tmp_path_factory.mktemp("data") / "cifar", 1500, 300, seed=1)


@pytest.mark.slow
def test_instructor_copy_runs_every_cell_without_error(tmp_path, monkeypatch, synthetic_dir):
    out = instructor.build(tmp_path / "instructor", link_data=False)
    assert (out / "notebooks" / NOTEBOOK.name).read_bytes() == NOTEBOOK.read_bytes()
    nb, error = execute(out / "notebooks" / NOTEBOOK.name, monkeypatch, synthetic_dir,
                        setup_twice=True)
    failed = [(c.get("id"), errors_of(c)[0].evalue) for c in nb.cells if errors_of(c)]
    assert error is None and not failed, failed or str(error)[:2000]
    by_id = {c.get("id"): c for c in nb.cells}
    assert text_of(by_id["setup-again"]) == text_of(by_id["setup"])
    # The published CS231n numbers, where a course porting its notebook expects them.
    forward = text_of(by_id["sbn-forward-train"])
    assert f"means: {PUBLISHED_MEANS}" in forward and f"stds:  {PUBLISHED_STDS}" in forward
    assert "out has shape (2, 3, 4, 5)" in forward
    for line in forward.split("After, with gamma = [3, 4, 5]")[1].splitlines()[1:3]:
        values = [float(v) for v in line.split("[")[1].rstrip("] ").split()]
        assert values == pytest.approx([6, 7, 8] if "means" in line else [3, 4, 5], abs=1e-4)
    # Gradient checks: every relative error is tiny.
    for cell_id in ("sbn-backward-numeric", "gn-backward-numeric"):
        errors = re.findall(r"relative error:\s+(\S+)", text_of(by_id[cell_id]))
        assert len(errors) == 3 and all(float(e) < 1e-6 for e in errors), (cell_id, errors)
    assert "dgamma has shape (1, 6, 1, 1)" in text_of(by_id["gn-backward-numeric"])
    assert len(re.findall(r"^G = \d", text_of(by_id["gn-groups"]), re.MULTILINE)) == 4
    # The experiment ran on the synthetic images; group norm does not depend on the batch.
    assert "SYNTHETIC" in text_of(by_id["data"])
    table = text_of(by_id["experiment"]).splitlines()[2:]
    assert [int(row.split()[0]) for row in table] == [2, 8, 32]  # FAST mode's batch sizes
    for row in table:
        bn_spread, gn_spread, bn_gap, gn_gap = (float(v) for v in row.split()[1:])
        assert bn_spread > 1e-3 and bn_gap > 1e-3 and gn_spread < 1e-9 and gn_gap < 1e-9, row
    assert any(o.get("data", {}).get("image/png") for o in by_id["experiment-plot"].outputs)
    for task in TASKS:
        assert "(all passed)" in text_of(by_id[f"test-{task}"]), task
    assert "2 of 2 tasks pass" in text_of(by_id["summary"])
    assert not any("Skipped:" in text_of(c) for c in nb.cells)  # nothing is a stub here


@pytest.mark.slow
def test_on_the_committed_stubs_the_first_task_cell_fails_first(tmp_path, monkeypatch,
                                                               synthetic_dir):
    drift = stubgen.check(REPO / "solutions", REPO / "assignment",
                          stubgen.load_tasks(stubgen.DEFAULT_CONFIG))
    assert not drift, f"assignment/ is out of date, run `make stubs`: {drift}"
    nb, kit, _ = run_on_the_stubs(tmp_path, monkeypatch, synthetic_dir, NOTEBOOK,
                                  "spatial_batchnorm_forward:",
                                  ("experiment", "experiment-plot"))
    by_id = {c.get("id"): c for c in nb.cells}
    assert f"Kit folder: {kit.resolve()}" in text_of(by_id["setup"])
    assert "spatial_groupnorm_forward" in text_of(by_id["experiment"])


# --------------------------------------------------------------------------------------------------
# The student release and the gradebook
# --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_release_includes_both_notebooks_and_the_gradebook_credits_them(tmp_path):
    config = load_config()
    assert NOTEBOOK.name in config.notebooks and BN_NOTEBOOK.name in config.notebooks
    built = build_release(config, tmp_path / "release", tmp_path / "course", log=lambda *a: None)
    released = {p.name for p in built.tree.glob("*.ipynb")}
    assert {NOTEBOOK.name, BN_NOTEBOOK.name} <= released
    source_hidden = [
        line.strip() for cell in load().cells
        for marker in ("### BEGIN HIDDEN TESTS", "### BEGIN SOLUTION") if marker in cell.source
        for line in cell.source.split(marker)[1].splitlines()
        if len(line.strip()) > 30 and "### END" not in line
    ]
    assert len(source_hidden) > 40
    text = (built.tree / NOTEBOOK.name).read_text(encoding="utf-8")
    for line in source_hidden:
        assert line not in text, line
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "Model answer"):
        assert marker not in text, marker
    assert text.count("YOUR ANSWER HERE") == 2
    nb = json.loads(text)
    assert any("first-task" in c["metadata"].get("tags", []) for c in nb["cells"])

    # Every check credits a grade cell of some notebook (no "which no notebook has" warning),
    # and the gradebook holds this notebook's cells with the checks' points.
    points = expected_points()
    for grade_id in ("spatial_batchnorm", "groupnorm"):
        assert not any(repr(grade_id) in w for w in built.warnings), built.warnings
        assert built.points[grade_id] == pytest.approx(points[grade_id])
    cells = grade_cells(built.course.db_url, config.assignment)[NOTEBOOK.stem]
    assert {k for k, v in cells.items() if not v["manual"]} == TASKS
    assert {k for k, v in cells.items() if v["manual"]} == QUESTIONS
    for task in TASKS:
        assert cells[task]["max_score"] == pytest.approx(points[task])

    # The demo's reference submission (full solutions, answers filled in) gets full marks on
    # this notebook's cells in the gradebook, and the inline answers await a TA.
    subs = tmp_path / "submissions"
    made = make_submissions(built.tree, subs, config)
    for student, path in made.items():
        if student != "reference":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    rows, failures = grade_all(subs, tmp_path / "out", config, built.course, progress=False,
                               echo=lambda *a: None)
    assert not failures and [r.student for r in rows] == ["reference"]
    gb = open_gradebook(built.course.db_url)
    try:
        [sub] = gb.assignment_submissions(config.assignment)
        grades = {g.name: g for nb in sub.notebooks if nb.name == NOTEBOOK.stem
                  for g in nb.grades}
        assert set(grades) == TASKS | QUESTIONS
        for task in TASKS:
            assert grades[task].auto_score == pytest.approx(grades[task].max_score), task
            assert grades[task].max_score == pytest.approx(points[task])
        for question in QUESTIONS:
            assert grades[question].needs_manual_grade, question
    finally:
        gb.close()
