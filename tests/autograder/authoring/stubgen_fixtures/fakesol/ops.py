"""Fake solutions module: one task of each kind."""

import math

from .helpers import double

SCALE = 3


def scale(x, factor=2.0):
    """Return x * factor (task ops.scale: one unlabelled region)."""
    result = None
    ### BEGIN SOLUTION
    result = x * factor
    result = result + 0
    ### END SOLUTION
    return result


def shift(x, offset=1.0):
    """Return x + offset (given: this region is not selected)."""
    ### BEGIN SOLUTION
    shifted = x + offset
    ### END SOLUTION
    return shifted


def norm(v, kind="l2"):
    """The l1 or l2 norm of v: two labelled regions, ops.norm:l2 and ops.norm:l1."""
    if kind == "l2":
        ### BEGIN SOLUTION l2
        total = 0.0
        for item in v:
            total += item * item
        return math.sqrt(total)
        ### END SOLUTION
    ### BEGIN SOLUTION l1
    return sum(abs(item) for item in v)
    ### END SOLUTION l1


def undocumented(x):
    ### BEGIN SOLUTION
    return double(x) * SCALE
    ### END SOLUTION


class Model:
    """A class with a task in a method and one in a nested class."""

    def __init__(self, size):
        self.size = size
        ### BEGIN SOLUTION
        self.weights = [0.0] * size
        ### END SOLUTION

    def twice(self, x):
        """Given: uses the sibling module through a relative import."""
        return double(x)

    class Inner:
        """Nested class."""

        def value(self):
            """Return 42."""
            ### BEGIN SOLUTION
            return 42
            ### END SOLUTION
