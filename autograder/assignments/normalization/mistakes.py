"""Known wrong implementations, so that a failed check can name the likely mistake.

Each `Mistake` is a handful of small wrong functions (`autograder.assignments.normalization.wrong`:
a batch norm with the unbiased variance, an Adam that bumps ``t`` after using it, ...) that
replace the matching reference functions in a copy of the ``solutions`` package. Running a probe
(`autograder.assignments.normalization.inside.probes`) on that mistaken package gives the wrong
outputs for exactly the inputs the student's code saw; when the student's outputs match them
(and they differ from the reference), `recognise` names the mistake.

Everything here runs in the trusted parent, on ``solutions`` only; student code is never imported.
"""

from __future__ import annotations

import fnmatch
import functools
import importlib
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from autograder.assignments.normalization.inside import probes
from autograder.assignments.normalization.wrong import (
    adam_t_after_use,
    anr_forward,
    bn_dx_direct_only,
    bn_forward,
    dbeta_mean,
    gn_forward,
    keras_conversion,
    ln_forward,
    nn_gamma_regularized,
    nn_norm_grads_before_activation,
    regularized_norm_net,
    spatial_bn_forward,
)
from autograder.config import REPO_ROOT

#: Modules of the package a probe may use.
MODULES = ("layers", "layer_utils", "fc_net", "optim", "nn", "framework")


@functools.lru_cache(maxsize=1)
def solutions_package() -> types.SimpleNamespace:
    """The trusted reference package as the namespace probes take (``pkg.layers``, ...)."""
    try:
        modules = {m: importlib.import_module(f"solutions.{m}") for m in MODULES}
    except ModuleNotFoundError:
        sys.path.insert(0, str(REPO_ROOT))
        modules = {m: importlib.import_module(f"solutions.{m}") for m in MODULES}
    return types.SimpleNamespace(**modules)


# --------------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mistake:
    """One classic mistake.

    - key: short name, recorded as ``CheckResult.mistake``.
    - description: completes "This looks like ...".
    - hint: what to do instead.
    - outputs: for each probe the mistake shows in, the probe outputs (fnmatch patterns) that
      give it away.
    - overrides: ``overrides(sol)`` -> ``{module: {name: wrong object}}`` to put into a copy of
      the solutions package ``sol``.
    """

    key: str
    description: str
    hint: str
    outputs: Mapping[str, tuple[str, ...]]
    overrides: Callable[[types.SimpleNamespace], dict[str, dict[str, object]]]

    def message(self) -> str:
        return f"This looks like {self.description}: {self.hint}."


def _norm_forward_overrides(**slips):
    def overrides(sol):
        layers = dict(
            batchnorm_forward=bn_forward(**slips),
            layernorm_forward=ln_forward(**slips),
            spatial_groupnorm_forward=gn_forward(**slips),
        )
        layers["spatial_batchnorm_forward"] = spatial_bn_forward(layers["batchnorm_forward"])
        return {"layers": layers}

    return overrides


def _bn_mistake(key, description, hint, outputs, **slips):
    """A mistake of batchnorm_forward (`bn_forward` with ``slips``), and so of the spatial batch
    norm built on it, shown by the probe ``outputs``."""

    def overrides(sol):
        bn = bn_forward(**slips)
        return {"layers": {"batchnorm_forward": bn,
                           "spatial_batchnorm_forward": spatial_bn_forward(bn)}}

    return Mistake(key, description, hint, outputs, overrides)


def _keras_mistake(key, description, hint, output, **slip):
    """A mistake of keras_batchnorm_from_normlab (`keras_conversion` with ``slip``), shown by
    the probe output ``output``."""
    return Mistake(key, description, hint, {"keras_batchnorm": (output,)},
                   lambda sol: {"framework": {
                       "keras_batchnorm_from_normlab": keras_conversion(**slip)}})


_OUT = ("out",)
_RUNNING = ("running_mean", "running_var", "running_mean2", "running_var2")
_NORM_FORWARDS = {
    "batchnorm_forward_train": ("out", "out2", *_RUNNING),
    "spatial_batchnorm_forward_train": ("out", *_RUNNING),
    "layernorm_forward": _OUT,
    "spatial_groupnorm_forward": _OUT,
    "affine_norm_relu_forward": ("out", *_RUNNING),
}
#: Where a slip in the running averages shows: after each call of the train-mode probes.
_BN_RUNNING = {"batchnorm_forward_train": _RUNNING, "spatial_batchnorm_forward_train": _RUNNING}
_BN_BACKWARDS = ("batchnorm_backward", "batchnorm_backward_alt")

