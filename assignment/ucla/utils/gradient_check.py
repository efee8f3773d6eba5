# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/ucla/utils/gradient_check.py by `make stubs`; edit the solution.
"""``utils.gradient_check`` -> ``assignment.ucla.utils.gradient_check``: the kit's
:mod:`gradient_check` (``eval_numerical_gradient``, ``eval_numerical_gradient_array``, ...)."""

from ...gradient_check import *  # noqa: F403 - an alias module (given code)
from ...gradient_check import __all__  # noqa: F401
