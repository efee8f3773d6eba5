"""Numerical-gradient assertions shared by the layer and network tests.

The oracle is the centered difference of the forward pass (``eval_numerical_gradient_array``,
itself tested against closed forms in ``test_gradient_check.py``), evaluated in float64.
"""

import numpy as np

from solutions.gradient_check import check_gradient, eval_numerical_gradient_array


def assert_backward_matches_numeric(forward, backward, inputs, names, tol=1e-7, seed=0):
    """Check a layer's backward pass against numerical gradients of its forward pass.

    Inputs:
    - forward: callable, ``forward(*inputs) -> (out, cache)``.
    - backward: callable, ``backward(dout, cache) -> tuple`` of gradients, one per name.
    - inputs: list of the forward's positional arguments; the first ``len(names)`` of them are
      the arrays we differentiate with respect to (perturbed in place, then restored).
    - names: what each returned gradient is called (``"dx"``, ``"dgamma"``...), for messages.
    """
    out, cache = forward(*inputs)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    grads = backward(dout, cache)
    assert len(grads) == len(names), f"backward returned {len(grads)} arrays, wanted {names}"
    for i, (name, analytic) in enumerate(zip(names, grads, strict=True)):
        numeric = eval_numerical_gradient_array(lambda _: forward(*inputs)[0], inputs[i], dout)
        check_gradient(name, analytic, numeric, tol)


def norm_inputs(rng, shape, scale, shift, param_shape):
    """``(x, gamma, beta)`` for a normalization layer, drawn from ``rng`` in that order: x of
    ``shape`` as ``scale * N(0, 1) + shift``, gamma and beta N(0, 1) of ``param_shape``."""
    x = scale * rng.standard_normal(shape) + shift
    return x, rng.standard_normal(param_shape), rng.standard_normal(param_shape)


def assert_norm_backward_matches_numeric(forward, backward, x, gamma, beta, *params, tol=1e-6):
    """A normalization layer's ``backward(dout, cache) -> (dx, dgamma, dbeta)`` against the
    numerical gradients of ``forward(x, gamma, beta, *params)`` (``params``: its bn_param, or G
    and gn_param, passed on as they are)."""
    assert_backward_matches_numeric(forward, backward, [x, gamma, beta, *params],
                                    ["dx", "dgamma", "dbeta"], tol)
