"""Comparing a student's array with the expected one, and saying in one line what is wrong.

`compare` checks presence, dtype, shape, finiteness, then the worst relative error (against a
floor for elements near zero) and names the worst element, never the whole array; `display`
is how an output is called in those messages, `note` the probe's own explanation of a missing
output. The tolerances of every judge are here too.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

F64_RTOL = 1e-6  # float64 outputs vs the reference
F32_RTOL = 1e-4  # float32 outputs vs the reference (computed in float32 too)
GRAD_TOL = 1e-5  # analytic vs numerical gradients
FLOOR = 1e-3  # elements below FLOOR * (scale of the outputs) are compared absolutely
F32_FLOOR = 0.1  # float32 rounding is absolute-ish: small elements get a wider floor


def _num(v: float) -> str:
    return f"{float(v):.4g}"


def _index(ix) -> str:
    return str(tuple(int(i) for i in ix))


_DISPLAY = {
    "out2": "out (second call)",
    "running_mean2": "running_mean (after the second call)",
    "running_var2": "running_var (after the second call)",
    "out_row": "out (one example alone)",
    "scores": "test-mode scores",
    "scores_row": "test-mode scores (first example alone)",
    "next_w2": "next_w (second step)",
    "m2": "m (second step)",
    "v2": "v (second step)",
    "t2": "t (second step)",
    "out_test": "test-mode out",
}


def display(name: str) -> str:
    """How an output is called in messages: ``grad__W1`` -> ``grads['W1']``, ..."""
    if name.startswith("grad__") and "__" in name[6:]:  # nn: grad__<layer>__<param>
        layer, param = name[6:].split("__", 1)
        return f"{layer}.grads['{param}']"
    if name.startswith("grad__"):
        return f"grads['{name[6:]}']"
    if name.startswith("init__"):
        return f"params['{name[6:]}']"
    return _DISPLAY.get(name, name)


def note(arrays: Mapping[str, np.ndarray], name: str) -> str | None:
    """The probe's explanation of why output ``name`` is missing, if it left one."""
    raw = arrays.get(f"note__{name}")
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 1:
        return None
    text = raw[:400].tobytes().decode("utf-8", errors="replace")
    return " ".join(text.split())


def compare(name: str, got, expected, *, rtol: float = F64_RTOL, scale: float | None = None,
            dtype=None, arrays: Mapping[str, np.ndarray] | None = None,
            what: str = "expected", floor: float | None = None, key: str | None = None,
            floor_frac: float = FLOOR) -> str | None:
    """None if ``got`` matches ``expected``, else one line saying what is wrong with it.

    Checked in order: present, numeric, the exact ``dtype`` (if given), the shape, finite, then
    the largest ``|got - expected| / max(|expected|, floor)`` with floor = ``floor_frac`` *
    ``scale`` (default: the largest ``|expected|``) unless ``floor`` is given. The message names
    the worst element, never the whole array. ``name`` is what the message calls the output;
    ``key`` (default ``name``) is its key in ``arrays``, where the probe may have left a note
    (why the output is missing, or that it came back as a list): it ends the message.
    """
    if got is None:
        why = note(arrays or {}, key or name)
        return f"{name}: {why}" if why else f"{name}: no value came back for it"
    message = _compare_values(name, got, expected, rtol, scale, dtype, what, floor, floor_frac)
    why = note(arrays or {}, key or name) if message else None
    return f"{message} ({why})" if why else message


def _compare_values(name, got, expected, rtol, scale, dtype, what, floor, floor_frac):
    got = np.asarray(got)
    expected = np.asarray(expected)
    if got.dtype.kind not in "biuf":
        return f"{name} has dtype {got.dtype}; expected an array of numbers"
    if dtype is not None and got.dtype != dtype:
        return f"{name} has dtype {got.dtype} but should keep the inputs' dtype {np.dtype(dtype)}"
    if got.shape != expected.shape:
        hint = ""
        if got.shape in ((1, *expected.shape), (*expected.shape, 1)):
            hint = " (a reduction with keepdims=True? reduce without it)"
        elif expected.ndim == 2 and got.shape == expected.shape[::-1]:
            hint = " (transposed?)"
        return f"{name} has shape {got.shape} but should have shape {expected.shape}{hint}"
    g = got.astype(np.float64)
    e = expected.astype(np.float64)
    bad = ~np.isfinite(g)
    if bad.any():
        kind = "NaN" if np.isnan(g).any() else "inf"
        first = _index(np.argwhere(bad)[0]) if g.ndim else "()"
        return (f"{name} contains {kind} ({int(bad.sum())} of {g.size} elements, first at index "
                f"{first}); look for a division by zero or the square root of a negative number")
    if g.size == 0:
        return None
    if floor is None:
        if scale is None:
            scale = float(np.max(np.abs(e)))
        floor = max(floor_frac * scale, 1e-300)
    err = np.abs(g - e) / np.maximum(np.abs(e), floor)
    worst = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
    if err[worst] <= rtol:
        return None
    where = f"worst element at index {_index(worst)} is" if g.ndim else "the value is"
    return (f"{name}: {where} {_num(g[worst])} but {what} {_num(e[worst])} "
            f"(rel. error {float(err[worst]):.1e})")
