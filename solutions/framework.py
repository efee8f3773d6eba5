"""Converting between our batch-norm conventions and PyTorch's (FrameworkParity notebook).

Our ``batchnorm_forward`` and PyTorch's ``torch.nn.BatchNorm1d`` / ``F.batch_norm`` normalize a
training batch in exactly the same way (batch mean, biased 1/N variance, ``eps`` inside the square
root). They differ only in how they keep the running averages used at test time:

* **momentum.** Ours weights the OLD running value,
  ``running = momentum * running + (1 - momentum) * batch_statistic`` (default 0.9); PyTorch's
  weights the NEW batch statistic, ``running = (1 - momentum) * running + momentum *
  batch_statistic`` (default 0.1). So our 0.9 is PyTorch's 0.1.
* **running variance.** We average the biased variance (divided by N), the one the layer
  normalizes with; PyTorch averages the unbiased variance (divided by N - 1), N / (N - 1) times
  larger, while still normalizing with the biased one.

The functions take NumPy arrays (or Python floats) only; PyTorch is not needed to run them.
"""


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
