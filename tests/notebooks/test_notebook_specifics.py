"""What only one notebook has (the shared conventions are tested in test_notebooks.py): the
BatchNormalization notebook's Drive folder and the instructor copy, ConvNormalization in the
real release and the gradebook, the optional frameworks of FrameworkParity and KerasMNIST; and
the two things the build and the hidden tests rest on: a release whose framework functions are
given code, and the one helper the hidden tests call (assert_passes with the extra cases)."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import shutil
import types

import pytest

from autograder.authoring import instructor
from autograder.authoring.course import grade_cells, open_gradebook
from autograder.authoring.release import build_release
from autograder.config import load_config
from autograder.demo import make_submissions
from autograder.grading.pipeline import grade_all
from autograder.judging import plan as planning
from solutions import checks, framework, layers
from solutions.selfcheck.extra import EXTRA
from tests.support.notebooks import NB, builder, by_id, expected_points, load, nbgrader_cells
from tests.support.paths import REPO

TORCH_NAMES = re.compile(r"\b(torch|F|nn)\b")


# --------------------------------------------------------------------------------------------------
# BatchNormalization: the Drive folder and the instructor copy
# --------------------------------------------------------------------------------------------------


def test_the_drive_folder_example_is_the_student_readmes():
    """The notebooks and the student README suggest the same DRIVE_FOLDER: the release folder."""
    from autograder.authoring.release import student_readme

    config = load_config()
    example = f"cs231n/{config.assignment}"
    cells = {c.id: c.source for c in load("BatchNormalization").cells
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


def test_instructor_copy_has_full_solutions_and_the_notebooks(tmp_path):
    out = instructor.build(tmp_path / "instructor", link_data=False)
    assignment = out / "assignment"
    for name in ("layers.py", "layer_utils.py", "fc_net.py", "checks.py", "solver.py"):
        text = (assignment / name).read_text(encoding="utf-8")
        assert "this is your task" not in text, f"{name} still has a stub"
    for name in NB:
        copied = out / "notebooks" / f"{name}.ipynb"
        assert copied.read_bytes() == (REPO / "notebooks" / copied.name).read_bytes(), name
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
# ConvNormalization and LayersAsObjects in the release and the gradebook
# --------------------------------------------------------------------------------------------------


CONV = "ConvNormalization"
TASKS, QUESTIONS = NB[CONV].tasks, NB[CONV].questions


@pytest.mark.slow
def test_release_includes_both_notebooks_and_the_gradebook_credits_them(tmp_path):
    config = load_config()
    assert {f"{CONV}.ipynb", "BatchNormalization.ipynb"} <= set(config.notebooks)
    built = build_release(config, tmp_path / "release", tmp_path / "course", log=lambda *a: None)
    released = {p.name for p in built.tree.glob("*.ipynb")}
    assert set(config.notebooks) <= released
    source_hidden = [
        line.strip() for cell in load(CONV).cells
        for marker in ("### BEGIN HIDDEN TESTS", "### BEGIN SOLUTION") if marker in cell.source
        for line in cell.source.split(marker)[1].splitlines()
        if len(line.strip()) > 30 and "### END" not in line
    ]
    assert len(source_hidden) > 30
    text = (built.tree / f"{CONV}.ipynb").read_text(encoding="utf-8")
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
    cells = grade_cells(built.course.db_url, config.assignment)[CONV]
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
        grades = {g.name: g for nb in sub.notebooks if nb.name == CONV
                  for g in nb.grades}
        assert set(grades) == TASKS | QUESTIONS
        for task in TASKS:
            assert grades[task].auto_score == pytest.approx(grades[task].max_score), task
            assert grades[task].max_score == pytest.approx(points[task])
        for question in QUESTIONS:
            assert grades[question].needs_manual_grade, question
    finally:
        gb.close()


def test_layers_as_objects_is_released_and_every_nn_task_graded():
    config = load_config()
    assert "LayersAsObjects.ipynb" in config.notebooks
    assert {c.grade_id for c in planning.select_checks(config)} >= NB["LayersAsObjects"].tasks
    assert not [t for t in planning.ungraded_tasks(config) if t.startswith("nn.")]


# --------------------------------------------------------------------------------------------------
# FrameworkParity and KerasMNIST: the frameworks are optional
# --------------------------------------------------------------------------------------------------


def test_pytorch_is_optional_and_documented():
    nb = load("FrameworkParity")
    intro = nb.cells[0].source
    for text in ("pip install torch --index-url https://download.pytorch.org/whl/cpu", "Colab",
                 "NORMLAB_NO_TORCH=1", "NORMLAB_FAST=1"):
        assert text in intro, text
    setup = by_id(nb)["torch-setup"].source
    assert 'os.environ.get("NORMLAB_NO_TORCH"' in setup
    assert "HAVE_TORCH = torch is not None" in setup
    for name in ("requirements.txt", "requirements-dev.txt"):
        assert "torch" not in (REPO / name).read_text(), f"PyTorch must stay optional ({name})"


def test_every_torch_statement_is_guarded():
    """Outside the cell that imports it, PyTorch is only touched inside function bodies or under
    ``if HAVE_TORCH:``; the top level of every other statement never names torch, F or nn."""
    for cell in load("FrameworkParity").cells:
        if cell.cell_type != "code" or cell.id == "torch-setup":
            continue
        for stmt in ast.parse(cell.source).body:
            if isinstance(stmt, ast.FunctionDef):
                continue
            if isinstance(stmt, ast.If) and ast.unparse(stmt.test) == "HAVE_TORCH":
                continue
            assert not TORCH_NAMES.search(ast.unparse(stmt)), (cell.id, ast.unparse(stmt)[:200])


def test_keras_and_pytorch_are_optional_and_documented():
    nb = load("KerasMNIST")
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


def test_a_release_whose_conversions_are_given_code_has_no_cell_to_grade_them():
    """With the framework functions not among the tasks, no check credits their cells: the build
    leaves the autograded cells out and the text calls them given code."""
    config = load_config()
    given = dataclasses.replace(config, tasks=frozenset(
        t for t in config.tasks if not t.startswith("framework.")))
    assert not {"framework_conventions", "keras_conventions"} & set(expected_points(given))
    build = builder()
    for name, grade_id, heading in (("FrameworkParity", "framework_conventions", "conversions-md"),
                                    ("KerasMNIST", "keras_conventions", "task-md")):
        ours, theirs = build.build(name, config), build.build(name, given)
        assert f"test-{grade_id}" in by_id(ours) and f"test-{grade_id}" not in by_id(theirs)
        assert "Your task" in by_id(ours)[heading].source
        assert "given code in this release" in by_id(theirs)[heading].source
        assert [c for c in nbgrader_cells(theirs) if c.metadata.nbgrader["grade_id"] == grade_id
                ] == []
    assert build.render("BatchNormalization", given) == build.render("BatchNormalization", config)


# --------------------------------------------------------------------------------------------------
# The one helper of the hidden tests
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", sorted(EXTRA))
def test_the_reference_passes_every_extra_case(task):
    report = checks.assert_passes(task, extra=True)
    assert report.results and all(c.passed for c in report.results), str(report)


def test_every_autograded_cell_has_extra_cases():
    graded = {t for spec in NB.values() for t in spec.tasks}
    assert set(EXTRA) == graded


def _module(base, **replaced):
    """A copy of module ``base`` with some functions replaced: a student's wrong version."""
    module = types.ModuleType(f"wrong_{base.__name__}")
    module.__dict__.update({k: v for k, v in vars(base).items() if not k.startswith("__")})
    module.__dict__.update(replaced)
    return module


