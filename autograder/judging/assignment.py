"""The one seam between generic judging and one assignment's own code.

An assignment is a folder ``autograder/assignments/<name>/`` (``[assignment] name`` of
release.toml) that provides, as modules:

- ``catalogue``: ``all_checks()``, its checks in assignment order;
- ``inputs``: ``HIDDEN`` (its hidden cases: id -> (probe, ...)) and ``hidden_inputs(case_id)``;
- ``reference``: ``run(probe, inputs)`` (the reference outputs, from the trusted implementation),
  ``record(probe, inputs, targets)`` (the same, with the stand-in table of ``targets``) and
  ``without_table(inputs)``;
- ``mistakes``: ``MISTAKES`` (key -> a mistake with ``message()`` and ``hint``) and
  ``recognise(...)`` (which of them explains a failure);
- ``inside/``: what runs in the sandboxed child (its probes), copied there by the runner;
- ``references.npz``: the hidden inputs with their reference outputs.

Judging finds them here by the assignment's name and imports nothing of an assignment directly,
so a second assignment is a second folder.
"""

from __future__ import annotations

import importlib
import types
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only
    from autograder.judging.checks import Check


def module(assignment: str, name: str) -> types.ModuleType:
    """``autograder.assignments.<assignment>.<name>`` (``"catalogue"``, ``"inputs"``, ...)."""
    return importlib.import_module(f"autograder.assignments.{assignment}.{name}")


def catalogue(assignment: str) -> tuple[Check, ...]:
    """Every check of ``assignment``, in assignment order, with its default points."""
    return module(assignment, "catalogue").all_checks()


def reference(assignment: str) -> types.ModuleType:
    """How ``assignment`` computes reference outputs (``run``, ``record``, ``without_table``)."""
    return module(assignment, "reference")


def mistakes(assignment: str) -> types.ModuleType:
    """The named mistakes of ``assignment`` (``MISTAKES``, ``recognise``)."""
    return module(assignment, "mistakes")


def probes_file(assignment: str) -> Path:
    """``assignment``'s ``inside/probes.py``: with its siblings, what the sandboxed child runs."""
    return Path(module(assignment, "inside").__file__).parent / "probes.py"
