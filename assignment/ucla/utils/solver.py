# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/ucla/utils/solver.py by `make stubs`; edit the solution.
"""``utils.solver`` -> ``assignment.ucla.utils.solver``: the kit's :mod:`solver` (``Solver``)."""

from ...solver import *  # noqa: F403 - an alias module (given code)
