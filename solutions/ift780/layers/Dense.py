"""``layers.Dense`` -> ``assignment.ift780.layers.Dense``: the kit's :class:`nn.Dense`.

Given code. ``Dense(dim_output=H, weight_scale=w, activation='relu')`` takes its input size from
the first batch it sees; ``Dense(dim_input=H, dim_output=C, weight_scale=w)`` draws W at once.
"""

from ...nn import Dense

__all__ = ["Dense"]
