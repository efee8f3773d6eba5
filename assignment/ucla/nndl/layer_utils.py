# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/ucla/nndl/layer_utils.py by `make stubs`; edit the solution.
"""``nndl.layer_utils`` -> ``assignment.ucla.nndl.layer_utils``: the kit's :mod:`layer_utils`."""

from ...layer_utils import *  # noqa: F403 - an alias module (given code)