_LIST = [
    Mistake(
        "unbiased_variance",
        "the unbiased variance (ddof=1, dividing by N - 1)",
        "normalization uses the plain 1/N variance, np.var's default (ddof=0)",
        _NORM_FORWARDS,
        _norm_forward_overrides(ddof=1),
    ),
    Mistake(
        "eps_outside_sqrt",
        "eps added outside the square root, sqrt(var) + eps",
        "divide by np.sqrt(var + eps); the difference shows on features with a small variance",
        {k: v for k, v in _NORM_FORWARDS.items() if k != "affine_norm_relu_forward"},
        _norm_forward_overrides(eps_outside=True),
    ),
    _bn_mistake(
        "momentum_reversed",
        "momentum and 1 - momentum swapped in the running averages",
        "running = momentum * running + (1 - momentum) * batch statistic",
        _BN_RUNNING, momentum_reversed=True,
    ),
    _bn_mistake(
        "running_stats_not_written_back",
        "running averages that never reach bn_param (they keep their old values)",
        "assign the updated running_mean and running_var to the variables the given code "
        "stores into bn_param, or store them into bn_param yourself after any other update",
        _BN_RUNNING, write_back=False,
    ),
    _bn_mistake(
        "running_mean_keepdims",
        "a running_mean of shape (1, D): the batch mean was taken with keepdims=True",
        "take the mean over axis 0 without keepdims so running_mean keeps the shape (D,)",
        {"batchnorm_forward_train": ("running_mean", "running_mean2"),
         "spatial_batchnorm_forward_train": ("running_mean",)},
        keepdims=True,
    ),
    _bn_mistake(
        "test_mode_batch_statistics",
        "test mode normalizing with the minibatch's own mean and variance",
        "in test mode use bn_param's running_mean and running_var, and leave them unchanged",
        {"batchnorm_forward_test": _OUT}, test_uses_batch=True,
    ),
    Mistake(
        "layernorm_wrong_axis",
        "layer norm over the batch axis (each feature normalized, as in batch norm)",
        "layer norm normalizes each example (row) over its D features: axis=1, keepdims=True",
        {"layernorm_forward": ("out", "out_row"), "affine_norm_relu_forward": _OUT},
        lambda sol: {"layers": {"layernorm_forward": ln_forward(axis=0)}},
    ),
    Mistake(
        "spatial_reshape_without_transpose",
        "x reshaped straight from (N, C, H, W) to (N * H * W, C) without moving the channels last",
        "x.transpose(0, 2, 3, 1).reshape(-1, C) before the vanilla batch norm, and undo both "
        "(reshape(N, H, W, C).transpose(0, 3, 1, 2)) afterwards",
        {"spatial_batchnorm_forward_train": ("out", *_RUNNING)},
        lambda sol: {"layers": {"spatial_batchnorm_forward": spatial_bn_forward(
            sol.layers.batchnorm_forward, transpose=False)}},
    ),
    Mistake(
        "gamma_beta_regularized",
        "L2 regularization applied to gamma and beta",
        "only the weight matrices W{i} are regularized; grads['gamma{i}'] and grads['beta{i}'] "
        "are exactly what the normalization layer returns",
        {"fc_net": ("grad__gamma*", "grad__beta*")},
        lambda sol: {"fc_net": {"FullyConnectedNet": regularized_norm_net(
            sol.fc_net.FullyConnectedNet)}},
    ),
    Mistake(
        "adam_t_after_use",
        "Adam's step count t incremented after it is used",
        "increment t first (t = t + 1), then use it in the bias corrections 1 - beta ** t",
        {"adam": ("next_w", "next_w2")},
        lambda sol: {"optim": {"adam": adam_t_after_use(sol.optim.adam)}},
    ),
    Mistake(
        "dbeta_mean",
        "dbeta averaged over the batch instead of summed",
        "beta is added to every row of the output, so dbeta = dout.sum(axis=0)",
        {p: ("dbeta",) for p in (*_BN_BACKWARDS, "layernorm_backward")},
        lambda sol: {"layers": {
            name: dbeta_mean(getattr(sol.layers, name))
            for name in (*_BN_BACKWARDS, "layernorm_backward")}},
    ),
    Mistake(
        "bn_dx_direct_path_only",
        "a dx that follows only the direct path x -> x_hat",
        "x also reaches the output through the batch mean and the batch variance; each column "
        "of dx sums to zero",
        {p: ("dx",) for p in _BN_BACKWARDS},
        lambda sol: {"layers": {name: bn_dx_direct_only(getattr(sol.layers, name))
                                for name in _BN_BACKWARDS}},
    ),
    Mistake(
        "nn_grads_before_activation",
        "gamma and beta gradients computed from the gradient before it went back through the "
        "layer's fused ReLU",
        "go back through the activation first, da = self.activation_backward(dout), then take "
        "dx, dgamma and dbeta all from da: units the ReLU cut did not change the loss",
        {"nn_norm_backward": ("dgamma", "dbeta"),
         "nn_model": ("grad__*__gamma", "grad__*__beta")},
        lambda sol: {"nn": nn_norm_grads_before_activation(sol)},
    ),
    Mistake(
        "nn_gamma_regularized",
        "reg * gamma added to the gradient of gamma, a term the loss does not have",
        "only the W of the layers that have one are regularized: Model.backward adds "
        "self.reg * W to grads['W'] and nothing to gamma, beta or b",
        {"nn_model": ("grad__*__gamma",)},
        lambda sol: {"nn": {"Model": nn_gamma_regularized(sol.nn.Model)}},
    ),
    _keras_mistake(
        "keras_momentum_as_torch",
        "our momentum converted as for PyTorch (1 - momentum) before it went to Keras",
        "Keras's momentum weights the old moving average, as ours does (its default 0.99 is our "
        "0.99); only PyTorch's weights the new batch statistic. Pass our momentum unchanged",
        "momentum", torch_momentum=True,
    ),
    _keras_mistake(
        "keras_default_epsilon",
        "Keras's default epsilon, 1e-3, instead of ours",
        "pass epsilon=bn_param.get('eps', 1e-5): with Keras's 1e-3 a feature whose variance is "
        "near or below 1e-3 is normalized very differently",
        "epsilon", keras_epsilon=True,
    ),
    _keras_mistake(
        "keras_moving_variance_ones",
        "a moving variance that starts where Keras's does, at ones, for a bn_param that has no "
        "running_var yet",
        "our batchnorm_forward starts its running averages at zeros when bn_param has none; "
        "give Keras np.zeros(D) as moving_variance then",
        "moving_variance", start_at_ones=True,
    ),
]

