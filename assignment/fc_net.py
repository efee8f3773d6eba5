# normlab student file: replace each `raise NotImplementedError` with your code.
# Instructors: generated from solutions/fc_net.py by `make stubs`; edit the solution.
"""A fully connected network of any depth, with optional batch/layer normalization and dropout.

``from assignment.fc_net import *`` (or CS231n's path, ``assignment.classifiers.fc_net``) brings
the layers too, as CS231n's ``fc_net.py`` does with its ``from ..layers import *`` and ``from
..layer_utils import *``: notebooks call ``batchnorm_forward`` and the backward passes directly
after that one import. ``__all__`` lists the network and every layer function of ``layers.py``
and ``layer_utils.py``.
"""

import numpy as np

from .layer_utils import (
    NORMALIZATIONS,
    affine_norm_relu_backward,
    affine_norm_relu_forward,
    affine_relu_backward,
    affine_relu_forward,
)
from .layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
)

__all__ = [
    "FullyConnectedNet",
    # layers.py
    "affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss",
    "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
    "layernorm_forward", "layernorm_backward", "dropout_forward", "dropout_backward",
    "spatial_batchnorm_forward", "spatial_batchnorm_backward",
    "spatial_groupnorm_forward", "spatial_groupnorm_backward",
    # layer_utils.py
    "affine_relu_forward", "affine_relu_backward",
    "affine_norm_relu_forward", "affine_norm_relu_backward",
]


def _keep_ratio_from_dropout(dropout, dropout_keep_ratio, use_batchnorm):
    """``dropout_keep_ratio`` from CS231n 2018-2019's ``dropout=`` (a keep probability)."""
    ucla = ("a drop probability (CS231n 2016-2017, UCLA) belongs to "
            "ucla.nndl.fc_net.FullyConnectedNet (README, 'Porting a course')")
    if dropout_keep_ratio != 1:
        raise ValueError("pass dropout_keep_ratio= or dropout= (its 2018-2019 name), not both")
    if use_batchnorm is not None:
        raise ValueError(f"dropout= with use_batchnorm= is CS231n 2016-2017's network, whose "
                         f"dropout is the probability of dropping: {ucla}")
    if not 0 < dropout <= 1:
        raise ValueError(f"dropout= is the probability of KEEPING a unit, in (0, 1], got "
                         f"{dropout!r}; {ucla}")
    return dropout


