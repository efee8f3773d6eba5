"""Probes: small functions that call a student package and collect what comes back.

This file and its siblings (`collect`, `layer_probes`, `object_probes`, `standins`) run INSIDE
the sandboxed child, next to an untrusted copy of the student's package: the runner copies this
folder into the job, and the child imports it as a package of its own, so the modules import
each other relatively and nothing else but the standard library and NumPy, never ``autograder``.
This module is the registry, `PROBES`; the probes themselves live in the two ``*_probes``
modules.
The trusted parent also runs the very same probes in-process on ``solutions`` to make the
reference outputs, so a probe must behave identically on both.

A probe is ``probe(pkg, inputs) -> dict[str, np.ndarray]``:

* ``pkg`` is a namespace with the package's modules (``pkg.layers``, ``pkg.layer_utils``,
  ``pkg.fc_net``, ``pkg.optim``);
* ``inputs`` holds plain arrays only; scalars (eps, momentum, G, reg, ...) are 0-d arrays and
  optional settings are simply absent. A probe never modifies ``inputs``: it works on copies;
* the result holds plain numeric arrays only. When the student's function returns something that
  is not a numeric array for an output (None, a ragged list, ...), the output is left out and a
  ``note__<output>`` entry (the explanation as UTF-8 bytes, uint8) is added instead, so the other
  outputs of the call still count. A result of the wrong form altogether (not a tuple, wrong
  length) raises `ProbeError`, whose message is for the student.

Probes only call and collect: the parent decides everything. For reference-free gradient checks a
probe may also evaluate the student's forward pass at inputs moved by +-h, one element at a time,
and return the projected outputs ``sum(out * dout)`` as ``plus__<input>`` / ``minus__<input>``
(arrays of the input's shape); the parent forms the centered differences itself.

Every probe is cheap: the arrays are tiny and the perturbation loops cover at most ~100 elements.
"""

from . import layer_probes, object_probes
from . import standins as _standins
from .collect import ProbeError

#: The registry (probe name -> function) and the error whose message is for the student.
__all__ = ["PROBES", "ProbeError"]


def _with_standins(probe):
    """``probe`` with the upstream functions of the call's stand-in table (if it has one)
    answered by `standins.Replayer`. If the student's code cannot work with a stand-in (it looks
    inside a cache, say), the call is made again with the student's own functions."""

    def run(pkg, inputs):
        inputs, table = _standins.split(inputs)
        if table is None:
            return probe(pkg, inputs)
        replayer = _standins.Replayer(table)
        try:
            with replayer.patch(pkg):
                return probe(pkg, inputs)
        except Exception as exc:  # noqa: BLE001 - judged again without stand-ins
            if not replayer.answered:
                if isinstance(exc, _standins.StandInMiss):
                    raise ProbeError(str(exc)) from None
                raise
        return probe(pkg, inputs)

    run.__name__, run.__doc__ = probe.__name__, probe.__doc__
    return run


PROBES = {
    "batchnorm_forward_train": layer_probes.probe_batchnorm_forward_train,
    "batchnorm_forward_test": layer_probes.probe_batchnorm_forward_test,
    "batchnorm_backward": layer_probes.probe_batchnorm_backward,
    "batchnorm_backward_alt": layer_probes.probe_batchnorm_backward_alt,
    "layernorm_forward": layer_probes.probe_layernorm_forward,
    "layernorm_backward": layer_probes.probe_layernorm_backward,
    "spatial_batchnorm_forward_train": layer_probes.probe_spatial_batchnorm_forward_train,
    "spatial_batchnorm_backward": layer_probes.probe_spatial_batchnorm_backward,
    "spatial_groupnorm_forward": layer_probes.probe_spatial_groupnorm_forward,
    "spatial_groupnorm_backward": layer_probes.probe_spatial_groupnorm_backward,
    "affine_norm_relu_forward": layer_probes.probe_affine_norm_relu_forward,
    "affine_norm_relu_backward": layer_probes.probe_affine_norm_relu_backward,
    "fc_net": layer_probes.probe_fc_net,
    "adam": layer_probes.probe_adam,
    "nn_norm_forward": object_probes.probe_nn_norm_forward,
    "nn_norm_backward": object_probes.probe_nn_norm_backward,
    "nn_model_loss": object_probes.probe_nn_model_loss,
    "nn_model": object_probes.probe_nn_model,
    "torch_momentum": object_probes.probe_torch_momentum,
    "torch_running_var": object_probes.probe_torch_running_var,
    "keras_batchnorm": object_probes.probe_keras_batchnorm,
}
PROBES = {name: _with_standins(probe) for name, probe in PROBES.items()}
