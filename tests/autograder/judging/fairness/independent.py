"""An implementation of every graded task that is NOT the reference, and single-bug variants of it.

Written from the docstrings of ``assignment/`` and the math, without looking at ``solutions/``:
the backward passes use other (equivalent) formulas than the docstrings suggest, the caches hold
other things, variances are computed by hand. It is the raw material of the fairness measurement
(issue 10, item 5): a grader that charges a bug once, at its source, must give the clean build
full marks and charge each variant's loss to the task holding the bug.

Stored compactly: `REGIONS` maps each task key of ``autograder/release.toml`` to the code of its
stubbed regions, in file order (the code that replaces each ``raise NotImplementedError(...)``
line of the stub, unindented). `build_submission` copies ``assignment/`` and fills it in; with a
bug name it first applies that bug's one small textual change (`BUGS`).
"""

from __future__ import annotations

import re
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

from autograder.config import REPO_ROOT

STUBS = REPO_ROOT / "assignment"

# ------------------------------------------------------------------------------------------------
# The clean implementation: task key -> the code of each stubbed region, in file order
# ------------------------------------------------------------------------------------------------

_BN_TRAIN = """\
mu = np.sum(x, axis=0) / N                      # (D,)
xc = x - mu                                     # (N, D)
var = np.sum(xc ** 2, axis=0) / N               # (D,), biased
std = np.sqrt(var + eps)                        # (D,)
x_hat = xc / std                                # (N, D)
out = gamma * x_hat + beta
running_mean = momentum * running_mean + (1 - momentum) * mu
running_var = momentum * running_var + (1 - momentum) * var
cache = {"x_hat": x_hat, "xc": xc, "std": std, "gamma": gamma}
"""

_BN_TEST = """\
x_hat = (x - running_mean) / np.sqrt(running_var + eps)
out = gamma * x_hat + beta
"""

# The computation graph, node by node: x -> xc = x - mu -> var -> std -> x_hat = xc / std.
_BN_BACKWARD = """\
x_hat, xc, std, gamma = cache["x_hat"], cache["xc"], cache["std"], cache["gamma"]
N = dout.shape[0]
dbeta = dout.sum(axis=0)
dgamma = (dout * x_hat).sum(axis=0)
dx_hat = dout * gamma                           # (N, D)
dxc = dx_hat / std                              # through x_hat = xc / std, xc's branch
dstd = -(dx_hat * xc).sum(axis=0) / std ** 2    # (D,)
dvar = dstd / (2.0 * std)                       # std = sqrt(var + eps)
dxc = dxc + 2.0 * xc * dvar / N                 # var = sum(xc ** 2) / N
dmu = -dxc.sum(axis=0)                          # xc = x - mu
dx = dxc + dmu / N                              # mu = sum(x) / N
"""

# Closed form through the gradient with respect to x_hat (not the docstring's arrangement).
_BN_BACKWARD_ALT = """\
x_hat, std, gamma = cache["x_hat"], cache["std"], cache["gamma"]
dbeta = dout.sum(axis=0)
dgamma = (dout * x_hat).sum(axis=0)
g = dout * gamma
dx = (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0)) / std
"""

_LN_FORWARD = """\
mu = x.mean(axis=1, keepdims=True)              # (N, 1)
xc = x - mu
var = (xc * xc).mean(axis=1, keepdims=True)     # (N, 1), biased
inv_std = 1.0 / np.sqrt(var + eps)              # (N, 1)
x_hat = xc * inv_std                            # (N, D)
out = x_hat * gamma + beta
cache = (x_hat, inv_std, gamma)
"""

_LN_BACKWARD = """\
x_hat, inv_std, gamma = cache
dbeta = np.sum(dout, axis=0)
dgamma = np.sum(dout * x_hat, axis=0)
g = dout * gamma                                # (N, D)
dx = inv_std * (g - g.mean(axis=1, keepdims=True)
                - x_hat * (g * x_hat).mean(axis=1, keepdims=True))
"""

_SBN_FORWARD = """\
N, C, H, W = x.shape
x_rows = np.moveaxis(x, 1, -1).reshape(-1, C)   # (N * H * W, C)
out_rows, bn_cache = batchnorm_forward(x_rows, gamma, beta, bn_param)
out = np.moveaxis(out_rows.reshape(N, H, W, C), -1, 1)
cache = (bn_cache, x.shape)
"""

_SBN_BACKWARD = """\
bn_cache, (N, C, H, W) = cache
dout_rows = np.moveaxis(dout, 1, -1).reshape(-1, C)
dx_rows, dgamma, dbeta = batchnorm_backward(dout_rows, bn_cache)
dx = np.moveaxis(dx_rows.reshape(N, H, W, C), -1, 1)
"""

