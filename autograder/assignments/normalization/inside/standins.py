"""Trusted stand-ins: grade a task without charging it for the student's upstream tasks.

A check of a composite task (``affine_norm_relu_forward`` calls ``batchnorm_forward``;
``FullyConnectedNet.loss`` calls the sandwich layers; ``Model.backward`` calls the layers'
``backward``) should judge the composite's own code only. So, in the child, the upstream
functions the student's composite calls are replaced by **stand-ins** that answer with the
reference's outputs, taken from a table the trusted parent made by running the very same probe
on ``solutions`` while recording every call of those functions (`Recorder`). A stand-in answers
only a call whose arguments match one the reference made on this check's own inputs (to a
tight tolerance); any other call goes to the student's own function, as without stand-ins. The
caches that the reference's forwards return never leave the parent: the child gets an opaque
`Token` in their place, and a stand-in backward recognises it. So the child sees no reference
code and no reference output beyond the answers to the calls that the check's inputs imply.

This module runs on both sides: imported by the parent
(``autograder.assignments.normalization.inside.standins``) and copied beside ``probes.py`` into the
child, where it imports only the standard library and NumPy.

A target is ``"<module>.<function>"`` or ``"<module>.<Class>.<method>"``. For a method the
stand-in also compares the instance's ``params`` (`SELF_IN`), replays the attributes the call
set (``grads``, and for a forward the cache, as a token, and the activation's input), and
pairs a ``backward`` with the ``forward`` that last ran on the same instance.
"""

import inspect
import json

import numpy as np

#: Input keys of a probe call that carry the stand-in table (never passed to the probe).
PREFIX = "standin__"
SPEC = PREFIX + "spec"
DATA = PREFIX + "data"
#: Functions that answer for each other (the two batch-norm backward passes compute the same).
ALIASES = {"layers.batchnorm_backward": "layers.batchnorm_backward",
           "layers.batchnorm_backward_alt": "layers.batchnorm_backward"}
#: For a method target: instance attributes compared (in) and replayed (out).
SELF_IN = ("params",)
SELF_OUT = {"forward": (), "backward": ("grads",)}  # besides every attribute the call replaced
PAIRED = "self.#forward"  # a backward's key: the token of the forward last run on the instance
RTOL = 1e-7  # relative to the scale of the array compared


class StandInMiss(Exception):
    """A stand-in's cache reached code that cannot read it (the message is for the student)."""


class Token:
    """Stands for a cache the reference made; only a stand-in can read it."""

    __slots__ = ("id",)

    def __init__(self, ident):
        self.id = ident

    def __repr__(self):
        return f"<grader stand-in cache {self.id}>"


def _group(key):
    return ALIASES.get(key, key)


# --------------------------------------------------------------------------------------------------
# Encoding nested values as JSON plus arrays (both directions)
# --------------------------------------------------------------------------------------------------


class _Encoder:
    """Turns values into JSON-able specs; arrays go, deduplicated, into one byte buffer (one
    ``standin__data`` entry rather than thousands of small ones)."""

    def __init__(self, tokens):
        self.chunks = []
        self.size = 0
        self.seen = {}  # (dtype, shape, bytes) -> spec
        self.tokens = tokens  # id(cache object) -> token number, shared with the recorder

    def array(self, a):
        a = np.ascontiguousarray(a)
        raw = a.tobytes()
        key = (a.dtype.str, a.shape, raw)
        if key not in self.seen:
            self.seen[key] = {"a": [a.dtype.str, list(a.shape), self.size]}
            self.chunks.append(raw)
            self.size += len(raw)
        return self.seen[key]

    def value(self, v):
        if isinstance(v, Token):
            return {"tok": v.id}
        if id(v) in self.tokens:
            return {"tok": self.tokens[id(v)]}
        if isinstance(v, np.ndarray | np.generic):
            if v.dtype.kind in "biuf":
                return self.array(v)
            return {"x": 1}
        if v is None or isinstance(v, bool | int | float | str):
            return {"v": v}
        if isinstance(v, dict):
            return {"d": {str(k): self.value(x) for k, x in v.items()}}
        if isinstance(v, tuple | list):
            return {"t" if isinstance(v, tuple) else "l": [self.value(x) for x in v]}
        return {"x": 1}  # something the stand-in cannot compare: never matched

    def data(self):
        return np.frombuffer(b"".join(self.chunks), dtype=np.uint8).copy()


