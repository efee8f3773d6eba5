"""Update rules in solutions.optim against a scalar oracle written from the published formulas."""

import math

import numpy as np
import pytest

from solutions import optim

pytestmark = pytest.mark.given

RULES = ["sgd", "sgd_momentum", "rmsprop", "adam"]

DEFAULTS = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "t": 0},
}

STATE_KEYS = {"sgd": [], "sgd_momentum": ["velocity"], "rmsprop": ["cache"], "adam": ["m", "v"]}


def scalar_oracle(rule, w, dws, hp):
    """Apply `rule` element by element with Python floats; return the weights after each step.

    w: float list; dws: list of float lists (one gradient per step); hp: hyperparameters.
    """
    w = list(w)
    state = [{"v": 0.0, "cache": 0.0, "m": 0.0, "s": 0.0} for _ in w]
    history = []
    for step, dw in enumerate(dws, start=1):
        for i, g in enumerate(dw):
            st = state[i]
            lr = hp["learning_rate"]
            if rule == "sgd":
                w[i] -= lr * g
            elif rule == "sgd_momentum":
                st["v"] = hp["momentum"] * st["v"] - lr * g
                w[i] += st["v"]
            elif rule == "rmsprop":
                st["cache"] = hp["decay_rate"] * st["cache"] + (1 - hp["decay_rate"]) * g * g
                w[i] -= lr * g / (math.sqrt(st["cache"]) + hp["epsilon"])
            elif rule == "adam":
                b1, b2 = hp["beta1"], hp["beta2"]
                st["m"] = b1 * st["m"] + (1 - b1) * g
                st["s"] = b2 * st["s"] + (1 - b2) * g * g
                m_hat = st["m"] / (1 - b1**step)
                s_hat = st["s"] / (1 - b2**step)
                w[i] -= lr * m_hat / (math.sqrt(s_hat) + hp["epsilon"])
        history.append(list(w))
    return history


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("custom", [False, True], ids=["defaults", "custom-hp"])
def test_matches_scalar_oracle_over_several_steps(rule, custom):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 4))
    dws = [rng.standard_normal((3, 4)) * 10.0**k for k in (-2, 0, 1, -1, 0)]
    hp = dict(DEFAULTS[rule])
    config = None
    if custom:
        overrides = {"learning_rate": 0.05, "momentum": 0.5, "decay_rate": 0.9, "beta1": 0.8,
                     "beta2": 0.95, "epsilon": 1e-6}
        hp.update({k: v for k, v in overrides.items() if k in hp})
        config = {k: v for k, v in hp.items() if k != "t"}

    expected = scalar_oracle(rule, w0.ravel().tolist(), [dw.ravel().tolist() for dw in dws], hp)

    update = getattr(optim, rule)
    w = w0.copy()
    for dw, want in zip(dws, expected, strict=True):
        w, config = update(w, dw, config)
        np.testing.assert_allclose(w.ravel(), want, rtol=1e-12, atol=1e-14)
    for key, value in hp.items():
        if key != "t":
            assert config[key] == value


@pytest.mark.parametrize("rule", RULES)
def test_defaults_filled_in_and_user_values_kept(rule):
    w = np.ones(3)
    dw = np.full(3, 0.5)
    _, config = getattr(optim, rule)(w, dw)
    for key, value in DEFAULTS[rule].items():
        if key == "t":
            assert config["t"] == 1  # one step taken
        else:
            assert config[key] == value, key
    for key in STATE_KEYS[rule]:
        assert config[key].shape == w.shape

    mine = {"learning_rate": 0.123}
    _, returned = getattr(optim, rule)(w, dw, mine)
    assert returned is mine
    assert mine["learning_rate"] == 0.123


def test_sgd_momentum_constant_gradient_closed_form():
    # With a constant gradient g the velocity after k steps is -lr * g * (1 - mu^k) / (1 - mu),
    # so w_k = w_0 - lr * g * sum_{j=1..k} (1 - mu^j) / (1 - mu).
    lr, mu, g = 0.1, 0.9, np.array([1.0, -2.0, 0.25])
    w, config = np.zeros(3), {"learning_rate": lr}
    for k in range(1, 8):
        w, config = optim.sgd_momentum(w, g, config)
        total = sum((1 - mu**j) / (1 - mu) for j in range(1, k + 1))
        np.testing.assert_allclose(w, -lr * g * total, rtol=1e-13)
        np.testing.assert_allclose(config["velocity"], -lr * g * (1 - mu**k) / (1 - mu),
                                   rtol=1e-13)


def test_adam_first_step_moves_each_weight_by_lr_against_gradient_sign():
    rng = np.random.default_rng(1)
    w = rng.standard_normal(50)
    # magnitudes from 1e-3 to 1e3: the first Adam step does not depend on them
    dw = rng.choice([-1.0, 1.0], size=50) * 10.0 ** rng.uniform(-3, 3, size=50)
    next_w, config = optim.adam(w, dw, {"learning_rate": 0.01})
    np.testing.assert_allclose(next_w - w, -0.01 * np.sign(dw), rtol=1e-4)
    assert config["t"] == 1


def test_adam_increments_t_before_bias_correction():
    w, dw = np.array([1.0]), np.array([3.0])
    config = None
    for expected_t in (1, 2, 3):
        w, config = optim.adam(w, dw, config)
        assert config["t"] == expected_t
    # Second step from a hand-made state: with t incremented to 2 before use,
    # m_hat = m / (1 - b1^2) and v_hat = v / (1 - b2^2).
    m, v = np.array([0.5]), np.array([0.2])
    w0, g = np.array([0.0]), np.array([1.0])
    next_w, config = optim.adam(w0, g, {"m": m, "v": v, "t": 1})
    m2, v2 = 0.9 * 0.5 + 0.1 * 1.0, 0.999 * 0.2 + 0.001 * 1.0
    want = -1e-3 * (m2 / (1 - 0.9**2)) / (math.sqrt(v2 / (1 - 0.999**2)) + 1e-8)
    np.testing.assert_allclose(next_w, [want], rtol=1e-12)
    assert config["t"] == 2


@pytest.mark.parametrize("rule", RULES)
def test_float32_stays_float32(rule):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((4, 2)).astype(np.float32)
    config = None
    for _ in range(3):
        dw = rng.standard_normal((4, 2)).astype(np.float32)
        w, config = getattr(optim, rule)(w, dw, config)
        assert w.dtype == np.float32
        for key in STATE_KEYS[rule]:
            assert config[key].dtype == np.float32, key


@pytest.mark.parametrize("rule", RULES)
def test_inputs_not_modified(rule):
    w = np.linspace(-1, 1, 6).reshape(2, 3)
    dw = np.linspace(2, -2, 6).reshape(2, 3)
    w_before, dw_before = w.copy(), dw.copy()
    next_w, _ = getattr(optim, rule)(w, dw)
    np.testing.assert_array_equal(w, w_before)
    np.testing.assert_array_equal(dw, dw_before)
    assert next_w is not w
    assert not np.array_equal(next_w, w)