# Groups of C // G consecutive channels: (N, C, H, W) -> (N, G, C // G * H * W).
_GN_FORWARD = """\
xg = x.reshape(N, G, -1)
xc = xg - xg.mean(axis=2, keepdims=True)
var = np.mean(xc ** 2, axis=2, keepdims=True)   # (N, G, 1), biased
inv_std = 1.0 / np.sqrt(var + eps)
x_hat_g = xc * inv_std                          # (N, G, M)
out = gamma * x_hat_g.reshape(x.shape) + beta
cache = (x_hat_g, inv_std, gamma, x.shape)
"""

_GN_BACKWARD = """\
x_hat_g, inv_std, gamma, shape = cache
dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
dgamma = (dout * x_hat_g.reshape(shape)).sum(axis=(0, 2, 3), keepdims=True)
g = (dout * gamma).reshape(x_hat_g.shape)
dxg = inv_std * (g - g.mean(axis=2, keepdims=True)
                 - x_hat_g * (g * x_hat_g).mean(axis=2, keepdims=True))
dx = dxg.reshape(shape)
"""

_ANR_FORWARD = """\
a, fc_cache = affine_forward(x, w, b)
norm_forward = batchnorm_forward if normalization == "batchnorm" else layernorm_forward
z, norm_cache = norm_forward(a, gamma, beta, norm_param)
out, relu_cache = relu_forward(z)
cache = (normalization, fc_cache, norm_cache, relu_cache)
"""

_ANR_BACKWARD = """\
normalization, fc_cache, norm_cache, relu_cache = cache
norm_backward = batchnorm_backward_alt if normalization == "batchnorm" else layernorm_backward
da, dgamma, dbeta = norm_backward(relu_backward(dout, relu_cache), norm_cache)
dx, dw, db = affine_backward(da, fc_cache)
"""

_FC_INIT = """\
self.params[f"gamma{i}"] = np.ones(d_out)
self.params[f"beta{i}"] = np.zeros(d_out)
"""

_FC_LOSS_FORWARD = """\
h, cache = affine_norm_relu_forward(h, W, b, self.params[f"gamma{i}"],
                                    self.params[f"beta{i}"], self.bn_params[i - 1],
                                    self.normalization)
"""

_FC_LOSS_BACKWARD = """\
dh, dW, db, dgamma, dbeta = affine_norm_relu_backward(dh, cache)
grads[f"gamma{i}"] = dgamma
grads[f"beta{i}"] = dbeta
"""


def _nn_forward(norm: str, param: str) -> str:
    """The forward of nn.BatchNorm / nn.LayerNorm: ``norm`` is the layers function, ``param``
    its parameter dict attribute."""
    mode = f'self.{param}["mode"] = mode\n' if param == "bn_param" else ""
    return (f'{mode}a, self.cache = {norm}(x, self.params["gamma"], self.params["beta"], '
            f'self.{param})\nout = self.activation_forward(a)\n')


def _nn_backward(norm: str) -> str:
    return (f"da = self.activation_backward(dout)\n"
            f"dx, dgamma, dbeta = {norm}(da, self.cache)\n"
            f'self.grads["gamma"], self.grads["beta"] = dgamma, dbeta\n')


_MODEL_LOSS = """\
squares = 0.0
for layer in self.layers.values():
    if "W" in layer.params:
        squares += float(np.sum(layer.params["W"] ** 2))
loss = float(loss) + 0.5 * reg * squares
"""

_MODEL_BACKWARD = """\
for layer in reversed(list(self.layers.values())):
    dout = layer.backward(dout)
    if "W" in layer.params:
        layer.grads["W"] = layer.grads["W"] + self.reg * layer.params["W"]
"""

# Keras's layer keeps our momentum convention (the weight of the old moving average) and the
# biased variance, so only the names, the defaults and the weight order change. Each missing
# bn_param key is given our default (momentum 0.9, eps 1e-5, zeros for the running averages).
_KERAS_CONVERSION = """\
D = len(gamma)
settings = {"momentum": 0.9, "eps": 1e-5}
settings.update({k: bn_param[k] for k in ("momentum", "eps") if k in bn_param})
config = {"momentum": float(settings["momentum"]), "epsilon": float(settings["eps"])}
moving = [np.array(bn_param[k], dtype=np.float64, copy=True) if k in bn_param
          else np.zeros(D) for k in ("running_mean", "running_var")]
weights = [np.array(gamma, dtype=np.float64), np.array(beta, dtype=np.float64)] + moving
"""