def _decode(spec, data, copy=True):
    """The value of ``spec`` (arrays read from the byte buffer ``data``: copies, or read-only
    views when ``copy`` is false)."""
    if "a" in spec:
        dtype, shape, offset = spec["a"]
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        view = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)
        return np.array(view, copy=True) if copy else view
    if "tok" in spec:
        return Token(spec["tok"])
    if "v" in spec:
        return spec["v"]
    if "d" in spec:
        return {k: _decode(x, data, copy) for k, x in spec["d"].items()}
    if "t" in spec:
        return tuple(_decode(x, data, copy) for x in spec["t"])
    if "l" in spec:
        return [_decode(x, data, copy) for x in spec["l"]]
    return None


def _parameters(func):
    """The parameters of the reference's ``func`` as JSON: ``[[name, default], ...]``, with
    ``[name]`` alone for one without a default (or with a default JSON cannot hold)."""
    out = []
    for p in inspect.signature(func).parameters.values():
        plain = p.default is None or isinstance(p.default, bool | int | float | str)
        out.append([p.name, p.default] if p.default is not p.empty and plain else [p.name])
    return out


def _signature(params):
    return inspect.Signature([
        inspect.Parameter(p[0], inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          **({"default": p[1]} if len(p) > 1 else {})) for p in params])


def _bind(signature, args, kwargs, method):
    """(the instance or None, the call's arguments by position: ``{"0": x, "1": gamma, ...}``,
    defaults filled in), bound to the REFERENCE's ``signature`` (the student's function may
    have been swapped for a stub that takes ``*args``), so that renamed parameters still match.
    """
    try:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = list(bound.arguments.values())
    except TypeError:
        values = [*args, *kwargs.values()]
    me = values.pop(0) if method and values else None
    return me, {str(i): v for i, v in enumerate(values)}


# --------------------------------------------------------------------------------------------------
# Finding and patching the targets in a package
# --------------------------------------------------------------------------------------------------


def _resolve(pkg, target):
    """(holder, attribute, original) of ``target`` in ``pkg``, or None when it is missing."""
    module, *path = target.split(".")
    try:
        holder = getattr(pkg, module)
        for name in path[:-1]:
            holder = getattr(holder, name)
        return holder, path[-1], getattr(holder, path[-1])
    except Exception:  # noqa: BLE001 - a student module that fails to import, a missing name
        return None


def _modules_of(pkg):
    """The module objects of ``pkg`` already imported (patched by identity)."""
    mods = []
    for name in dir(pkg):
        if name.startswith("_"):
            continue
        try:
            mods.append(getattr(pkg, name))
        except Exception:  # noqa: BLE001
            continue
    return mods


class _Patch:
    """Puts wrappers in place of the targets (everywhere the package holds them) and back."""

    def __init__(self, pkg, wrappers):
        self.pkg = pkg
        self.wrappers = wrappers  # target -> (holder, attr, original, wrapper)
        self.swapped = []

    def __enter__(self):
        modules = _modules_of(self.pkg)
        for holder, attr, original, wrapper in self.wrappers.values():
            if isinstance(holder, type):
                self.swapped.append((holder, attr, holder.__dict__.get(attr, _MISSING)))
                setattr(holder, attr, wrapper)
                continue
            for module in {id(m): m for m in [holder, *modules]}.values():
                for name, value in list(vars(module).items()):
                    if value is original:
                        self.swapped.append((module, name, value))
                        setattr(module, name, wrapper)
        return self

    def __exit__(self, *exc):
        for holder, attr, value in reversed(self.swapped):
            if value is _MISSING:
                delattr(holder, attr)
            else:
                setattr(holder, attr, value)
        # Modules first imported while patched took the wrappers in (``from .layers import``).
        back = {id(w): original for _, _, original, w in self.wrappers.values()}
        for module in _modules_of(self.pkg):
            for name, value in list(vars(module).items()):
                if id(value) in back:
                    setattr(module, name, back[id(value)])
        return False


