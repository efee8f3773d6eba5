"""``layers.BatchNorm`` -> ``assignment.ift780.layers.BatchNorm``: the kit's :class:`nn.BatchNorm`.

Given code; its forward and backward are tasks of ``nn.py``. ``BatchNorm(D, weight_scale=w)``
draws gamma as ``w * np.random.randn(D)``; ``BatchNorm(D, weight_scale=None)`` starts it at one;
``BatchNorm(D, activation='relu')`` fuses a ReLU after the normalization.
"""

from ...nn import BatchNorm

__all__ = ["BatchNorm"]
