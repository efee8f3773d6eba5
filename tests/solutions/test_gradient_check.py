"""Numerical gradients against closed forms, and the messages of check_gradient."""

import re
import warnings

import numpy as np
import pytest

from solutions.gradient_check import (
    check_gradient,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
    relative_errors,
)

pytestmark = pytest.mark.given


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# --- eval_numerical_gradient ---------------------------------------------------------------


def test_sum_of_squares(rng):
    x = rng.standard_normal((3, 4))
    grad = eval_numerical_gradient(lambda a: np.sum(a**2), x, verbose=False)
    assert grad.shape == x.shape
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-8, atol=1e-9)


def test_nonpolynomial_function(rng):
    x = rng.standard_normal((2, 3, 2))
    grad = eval_numerical_gradient(lambda a: np.sum(np.sin(a) * np.exp(a)), x, verbose=False)
    np.testing.assert_allclose(grad, np.exp(x) * (np.sin(x) + np.cos(x)), rtol=1e-7, atol=1e-9)


def test_scalar_of_matrix_product(rng):
    # f(W) = sum(C * (x @ W))  =>  df/dW = x.T @ C
    x, W, C = rng.standard_normal((5, 3)), rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    grad = eval_numerical_gradient(lambda w: np.sum(C * (x @ w)), W, verbose=False)
    np.testing.assert_allclose(grad, x.T @ C, rtol=1e-7, atol=1e-9)


def test_zero_dimensional_x():
    x = np.array(1.5)
    grad = eval_numerical_gradient(lambda a: float(a) ** 3, x, verbose=False)
    assert grad.shape == ()
    np.testing.assert_allclose(grad, 3 * 1.5**2, rtol=1e-8)


def test_f_sees_x_restored_between_probes_and_after(rng):
    x = rng.standard_normal((2, 3))
    original = x.copy()
    seen = []

    def f(a):
        seen.append(a.copy())
        return float(np.sum(a**2))

    eval_numerical_gradient(f, x, verbose=False, h=1e-5)
    np.testing.assert_array_equal(x, original)  # bit for bit
    assert len(seen) == 2 * x.size
    for call, a in enumerate(seen):
        changed = np.argwhere(a != original)
        assert len(changed) == 1, "each probe changes exactly one element"
        ix = tuple(changed[0])
        sign = 1 if call % 2 == 0 else -1
        np.testing.assert_allclose(a[ix] - original[ix], sign * 1e-5, rtol=1e-6)
    # every element is probed, in C order
    probed = [tuple(np.argwhere(a != original)[0]) for a in seen[::2]]
    assert probed == list(np.ndindex(x.shape))


def test_x_restored_when_f_raises():
    x = np.arange(4.0)
    original = x.copy()
    calls = []

    def f(a):
        calls.append(None)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return float(a.sum())

    with pytest.raises(RuntimeError, match="boom"):
        eval_numerical_gradient(f, x, verbose=False)
    np.testing.assert_array_equal(x, original)


def test_verbose_prints_every_index_compactly(capsys):
    x = np.arange(6.0).reshape(2, 3)
    eval_numerical_gradient(lambda a: np.sum(a**2), x)  # verbose is the default
    out = capsys.readouterr().out
    for ix in np.ndindex(x.shape):
        assert str(ix) in out
    assert "np.int64" not in out
    assert len(out.splitlines()) < x.size  # several entries per line
    assert all(len(line) <= 100 for line in out.splitlines())


def test_not_verbose_prints_nothing(capsys):
    eval_numerical_gradient(lambda a: np.sum(a**2), np.ones(5), verbose=False)
    assert capsys.readouterr().out == ""


# --- eval_numerical_gradient_array ---------------------------------------------------------