_MISSING = object()


def _is_method(target):
    return target.count(".") == 2


def _wrapped(pkg, targets, make_wrapper):
    wrappers = {}
    for target in targets:
        found = _resolve(pkg, target)
        if found is None:
            continue
        holder, attr, original = found
        if not callable(original):
            continue
        wrappers[target] = (holder, attr, original, make_wrapper(target, original))
    return _Patch(pkg, wrappers)


# --------------------------------------------------------------------------------------------------
# The parent: record the reference's calls
# --------------------------------------------------------------------------------------------------


class Recorder:
    """Runs a probe on the trusted package, recording every call of ``targets``.

    ``tokens`` maps the reference's cache objects to token numbers, so a recorded backward call
    names the forward whose cache it got.
    """

    def __init__(self, targets):
        self.targets = tuple(targets)
        self.tokens = {}
        self.keep = []  # the cache objects, alive so that their ids stay theirs
        self.entries = []
        self.encoder = _Encoder(self.tokens)
        self.last_forward = {}  # id(instance) -> token of its last forward
        self.params = {}  # target -> the reference's parameters (`_parameters`)

    def run(self, probe, pkg, inputs):
        with _wrapped(pkg, self.targets, self._wrapper):
            return probe(pkg, inputs)

    def _attribute(self, value):
        """An attribute a method set: arrays and numbers as they are (the activation's input),
        anything else (a cache) as a token."""
        if isinstance(value, np.ndarray | np.generic | bool | int | float | str) or value is None:
            return self.encoder.value(value)
        return {"tok": self._token(value)}

    def _token(self, obj):
        if id(obj) not in self.tokens:
            self.tokens[id(obj)] = len(self.tokens)
            self.keep.append(obj)
        return self.tokens[id(obj)]

    def _wrapper(self, target, original):
        method = _is_method(target)
        kind = target.rsplit(".", 1)[1]
        enc = self.encoder
        self.params[target] = _parameters(original)
        signature = _signature(self.params[target])

        def wrapper(*args, **kwargs):
            me, bound = _bind(signature, args, kwargs, method)
            before = {k: enc.value(v) for k, v in bound.items()}
            if method:
                before.update({f"self.{a}": enc.value(getattr(me, a, None)) for a in SELF_IN})
                if kind == "backward":
                    before[PAIRED] = {"tok": self.last_forward.get(id(me), -1)}
                attrs = dict(vars(me))
            result = original(*args, **kwargs)
            if not method and isinstance(result, tuple) and len(result) == 2 \
                    and kind.endswith("forward"):
                self._token(result[1])  # (out, cache): the cache travels as a token
            encoded = enc.value(result)
            effects = {}
            for name, value in bound.items():
                if isinstance(value, dict):
                    effects[name] = enc.value(value)
            if method:
                if kind == "forward":
                    self.last_forward[id(me)] = self._token(object())
                    effects[PAIRED] = {"tok": self.last_forward[id(me)]}
                for a in SELF_OUT.get(kind, ()):
                    effects[f"self.{a}"] = enc.value(getattr(me, a, None))
                for a, value in vars(me).items():  # what the call set on the instance
                    if a not in SELF_OUT.get(kind, ()) and attrs.get(a, _MISSING) is not value:
                        effects[f"self.{a}"] = self._attribute(value)
            self.entries.append({"target": _group(target), "args": before, "result": encoded,
                                 "effects": effects})
            return result

        return wrapper

    def table(self):
        """The recorded calls as probe inputs: ``standin__spec`` (JSON bytes) and arrays."""
        spec = json.dumps({"targets": list(self.targets), "params": self.params,
                           "entries": self.entries})
        return {SPEC: np.frombuffer(spec.encode(), dtype=np.uint8).copy(),
                DATA: self.encoder.data()}


# --------------------------------------------------------------------------------------------------
# The child: answer from the table
# --------------------------------------------------------------------------------------------------


