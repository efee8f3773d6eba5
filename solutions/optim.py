"""First-order update rules used by `Solver` (given code: handed to students complete).

Every rule has the same signature::

    next_w, config = update(w, dw, config=None)

* ``w``: array of any shape, the current weights.
* ``dw``: array of the same shape as ``w``, the gradient of the loss with respect to ``w``.
* ``config``: dict of hyperparameters and of the rule's state (moving averages, step count). Missing
  hyperparameters are filled in with the defaults below (``config.setdefault``); missing state is
  initialised on the first call. Pass the returned dict back in on the next call.

``next_w`` is a new array with the shape and dtype of ``w``; ``w`` is not modified. The state arrays
kept in ``config`` have the shape of ``w``.

The names, signatures and defaults follow CS231n assignment 2 so notebooks written against it run
unchanged.
"""

import numpy as np

__all__ = ["sgd", "sgd_momentum", "rmsprop", "adam"]


def _with_defaults(config, **defaults):
    """``config`` (a new dict if None) with each missing hyperparameter set to its default, in
    the order given."""
    if config is None:
        config = {}
    for name, value in defaults.items():
        config.setdefault(name, value)
    return config


def _state(config, name, w):
    """The state array ``config[name]``; zeros of ``w``'s shape and dtype on the first call."""
    state = config.get(name)
    if state is None:
        state = np.zeros_like(w)
    return state


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: ``next_w = w - learning_rate * dw``.

    Args:
        w: weights, any shape.
        dw: gradient, same shape as ``w``.
        config: dict with ``learning_rate`` (default 1e-2).

    Returns:
        ``(next_w, config)``; ``next_w`` has the shape and dtype of ``w``.
    """
    config = _with_defaults(config, learning_rate=1e-2)

    next_w = w - config["learning_rate"] * dw
    return next_w.astype(w.dtype, copy=False), config


def sgd_momentum(w, dw, config=None):
    """Stochastic gradient descent with (classical) momentum.

    ``v = momentum * v - learning_rate * dw`` then ``next_w = w + v``.

    Args:
        w: weights, any shape.
        dw: gradient, same shape as ``w``.
        config: dict with ``learning_rate`` (default 1e-2), ``momentum`` (default 0.9; 0 gives
            plain SGD) and the state ``velocity`` (same shape as ``w``, starts at zeros).

    Returns:
        ``(next_w, config)``; ``config["velocity"]`` holds the updated velocity.
    """
    config = _with_defaults(config, learning_rate=1e-2, momentum=0.9)
    v = _state(config, "velocity", w)

    v = config["momentum"] * v - config["learning_rate"] * dw
    next_w = w + v

    config["velocity"] = v
    return next_w.astype(w.dtype, copy=False), config


def rmsprop(w, dw, config=None):
    """RMSProp: scale each step by a moving average of squared gradients.

    ``cache = decay_rate * cache + (1 - decay_rate) * dw**2`` then
    ``next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)``.

    Args:
        w: weights, any shape.
        dw: gradient, same shape as ``w``.
        config: dict with ``learning_rate`` (default 1e-2), ``decay_rate`` (default 0.99),
            ``epsilon`` (default 1e-8) and the state ``cache`` (same shape as ``w``, starts at
            zeros).

    Returns:
        ``(next_w, config)``; ``config["cache"]`` holds the updated average.
    """
    config = _with_defaults(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    cache = _state(config, "cache", w)

    decay = config["decay_rate"]
    cache = decay * cache + (1 - decay) * dw**2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])

    config["cache"] = cache
    return next_w.astype(w.dtype, copy=False), config


def adam(w, dw, config=None):
    """Adam: momentum on the gradient and on its square, both bias-corrected.

    The step counter is incremented *before* it is used, so the first call uses ``t = 1``::

        t = t + 1
        m = beta1 * m + (1 - beta1) * dw
        v = beta2 * v + (1 - beta2) * dw**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        next_w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)

    On the first step ``m_hat = dw`` and ``v_hat = dw**2``, so every weight moves by about
    ``learning_rate`` against the sign of its gradient.

    Args:
        w: weights, any shape.
        dw: gradient, same shape as ``w``.
        config: dict with ``learning_rate`` (default 1e-3), ``beta1`` (default 0.9), ``beta2``
            (default 0.999), ``epsilon`` (default 1e-8) and the state ``m``, ``v`` (same shape as
            ``w``, start at zeros) and ``t`` (int, starts at 0).

    Returns:
        ``(next_w, config)``; ``config`` holds the updated ``m``, ``v`` and ``t``.
    """
    config = _with_defaults(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8,
                            t=0)
    m = _state(config, "m", w)
    v = _state(config, "v", w)

    beta1, beta2 = config["beta1"], config["beta2"]
    t = config["t"] + 1
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw**2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])

    config["m"], config["v"], config["t"] = m, v, t
    return next_w.astype(w.dtype, copy=False), config
