"""``nndl.optim`` -> ``assignment.ucla.nndl.optim``: the kit's :mod:`optim` (given code)."""

from ...optim import *  # noqa: F403 - an alias module
from ...optim import __all__  # noqa: F401
