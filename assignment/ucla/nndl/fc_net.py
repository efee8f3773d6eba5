# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/ucla/nndl/fc_net.py by `make stubs`; edit the solution.
"""``nndl.fc_net`` -> ``assignment.ucla.nndl.fc_net``: the kit's network with UCLA's signature.

Given code. ``from assignment.ucla.nndl.fc_net import *`` brings ``FullyConnectedNet`` and every
layer function (UCLA's ``dropout_forward`` among them), as UCLA's ``fc_net.py`` does with
``from .layers import *`` and ``from .layer_utils import *``.
"""

import numpy as np

from ...fc_net import FullyConnectedNet as _KitNet
from ...fc_net import __all__ as _KIT_NAMES
from .layer_utils import *  # noqa: F403 - the star chain of UCLA's fc_net.py
from .layers import *  # noqa: F403

__all__ = list(_KIT_NAMES)


class FullyConnectedNet(_KitNet):
    """The kit's `fc_net.FullyConnectedNet` with UCLA's constructor.

    Inputs (UCLA's, in its order):
    - hidden_dims, input_dim, num_classes: as in the kit's network.
    - dropout: the probability of DROPPING a unit after each ReLU, in [0, 1); 0 (the default)
      means no dropout (the kit's ``dropout_keep_ratio`` is ``1 - dropout``).
    - use_batchnorm: True for batch normalization after each hidden affine layer.
    - reg, weight_scale, dtype, seed: as in the kit's network.

    ``loss(X, y=None)`` and ``params`` are the kit's: ``W1, b1, ..., gamma1, beta1, ...``.
    """

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout=0,
                 use_batchnorm=False, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None):
        if not 0 <= dropout < 1:
            raise ValueError(f"FullyConnectedNet: dropout is UCLA's drop probability, in [0, 1);"
                             f" got {dropout!r}")
        super().__init__(hidden_dims, input_dim=input_dim, num_classes=num_classes,
                         dropout_keep_ratio=1 - dropout,
                         normalization="batchnorm" if use_batchnorm else None, reg=reg,
                         weight_scale=weight_scale, dtype=dtype, seed=seed)
        self.use_batchnorm = bool(use_batchnorm)