def test_array_gradient_of_matrix_product(rng):
    # out = x @ W with upstream dout: dx = dout @ W.T, dW = x.T @ dout
    x, W = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    dout = rng.standard_normal((4, 5))
    dx = eval_numerical_gradient_array(lambda a: a @ W, x, dout)
    dW = eval_numerical_gradient_array(lambda w: x @ w, W, dout)
    np.testing.assert_allclose(dx, dout @ W.T, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(dW, x.T @ dout, rtol=1e-7, atol=1e-9)


def test_array_gradient_elementwise(rng):
    x = rng.standard_normal((3, 2, 2))
    dout = rng.standard_normal((3, 2, 2))
    dx = eval_numerical_gradient_array(np.tanh, x, dout)
    np.testing.assert_allclose(dx, dout * (1 - np.tanh(x) ** 2), rtol=1e-7, atol=1e-9)


def test_array_gradient_copes_with_f_reusing_its_output_buffer(rng):
    buffer = np.empty(3)

    def f(a):
        np.multiply(a, 2.0, out=buffer)
        return buffer

    x, dout = rng.standard_normal(3), rng.standard_normal(3)
    dx = eval_numerical_gradient_array(f, x, dout)
    np.testing.assert_allclose(dx, 2 * dout, rtol=1e-8)


def test_array_gradient_shape_mismatch():
    with pytest.raises(ValueError, match=r"f\(x\) has shape \(3,\) but df has shape \(3, 1\)"):
        eval_numerical_gradient_array(lambda a: 2 * a, np.ones(3), np.ones((3, 1)))


# --- grad_check_sparse ---------------------------------------------------------------------


def test_grad_check_sparse(rng, capsys):
    W = rng.standard_normal((20, 30))
    original = W.copy()

    def f(w):
        return float(np.sum(np.sin(w)))

    good = grad_check_sparse(f, W, np.cos(W), num_checks=7, seed=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7
    assert all("numerical" in line and "relative error" in line for line in lines)
    assert good < 1e-7
    np.testing.assert_array_equal(W, original)

    bad = grad_check_sparse(f, W, np.cos(W) * 1.1, num_checks=7, seed=1, verbose=False)
    assert capsys.readouterr().out == ""
    np.testing.assert_allclose(bad, 0.1 / 2.1, rtol=1e-5)


def test_grad_check_sparse_seed_reproducible(rng, capsys):
    W = rng.standard_normal((50, 50))
    grad_check_sparse(lambda w: np.sum(w**2), W, 2 * W, num_checks=5, seed=3)
    first = capsys.readouterr().out
    grad_check_sparse(lambda w: np.sum(w**2), W, 2 * W, num_checks=5, seed=3)
    assert capsys.readouterr().out == first


# --- rel_error -----------------------------------------------------------------------------


def test_rel_error_basic_cases():
    assert rel_error(np.ones(3), np.ones(3)) == 0.0
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(1.0, -1.0) == 1.0
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.2])) == pytest.approx(0.2 / 4.2)
    # the largest element-wise error wins, not an average
    assert rel_error(np.array([1.0, 1.0, 1.0]), np.array([1.0, 1.0, 3.0])) == pytest.approx(0.5)
    # below the 1e-8 floor the denominator is clamped
    assert rel_error(1e-10, 0.0) == pytest.approx(1e-2)
    assert isinstance(rel_error(np.ones(2), np.ones(2)), float)


def test_relative_errors_element_by_element_with_a_floor():
    x, y = np.array([1.0, 0.0, 0.0]), np.array([3.0, 0.0, 1e-9])
    # 2 / 4; 0 / 1e-8; 1e-9 / 1e-8 (the default floor)
    np.testing.assert_allclose(relative_errors(x, y), [0.5, 0.0, 0.1], rtol=1e-12)
    # a floor of 1 (say, the gradient's scale) turns the tiny difference into a tiny error
    np.testing.assert_allclose(relative_errors(x, y, floor=1.0), [0.5, 0.0, 1e-9], rtol=1e-12)
    assert relative_errors(np.ones((2, 3)), 1.0).shape == (2, 3)


# --- check_gradient ------------------------------------------------------------------------


def test_check_gradient_passes_and_returns_error():
    a = np.array([1.0, 2.0, 3.0])
    assert check_gradient("dx", a, a) == 0.0
    err = check_gradient("dx", a, a * (1 + 1e-9), tol=1e-7)
    assert 0 < err < 1e-8