def _test_mode_ignores_eps(x, gamma, beta, bn_param):
    if bn_param.get("mode") == "test":
        bn_param = {k: v for k, v in bn_param.items() if k != "eps"}
    return layers.batchnorm_forward(x, gamma, beta, bn_param)


def _spatial_ignores_eps_and_momentum(x, gamma, beta, bn_param):
    kept = {k: bn_param[k] for k in ("mode", "running_mean", "running_var") if k in bn_param}
    out, cache = layers.spatial_batchnorm_forward(x, gamma, beta, kept)
    bn_param.update({k: kept[k] for k in ("running_mean", "running_var")})
    return out, cache


def _groupnorm_ignores_eps(x, gamma, beta, G, gn_param):
    return layers.spatial_groupnorm_forward(x, gamma, beta, G, {})


def _large_batches_biased(running_var, var, N, momentum):
    if N > 32:  # "N / (N - 1) is about 1 for large batches"
        return momentum * running_var + (1 - momentum) * var
    return framework.torch_running_var(running_var, var, N, momentum)


WRONG = [
    ("batchnorm_forward", {"layers": _module(layers, batchnorm_forward=_test_mode_ignores_eps)},
     "test mode: one example, bn_param['eps']"),
    ("spatial_batchnorm",
     {"layers": _module(layers, spatial_batchnorm_forward=_spatial_ignores_eps_and_momentum)},
     "out with eps = 0.001 is wrong"),
    ("groupnorm", {"layers": _module(layers, spatial_groupnorm_forward=_groupnorm_ignores_eps)},
     "out with eps = 0.001 is wrong"),
    ("framework_conventions",
     {"framework": _module(framework, torch_running_var=_large_batches_biased)},
     "torch_running_var for N = 64"),
]


@pytest.mark.parametrize("task, modules, expected", WRONG, ids=[w[0] for w in WRONG])
def test_the_extra_cases_fail_what_the_self_check_lets_through(task, modules, expected):
    """A slip the self-check does not see (it passes) and the hidden tests do: assert_passes
    raises with the failing case in its message."""
    assert checks.assert_passes(task, **modules).passed
    with pytest.raises(AssertionError, match=re.escape(expected)):
        checks.assert_passes(task, extra=True, **modules)
