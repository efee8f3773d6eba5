"""Converting our batch-norm conventions to PyTorch's and Keras's (FrameworkParity, KerasMNIST).

Our ``batchnorm_forward``, PyTorch's ``torch.nn.BatchNorm1d`` / ``F.batch_norm`` and Keras's
``keras.layers.BatchNormalization`` normalize a training batch in exactly the same way (batch mean,
biased 1/N variance, ``eps`` inside the square root). They differ in how they keep the running
averages used at test time, and in their defaults:

* **momentum.** Ours weights the OLD running value,
  ``running = momentum * running + (1 - momentum) * batch_statistic`` (default 0.9); PyTorch's
  weights the NEW batch statistic, ``running = (1 - momentum) * running + momentum *
  batch_statistic`` (default 0.1). So our 0.9 is PyTorch's 0.1. Keras's ``momentum`` weights the
  old value, as ours does (default 0.99).
* **running variance.** We average the biased variance (divided by N), the one the layer
  normalizes with; PyTorch averages the unbiased variance (divided by N - 1), N / (N - 1) times
  larger, while still normalizing with the biased one. Keras averages the biased one, as we do.
* **eps.** 1e-5 for us and PyTorch, ``epsilon=1e-3`` for Keras.
* **initial running averages.** Ours start at zeros (when ``bn_param`` has none yet); PyTorch's
  and Keras's running variance starts at ones.

The functions take NumPy arrays (or Python floats) only; neither framework is needed to run them.
"""

import numpy as np


def torch_momentum_from_normlab(momentum):
    """The PyTorch ``momentum`` that gives the same running averages as our ``momentum``.

    Our update is ``running = momentum * running + (1 - momentum) * batch_statistic``; PyTorch's
    is ``running = (1 - m) * running + m * batch_statistic``. Return the m that makes the two
    updates identical.

    Inputs:
    - momentum: our momentum (weight of the old running value), a float in [0, 1] or an array
      of such values (any shape).

    Returns PyTorch's momentum (weight of the new batch statistic): a float, or an array of
    ``momentum``'s shape. Example: 0.9 -> 0.1.
    """
    ### BEGIN SOLUTION
    return 1.0 - momentum
    ### END SOLUTION


def torch_running_var(running_var, var, N, momentum):
    """The running variance PyTorch holds after one training-mode batch-norm step.

    PyTorch normalizes with the biased batch variance ``var`` (divided by N, as ours) but adds the
    UNBIASED variance (divided by N - 1) to its running average, with its own momentum
    convention. Express that update in our terms: return

        momentum * running_var + (1 - momentum) * unbiased_var,

    where ``unbiased_var`` is the unbiased variance of the same batch, computed from ``var``
    and ``N`` (not from the data, which this function does not see).

    Inputs:
    - running_var: (D,) PyTorch's running variance before the step.
    - var: (D,) the biased (1/N) variance of each feature over the batch, as our
      ``batchnorm_forward`` computes it in train mode.
    - N: the batch size, an int >= 2.
    - momentum: OUR momentum (weight of the old running value), e.g. 0.9, which is PyTorch's 0.1.

    Returns a (D,) array: the running variance after the step.
    """
    if N < 2:
        raise ValueError(f"torch_running_var: the unbiased variance needs N >= 2, got N={N}")
    new_running_var = None
    ### BEGIN SOLUTION
    unbiased_var = var * (N / (N - 1))
    new_running_var = momentum * running_var + (1 - momentum) * unbiased_var
    ### END SOLUTION
    return new_running_var


def keras_batchnorm_from_normlab(gamma, beta, bn_param):
    """What ``keras.layers.BatchNormalization`` needs to behave exactly like our layer.

    Our ``batchnorm_forward(x, gamma, beta, bn_param)`` reads ``bn_param["momentum"]`` (default
    0.9), ``bn_param["eps"]`` (default 1e-5) and the running averages ``bn_param["running_mean"]``
    and ``bn_param["running_var"]`` (zeros of shape (D,) while it has none). Return the Keras
    layer's constructor arguments and its four weights such that

        layer = keras.layers.BatchNormalization(**config)
        layer.build((None, D))
        layer.set_weights(weights)

    gives, in training and in test mode, the outputs and the running averages ours gives with
    ``gamma``, ``beta`` and ``bn_param`` (Keras calls them moving_mean and moving_variance).

    Inputs:
    - gamma: (D,) scale. beta: (D,) shift.
    - bn_param: our dict; it may lack any of the four keys above. Do not modify it.

    Returns a tuple (config, weights):
    - config: a dict with exactly the keys "momentum" and "epsilon" (Python floats).
    - weights: a list of four (D,) float arrays in the order Keras keeps them:
      [gamma, beta, moving_mean, moving_variance].
    """
    config, weights = None, None
    ### BEGIN SOLUTION
    D = np.shape(gamma)[0]
    config = {"momentum": float(bn_param.get("momentum", 0.9)),
              "epsilon": float(bn_param.get("eps", 1e-5))}
    running_mean = bn_param.get("running_mean", np.zeros(D))
    running_var = bn_param.get("running_var", np.zeros(D))
    weights = [np.array(gamma, dtype=float), np.array(beta, dtype=float),
               np.array(running_mean, dtype=float), np.array(running_var, dtype=float)]
    ### END SOLUTION
    return config, weights
