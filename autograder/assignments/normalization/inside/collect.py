"""What every probe shares: copies of the inputs, collecting what the student's code
returned (or a note saying why it cannot be collected), numerical-gradient perturbations.

Runs inside the sandboxed child (see `probes`): standard library and NumPy only.
"""

import numpy as np

#: Output names are short identifiers; anything else a student's dict holds is not collected.
_MAX_NAME = 40


class ProbeError(Exception):
    """What the student's function returned cannot be collected; the message says why."""


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _arr(inputs, key):
    """A private copy of an input array (the student's code may write into its arguments)."""
    return np.array(inputs[key], copy=True)


def _scalar(inputs, key, kind=float):
    return kind(np.asarray(inputs[key]).item())


def _note(result, name, text):
    result[f"note__{name}"] = np.frombuffer(text.encode("utf-8")[:400], dtype=np.uint8).copy()


def _what(value):
    if value is None:
        return "None"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} values"
    return f"a {type(value).__name__}"


def _collect(result, name, value, where):
    """Store ``value`` as ``result[name]`` if it is a numeric array (or converts to one)."""
    if value is None:
        _note(result, name, f"{where} gave None for {name}: assign it before the return")
        return
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - the student's object may raise anything
        _note(result, name, f"{where} gave {_what(value)} for {name}, not an array ({exc})")
        return
    if arr.dtype.kind not in "biuf":
        _note(result, name, f"{where} gave {_what(value)} for {name}, not an array of numbers "
                            f"(dtype {arr.dtype})")
        return
    result[name] = np.array(arr, copy=True)
    if isinstance(value, list | tuple):  # judged like the array, but worth saying
        _note(result, name, f"{where} gave {_what(value)} for {name}, not a numpy array")


def _pair(value, func):
    """Insist on the ``(out, cache)`` pair every forward returns."""
    if not isinstance(value, tuple) or len(value) != 2:
        raise ProbeError(f"{func} should return a pair (out, cache), got {_what(value)}")
    return value


def _tuple(value, func, names):
    if not isinstance(value, tuple) or len(value) != len(names):
        raise ProbeError(f"{func} should return {len(names)} values ({', '.join(names)}), "
                         f"got {_what(value)}")
    return value


def _projection(out, dout):
    """``sum(out * dout)`` as a float; NaN when ``out`` is not an array of dout's shape."""
    try:
        arr = np.asarray(out, dtype=np.float64)
    except Exception:  # noqa: BLE001
        return float("nan")
    if arr.shape != dout.shape:
        return float("nan")
    return float(np.sum(arr * dout))


def _perturbed(f, arrays, names, h, result):
    """``plus__<name>`` / ``minus__<name>``: ``f()`` with each element of ``arrays[name]`` moved by
    +h and -h (in place, restored afterwards)."""
    for name in names:
        a = arrays[name]
        plus, minus = np.empty(a.shape), np.empty(a.shape)
        for ix in np.ndindex(*a.shape):
            old = a[ix]
            a[ix] = old + h
            plus[ix] = f()
            a[ix] = old - h
            minus[ix] = f()
            a[ix] = old
        result[f"plus__{name}"] = plus
        result[f"minus__{name}"] = minus


def _param(inputs, keys=("eps", "momentum")):
    """The optional scalar settings of a norm_param dict."""
    return {k: _scalar(inputs, k) for k in keys if k in inputs}


def _collect_running(result, bn_param, suffix=""):
    for key in ("running_mean", "running_var"):
        if key in bn_param:
            _collect(result, key + suffix, bn_param[key], f"bn_param['{key}']")
        else:
            _note(result, key + suffix, f"bn_param has no '{key}' after the call: store the "
                                        f"updated average back, bn_param['{key}'] = ...")
