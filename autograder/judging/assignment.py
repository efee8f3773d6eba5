"""The one seam between generic judging and one assignment's own code.

An assignment is a folder ``autograder/assignments/<name>/`` with (at least) ``catalogue.py``
(``all_checks()``: its checks in assignment order) and ``inputs.py`` (``HIDDEN``: its hidden
cases, ``hidden_inputs(case_id)``). Judging finds them here by the assignment's name
(``[assignment] name`` of release.toml), so a second assignment is a second folder.
"""

from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: checks.py imports references.py, which uses this seam
    from autograder.judging.checks import Check


def module(assignment: str, name: str) -> types.ModuleType:
    """``autograder.assignments.<assignment>.<name>`` (``"catalogue"``, ``"inputs"``)."""
    return importlib.import_module(f"autograder.assignments.{assignment}.{name}")


def catalogue(assignment: str) -> tuple[Check, ...]:
    """Every check of ``assignment``, in assignment order, with its default points."""
    return module(assignment, "catalogue").all_checks()