#: release task key -> the code of each of its stubbed regions, in file order
REGIONS: dict[str, list[str]] = {
    "layers.batchnorm_forward": [_BN_TRAIN, _BN_TEST],
    "layers.batchnorm_backward": [_BN_BACKWARD],
    "layers.batchnorm_backward_alt": [_BN_BACKWARD_ALT],
    "layers.layernorm_forward": [_LN_FORWARD],
    "layers.layernorm_backward": [_LN_BACKWARD],
    "layers.spatial_batchnorm_forward": [_SBN_FORWARD],
    "layers.spatial_batchnorm_backward": [_SBN_BACKWARD],
    "layers.spatial_groupnorm_forward": [_GN_FORWARD],
    "layers.spatial_groupnorm_backward": [_GN_BACKWARD],
    "layer_utils.affine_norm_relu_forward": [_ANR_FORWARD],
    "layer_utils.affine_norm_relu_backward": [_ANR_BACKWARD],
    "fc_net.FullyConnectedNet.__init__:normalization": [_FC_INIT],
    "fc_net.FullyConnectedNet.loss:normalization": [_FC_LOSS_FORWARD, _FC_LOSS_BACKWARD],
    "nn.BatchNorm.forward": [_nn_forward("batchnorm_forward", "bn_param")],
    "nn.BatchNorm.backward": [_nn_backward("batchnorm_backward_alt")],
    "nn.LayerNorm.forward": [_nn_forward("layernorm_forward", "ln_param")],
    "nn.LayerNorm.backward": [_nn_backward("layernorm_backward")],
    "nn.Model.calculate_loss": [_MODEL_LOSS],
    "nn.Model.backward": [_MODEL_BACKWARD],
    "framework.torch_momentum_from_normlab": ["return 1.0 - momentum\n"],
    "framework.torch_running_var": [
        "unbiased_var = var * (N / (N - 1.0))\n"
        "new_running_var = momentum * running_var + (1.0 - momentum) * unbiased_var\n"],
    "framework.keras_batchnorm_from_normlab": [_KERAS_CONVERSION],
}


def task_of(key: str) -> str:
    """The task name a `CheckResult` reports for a release key:
    ``"fc_net.FullyConnectedNet.loss:normalization"`` -> ``"FullyConnectedNet.loss"``."""
    return key.split(":", 1)[0].split(".", 1)[1]


# ------------------------------------------------------------------------------------------------
# Single-bug variants
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bug:
    """One small textual change: ``old`` -> ``new`` in region ``region`` of task ``key`` (or, with
    ``region=None``, in the given code of the file holding ``key``). ``old`` occurs exactly once
    there. ``classic``: a mistake catalogues name (False: one that no catalogue knows)."""

    name: str
    key: str
    old: str
    new: str
    region: int | None = 0
    classic: bool = True

    @property
    def task(self) -> str:
        return task_of(self.key)


_BN, _LN = "layers.batchnorm_forward", "layers.layernorm_forward"
_RUNNING = ("running_mean = momentum * running_mean + (1 - momentum) * mu\n"
            "running_var = momentum * running_var + (1 - momentum) * var\n")

