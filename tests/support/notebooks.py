"""The five notebooks of the release and what each one grades, read from notebooks/: shared by
the notebook tests (tests/notebooks/)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import nbformat

from autograder.config import load_config
from autograder.judging.plan import select_checks
from tests.support.paths import NOTEBOOKS


@dataclass(frozen=True)
class Notebook:
    """What one notebook of the release grades, and how its tasks show in its code."""

    tasks: frozenset[str]  # the grade_ids of its autograded cells, when a check credits them
    questions: frozenset[str]  # the grade_ids of its inline questions
    first_call: str  # what its first-task cell calls
    task_call: str  # a regex: code running its tasks (no top-level statement before first-task)


NB = {
    "BatchNormalization": Notebook(
        frozenset({"batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
                   "fc_net_batchnorm", "layernorm_forward", "layernorm_backward",
                   "fc_net_layernorm"}),
        frozenset(f"inline_question_{i}" for i in range(1, 5)), "batchnorm_forward(",
        r"\b(batchnorm|layernorm)_\w+\(|FullyConnectedNet\(|check_\w+\("),
    "ConvNormalization": Notebook(
        frozenset({"spatial_batchnorm", "groupnorm"}),
        frozenset({"convnorm_question_1", "convnorm_question_2"}), "spatial_batchnorm_forward(",
        r"\bspatial_(batchnorm|groupnorm)_\w+\(|check_\w+\(|run_all\("),
    "LayersAsObjects": Notebook(
        frozenset({"nn_batchnorm", "nn_layernorm", "nn_model"}), frozenset({"nn_question_1"}),
        "BatchNorm(", r"\b(BatchNorm|LayerNorm)\(|calculate_loss|\.backward\(|epoch_solver\("),
    "FrameworkParity": Notebook(
        frozenset({"framework_conventions"}),
        frozenset({"framework_question_1", "framework_question_2"}),
        "torch_momentum_from_normlab(", r"torch_(momentum_from_normlab|running_var)\(|check_\w+\("),
    "KerasMNIST": Notebook(
        frozenset({"keras_conventions"}), frozenset(), "keras_batchnorm_from_normlab(",
        r"keras_batchnorm_from_normlab\(|check_\w+\(|run_lab\("),
}
NAMES = sorted(NB)


def load(name):
    """The committed notebooks/<name>.ipynb."""
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def nbgrader_cells(nb):
    """The cells with nbgrader metadata."""
    return [c for c in nb.cells if "nbgrader" in c.metadata]


def by_id(nb):
    """{cell id: cell}."""
    return {c.get("id"): c for c in nb.cells}


def builder():
    """notebooks/build.py, imported afresh (a test may monkeypatch it)."""
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_points(config=None) -> dict[str, float]:
    """grade_id -> the points of the checks that credit it, summed here from the checks."""
    points: dict[str, float] = {}
    for check in select_checks(config or load_config()):
        points[check.grade_id] = points.get(check.grade_id, 0.0) + check.points
    return points


def errors_of(cell):
    """The error outputs of an executed cell."""
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def text_of(cell):
    """The printed text and the plain-text results of an executed cell, joined."""
    return "".join(
        o.get("text", "") or o.get("data", {}).get("text/plain", "")
        for o in cell.get("outputs", [])
    )
