# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/selfcheck/conventions.py by `make stubs`; edit the solution.
"""Self-checks of the conversions to PyTorch's and Keras's batch-norm conventions (framework.py).

They compare with what the conversions must do, computed here from first principles: one
running-average step in either convention, and the unbiased variance of the data itself
(``np.var(x, ddof=1)``), never with stored answers.
"""

from __future__ import annotations

import numpy as np

from .core import Own, Step, task


def _close(a, b):
    return np.shape(a) == np.shape(b) and bool(np.allclose(a, b, rtol=1e-9, atol=1e-12))


@task("framework_conventions", "framework",
      owned=("torch_momentum_from_normlab", "torch_running_var"))
def _conventions_steps(context):
    F = context.modules.framework
    rng = np.random.default_rng(11)

    def momentum_update():
        for ours in (0.9, 0.99, 0.5, 0.0, 1.0):
            theirs = F.torch_momentum_from_normlab(ours)
            if np.ndim(theirs) != 0:
                return Own(f"torch_momentum_from_normlab({ours}) returned an array of shape "
                           f"{np.shape(theirs)}; a float was expected")
            old, batch = rng.normal(size=3), rng.normal(size=3)
            if _close((1 - theirs) * old + theirs * batch, ours * old + (1 - ours) * batch):
                continue
            hint = (": that is our momentum unchanged, but PyTorch's weights the NEW batch "
                    "statistic, ours the old running value" if np.isclose(theirs, ours) else "")
            return Own(f"torch_momentum_from_normlab({ours}) returned {theirs}; with it "
                       f"PyTorch's running average differs from ours{hint} (our 0.9 is "
                       f"PyTorch's 0.1)")
        return None

    def elementwise():
        many = np.array([[0.9, 0.5, 0.75], [0.0, 1.0, 0.125]])
        theirs = F.torch_momentum_from_normlab(many)
        if np.shape(theirs) != many.shape:
            return Own(f"torch_momentum_from_normlab on an array of shape {many.shape} "
                       f"returned shape {np.shape(theirs)}; it should work elementwise")
        for ours, got in zip(many.ravel(), np.ravel(theirs), strict=True):
            if not np.isclose(got, F.torch_momentum_from_normlab(float(ours)), rtol=1e-12):
                return Own("on an array the result differs from the one for each float")
        return None

    def running_var():
        for N, D, ours in ((2, 3, 0.9), (5, 4, 0.75), (16, 2, 0.0), (7, 1, 1.0)):
            x = rng.normal(rng.uniform(-2, 2, D), rng.uniform(0.5, 2, D), size=(N, D))
            old = rng.uniform(0.5, 2.0, D)
            var = x.var(axis=0)
            args = (old.copy(), var.copy())
            got = F.torch_running_var(args[0], args[1], N, ours)
            unbiased = x.var(axis=0, ddof=1)  # from the data, not from var
            want = ours * old + (1 - ours) * unbiased
            if not (np.array_equal(args[0], old) and np.array_equal(args[1], var)):
                return Own("torch_running_var modified its input arrays; compute a new array "
                           "instead")
            if _close(got, want):
                continue
            where = f"torch_running_var with N={N}, momentum={ours}"
            if got is None:
                return Own(f"{where} returned None: assign new_running_var before the return")
            if np.shape(got) != want.shape:
                return Own(f"{where} returned shape {np.shape(got)}, expected {want.shape}")
            slips = (
                (ours * old + (1 - ours) * var,
                 "averaged the biased variance (ours); PyTorch adds the unbiased one, which is "
                 "the biased one times N / (N - 1)"),
                (ours * old + (1 - ours) * var * (N - 1) / N,
                 "the factor is upside down: the unbiased variance is the larger one, "
                 "N / (N - 1) times the biased one"),
                ((1 - ours) * old + ours * unbiased,
                 "momentum is taken in PyTorch's convention here; the argument is OUR momentum "
                 "(it weights the old running value)"),
            )
            for value, slip in slips:
                if _close(got, value):
                    return Own(f"{where} {slip}" if slip.startswith("averaged")
                               else f"{where}: {slip}")
            return Own(f"{where} returned {np.round(np.asarray(got, dtype=float), 6)}, expected "
                       f"{np.round(want, 6)} (our momentum, the unbiased variance of the batch)")
        return None

    return [
        Step("torch_momentum_from_normlab: PyTorch's update with it is ours (0.9 -> 0.1)",
             momentum_update),
        Step("torch_momentum_from_normlab works elementwise on arrays", elementwise),
        Step("torch_running_var: our momentum, the unbiased variance (var * N / (N - 1)), "
             "inputs unchanged", running_var),
    ]


