"""``nndl.layers`` -> ``assignment.ucla.nndl.layers``: the kit's :mod:`layers` (given code).

Every layer function is the kit's, except that `dropout_forward` takes UCLA's ``p``: the
probability of DROPPING each unit (CS231n's, and the kit's, is the probability of keeping it).
"""

from ...layers import *  # noqa: F403 - an alias module: every layer of the kit
from ...layers import dropout_forward as _keep_dropout_forward


def dropout_forward(x, dropout_param):
    """Inverted dropout with UCLA's convention.

    Inputs:
    - x: data of any shape.
    - dropout_param: dict with ``p``, the probability of DROPPING each unit, in [0, 1);
      ``mode``, 'train' or 'test'; optional ``seed`` (``np.random.seed(seed)`` first).

    Returns ``(out, cache)``: out of x's shape and dtype, each unit kept with probability
    ``1 - p`` and scaled by ``1 / (1 - p)`` in train mode; cache = (dropout_param, mask), for
    ``dropout_backward``.
    """
    p = dropout_param["p"]
    if not 0 <= p < 1:
        raise ValueError(f"dropout_forward: the drop probability p must be in [0, 1), got {p!r}")
    out, (_, mask) = _keep_dropout_forward(x, dict(dropout_param, p=1 - p))
    return out, (dropout_param, mask)
