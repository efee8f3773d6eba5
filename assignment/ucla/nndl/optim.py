# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/ucla/nndl/optim.py by `make stubs`; edit the solution.
"""``nndl.optim`` -> ``assignment.ucla.nndl.optim``: the kit's :mod:`optim` (given code)."""

from ...optim import *  # noqa: F403 - an alias module
from ...optim import __all__  # noqa: F401