def split(inputs):
    """(probe inputs without the table, the table or None)."""
    if SPEC not in inputs:
        return inputs, None
    plain = {k: v for k, v in inputs.items() if not k.startswith(PREFIX)}
    table = {k: v for k, v in inputs.items() if k.startswith(PREFIX)}
    return plain, table


def _same(got, want):
    """Whether a student's argument matches the recorded one (spec ``want``, decoded)."""
    if isinstance(want, Token):
        return isinstance(got, Token) and got.id == want.id
    if isinstance(want, np.ndarray):
        try:
            g = np.asarray(got, dtype=np.float64)
        except Exception:  # noqa: BLE001
            return False
        if g.shape != want.shape:
            return False
        w = want.astype(np.float64)
        if not np.all(np.isfinite(g)) or not np.all(np.isfinite(w)):
            return bool(np.array_equal(g, w, equal_nan=True))
        scale = max(float(np.max(np.abs(w), initial=0.0)), 1e-300)
        return bool(np.all(np.abs(g - w) <= RTOL * np.maximum(np.abs(w), 1e-3 * scale)))
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return False
        return all(_same(got[k], v) for k, v in want.items() if k in got)
    if isinstance(want, tuple | list):
        return isinstance(got, tuple | list) and len(got) == len(want) and all(
            _same(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(want, float) and isinstance(got, int | float | np.number):
        return abs(float(got) - want) <= RTOL * max(abs(want), 1e-12)
    if want is None:
        return got is None
    try:
        return bool(got == want)
    except Exception:  # noqa: BLE001
        return False


def _has_token(values):
    for v in values:
        if isinstance(v, Token):
            return True
        if isinstance(v, tuple | list) and _has_token(v):
            return True
        if isinstance(v, dict) and _has_token(v.values()):
            return True
    return False


class Replayer:
    """The child's side: stand-ins answering from a recorded table."""

    def __init__(self, table):
        spec = json.loads(bytes(np.asarray(table[SPEC], dtype=np.uint8)).decode())
        self.targets = tuple(spec["targets"])
        self.signatures = {t: _signature(p) for t, p in spec.get("params", {}).items()}
        self.data = np.asarray(table[DATA], dtype=np.uint8).tobytes()
        self.entries = {}
        for e in spec["entries"]:
            e["want"] = {k: _decode(w, self.data, copy=False) for k, w in e["args"].items()}
            self.entries.setdefault(e["target"], []).append(e)
        self.cursor = {}
        self.last_forward = {}
        self.answered = 0

    def patch(self, pkg):
        return _wrapped(pkg, self.targets, self._wrapper)

    def _find(self, group, bound):
        entries = self.entries.get(group, [])
        start = self.cursor.get(group, 0)
        for i in list(range(start, len(entries))) + list(range(start)):
            want = entries[i]["want"]
            if set(want) - set(bound):
                continue
            if all(_same(bound[k], w) for k, w in want.items()):
                self.cursor[group] = i + 1
                return entries[i]
        return None

    def _wrapper(self, target, original):
        method = _is_method(target)
        kind = target.rsplit(".", 1)[1]
        group = _group(target)
        signature = self.signatures.get(target)
        if signature is None:  # the reference never called it: nothing to answer
            return original

        def wrapper(*args, **kwargs):
            me, bound = _bind(signature, args, kwargs, method)
            if method:
                for a in SELF_IN:
                    bound[f"self.{a}"] = getattr(me, a, None)
                if kind == "backward":
                    bound[PAIRED] = self.last_forward.get(id(me), Token(-2))
            entry = self._find(group, bound)
            if entry is None:
                if _has_token(list(bound.values())):
                    raise StandInMiss(
                        f"{target.split('.', 1)[1]} got arguments that differ from the ones "
                        f"the layer expects at this point (compare the order and the values "
                        f"your code passes with the docstring)")
                return original(*args, **kwargs)
            self.answered += 1
            for name, spec in entry["effects"].items():
                value = _decode(spec, self.data)
                if name == PAIRED:
                    self.last_forward[id(me)] = value
                elif name.startswith("self."):
                    setattr(me, name[5:], value)
                elif isinstance(bound.get(name), dict) and isinstance(value, dict):
                    bound[name].update(value)
            return _decode(entry["result"], self.data)

        return wrapper
