"""``utils.solver`` -> ``assignment.ucla.utils.solver``: the kit's :mod:`solver` (``Solver``)."""

from ...solver import *  # noqa: F403 - an alias module (given code)
