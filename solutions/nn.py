"""Layers as objects: the layers of ``layers.py`` behind a small, Keras-like object API.

Every layer here is a thin object over the functions of ``layers.py`` (the math lives there, once)::

    model = Model()
    model.add(Dense(dim_output=100, weight_scale=1e-2), "fc1")   # input size from the data
    model.add(BatchNorm(100, activation="relu"), "bn1")          # affine -> batch norm -> ReLU
    model.add(Dense(100, 10, weight_scale=1e-2), "scores")
    model.add_loss(softmax_loss)
    optimizer = Adam(1e-3, model)
    loss_history, train_acc_history, val_acc_history = epoch_solver(
        X_train, y_train, X_val, y_val, 1e-4, optimizer, epochs=5, batch_size=100)

The constructors, `Model` and the training loop (``training.py``: `Adam`, `SGD`,
`epoch_solver`) follow the object API of IFT780 (Université de Sherbrooke), so its notebooks run
on this module through the paths of ``ift780/`` (README, "Porting a course").

The layer contract:

* ``layer.params``: dict of the learnable arrays (``"W"``, ``"b"`` for `Dense`; ``"gamma"``,
  ``"beta"`` for the normalizations; empty for `Dropout`).
* ``layer.forward(x, mode)`` with ``mode`` ``"train"`` or ``"test"``: returns the output and keeps
  in ``layer.cache`` what the backward pass needs.
* ``layer.backward(dout)``: ``dout`` is the gradient of the loss with respect to the output of the
  last ``forward``; returns the gradient with respect to its input ``x`` and stores the gradient
  of each parameter in ``layer.grads`` (same keys and shapes as ``layer.params``). A layer knows
  nothing about regularization: `Model.backward` adds it.
* ``activation``: ``None`` (or its synonym ``"identity"``) or ``"relu"``, a nonlinearity *fused
  after* the layer's own operation: ``Dense(..., activation="relu")`` computes
  ``relu(x @ W + b)`` and ``BatchNorm(..., activation="relu")`` computes
  ``relu(gamma * x_hat + beta)``. Its backward pass therefore goes through the ReLU first.

Regularization: only the weight matrices ``W`` are regularized. `Model.calculate_loss` adds
``0.5 * reg * sum(W ** 2)`` over the layers that have a ``W``, and `Model.backward` adds
``reg * W`` to exactly those gradients; biases, gamma and beta are never regularized.
"""

import numpy as np

from .layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward_alt,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
)
from .training import SGD, Adam, History, Optimizer, accuracy, epoch_solver

__all__ = [
    "Layer", "Dense", "BatchNorm", "LayerNorm", "Dropout", "Model", "Optimizer", "SGD", "Adam",
    "History", "epoch_solver", "accuracy",
]

ACTIVATIONS = (None, "relu")
#: Other spellings of an activation: IFT780 names "no activation" "identity".
_ACTIVATION_SYNONYMS = {"identity": None}
MODES = ("train", "test")


def _check_mode(mode, where):
    if mode not in MODES:
        raise ValueError(f"{where}: mode must be 'train' or 'test', got {mode!r}")


# --------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------


