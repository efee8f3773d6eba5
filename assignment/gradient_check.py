# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/gradient_check.py by `make stubs`; edit the solution.
"""Numerical gradients and gradient comparison (given code: handed to students complete).

Centered differences, ``(f(x + h) - f(x - h)) / (2h)``, probed one element at a time. The probes
write into ``x`` in place and put the original value back after each one, so ``f`` always sees the
caller's ``x`` except at the probed element, and ``x`` is unchanged when the function returns.

Numerical gradients need float64: with float32 the rounding error of ``f`` divided by ``2h`` swamps
the difference. The functions here warn when ``x`` is not float64 and refuse integer arrays.

`check_gradient` is the comparison the tests and the autograder use: it raises an `AssertionError`
that names the array, the worst element and the tolerance.

Names and signatures follow CS231n assignment 2 so notebooks written against it run unchanged.
"""

import warnings

import numpy as np

__all__ = [
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "grad_check_sparse",
    "rel_error",
    "relative_errors",
    "check_gradient",
]

_PRINT_WIDTH = 100


def _check_probe_dtype(x, func_name):
    """Refuse non-float ``x`` and warn when it is a float narrower than float64."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{func_name}: x must be a NumPy array (it is probed in place), "
                        f"got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{func_name}: x has dtype {x.dtype}; numerical gradients need a float "
                        f"array, use x.astype(np.float64)")
    if x.dtype != np.float64:
        warnings.warn(
            f"{func_name}: x has dtype {x.dtype}; numerical gradients are inaccurate below "
            f"float64 precision, use x.astype(np.float64)",
            UserWarning,
            stacklevel=3,
        )


def _index_str(ix):
    """``(np.int64(1), np.int64(2))`` -> ``"(1, 2)"``."""
    return str(tuple(int(i) for i in ix))


def _centered_difference(f, x, ix, h):
    """Return ``(f(x + h e_ix), f(x - h e_ix))``; ``x[ix]`` is restored even if ``f`` raises."""
    oldval = x[ix]
    try:
        x[ix] = oldval + h
        fxph = f(x)
        if isinstance(fxph, np.ndarray):
            fxph = fxph.copy()  # f may return a view of a buffer it reuses
        x[ix] = oldval - h
        fxmh = f(x)
    finally:
        x[ix] = oldval
    return fxph, fxmh


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Numerical gradient of a scalar function ``f`` at ``x`` by centered differences.

    Args:
        f: function taking an array shaped like ``x`` and returning a scalar.
        x: float array of any shape, the point at which to evaluate the gradient. Probed in
            place and restored.
        verbose: print every ``index gradient`` pair as it is computed (several per line).
        h: half-width of the difference.

    Returns:
        grad: array shaped like ``x``, ``grad[i] ~ df/dx[i]``.
    """
    _check_probe_dtype(x, "eval_numerical_gradient")
    grad = np.zeros_like(x)
    line = ""
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        ix = it.multi_index
        fxph, fxmh = _centered_difference(f, x, ix, h)
        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            entry = f"{_index_str(ix)} {grad[ix]:.6g}"
            if line and len(line) + 3 + len(entry) > _PRINT_WIDTH:
                print(line)
                line = ""
            line = f"{line}   {entry}" if line else entry
        it.iternext()
    if verbose and line:
        print(line)
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numerical gradient of ``sum(f(x) * df)`` with respect to ``x``.

    This is the backward pass of an array-valued function: given the upstream gradient ``df`` of
    some loss with respect to ``f(x)``, it returns the gradient of that loss with respect to ``x``.

    Args:
        f: function taking an array shaped like ``x`` and returning an array shaped like ``df``.
        x: float array of any shape, probed in place and restored.
        df: upstream gradient, same shape as ``f(x)``.
        h: half-width of the difference.

    Returns:
        grad: array shaped like ``x``,
        ``grad[i] = sum((f(x + h e_i) - f(x - h e_i)) * df) / (2h)``.
    """
    _check_probe_dtype(x, "eval_numerical_gradient_array")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        ix = it.multi_index
        pos, neg = _centered_difference(f, x, ix, h)
        if np.shape(pos) != np.shape(df):
            raise ValueError(f"eval_numerical_gradient_array: f(x) has shape {np.shape(pos)} "
                             f"but df has shape {np.shape(df)}")
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=None, *, verbose=True):
    """Compare ``analytic_grad`` with centered differences at a few random elements of ``x``.

    Cheaper than a full numerical gradient for large ``x`` (e.g. a weight matrix).

    Args:
        f: function taking an array shaped like ``x`` and returning a scalar.
        x: float array of any shape, probed in place and restored.
        analytic_grad: array shaped like ``x``, the gradient to check.
        num_checks: how many random elements to probe (drawn with replacement).
        h: half-width of the difference.
        seed: seed for the choice of elements (``None``: fresh randomness).
        verbose: print one line per probe: numerical, analytic, relative error.

    Returns:
        The largest relative error ``|num - ana| / max(1e-8, |num| + |ana|)`` over the probes.
    """
    _check_probe_dtype(x, "grad_check_sparse")
    if np.shape(analytic_grad) != x.shape:
        raise ValueError(f"grad_check_sparse: analytic_grad has shape {np.shape(analytic_grad)} "
                         f"but x has shape {x.shape}")
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(num_checks):
        ix = tuple(int(rng.integers(n)) for n in x.shape)
        fxph, fxmh = _centered_difference(f, x, ix, h)
        numerical = float((fxph - fxmh) / (2 * h))
        analytic = float(np.asarray(analytic_grad)[ix])
        err = float(relative_errors(numerical, analytic))
        worst = max(worst, err)
        if verbose:
            print(f"{_index_str(ix)} numerical: {numerical:.6g} analytic: {analytic:.6g}, "
                  f"relative error: {err:.2e}")
    return worst


def relative_errors(x, y, floor=1e-8):
    """Element-wise relative errors ``|x - y| / max(floor, |x| + |y|)``: the one definition of a
    relative error in the kit (`rel_error`, `check_gradient`, `grad_check_sparse` and the
    self-checks use it).

    Args:
        x, y: arrays of the same (or broadcastable) shape, or scalars.
        floor: the smallest denominator, so that two values that are both about zero do not make
            a large error out of rounding noise (pass a multiple of the gradient's scale).

    Returns:
        A float64 array of the broadcast shape, each element in ``[0, 1]`` (``nan`` where either
        input is ``nan``).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return np.abs(x - y) / np.maximum(floor, np.abs(x) + np.abs(y))


def rel_error(x, y):
    """Largest element-wise relative error ``|x - y| / max(1e-8, |x| + |y|)``.

    Args:
        x, y: arrays of the same (or broadcastable) shape, or scalars.

    Returns:
        A Python float in ``[0, 1]`` (``nan`` if either input holds a ``nan``).
    """
    return float(np.max(relative_errors(x, y)))


def check_gradient(name, analytic, numeric, tol=1e-7, zero_tol=1e-9):
    """Assert that an analytic gradient matches a numerical one element by element.

    The error of element ``i`` is ``|analytic[i] - numeric[i]| / max(1e-8, |analytic[i]| +
    |numeric[i]|)``, the same measure as `rel_error`, except that an element where *both* values
    are at most ``zero_tol`` in magnitude counts as a match (error 0). A relative error means
    nothing there: a gradient that is exactly zero (a bias followed by batch norm) comes out of
    centered differences as rounding noise, about ``1e-16 * |f| / h``, so ``1e-17`` vs ``4e-12``
    would otherwise be a "relative error" of ``4e-4``.

    Args:
        name: what the array is called in the assignment (``"dgamma"``), used in the message.
        analytic: array, the gradient computed by the backward pass.
        numeric: array of the same shape, e.g. from `eval_numerical_gradient_array`.
        tol: largest relative error accepted.
        zero_tol: magnitude below which two values both count as zero; raise it if ``f`` is
            large (its rounding noise grows with ``|f|``), pass 0 for the plain `rel_error` test.

    Returns:
        The largest relative error over the elements not matched as zeros (a Python float), so
        notebooks can print it.

    Raises:
        AssertionError: if ``analytic`` is ``None``, the shapes differ, an element is ``nan`` or
            infinite, or the largest relative error exceeds ``tol``. The message names the array,
            the worst element's index, both values there, the error, the tolerance and the shape,
            e.g. ``dgamma: worst element at index (3,) analytic 0.1234 vs numerical 0.2468
            (rel. error 3.3e-01 > tol 1e-07); 1 of 5 elements above tol; shape (5,)``.
    """
    if analytic is None:
        raise AssertionError(f"{name}: the analytic gradient is None (not computed yet?)")
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise AssertionError(f"{name}: shape mismatch: analytic {analytic.shape} vs numerical "
                             f"{numeric.shape}")
    if analytic.size == 0:
        return 0.0

    with np.errstate(invalid="ignore"):
        errors = relative_errors(analytic, numeric)
    errors[(np.abs(analytic) <= zero_tol) & (np.abs(numeric) <= zero_tol)] = 0.0
    not_finite = ~(np.isfinite(analytic) & np.isfinite(numeric))
    if not_finite.any():
        ix = np.unravel_index(int(np.argmax(not_finite)), analytic.shape)
        raise AssertionError(f"{name}: element at index {_index_str(ix)} is not finite: analytic "
                             f"{analytic[ix]:.6g} vs numerical {numeric[ix]:.6g}; "
                             f"{int(np.count_nonzero(not_finite))} of {analytic.size} elements "
                             f"not finite; shape {analytic.shape}")
    ix = np.unravel_index(int(np.argmax(errors)), analytic.shape)
    worst = float(errors[ix])
    if worst <= tol:
        return worst
    n_bad = int(np.count_nonzero(errors > tol))
    raise AssertionError(f"{name}: worst element at index {_index_str(ix)} analytic "
                         f"{analytic[ix]:.6g} vs numerical {numeric[ix]:.6g} (rel. error "
                         f"{worst:.1e} > tol {tol:g}); {n_bad} of {analytic.size} elements above "
                         f"tol; shape {analytic.shape}")