@task("keras_conventions", "framework", owned=("keras_batchnorm_from_normlab",))
def _keras_steps(context):
    F = context.modules.framework
    rng = np.random.default_rng(12)
    D = 4
    gamma, beta = rng.uniform(0.5, 2.0, D), rng.normal(0.0, 1.0, D)

    def call(bn_param):
        """(config, weights, problem): the function's answer, or a problem saying what is off."""
        before = {k: np.copy(v) for k, v in bn_param.items()}
        value = F.keras_batchnorm_from_normlab(gamma.copy(), beta.copy(), bn_param)
        if any(not np.array_equal(bn_param.get(k), v) for k, v in before.items()) or \
                set(bn_param) != set(before):
            return None, None, Own("keras_batchnorm_from_normlab modified bn_param; read it, "
                                   "and build new arrays for the weights")
        if not isinstance(value, tuple | list) or len(value) != 2:
            return None, None, Own("keras_batchnorm_from_normlab should return a pair (config, "
                                   f"weights), not {type(value).__name__}")
        config, weights = value
        if config is None or weights is None:
            return None, None, Own("keras_batchnorm_from_normlab returned None in its pair: "
                                   "assign config and weights before the return")
        if not isinstance(config, dict) or set(config) != {"momentum", "epsilon"}:
            keys = sorted(config) if isinstance(config, dict) else type(config).__name__
            return None, None, Own(f"the config should be a dict with exactly the keys "
                                   f"'momentum' and 'epsilon' (Keras's names), got {keys}")
        if not isinstance(weights, list | tuple) or len(weights) != 4 or \
                any(np.shape(w) != (D,) for w in weights):
            return None, None, Own("the weights should be a list of four (D,) arrays: [gamma, "
                                   "beta, moving_mean, moving_variance]")
        return config, [np.asarray(w, dtype=float) for w in weights], None

    def settings():
        for momentum, eps in ((0.9, 1e-5), (0.99, 1e-3), (0.75, 2e-4)):
            config, _, problem = call({"momentum": momentum, "eps": eps})
            if problem:
                return problem
            got_m, got_e = config["momentum"], config["epsilon"]
            if np.isclose(got_m, 1 - momentum) and not np.isclose(momentum, 0.5):
                return Own(f"momentum {momentum} became {got_m}: that is PyTorch's convention. "
                           f"Keras's momentum weights the old moving average, as ours does")
            if not np.isclose(got_m, momentum, rtol=1e-12):
                return Own(f"momentum {momentum} became {got_m}; Keras's means what ours means")
            if not np.isclose(got_e, eps, rtol=1e-12):
                hint = (" (Keras's default; pass ours)" if np.isclose(got_e, 1e-3) else "")
                return Own(f"eps {eps} became epsilon {got_e}{hint}")
        config, _, problem = call({})
        if problem:
            return problem
        if not (np.isclose(config["momentum"], 0.9) and np.isclose(config["epsilon"], 1e-5)):
            return Own(f"with an empty bn_param the config is {config}; our batchnorm_forward "
                       f"then uses momentum 0.9 and eps 1e-5, so Keras must get those")
        return None

    def weights():
        mean, var = rng.normal(0, 1, D), rng.uniform(0.5, 2.0, D)
        _, got, problem = call({"momentum": 0.9, "running_mean": mean, "running_var": var})
        if problem:
            return problem
        names = ("gamma", "beta", "moving_mean", "moving_variance")
        for i, (name, have, want) in enumerate(zip(names, got, (gamma, beta, mean, var),
                                                   strict=True)):
            if not np.allclose(have, want, rtol=1e-12, atol=1e-15):
                return Own(f"weights[{i}] should be {name} as it is (Keras's order is gamma, "
                           f"beta, moving_mean, moving_variance; the statistics are copied, not "
                           f"converted)")
        _, got, problem = call({"momentum": 0.9})
        if problem:
            return problem
        if not (np.allclose(got[2], 0) and np.allclose(got[3], 0)):
            return Own("with no running averages in bn_param, the moving averages must start "
                       "at zeros, where our batchnorm_forward starts them (Keras's own start "
                       "for the variance is ones)")
        return None

    return [
        Step("keras_batchnorm_from_normlab: Keras's momentum and epsilon mean ours (defaults "
             "0.9 and 1e-5 when bn_param has none)", settings),
        Step("keras_batchnorm_from_normlab: the four weights in Keras's order, running "
             "averages from zeros when bn_param has none, bn_param unchanged", weights),
    ]