class Layer:
    """Base class of the layers: the ``params``/``grads`` dicts and the fused activation."""

    def __init__(self, activation=None):
        activation = _ACTIVATION_SYNONYMS.get(activation, activation)
        if activation not in ACTIVATIONS:
            raise ValueError(f"{type(self).__name__}: activation must be None (or 'identity') "
                             f"or 'relu', got {activation!r}")
        self.activation = activation
        self.params = {}
        self.grads = {}
        self.cache = None
        self.activation_cache = None

    def activation_forward(self, a):
        """Apply the fused activation to the layer's pre-activation ``a`` (any shape).

        Returns the activated output (``a`` itself when ``activation`` is None) and remembers
        what `activation_backward` needs.
        """
        if self.activation == "relu":
            out, self.activation_cache = relu_forward(a)
            return out
        return a

    def activation_backward(self, dout):
        """Gradient through the fused activation: from the gradient with respect to the layer's
        output to the gradient with respect to its pre-activation ``a`` (same shape)."""
        if self.activation == "relu":
            return relu_backward(dout, self.activation_cache)
        return dout

    def forward(self, x, mode="train"):
        """Return the layer's output for input ``x``; ``mode`` is 'train' or 'test'."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, dout):
        """Return the gradient with respect to the input and fill ``self.grads``."""
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def __repr__(self):
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params.items())
        act = f", activation={self.activation!r}" if self.activation else ""
        return f"{type(self).__name__}({shapes}{act})"


class Dense(Layer):
    """Fully connected layer ``out = activation(x.reshape(N, D) @ W + b)`` (given code).

    Inputs:
    - dim_input: D, the size of each (flattened) input example; None takes it from the data:
      W is then drawn at the first forward pass, from the width of that input.
    - dim_output: M, the number of units.
    - weight_scale: standard deviation of the normal initialization of W; None uses He's
      ``sqrt(2 / D)`` with a ReLU and Xavier's ``sqrt(2 / (D + M))`` without. b starts at zero.
    - activation: None (or 'identity') or 'relu', applied after the affine map.

    params: W (D, M), b (M,). forward takes x of shape (N, d_1, ..., d_k) with D = d_1 * ... * d_k
    and returns (N, M). W is drawn with ``np.random.randn`` (NumPy's global random state), so
    ``np.random.seed(...)`` before construction (or before the first forward pass, with
    ``dim_input=None``) reproduces it.
    """

    def __init__(self, dim_input=None, dim_output=10, weight_scale=1e-4, activation=None):
        super().__init__(activation)
        self.dim_input, self.dim_output, self.weight_scale = dim_input, dim_output, weight_scale
        self.params["b"] = np.zeros(dim_output)
        if dim_input is not None:
            self._draw_weights(dim_input)

    def _draw_weights(self, D):
        """W (D, M) from the normal distribution of ``weight_scale``, placed before b."""
        scale = self.weight_scale
        if scale is None:
            fans = D if self.activation == "relu" else D + self.dim_output
            scale = np.sqrt(2.0 / fans)
        b = self.params.pop("b")
        self.params["W"] = scale * np.random.randn(D, self.dim_output)
        self.params["b"] = b
        self.dim_input = D

    def forward(self, x, mode="train"):
        _check_mode(mode, "Dense.forward")
        if "W" not in self.params:
            self._draw_weights(int(np.prod(np.shape(x)[1:])))
        a, self.cache = affine_forward(x, self.params["W"], self.params["b"])
        return self.activation_forward(a)

    def backward(self, dout):
        dx, self.grads["W"], self.grads["b"] = affine_backward(
            self.activation_backward(dout), self.cache)
        return dx


def _initial_gamma(dim, weight_scale):
    """Ones when ``weight_scale`` is None, else ``weight_scale * np.random.randn(dim)`` (IFT780's
    initialization: normal around ZERO with that standard deviation), shape (dim,)."""
    if weight_scale is None:
        return np.ones(dim)
    return weight_scale * np.random.randn(dim)


class BatchNorm(Layer):
    """Batch normalization of (N, D) inputs, then the fused activation.

    ``out = activation(gamma * x_hat + beta)`` with ``x_hat`` normalized per feature: with the
    minibatch statistics in train mode, with the running averages in test mode (exactly
    :func:`layers.batchnorm_forward`, which this layer calls).

    Inputs:
    - dim: D, the number of features.
    - eps, momentum: as in ``bn_param`` of :func:`layers.batchnorm_forward`.
    - weight_scale: None starts gamma at exactly one; a number draws gamma as
      ``weight_scale * np.random.randn(D)`` (IFT780's convention: around zero, not one).
      beta starts at zero.
    - activation: None (or 'identity') or 'relu', applied after the normalization.

    params: gamma (D,), beta (D,). The running averages live in ``self.bn_param`` (the dict
    batchnorm_forward reads and writes).
    """

    def __init__(self, dim, eps=1e-5, momentum=0.9, weight_scale=None, activation=None):
        super().__init__(activation)
        self.params["gamma"] = _initial_gamma(dim, weight_scale)
        self.params["beta"] = np.zeros(dim)
        self.bn_param = {"mode": "train", "eps": eps, "momentum": momentum}

    def forward(self, x, mode="train"):
        """Batch norm of x (N, D) in ``mode``, then the activation; returns out (N, D).

        Use :func:`batchnorm_forward` with ``self.bn_param`` (set its mode first) and the
        layer's gamma and beta, keep its cache in ``self.cache``, and finish with
        `activation_forward`.
        """
        _check_mode(mode, "BatchNorm.forward")
        out = None
        ### BEGIN SOLUTION
        self.bn_param["mode"] = mode
        a, self.cache = batchnorm_forward(x, self.params["gamma"], self.params["beta"],
                                          self.bn_param)
        out = self.activation_forward(a)
        ### END SOLUTION
        return out

    def backward(self, dout):
        """Backward pass after a train-mode forward; returns dx (N, D).

        ``dout`` (N, D) is the gradient with respect to the layer's output, i.e. AFTER the fused
        activation. Go back through the activation first (`activation_backward`), then through
        the normalization with :func:`batchnorm_backward_alt`. Store the gradients of gamma and
        beta in ``self.grads["gamma"]`` and ``self.grads["beta"]``: they too must be computed from
        the gradient that came back through the activation.
        """
        if self.cache is None:
            raise RuntimeError("BatchNorm.backward: nothing to go back through; call "
                               "forward(x, mode='train') first (test mode keeps no cache)")
        dx = None
        ### BEGIN SOLUTION
        da = self.activation_backward(dout)
        dx, self.grads["gamma"], self.grads["beta"] = batchnorm_backward_alt(da, self.cache)
        ### END SOLUTION
        return dx


class LayerNorm(Layer):
    """Layer normalization of (N, D) inputs, then the fused activation.

    ``out = activation(gamma * x_hat + beta)`` with each example normalized over its own D
    features (exactly :func:`layers.layernorm_forward`); train and test mode behave the same.

    Inputs:
    - dim: D, the number of features.
    - eps: as in ``ln_param`` of :func:`layers.layernorm_forward`.
    - weight_scale: as for `BatchNorm` (None: gamma starts at one; a number: gamma is
      ``weight_scale * np.random.randn(D)``). beta starts at zero.
    - activation: None (or 'identity') or 'relu', applied after the normalization.

    params: gamma (D,), beta (D,).
    """

    def __init__(self, dim, eps=1e-5, weight_scale=None, activation=None):
        super().__init__(activation)
        self.params["gamma"] = _initial_gamma(dim, weight_scale)
        self.params["beta"] = np.zeros(dim)
        self.ln_param = {"eps": eps}

    def forward(self, x, mode="train"):
        """Layer norm of x (N, D), then the activation; returns out (N, D).

        Use :func:`layernorm_forward` with ``self.ln_param``, keep its cache in ``self.cache``
        and finish with `activation_forward`. ``mode`` changes nothing here.
        """
        _check_mode(mode, "LayerNorm.forward")
        out = None
        ### BEGIN SOLUTION
        a, self.cache = layernorm_forward(x, self.params["gamma"], self.params["beta"],
                                          self.ln_param)
        out = self.activation_forward(a)
        ### END SOLUTION
        return out

    def backward(self, dout):
        """Backward pass; returns dx (N, D) and stores ``self.grads["gamma"]`` and
        ``self.grads["beta"]``, as for `BatchNorm.backward` (activation first, then
        :func:`layernorm_backward`)."""
        if self.cache is None:
            raise RuntimeError("LayerNorm.backward: call forward first")
        dx = None
        ### BEGIN SOLUTION
        da = self.activation_backward(dout)
        dx, self.grads["gamma"], self.grads["beta"] = layernorm_backward(da, self.cache)
        ### END SOLUTION
        return dx


class Dropout(Layer):
    """Inverted dropout (given code): :func:`layers.dropout_forward` and its backward.

    Inputs:
    - p: probability of KEEPING each unit (as in CS231n), in (0, 1].
    - seed: if given, every train-mode call draws the same mask (for gradient checks).

    No params. Test mode is the identity.
    """

    def __init__(self, p=0.5, seed=None):
        super().__init__(None)
        self.dropout_param = {"p": p, "mode": "train"}
        if seed is not None:
            self.dropout_param["seed"] = seed

    def forward(self, x, mode="train"):
        _check_mode(mode, "Dropout.forward")
        self.dropout_param["mode"] = mode
        out, self.cache = dropout_forward(x, self.dropout_param)
        return out

    def backward(self, dout):
        return dropout_backward(dout, self.cache)

    def __repr__(self):
        return f"Dropout(p={self.dropout_param['p']})"


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------


def _loss_outputs(value):
    """``(loss, dscores, extra)`` from what a loss function returned: ``(loss, dscores)``
    (softmax_loss) or ``(loss, dscores, extra)`` (cross_entropy_loss); extra None for the first."""
    if not isinstance(value, tuple | list) or len(value) not in (2, 3):
        raise TypeError(f"the model's loss function should return (loss, dscores) or (loss, "
                        f"dscores, extra), got {type(value).__name__}")
    return (*value, None) if len(value) == 2 else tuple(value)


class Model:
    """A stack of layers with a loss.

    ``self.layers`` maps each layer's name to the layer, in the order they were added;
    ``self.loss_fn`` is the loss given to `add_loss`; ``self.reg`` is the regularization
    strength of the last `calculate_loss` call (what `backward` uses).
    """

    def __init__(self):
        self.layers = {}
        self.loss_fn = None
        self.reg = 0.0

    def add(self, layer, name=None):
        """Append ``layer`` under ``name`` (default: its class name and position, e.g.
        ``"dense1"``); returns the layer."""
        if name is None:
            name = f"{type(layer).__name__.lower()}{len(self.layers) + 1}"
        if name in self.layers:
            raise ValueError(f"Model.add: there is already a layer named {name!r}")
        self.layers[name] = layer
        return layer

    def add_loss(self, loss_fn):
        """Set the loss: ``loss_fn(scores, y)`` returning ``(loss, dscores)`` (softmax_loss) or
        ``(loss, dscores, extra)`` (IFT780's cross_entropy_loss), dscores of the scores' shape."""
        self.loss_fn = loss_fn

    def forward(self, X, mode="train"):
        """Run X (N, ...) through every layer in ``mode``; returns the scores (N, C)."""
        _check_mode(mode, "Model.forward")
        out = X
        for layer in self.layers.values():
            out = layer.forward(out, mode)
        return out

    def calculate_loss(self, scores, y, reg=0.0):
        """The loss of ``scores`` (N, C) for labels ``y`` (N,) and its gradient.

        loss = data loss (the loss function's) + 0.5 * reg * sum(W ** 2), the sum running over
        the ``"W"`` param of every layer that has one (biases, gamma and beta are not
        regularized). ``reg`` is remembered in ``self.reg`` for `backward`.

        Returns ``(loss, dscores, extra)``: a float; the gradient of the DATA loss with respect
        to the scores, shape (N, C) (the regularization does not depend on the scores); and the
        loss function's third output if it has one (``cross_entropy_loss`` of IFT780's
        ``utils.model_loss``: the softmax probabilities, (N, C)), else None. So
        ``loss, dscores, _ = model.calculate_loss(scores, y, reg)``.
        """
        if self.loss_fn is None:
            raise RuntimeError("Model.calculate_loss: no loss yet; call model.add_loss(...) "
                               "first, e.g. model.add_loss(softmax_loss)")
        self.reg = reg
        loss, dscores, extra = _loss_outputs(self.loss_fn(scores, y))
        ### BEGIN SOLUTION
        for layer in self.layers.values():
            if "W" in layer.params:
                loss += 0.5 * reg * np.sum(layer.params["W"] ** 2)
        ### END SOLUTION
        return loss, dscores, extra

    def backward(self, dscores):
        """Backpropagate ``dscores`` (N, C) through the layers in reverse order.

        Afterwards every layer's ``grads`` holds the gradient of the WHOLE loss of the last
        `calculate_loss` call: what the layer's own backward stored, plus ``self.reg * W`` for
        the ``"W"`` of the layers that have one (and nothing added to any other parameter).

        Returns the gradient with respect to the model's input X.
        """
        dout = dscores
        ### BEGIN SOLUTION
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
            if "W" in layer.params:
                layer.grads["W"] = layer.grads["W"] + self.reg * layer.params["W"]
        ### END SOLUTION
        return dout

    def predict(self, X, batch_size=1000):
        """Predicted labels (N,) of X in test mode, computed ``batch_size`` examples at a time."""
        labels = [np.argmax(self.forward(X[i:i + batch_size], "test"), axis=1)
                  for i in range(0, X.shape[0], batch_size)]
        return np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)

    def parameters(self):
        """``(layer name, param name, layer)`` for every learnable array, in layer order."""
        return [(name, key, layer) for name, layer in self.layers.items() for key in layer.params]

    def __repr__(self):
        lines = [f"  {name}: {layer!r}" for name, layer in self.layers.items()]
        return "Model(\n" + "\n".join(lines) + "\n)"