class FullyConnectedNet:
    """A fully connected network with ReLU nonlinearities and a softmax loss.

    For a network with L layers the architecture is

        {affine - [batch/layer norm] - relu - [dropout]} x (L - 1) - affine - softmax

    where the normalization and dropout are optional.

    Learnable parameters live in ``self.params``: ``W1, b1, ..., WL, bL`` and, with
    normalization, ``gamma1, beta1, ..., gamma{L-1}, beta{L-1}`` (the last affine layer is not
    normalized). The network is trained by :class:`~solver.Solver`.
    """

    def __init__(
        self,
        hidden_dims,
        input_dim=3 * 32 * 32,
        num_classes=10,
        dropout_keep_ratio=1,
        normalization=None,
        reg=0.0,
        weight_scale=1e-2,
        dtype=np.float32,
        seed=None,
        use_batchnorm=None,
        dropout=None,
    ):
        """Initialize the network.

        Inputs:
        - hidden_dims: list of the sizes of the hidden layers.
        - input_dim: size D of each (flattened) input.
        - num_classes: number C of classes.
        - dropout_keep_ratio: probability of keeping a unit in dropout; 1 means no dropout.
        - normalization: None, 'batchnorm' or 'layernorm'.
        - reg: L2 regularization strength; the loss adds 0.5 * reg * sum(W ** 2) over the
          weight matrices (not over biases, gamma or beta).
        - weight_scale: standard deviation of the normal initialization of the weights; biases
          and beta start at zero, gamma at one.
        - dtype: numpy dtype of all parameters and computations; float64 for gradient checks.
        - seed: if not None, seeds the dropout masks so that the network is deterministic.
        - use_batchnorm: older spelling of ``normalization='batchnorm'`` (kept so notebooks
          written for it run unchanged).
        - dropout: CS231n 2018-2019's name of ``dropout_keep_ratio``, the probability of
          KEEPING a unit, in (0, 1] (1: no dropout). CS231n 2016-2017 and UCLA gave the
          probability of dropping under that name: their networks are
          ``ucla.nndl.fc_net.FullyConnectedNet``, so 0, or ``dropout`` with ``use_batchnorm``
          (2016-2017's pair), is refused here rather than read the other way round.

        Weights are drawn from NumPy's global random state (``np.random.randn``), so
        ``np.random.seed(...)`` before construction reproduces a network exactly.
        """
        if use_batchnorm:
            if normalization not in (None, "batchnorm"):
                raise ValueError(
                    f"use_batchnorm=True contradicts normalization={normalization!r}; "
                    "pass only normalization='batchnorm'"
                )
            normalization = "batchnorm"
        if dropout is not None:
            dropout_keep_ratio = _keep_ratio_from_dropout(dropout, dropout_keep_ratio,
                                                          use_batchnorm)
        if normalization is not None and normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be None or one of {NORMALIZATIONS}, got {normalization!r}"
            )

        self.normalization = normalization
        self.use_dropout = dropout_keep_ratio != 1
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.params = {}

        dims = [input_dim, *hidden_dims, num_classes]
        for i in range(1, self.num_layers + 1):
            d_in, d_out = dims[i - 1], dims[i]
            self.params[f"W{i}"] = weight_scale * np.random.randn(d_in, d_out)
            self.params[f"b{i}"] = np.zeros(d_out)
            if self.normalization is not None and i < self.num_layers:
                raise NotImplementedError("FullyConnectedNet.__init__: the 'normalization' part is not implemented yet — this is your task (fc_net.FullyConnectedNet.__init__:normalization). Replace this raise with your code; the docstring says what to compute.")

        # Dropout shares one parameter dict across layers; the mode is set on every forward pass.
        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}
            if seed is not None:
                self.dropout_param["seed"] = seed

        # Each normalized layer has its own dict: the batch-norm running averages live there.
        self.bn_params = []
        if self.normalization == "batchnorm":
            self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]
        elif self.normalization == "layernorm":
            self.bn_params = [{} for _ in range(self.num_layers - 1)]

        for name, value in self.params.items():
            self.params[name] = value.astype(dtype)

    def loss(self, X, y=None):
        """Compute the loss and gradients, or the class scores.

        Inputs:
        - X: (N, d_1, ..., d_k) input data.
        - y: (N,) integer labels, or None.

        Returns:
        - If y is None (test mode): scores, an (N, C) array.
        - Otherwise (train mode): ``(loss, grads)`` where grads maps every name in self.params
          to the gradient of the loss with respect to it (same shape).
        """
        X = X.astype(self.dtype)
        mode = "test" if y is None else "train"
        if self.use_dropout:
            self.dropout_param["mode"] = mode
        if self.normalization == "batchnorm":
            for bn_param in self.bn_params:
                bn_param["mode"] = mode

        # Forward: the hidden layers, then the scoring affine layer.
        L = self.num_layers
        h = X
        caches = []
        for i in range(1, L):
            W, b = self.params[f"W{i}"], self.params[f"b{i}"]
            if self.normalization is None:
                h, cache = affine_relu_forward(h, W, b)
            else:
                raise NotImplementedError("FullyConnectedNet.loss: the 'normalization' part is not implemented yet — this is your task (fc_net.FullyConnectedNet.loss:normalization). Replace this raise with your code; the docstring says what to compute.")
            dropout_cache = None
            if self.use_dropout:
                h, dropout_cache = dropout_forward(h, self.dropout_param)
            caches.append((cache, dropout_cache))
        scores, scores_cache = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])

        if mode == "test":
            return scores

        loss, dscores = softmax_loss(scores, y)
        weights = [self.params[f"W{i}"] for i in range(1, L + 1)]
        loss += 0.5 * self.reg * sum(np.sum(W * W) for W in weights)

        # Backward, layer by layer in reverse; L2 only on the weight matrices.
        grads = {}
        dh, dW, db = affine_backward(dscores, scores_cache)
        grads[f"W{L}"] = dW + self.reg * self.params[f"W{L}"]
        grads[f"b{L}"] = db
        for i in range(L - 1, 0, -1):
            cache, dropout_cache = caches[i - 1]
            if self.use_dropout:
                dh = dropout_backward(dh, dropout_cache)
            if self.normalization is None:
                dh, dW, db = affine_relu_backward(dh, cache)
            else:
                raise NotImplementedError("FullyConnectedNet.loss: the 'normalization' part is not implemented yet — this is your task (fc_net.FullyConnectedNet.loss:normalization). Replace this raise with your code; the docstring says what to compute.")
            grads[f"W{i}"] = dW + self.reg * self.params[f"W{i}"]
            grads[f"b{i}"] = db

        return loss, grads
