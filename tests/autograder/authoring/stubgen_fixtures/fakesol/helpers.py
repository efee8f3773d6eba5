"""Given code only: no solution markers."""


def double(x):
    """Return 2 * x."""
    return 2 * x