def test_check_gradient_failure_message_names_the_worst_element():
    analytic = np.array([0.5, 0.5, 0.5, 0.1234, 0.5])
    numeric = np.array([0.5, 0.5, 0.5, 0.2468, 0.5 + 1e-6])
    with pytest.raises(AssertionError) as info:
        check_gradient("dgamma", analytic, numeric, tol=1e-7)
    message = str(info.value)
    assert message.startswith("dgamma: worst element at index (3,)")
    assert "analytic 0.1234 vs numerical 0.2468" in message
    assert "rel. error 3.3e-01 > tol 1e-07" in message
    assert "2 of 5 elements above tol" in message
    assert message.endswith("shape (5,)")


def test_check_gradient_multidimensional_index_is_plain():
    analytic = np.zeros((3, 4))
    numeric = np.zeros((3, 4))
    numeric[1, 2] = 1e-3
    with pytest.raises(AssertionError, match=re.escape("dw: worst element at index (1, 2) ")):
        check_gradient("dw", analytic, numeric)


def test_check_gradient_shape_mismatch():
    with pytest.raises(AssertionError,
                       match=re.escape("dbeta: shape mismatch: analytic (5,) vs numerical (1, 5)")):
        check_gradient("dbeta", np.zeros(5), np.zeros((1, 5)))


def test_check_gradient_none():
    with pytest.raises(AssertionError, match="dx: the analytic gradient is None"):
        check_gradient("dx", None, np.zeros(3))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_check_gradient_does_not_pass_non_finite_values(bad):
    analytic = np.array([1.0, bad, 1.0])
    with pytest.raises(AssertionError, match=r"dx: element at index \(1,\) is not finite"):
        check_gradient("dx", analytic, np.ones(3))


def test_check_gradient_tolerance_is_inclusive_bound():
    a, n = np.array([1.0]), np.array([1.0 + 2e-4])
    err = rel_error(a, n)
    assert check_gradient("dx", a, n, tol=err) == err
    with pytest.raises(AssertionError):
        check_gradient("dx", a, n, tol=err / 2)


def test_check_gradient_treats_rounding_noise_around_zero_as_zero():
    # A bias followed by batch norm has gradient exactly 0; centered differences give noise.
    analytic = np.array([1.4e-17, 0.0, -2e-17, 0.5])
    numeric = np.array([3.9e-12, -2.1e-12, 0.0, 0.5 * (1 + 1e-9)])
    err = check_gradient("db", analytic, numeric, tol=1e-7)
    assert err == pytest.approx(rel_error(analytic[3], numeric[3]))
    with pytest.raises(AssertionError, match=r"db: worst element at index \(0,\)"):
        check_gradient("db", analytic, numeric, tol=1e-7, zero_tol=0.0)


@pytest.mark.parametrize(("analytic", "numeric"), [(0.0, 1e-3), (1e-3, 0.0), (0.0, 2e-9)])
def test_check_gradient_zero_tolerance_needs_both_values_small(analytic, numeric):
    with pytest.raises(AssertionError, match=re.escape("dx: worst element at index (0,)")):
        check_gradient("dx", np.array([analytic, 1.0]), np.array([numeric, 1.0]))


# --- dtype handling ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_warns_when_x_is_not_float64(dtype, capsys):
    x = np.ones(4, dtype=dtype)
    with pytest.warns(UserWarning, match="float64"):
        eval_numerical_gradient(lambda a: float(np.sum(a)), x, verbose=False)
    with pytest.warns(UserWarning, match="float64"):
        eval_numerical_gradient_array(lambda a: 2 * a, x, np.ones(4))
    with pytest.warns(UserWarning, match="float64"):
        grad_check_sparse(lambda a: float(np.sum(a)), x, np.ones(4), num_checks=2, verbose=False)


def test_warns_once_per_call_not_per_element():
    x = np.ones(10, dtype=np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        eval_numerical_gradient(lambda a: float(np.sum(a)), x, verbose=False)
    assert len(caught) == 1
    assert caught[0].filename == __file__  # points at the caller's line


def test_float64_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eval_numerical_gradient(lambda a: float(np.sum(a)), np.ones(3), verbose=False)
        eval_numerical_gradient_array(lambda a: 2 * a, np.ones(3), np.ones(3))


def test_integer_x_is_refused():
    with pytest.raises(TypeError, match="float"):
        eval_numerical_gradient(lambda a: float(np.sum(a)), np.arange(3), verbose=False)
