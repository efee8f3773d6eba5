# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/selfcheck/conventions.py by `make stubs`; edit the solution.
"""Self-checks of the conversions to PyTorch's batch-norm conventions (framework.py).

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
