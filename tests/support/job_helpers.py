"""Helpers for the grading tests: submission folders built from solutions/, patched to make
one classic mistake at a time."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from autograder.config import REPO_ROOT, load_config

SOLUTIONS = REPO_ROOT / "solutions"
STUBS = REPO_ROOT / "assignment"


def make_submission(root: Path, source: Path = SOLUTIONS, patches=(), name="sub") -> Path:
    """A submission folder ``root/name`` holding ``assignment/`` copied from ``source``, with
    ``patches`` = [(file, old, new), ...] applied to the source text (each ``old`` must occur;
    only its first occurrence is replaced)."""
    sub = Path(root) / name
    shutil.copytree(source, sub / "assignment",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for file, old, new in patches:
        path = sub / "assignment" / file
        text = path.read_text()
        assert old in text, f"{old!r} not in {file}"
        path.write_text(text.replace(old, new, 1))
    return sub


def config_for(*tasks, seed=None, **changes):
    """The default release config, restricted to ``tasks`` (all of them when none given)."""
    config = load_config()
    if tasks:
        changes["tasks"] = frozenset(tasks)
    if seed is not None:
        changes["seed"] = seed
    return dataclasses.replace(config, **changes)


BN = "layers.batchnorm_forward"
KERAS = "framework.keras_batchnorm_from_normlab"
# The two update lines of the solution (the docstring repeats the first one, not both).
_RUNNING_UPDATE = ("running_mean = momentum * running_mean + (1 - momentum) * mean\n"
                   "        running_var = momentum * running_var + (1 - momentum) * var")

#: mistake key -> (tasks to grade, patches of the solutions source that make the mistake)
MISTAKE_PATCHES = {
    "unbiased_variance": ((BN,), [
        ("layers.py", 'var = np.einsum("nd,nd->d", xc, xc) / N',
         'var = np.einsum("nd,nd->d", xc, xc) / (N - 1)')]),
    "eps_outside_sqrt": ((BN,), [
        ("layers.py", "inv_std = 1.0 / np.sqrt(var + eps)",
         "inv_std = 1.0 / (np.sqrt(var) + eps)")]),
    "momentum_reversed": ((BN,), [
        ("layers.py", _RUNNING_UPDATE,
         "running_mean = (1 - momentum) * running_mean + momentum * mean\n"
         "        running_var = (1 - momentum) * running_var + momentum * var")]),
    # The given code after the region stores the locals into bn_param, overwriting this.
    "running_stats_not_written_back": ((BN,), [
        ("layers.py", _RUNNING_UPDATE,
         'bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean\n'
         '        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var')]),
    "running_mean_keepdims": ((BN,), [
        ("layers.py", "mean = x.mean(axis=0)\n", "mean = x.mean(axis=0, keepdims=True)\n")]),
    "test_mode_batch_statistics": ((BN,), [
        ("layers.py", "out = gamma * ((x - running_mean) / np.sqrt(running_var + eps)) + beta",
         "out = gamma * ((x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)) + beta")]),
    "layernorm_wrong_axis": (("layers.layernorm_forward",), [
        ("layers.py", "mean = x.mean(axis=1, keepdims=True)",
         "mean = x.mean(axis=0, keepdims=True)"),
        ("layers.py", 'var = np.einsum("nd,nd->n", xc, xc)[:, None] / D',
         'var = np.einsum("nd,nd->d", xc, xc)[None, :] / x.shape[0]')]),
    "spatial_reshape_without_transpose": (("layers.spatial_batchnorm_forward",), [
        ("layers.py", "x_flat = x.transpose(0, 2, 3, 1).reshape(-1, C)",
         "x_flat = x.reshape(-1, C)"),
        ("layers.py", "out = out_flat.reshape(N, H, W, C).transpose(0, 3, 1, 2)",
         "out = out_flat.reshape(N, C, H, W)")]),
    "gamma_beta_regularized": (("fc_net.FullyConnectedNet.loss:normalization",), [
        ("fc_net.py", 'grads[f"gamma{i}"] = dgamma',
         'grads[f"gamma{i}"] = dgamma + self.reg * self.params[f"gamma{i}"]'),
        ("fc_net.py", 'grads[f"beta{i}"] = dbeta',
         'grads[f"beta{i}"] = dbeta + self.reg * self.params[f"beta{i}"]')]),
    "adam_t_after_use": (("optim.adam",), [
        ("optim.py", 't = config["t"] + 1', 't = config["t"]'),
        ("optim.py", 'config["m"], config["v"], config["t"] = m, v, t',
         'config["m"], config["v"], config["t"] = m, v, t + 1')]),
    "dbeta_mean": (("layers.batchnorm_backward",), [
        ("layers.py", "dbeta = dout.sum(axis=0)", "dbeta = dout.mean(axis=0)")]),
    "bn_dx_direct_path_only": (("layers.batchnorm_backward",), [
        ("layers.py", "dx = dxc + dmean / N", "dx = dx_hat * inv_std")]),
    # The object API (nn.py), as a French course of this assignment wrote it.
    "nn_grads_before_activation": (("nn.BatchNorm.backward",), [
        ("nn.py", 'dx, self.grads["gamma"], self.grads["beta"] = batchnorm_backward_alt(da, '
                  'self.cache)',
         'dx, _, _ = batchnorm_backward_alt(da, self.cache)\n'
         '        _, self.grads["gamma"], self.grads["beta"] = batchnorm_backward_alt(dout, '
         'self.cache)')]),
    "nn_gamma_regularized": (("nn.Model.backward",), [
        ("nn.py", "            dout = layer.backward(dout)\n",
         "            dout = layer.backward(dout)\n"
         '            if "gamma" in layer.params:\n'
         '                layer.grads["gamma"] = layer.grads["gamma"] + self.reg * '
         'layer.params["gamma"]\n')]),
    # The Keras conversion (framework.py).
    "keras_momentum_as_torch": ((KERAS,), [
        ("framework.py", '{"momentum": float(bn_param.get("momentum", 0.9)),',
         '{"momentum": 1.0 - float(bn_param.get("momentum", 0.9)),')]),
    "keras_default_epsilon": ((KERAS,), [
        ("framework.py", '"epsilon": float(bn_param.get("eps", 1e-5))}', '"epsilon": 1e-3}')]),
    "keras_moving_variance_ones": ((KERAS,), [
        ("framework.py", 'running_var = bn_param.get("running_var", np.zeros(D))',
         'running_var = bn_param.get("running_var", np.ones(D))')]),
}
