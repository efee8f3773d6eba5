# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/ucla/utils/data_utils.py by `make stubs`; edit the solution.
"""``utils.data_utils`` -> ``assignment.ucla.utils.data_utils``: the kit's :mod:`data_utils`
(``get_CIFAR10_data`` returns the dict of CS231n and UCLA, channels first)."""

from ...data_utils import *  # noqa: F403 - an alias module (given code)
