"""Layers as pairs of functions: a forward pass and, right after it, its backward pass.

Every forward returns ``(out, cache)``; the matching backward takes ``(dout, cache)`` and returns
the gradient of the loss with respect to each input, in the order the forward took them. ``dout``
always has the shape of ``out`` and each gradient the shape of its input.

Names follow the math: ``x`` is the input, ``gamma``/``beta`` the learned scale and shift, ``dout``
the upstream gradient, ``dx``/``dgamma``/``dbeta`` the gradients we return.
"""

import numpy as np

# --------------------------------------------------------------------------------------------------
# Affine, ReLU, softmax (given)
# --------------------------------------------------------------------------------------------------


def affine_forward(x, w, b):
    """Fully connected layer: ``out = x.reshape(N, D) @ w + b``.

    Inputs:
    - x: (N, d_1, ..., d_k) minibatch; each example is flattened to D = d_1 * ... * d_k values.
    - w: (D, M) weights.
    - b: (M,) biases.

    Returns ``(out, cache)`` with out of shape (N, M) and cache = (x, w, b).
    """
    out = x.reshape(x.shape[0], -1) @ w + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """Backward pass of :func:`affine_forward`.

    Inputs:
    - dout: (N, M) upstream gradient.
    - cache: (x, w, b) from the forward pass.

    Returns ``(dx, dw, db)`` with shapes (N, d_1, ..., d_k), (D, M) and (M,).
    """
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    """Rectified linear unit, elementwise ``max(0, x)``; x of any shape.

    Returns ``(out, cache)`` with out of x's shape and cache = x.
    """
    out = np.maximum(x, 0)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    """Backward pass of :func:`relu_forward`: ``dx = dout`` where ``x > 0``, else 0."""
    x = cache
    dx = dout * (x > 0)
    return dx


