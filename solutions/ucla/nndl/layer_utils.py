"""``nndl.layer_utils`` -> ``assignment.ucla.nndl.layer_utils``: the kit's :mod:`layer_utils`."""

from ...layer_utils import *  # noqa: F403 - an alias module (given code)