BUGS: dict[str, Bug] = {b.name: b for b in [
    # Classic mistakes
    Bug("unbiased_variance", _BN, "/ N               # (D,), biased", "/ (N - 1)"),
    Bug("eps_outside_sqrt", _BN, "std = np.sqrt(var + eps)", "std = np.sqrt(var) + eps"),
    Bug("momentum_reversed", _BN, _RUNNING,
        "running_mean = (1 - momentum) * running_mean + momentum * mu\n"
        "running_var = (1 - momentum) * running_var + momentum * var\n"),
    Bug("running_not_written_back", _BN, _RUNNING,
        'bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu\n'
        'bn_param["running_var"] = momentum * running_var + (1 - momentum) * var\n'),
    Bug("test_mode_batch_statistics", _BN, "(x - running_mean) / np.sqrt(running_var + eps)",
        "(x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)", region=1),
    Bug("layernorm_wrong_axis", _LN, "x.mean(axis=1, keepdims=True)              # (N, 1)",
        "x.mean(axis=0, keepdims=True)"),
    Bug("spatial_without_transpose", "layers.spatial_batchnorm_forward",
        "np.moveaxis(x, 1, -1).reshape(-1, C)", "x.reshape(-1, C)"),
    Bug("dbeta_averaged", "layers.layernorm_backward", "dbeta = np.sum(dout, axis=0)",
        "dbeta = np.mean(dout, axis=0)"),
    Bug("nn_grads_before_relu", "nn.BatchNorm.backward",
        "dx, dgamma, dbeta = batchnorm_backward_alt(da, self.cache)",
        "dx = batchnorm_backward_alt(da, self.cache)[0]\n"
        "_, dgamma, dbeta = batchnorm_backward_alt(dout, self.cache)"),
    Bug("gamma_regularized", "fc_net.FullyConnectedNet.loss:normalization",
        'grads[f"gamma{i}"] = dgamma',
        'grads[f"gamma{i}"] = dgamma + self.reg * self.params[f"gamma{i}"]', region=1),
    # Mistakes no catalogue names
    Bug("beta_sign", _BN, "out = gamma * x_hat + beta", "out = gamma * x_hat - beta",
        classic=False),
    Bug("default_eps_1e-3", _BN, 'eps = bn_param.get("eps", 1e-5)',
        'eps = bn_param.get("eps", 1e-3)', region=None, classic=False),
    Bug("backward_dx_sign", "layers.batchnorm_backward", "dx = dxc + dmu / N",
        "dx = dxc - dmu / N", classic=False),
    Bug("layernorm_no_gamma", _LN, "out = x_hat * gamma + beta", "out = x_hat + beta",
        classic=False),
    Bug("groupnorm_wrong_groups", "layers.spatial_groupnorm_forward", "x.reshape(N, G, -1)",
        "x.reshape(N, -1, G)", classic=False),
    Bug("relu_before_norm", "layer_utils.affine_norm_relu_forward",
        "z, norm_cache = norm_forward(a, gamma, beta, norm_param)\n"
        "out, relu_cache = relu_forward(z)\n",
        "z, relu_cache = relu_forward(a)\n"
        "out, norm_cache = norm_forward(z, gamma, beta, norm_param)\n", classic=False),
    Bug("momentum_not_converted", "framework.torch_momentum_from_normlab",
        "return 1.0 - momentum", "return momentum", classic=False),
    Bug("regularization_without_half", "nn.Model.calculate_loss", "0.5 * reg * squares",
        "reg * squares", classic=False),
    Bug("running_var_biased", "framework.torch_running_var", "var * (N / (N - 1.0))", "var",
        classic=False),
    Bug("gamma_initialized_to_zero", "fc_net.FullyConnectedNet.__init__:normalization",
        "np.ones(d_out)", "np.zeros(d_out)", classic=False),
    Bug("nn_layernorm_no_activation", "nn.LayerNorm.forward",
        "out = self.activation_forward(a)", "out = a", classic=False),
    Bug("keras_moving_averages_swapped", "framework.keras_batchnorm_from_normlab",
        'for k in ("running_mean", "running_var")', 'for k in ("running_var", "running_mean")',
        classic=False),
]}


# ------------------------------------------------------------------------------------------------
# Building a submission
# ------------------------------------------------------------------------------------------------

_RAISE = re.compile(r'^(?P<indent>[ \t]*)raise NotImplementedError\(".*this is your task '
                    r'\((?P<key>[\w.:]+)\).*$', re.MULTILINE)


def _replace_once(text: str, old: str, new: str, where: str) -> str:
    count = text.count(old)
    if count != 1:
        raise ValueError(f"{where}: {old!r} occurs {count} times, expected once")
    return text.replace(old, new)


def fill(source: str, regions: dict[str, list[str]]) -> str:
    """``source`` (the text of one stub file) with each task's raise lines replaced by its
    regions' code, indented like the raise; raises ValueError if a region is missing."""
    seen: dict[str, int] = {}

    def region(match: re.Match) -> str:
        key = match["key"]
        index = seen.get(key, 0)
        seen[key] = index + 1
        if key not in regions or index >= len(regions[key]):
            raise ValueError(f"no implementation for region {index} of {key}")
        return textwrap.indent(regions[key][index], match["indent"]).rstrip("\n")

    filled = _RAISE.sub(region, source)
    for key, count in seen.items():
        if count != len(regions[key]):
            raise ValueError(f"{key}: the stub has {count} regions, REGIONS has "
                             f"{len(regions[key])}")
    return filled


def build_submission(dest: Path, bug: str | None = None) -> Path:
    """Copy ``assignment/`` to ``dest/assignment`` and fill every stubbed region with the
    independent implementation, with the one change of ``BUGS[bug]`` if ``bug`` is given.

    Returns ``dest`` (a submission folder as `autograder.grading.job.grade_submission` takes it).
    """
    dest = Path(dest)
    package = dest / "assignment"
    shutil.copytree(STUBS, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    regions = {key: list(code) for key, code in REGIONS.items()}
    variant = BUGS[bug] if bug is not None else None
    if variant is not None and variant.region is not None:
        code = regions[variant.key]
        code[variant.region] = _replace_once(code[variant.region], variant.old, variant.new,
                                             f"{variant.name} in {variant.key}")
    used = set()
    for path in sorted(package.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        keys = {m["key"] for m in _RAISE.finditer(text)}
        if not keys:
            continue
        used |= keys
        text = fill(text, regions)
        if variant is not None and variant.region is None \
                and path.stem == variant.key.split(".", 1)[0]:
            text = _replace_once(text, variant.old, variant.new, f"{variant.name} in {path.name}")
        path.write_text(text, encoding="utf-8")
    if used != set(REGIONS):
        raise ValueError(f"stub tasks {sorted(used)} differ from REGIONS {sorted(REGIONS)}")
    return dest