def softmax_loss(x, y):
    """Softmax cross-entropy loss, averaged over the minibatch.

    Inputs:
    - x: (N, C) class scores; x[i, j] is the score of class j for example i.
    - y: (N,) integer labels, 0 <= y[i] < C.

    Returns ``(loss, dx)``: the scalar loss and its gradient with respect to x, shape (N, C).
    """
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = x.shape[0]
    loss = -log_probs[np.arange(N), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx


# --------------------------------------------------------------------------------------------------
# Batch normalization
# --------------------------------------------------------------------------------------------------


def _check_mode(mode, layer):
    """Raise a ValueError that names the bad value unless ``mode`` is 'train' or 'test'."""
    if mode not in ("train", "test"):
        raise ValueError(
            f"{layer}: bn_param['mode'] must be 'train' or 'test', got {mode!r}. "
            "Set it before every call, e.g. bn_param = {'mode': 'train'}."
        )


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization forward pass.

    In train mode, normalize each feature with the minibatch mean and (biased, 1/N) variance,

        x_hat = (x - mean) / sqrt(var + eps),    out = gamma * x_hat + beta,

    and update exponentially decaying running averages of the mean and variance,

        running_mean = momentum * running_mean + (1 - momentum) * mean

    (the same for running_var). In test mode, normalize with the running averages instead and
    leave them unchanged.

    Inputs:
    - x: (N, D) data.
    - gamma: (D,) scale.
    - beta: (D,) shift.
    - bn_param: dict with keys
      - mode: 'train' or 'test'; required.
      - eps: constant for numeric stability, default 1e-5.
      - momentum: constant for the running averages, default 0.9.
      - running_mean, running_var: (D,) arrays; zeros of x's dtype if missing. Written back into
        bn_param on every call.

    Returns ``(out, cache)``: out of shape (N, D) and whatever :func:`batchnorm_backward` needs.
    """
    mode = bn_param.get("mode")
    _check_mode(mode, "batchnorm_forward")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)

    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    out, cache = None, None
    if mode == "train":
        ### BEGIN SOLUTION
        mean = x.mean(axis=0)
        xc = x - mean
        var = np.einsum("nd,nd->d", xc, xc) / N
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = xc * inv_std
        out = gamma * x_hat + beta

        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var

        cache = (xc, var, inv_std, x_hat, gamma, eps)
        ### END SOLUTION
    else:
        ### BEGIN SOLUTION
        out = gamma * ((x - running_mean) / np.sqrt(running_var + eps)) + beta
        ### END SOLUTION

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    """Batch normalization backward pass, one node of the computation graph at a time.

    Walk back through the forward pass step by step (shift, scale, divide by the standard
    deviation, the variance, the mean) applying the chain rule at each node.

    Inputs:
    - dout: (N, D) upstream gradient.
    - cache: from :func:`batchnorm_forward` in train mode.

    Returns ``(dx, dgamma, dbeta)`` of shapes (N, D), (D,), (D,).
    """
    dx, dgamma, dbeta = None, None, None
    ### BEGIN SOLUTION
    xc, var, inv_std, x_hat, gamma, eps = cache
    N = dout.shape[0]

    # out = gamma * x_hat + beta
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma

    # x_hat = xc * inv_std: xc feeds x_hat directly and through the variance
    dxc = dx_hat * inv_std
    dinv_std = (dx_hat * xc).sum(axis=0)

    # inv_std = (var + eps) ** -0.5
    dvar = -0.5 * dinv_std * inv_std**3

    # var = sum(xc ** 2) / N
    dxc += (2.0 / N) * xc * dvar

    # xc = x - mean, mean = sum(x) / N
    dmean = -dxc.sum(axis=0)
    dx = dxc + dmean / N
    ### END SOLUTION
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """Batch normalization backward pass in closed form.

    Simplify the chain rule on paper first: the gradient with respect to x fits in one line,

        dx = gamma * inv_std / N * (N * dout - sum(dout) - x_hat * sum(dout * x_hat)),

    with the sums over the batch axis.

    Inputs and outputs are those of :func:`batchnorm_backward`: dout (N, D), the upstream
    gradient, and the cache of :func:`batchnorm_forward` in train mode; returns ``(dx, dgamma,
    dbeta)`` of shapes (N, D), (D,), (D,).

    The two must agree to rounding error, and this one should be faster (the notebook times both).
    """
    dx, dgamma, dbeta = None, None, None
    ### BEGIN SOLUTION
    xc, var, inv_std, x_hat, gamma, eps = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.einsum("nd,nd->d", dout, x_hat)
    dx = (gamma * inv_std / N) * (N * dout - dbeta - x_hat * dgamma)
    ### END SOLUTION
    return dx, dgamma, dbeta


# --------------------------------------------------------------------------------------------------
# Layer normalization
# --------------------------------------------------------------------------------------------------


def layernorm_forward(x, gamma, beta, ln_param):
    """Layer normalization forward pass.

    Like batch norm, but each example is normalized with its own mean and (biased) variance over
    its D features, so train and test behave the same and no running averages are kept.

    Inputs:
    - x: (N, D) data.
    - gamma: (D,) scale.
    - beta: (D,) shift.
    - ln_param: dict with optional key eps (default 1e-5); other keys (such as a stray 'mode')
      are ignored.

    Returns ``(out, cache)``: out of shape (N, D) and whatever :func:`layernorm_backward` needs.
    """
    eps = ln_param.get("eps", 1e-5)
    out, cache = None, None
    ### BEGIN SOLUTION
    D = x.shape[1]
    mean = x.mean(axis=1, keepdims=True)
    xc = x - mean
    var = np.einsum("nd,nd->n", xc, xc)[:, None] / D
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = xc  # normalize in place: xc is not needed again (saves a full-size temporary)
    x_hat *= inv_std
    out = x_hat * gamma
    out += beta
    cache = (x_hat, inv_std, gamma)
    ### END SOLUTION
    return out, cache


def layernorm_backward(dout, cache):
    """Layer normalization backward pass.

    Inputs:
    - dout: (N, D) upstream gradient.
    - cache: from :func:`layernorm_forward`.

    Returns ``(dx, dgamma, dbeta)`` of shapes (N, D), (D,), (D,).
    """
    dx, dgamma, dbeta = None, None, None
    ### BEGIN SOLUTION
    x_hat, inv_std, gamma = cache
    D = dout.shape[1]
    dbeta = dout.sum(axis=0)
    dgamma = np.einsum("nd,nd->d", dout, x_hat)
    dx_hat = dout * gamma
    # The batch-norm closed form, with the roles of the two axes swapped:
    # dx = inv_std / D * (D * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat)), row by row,
    # computed in place in dx_hat's buffer to avoid four full-size temporaries.
    sum_dx_hat = dx_hat.sum(axis=1, keepdims=True)
    dot = np.einsum("nd,nd->n", dx_hat, x_hat)[:, None]
    dx = dx_hat
    dx *= D
    dx -= sum_dx_hat
    dx -= x_hat * dot
    dx *= inv_std / D
    ### END SOLUTION
    return dx, dgamma, dbeta


# --------------------------------------------------------------------------------------------------
# Dropout (given)
# --------------------------------------------------------------------------------------------------


def dropout_forward(x, dropout_param):
    """Inverted dropout forward pass.

    In train mode each unit is kept with probability p and scaled by 1/p, so that test mode is
    the identity and needs no rescaling.

    Inputs:
    - x: data of any shape.
    - dropout_param: dict with keys
      - p: probability of KEEPING each unit (as in CS231n; not the drop probability).
      - mode: 'train' or 'test'.
      - seed: optional; if given (and not None), ``np.random.seed(seed)`` is called first, so the
        same seed gives the same mask (used by gradient checks).

    The mask is drawn with ``np.random.rand``, from NumPy's global random state, exactly as in
    CS231n: ``np.random.seed(231)`` before a run reproduces its masks, and a seeded call leaves
    the global state where ``np.random.seed(seed)`` and that draw put it (CS231n's published
    numbers depend on this).

    Returns ``(out, cache)`` with out of x's shape and dtype; cache = (dropout_param, mask), mask
    of x's shape (None in test mode).
    """
    p, mode = dropout_param["p"], dropout_param["mode"]
    if not 0 < p <= 1:
        raise ValueError(f"dropout_forward: keep probability p must be in (0, 1], got {p!r}")
    if mode not in ("train", "test"):
        raise ValueError(f"dropout_forward: mode must be 'train' or 'test', got {mode!r}")
    if dropout_param.get("seed") is not None:
        np.random.seed(dropout_param["seed"])

    mask = None
    if mode == "train":
        mask = ((np.random.rand(*x.shape) < p) / p).astype(x.dtype, copy=False)
        out = x * mask
    else:
        out = x
    return out, (dropout_param, mask)


def dropout_backward(dout, cache):
    """Backward pass of :func:`dropout_forward`: the same mask scales the gradient."""
    dropout_param, mask = cache
    if dropout_param["mode"] == "train":
        return dout * mask
    return dout


# --------------------------------------------------------------------------------------------------
# Spatial batch normalization and group normalization (convolutional feature maps)
# --------------------------------------------------------------------------------------------------


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization for convolutional feature maps.

    Each channel is normalized over the batch and both spatial axes (N * H * W values), with the
    same bn_param contract as :func:`batchnorm_forward`. Hint: move the channel axis last and
    reshape to (N * H * W, C), then reuse the vanilla batch norm.

    Inputs:
    - x: (N, C, H, W) data.
    - gamma: (C,) scale.
    - beta: (C,) shift.
    - bn_param: as for :func:`batchnorm_forward`; running averages have shape (C,).

    Returns ``(out, cache)`` with out of shape (N, C, H, W).
    """
    out, cache = None, None
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    x_flat = x.transpose(0, 2, 3, 1).reshape(-1, C)
    out_flat, cache = batchnorm_forward(x_flat, gamma, beta, bn_param)
    out = out_flat.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    ### END SOLUTION
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    """Backward pass of :func:`spatial_batchnorm_forward`: its reshape, backwards. Bring dout
    to (N * H * W, C) the same way, reuse a vanilla batch-norm backward pass, and return dx to
    the (N, C, H, W) layout.

    Inputs: dout (N, C, H, W), the upstream gradient; cache, from the train-mode forward pass.

    Returns ``(dx, dgamma, dbeta)`` of shapes (N, C, H, W), (C,), (C,).
    """
    dx, dgamma, dbeta = None, None, None
    ### BEGIN SOLUTION
    N, C, H, W = dout.shape
    dout_flat = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    dx_flat, dgamma, dbeta = batchnorm_backward_alt(dout_flat, cache)
    dx = dx_flat.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    ### END SOLUTION
    return dx, dgamma, dbeta


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Group normalization forward pass.

    The C channels are split into G groups of C // G consecutive channels; each example is
    normalized with the mean and (biased) variance of each of its groups, over the group's
    channels and all spatial positions. Like layer norm, train and test behave the same.

    Inputs:
    - x: (N, C, H, W) data.
    - gamma: (1, C, 1, 1) per-channel scale.
    - beta: (1, C, 1, 1) per-channel shift.
    - G: number of groups; must divide C.
    - gn_param: dict with optional key eps (default 1e-5).

    Returns ``(out, cache)`` with out of shape (N, C, H, W).
    """
    N, C, H, W = x.shape
    if C % G != 0:
        raise ValueError(f"spatial_groupnorm_forward: G={G} groups do not divide C={C} channels")
    eps = gn_param.get("eps", 1e-5)
    out, cache = None, None
    ### BEGIN SOLUTION
    xg = x.reshape(N, G, -1)
    mean = xg.mean(axis=2, keepdims=True)
    xc = xg - mean
    var = np.einsum("ngm,ngm->ng", xc, xc)[:, :, None] / xg.shape[2]
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (xc * inv_std).reshape(N, C, H, W)
    out = gamma * x_hat + beta
    cache = (x_hat, inv_std, gamma, G)
    ### END SOLUTION
    return out, cache


def spatial_groupnorm_backward(dout, cache):
    """Backward pass of :func:`spatial_groupnorm_forward`: within each group, layer norm's
    backward pass over the group's C // G * H * W values. gamma and beta are per channel, so
    dgamma and dbeta sum over N, H and W.

    Inputs: dout (N, C, H, W), the upstream gradient; cache, from the forward pass.

    Returns ``(dx, dgamma, dbeta)`` of shapes (N, C, H, W), (1, C, 1, 1), (1, C, 1, 1).
    """
    dx, dgamma, dbeta = None, None, None
    ### BEGIN SOLUTION
    x_hat, inv_std, gamma, G = cache
    N, C, H, W = dout.shape
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3), keepdims=True)

    # Within each group this is the layer-norm closed form over M = C // G * H * W values.
    dx_hat = (dout * gamma).reshape(N, G, -1)
    x_hat_g = x_hat.reshape(N, G, -1)
    M = dx_hat.shape[2]
    dx = (inv_std / M) * (
        M * dx_hat
        - dx_hat.sum(axis=2, keepdims=True)
        - x_hat_g * np.einsum("ngm,ngm->ng", dx_hat, x_hat_g)[:, :, None]
    )
    dx = dx.reshape(N, C, H, W)
    ### END SOLUTION
    return dx, dgamma, dbeta