#: Every known mistake by key.
MISTAKES: dict[str, Mistake] = {m.key: m for m in _LIST}


@functools.cache
def package(key: str) -> types.SimpleNamespace:
    """A copy of the solutions package with the wrong functions of mistake ``key`` put in."""
    sol = solutions_package()
    mods = {}
    overrides = MISTAKES[key].overrides(sol)
    for name in MODULES:
        module = types.SimpleNamespace(**{k: v for k, v in vars(getattr(sol, name)).items()
                                          if not k.startswith("__")})
        for attr, value in overrides.get(name, {}).items():
            setattr(module, attr, value)
        mods[name] = module
    if "layers" in overrides and "affine_norm_relu_forward" not in overrides.get(
            "layer_utils", {}):
        mods["layer_utils"].affine_norm_relu_forward = anr_forward(mods["layers"])
    return types.SimpleNamespace(**mods)


def applies(key: str, probe: str) -> bool:
    return probe in MISTAKES[key].outputs


def wrong_outputs(key: str, probe: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The outputs of ``probe`` on ``inputs`` if the code made mistake ``key``."""
    with np.errstate(all="ignore"):
        return probes.PROBES[probe](package(key), dict(inputs))


def same(got, expected, rtol: float = 1e-5) -> bool:
    """Whether two arrays agree: same shape, NaN/inf in the same places, finite values within
    ``rtol`` relative to the larger of the element and a small fraction of the array's scale."""
    if got is None or expected is None:
        return False
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape or got.dtype.kind not in "biuf":
        return False
    g, e = got.astype(np.float64), expected.astype(np.float64)
    finite = np.isfinite(e)
    if not np.array_equal(np.isfinite(g), finite):
        return False
    if not np.array_equal(g[~finite], e[~finite], equal_nan=True):
        return False
    if not finite.any():
        return True
    scale = float(np.max(np.abs(e[finite])))
    floor = max(1e-3 * scale, 1e-12)
    return bool(np.all(np.abs(g[finite] - e[finite]) <= rtol * np.maximum(np.abs(e[finite]),
                                                                             floor)))


def _keys(patterns, available):
    return sorted({k for k in available for p in patterns if fnmatch.fnmatchcase(k, p)})


def recognise(candidates, probe: str, inputs: Mapping[str, np.ndarray],
              student: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray],
              looked_at, rtol: float = 1e-5) -> Mistake | None:
    """The first mistake in ``candidates`` (keys) that explains ``student``'s outputs.

    A mistake explains them when, on the outputs it shows in (among ``looked_at``, the outputs
    the check compared), its wrong outputs differ from ``reference`` somewhere and the student's
    outputs match the wrong ones wherever they differ.
    """
    for key in candidates:
        mistake = MISTAKES[key]
        if probe not in mistake.outputs:
            continue
        keys = _keys(mistake.outputs[probe], set(looked_at) & set(reference))
        if not keys:
            continue
        wrong = wrong_outputs(key, probe, inputs)
        telling = [k for k in keys if k in wrong and not same(wrong[k], reference[k], rtol)]
        if telling and all(same(student.get(k), wrong[k], rtol) for k in telling):
            return mistake
    return None
