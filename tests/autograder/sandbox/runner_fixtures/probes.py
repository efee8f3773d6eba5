"""Probes for the runner tests (runs in the sandboxed child: stdlib and numpy only).

``PROBES["<name>"]`` calls ``pkg.mod.<name>(**inputs)`` and returns ``{"out": result}``;
``PROBES["raw:<name>"]`` returns the student's result as it is (not wrapped in a dict);
``PROBES["slow:<name>"]`` and ``PROBES["other:<name>"]`` call into the modules ``slow`` and
``other`` the same way.
"""

import numpy as np


def _wrap(module, name):
    def probe(pkg, inputs):
        return {"out": getattr(getattr(pkg, module), name)(**inputs)}

    return probe


def _raw(name):
    def probe(pkg, inputs):
        return getattr(pkg.mod, name)(**inputs)

    return probe


class ProbeError(Exception):
    """A result of the wrong form; the message is for the student."""


def two_outputs(pkg, inputs):
    result = pkg.mod.forward(inputs["x"])
    if not isinstance(result, tuple) or len(result) != 2:
        raise ProbeError("forward should return a tuple (out, cache)")
    out, cache = result
    return {"out": out, "mean": np.asarray(cache["mean"])}


NAMES = [
    "ok_add", "raise_value", "not_implemented", "call_sys_exit", "raise_system_exit",
    "hard_exit", "forever", "forever_ignoring_signals", "big_alloc", "return_list",
    "return_ragged", "return_object", "return_none", "return_str", "print_flood", "segfault",
    "sleep", "forge_other", "forge_symlink", "probe_env", "probe_files", "fork_bomb",
    "deep_error", "kill_pipes", "probe_network", "lock",
    "keyboard_interrupt", "huge_output",
]
PROBES = {name: _wrap("mod", name) for name in NAMES}
PROBES.update({f"raw:{name}": _raw(name) for name in NAMES})
PROBES.update({f"slow:{name}": _wrap("slow", name) for name in ("f",)})
PROBES.update({f"other:{name}": _wrap("other", name) for name in ("g",)})
PROBES["two_outputs"] = two_outputs
