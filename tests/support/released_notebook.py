"""A small notebook in nbgrader's release format, shaped like the released
BatchNormalization.ipynb, and submissions made with it (for the intake, recorder and grade-loop
tests: no student code runs)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

NB = "BatchNormalization.ipynb"
PLACEHOLDER = "**Your answer:**\n\nYOUR ANSWER HERE"


def _meta(grade_id, *, grade, solution, locked, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def markdown_cell(source, metadata=None, cell_id=None):
    """A markdown cell (its id made from its source unless given)."""
    return {"cell_type": "markdown", "id": cell_id or f"m{abs(hash(source)) % 10**8}",
            "metadata": metadata or {}, "source": source}


def _code(source, metadata=None, cell_id=None):
    return {"cell_type": "code", "id": cell_id or f"c{abs(hash(source)) % 10**8}",
            "metadata": metadata or {}, "source": source, "outputs": [], "execution_count": None}


def released_notebook() -> dict:
    """A small notebook shaped like the released BatchNormalization.ipynb."""
    cells = [
        markdown_cell("# Batch normalization"),
        _code("from assignment.checks import check_batchnorm_forward"),
        markdown_cell("## The forward pass\n\nImplement `batchnorm_forward`."),
        _code("check_batchnorm_forward()"),
        _code("# Autograded test: batchnorm_forward (3 points).\nreport = check()",
              _meta("batchnorm_forward", grade=True, solution=False, locked=True, points=3)),
        markdown_cell("### Inline question 1\n\nWhat does the weight-scale experiment show?"),
        markdown_cell(PLACEHOLDER, _meta("inline_question_1", grade=True, solution=True,
                                         locked=False, points=2)),
        markdown_cell("## Layer normalization"),
        markdown_cell("### Inline question 2\n\nWhen is layer normalization a bad idea?"),
        markdown_cell(PLACEHOLDER, _meta("inline_question_2", grade=True, solution=True,
                                         locked=False, points=2)),
        _code("print('done')"),
    ]
    for index, cell in enumerate(cells):
        cell["id"] = f"cell{index}"
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def answered(nb: dict, answers: dict[str, str]) -> dict:
    """A copy of ``nb`` whose answer cells hold ``answers`` ({grade_id: text})."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = f"**Your answer:**\n\n{answers[grade_id]}"
    return nb


def stripped(nb: dict) -> dict:
    """A copy of ``nb`` without its nbgrader metadata (as some editors leave a notebook)."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        cell["metadata"].pop("nbgrader", None)
        cell["metadata"].pop("deletable", None)
    return nb


def write_submission(folder: Path, nb: dict | str | None, package: bool = True) -> Path:
    """A submission folder: the notebook NB (a dict, raw text, or none) and, with ``package``,
    a tiny assignment/ package."""
    folder.mkdir(parents=True, exist_ok=True)
    if package:
        (folder / "assignment").mkdir(exist_ok=True)
        (folder / "assignment" / "__init__.py").write_text("")
        (folder / "assignment" / "layers.py").write_text("def batchnorm_forward():\n    pass\n")
    if isinstance(nb, dict):
        (folder / NB).write_text(json.dumps(nb))
    elif isinstance(nb, str):
        (folder / NB).write_text(nb)
    return folder
