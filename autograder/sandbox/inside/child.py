"""The script a sandboxed child runs: call probes on the student's package, one call at a time.

Copied into each job directory by ``runner.py`` and started by ``sandbox.run_python``. It is
self-contained (standard library and numpy only) and never imports the ``autograder`` package.

    child.py --package-dir P --probes PROBES_FILE --calls CALLS_JSON --inputs-dir IN --out-dir OUT

``CALLS_JSON`` is ``{"calls": [{"key": "0003", "id": "...", "probe": "name"}, ...],
"broken": {"assignment.layers": "why"}, "hung": [{"file": "assignment/layers.py", "function":
"batchnorm_forward", "line": 120, "message": "why"}], "max_output_bytes": int}``. Inputs are
``IN/<key>.npz``.
For each call, in order, this appends ``start <key>`` to ``OUT/progress``, runs
``PROBES[probe](pkg, inputs)``, writes ``OUT/<key>.npz`` (plain ``np.savez``, no pickles) and
``OUT/<key>.json`` (``{"status": "ok" | "error" | "bad-output", "message": ..., "traceback": ...}``)
and appends ``done <key>``. Around a first import of a student module it appends
``import <module>`` / ``imported <module>``, so the runner can tell which import hung. ``ready``
is written once the probes are loaded, before any student code runs.

Where the time goes: from ``ready`` on, a daemon thread writes the main thread's stack to
``OUT/stacks`` every `STACK_INTERVAL` seconds (the last `STACK_SAMPLES` samples of the current
call). It needs the GIL, which a Python loop hands over every few milliseconds; a loop inside C
code that keeps the GIL goes unsampled. (``faulthandler``'s watchdog would sample that too, but
it reads the frames without the GIL and now and then crashes the process it watches.) When a
call runs out of time the runner reads which student function it was stuck in, and the next
children refuse
to run that function (``hung``: its code is swapped for a ``raise TimeoutError``, so every caller,
however it got hold of it, fails at once) or to import a module that hung at import time
(``broken``, enforced on every import path by a meta path finder): one endless loop costs one
time limit, not one per check that happens to call it.

Everything after ``ready`` runs next to student code in the same process, so none of this is a
security boundary: the runner trusts only array values, which it checks itself.
"""

import argparse
import collections
import importlib
import importlib.machinery
import importlib.util
import io
import json
import os
import signal
import sys
import threading
import time
import traceback
import types

import numpy as np  # first, before the student's directory is on sys.path

_OK_KINDS = "biufc"  # bool, int, uint, float, complex
_TRACEBACK_LINES = 15
_PRINT_CAP = 64 * 1024
_PROBES_MODULE = "normlab_probes"
STACK_INTERVAL = 0.25  # seconds between two stack samples
STACK_SAMPLES = 8  # samples kept (of the current call)
_STACK_DEPTH = 200


class _CappedWriter(io.TextIOBase):
    """Where the student's prints go: the real stdout, up to a total number of characters."""

    def __init__(self, fd: int, cap: int):
        self._fd = fd
        self._left = cap

    def writable(self) -> bool:
        return True

    def write(self, s) -> int:
        s = str(s)
        if self._left > 0:
            chunk = s[: self._left]
            self._left -= len(chunk)
            if self._left <= 0:
                chunk += "\n[further output dropped]\n"
            try:
                os.write(self._fd, chunk.encode("utf-8", errors="replace"))
            except OSError:
                self._left = 0
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class _Progress:
    """Appends one line per event; opened per write so closed descriptors cannot break it."""

    def __init__(self, path: str):
        self._path = path

    def write(self, line: str) -> None:
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


class _RefuseBroken:
    """A meta path finder: a module that hung (or failed) earlier is not imported again, by
    whatever route (``from .layers import x`` inside another student module included)."""

    def __init__(self, failed: dict):
        self._failed = failed

    def find_spec(self, name, path=None, target=None):
        why = self._failed.get(name)
        if why is not None and name not in sys.modules:
            raise ImportError(why)
        return None


class _HungFunctions:
    """Swaps the code of functions that ran out of time in an earlier child for a
    ``raise TimeoutError(message)`` (same name, file and line, so tracebacks point at them)."""

    def __init__(self, package_dir: str, entries: list):
        self._todo = []
        for entry in entries if isinstance(entries, list) else []:
            try:
                self._todo.append((os.path.join(package_dir, str(entry["file"])),
                                   str(entry["function"]), int(entry["line"]),
                                   str(entry["message"])))
            except (KeyError, TypeError, ValueError):
                continue

    def apply(self) -> None:
        if not self._todo:
            return
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if not isinstance(path, str):
                continue
            for file, name, line, message in self._todo:
                if path == file:
                    for func in _functions_of(module):
                        code = func.__code__
                        if code.co_filename == file and code.co_name == name \
                                and _spans(code, line):
                            _stop(module, func, line, message)


def _functions_of(module) -> list:
    """The functions of a module: its own, and the methods of the classes it defines."""
    found = []
    for value in list(vars(module).values()):
        if isinstance(value, types.FunctionType):
            found.append(value)
        elif isinstance(value, type) and getattr(value, "__module__", None) == module.__name__:
            for attr in list(vars(value).values()):
                if isinstance(attr, staticmethod | classmethod):
                    attr = attr.__func__
                elif isinstance(attr, property):
                    found += [f for f in (attr.fget, attr.fset)
                              if isinstance(f, types.FunctionType)]
                    continue
                if isinstance(attr, types.FunctionType):
                    found.append(attr)
    return found


def _spans(code, line: int) -> bool:
    lines = [n for _, _, n in code.co_lines() if n is not None]
    return bool(lines) and min(min(lines), code.co_firstlineno) <= line <= max(lines)


def _stop(module, func, line: int, message: str) -> None:
    source = f"def _hung(*args, **kwargs):\n    raise TimeoutError({message!r})\n"
    namespace = {}
    exec(compile(source, func.__code__.co_filename, "exec"), namespace)
    names = {"co_name": func.__code__.co_name}
    if hasattr(func.__code__, "co_qualname"):  # Python 3.11+
        names["co_qualname"] = func.__code__.co_qualname
    code = namespace["_hung"].__code__.replace(co_firstlineno=max(1, line - 1), **names)
    try:
        func.__code__ = code  # every reference to the function object sees it
    except ValueError:  # a closure: replace the module's name for it at least
        replacement = types.FunctionType(code, func.__globals__, func.__name__)
        for key, value in list(vars(module).items()):
            if value is func:
                setattr(module, key, replacement)


class StudentPackage:
    """``pkg.layers`` imports ``assignment.layers`` on first use; a failure stays attached to
    that module (and is raised again, without re-running it, at every later use)."""

    def __init__(self, progress: _Progress, broken: dict, hung: _HungFunctions | None = None):
        object.__setattr__(self, "_progress", progress)
        object.__setattr__(self, "_failed", dict(broken))
        object.__setattr__(self, "_hung", hung)

    def _load(self, module: str):
        failed = self._failed
        if module in failed:
            raise ImportError(failed[module])
        if module not in sys.modules:
            self._progress.write(f"import {module}")
        try:
            mod = importlib.import_module(module)
        except BaseException as e:
            failed[module] = f"importing {module} failed: {_describe(e)}"
            raise
        if self._hung is not None:
            self._hung.apply()
        self._progress.write(f"imported {module}")
        return mod

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        self._load("assignment")
        mod = self._load(f"assignment.{name}")
        object.__setattr__(self, name, mod)
        return mod


def _describe(e: BaseException) -> str:
    if str(type(e).__module__).startswith(_PROBES_MODULE + "."):
        return str(e)  # raised by a probe on purpose: its message is written for the student
    if isinstance(e, SystemExit):
        return f"the code called sys.exit({'' if e.code is None else repr(e.code)})"
    if isinstance(e, KeyboardInterrupt):
        return "KeyboardInterrupt (the code raised it or sent itself SIGINT)"
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _student_traceback(e: BaseException, package_dir: str) -> str:
    """The traceback frames inside the student's package, with paths relative to it."""
    prefix = package_dir.rstrip("/") + "/"
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename.startswith(prefix)]
    for f in frames:
        f.filename = f.filename[len(prefix):]
    lines = traceback.format_list(frames)
    lines += traceback.format_exception_only(type(e), e)
    text = "".join(lines).replace(prefix, "")
    return "\n".join(text.splitlines()[-_TRACEBACK_LINES:])


def _check_outputs(result, max_bytes: int) -> dict:
    """The probe's result as a dict of plain numeric arrays, or ValueError saying what is wrong."""
    if not isinstance(result, dict):
        raise ValueError(f"the probe returned {type(result).__name__}, expected a dict of arrays")
    arrays = {}
    total = 0
    for name, value in result.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"output name {name!r} is not a simple name")
        what = "None" if value is None else type(value).__name__
        try:
            arr = np.asarray(value)
        except Exception as e:
            raise ValueError(
                f"output '{name}' is {what} and cannot be turned into a numpy array ({e})"
            ) from None
        if arr.dtype.kind not in _OK_KINDS:
            if isinstance(value, np.ndarray):
                raise ValueError(f"output '{name}' is an array of dtype {arr.dtype}, expected "
                                 f"numbers")
            raise ValueError(f"output '{name}' is {what}, expected a numpy array")
        total += arr.nbytes
        if total > max_bytes:
            raise ValueError(f"the outputs take {total / 2**20:.0f} MiB, more than the "
                             f"{max_bytes / 2**20:.0f} MiB limit")
        arrays[name] = arr
    return arrays


def _write_json(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _not_traceable() -> None:
    """Make this process non-dumpable: other processes of the same uid (children of parallel
    jobs) can then neither ptrace it nor open its /proc files (mem, root, fd, environ)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass


class _StackSampler:
    """Every STACK_INTERVAL seconds, the main thread's stack (``file<TAB>line<TAB>function``
    per frame, innermost first) joins the last STACK_SAMPLES samples in ``path`` (samples
    separated by ``--`` lines). `new_call` starts a fresh list."""

    def __init__(self, path: str):
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        self._main = threading.main_thread().ident
        self._samples = collections.deque(maxlen=STACK_SAMPLES)
        self._call = self._seen = 0
        self._sleep, self._frames, self._pwrite = time.sleep, sys._current_frames, os.pwrite
        self._truncate = os.ftruncate
        thread = threading.Thread(target=self._run, name="normlab-stacks", daemon=True)
        thread.start()  # RuntimeError when no thread can be started (a process limit)

    def new_call(self) -> None:
        self._call += 1

    def _run(self) -> None:
        while True:
            self._sleep(STACK_INTERVAL)
            if self._seen != self._call:
                self._seen = self._call
                self._samples.clear()
            frame = self._frames().get(self._main)
            lines = []
            while frame is not None and len(lines) < _STACK_DEPTH:
                code = frame.f_code
                lines.append(f"{code.co_filename}\t{frame.f_lineno}\t{code.co_name}")
                frame = frame.f_back
            del frame
            self._samples.append("\n".join(lines))
            data = ("\n--\n".join(self._samples) + "\n").encode("utf-8", errors="replace")
            try:
                self._pwrite(self._fd, data, 0)
                self._truncate(self._fd, len(data))
            except OSError:
                return


def _watch_stacks(path: str) -> _StackSampler | None:
    try:
        return _StackSampler(path)
    except (OSError, RuntimeError):
        return None


def _load_probes(path: str) -> types.ModuleType:
    """The probe module at ``path``, imported as a submodule of a package made of its folder
    (named `_PROBES_MODULE`, not ``autograder``), so that it may import its siblings relatively
    (``from . import standins``). Runs before any student code."""
    folder, name = os.path.split(os.path.abspath(path))
    spec = importlib.machinery.ModuleSpec(_PROBES_MODULE, None, is_package=True)
    spec.submodule_search_locations = [folder]
    sys.modules[_PROBES_MODULE] = importlib.util.module_from_spec(spec)
    return importlib.import_module(f"{_PROBES_MODULE}.{name.removesuffix('.py')}")


def main(argv=None) -> int:
    _not_traceable()
    # Ctrl-C as a student's own `python` has it, whatever the grader passed on through fork and
    # exec (`--workers` processes and a shell's background jobs ignore SIGINT): otherwise a
    # submission that interrupts itself is graded differently there. The child runs in its own
    # session, so a Ctrl-C typed at the grader never reaches it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = argparse.ArgumentParser()
    for flag in ("--package-dir", "--probes", "--calls", "--inputs-dir", "--out-dir"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args(argv)
    out_dir = os.path.abspath(args.out_dir)
    in_dir = os.path.abspath(args.inputs_dir)
    package_dir = os.path.abspath(args.package_dir)
    with open(args.calls, encoding="utf-8") as f:
        plan = json.load(f)
    progress = _Progress(os.path.join(out_dir, "progress"))

    table = _load_probes(args.probes).PROBES
    max_bytes = int(plan.get("max_output_bytes", 64 * 2**20))

    # Student output goes to a capped stdout; stderr stays for this script's own last words.
    real_stderr = sys.stderr
    student_out = _CappedWriter(1, _PRINT_CAP)
    sys.stdout = sys.stderr = student_out
    sys.stdin = None
    sys.path.insert(0, package_dir)
    pkg = StudentPackage(progress, plan.get("broken", {}),
                         _HungFunctions(package_dir, plan.get("hung", [])))
    sys.meta_path.insert(0, _RefuseBroken(pkg._failed))
    stacks = _watch_stacks(os.path.join(out_dir, "stacks"))
    progress.write("ready")

    savez, load, replace, perf = np.savez, np.load, os.replace, time.perf_counter
    for call in plan["calls"]:
        key = call["key"]
        if stacks is not None:
            stacks.new_call()
        progress.write(f"start {key}")
        result_path = os.path.join(out_dir, f"{key}.json")
        t0 = perf()
        try:
            with load(os.path.join(in_dir, f"{key}.npz"), allow_pickle=False) as npz:
                inputs = {k: npz[k] for k in npz.files}
            probe = table[call["probe"]]
            try:
                result = probe(pkg, inputs)
            finally:
                sys.stdout = sys.stderr = student_out  # in case the code replaced them
            try:
                arrays = _check_outputs(result, max_bytes)
            except ValueError as e:
                _write_json(result_path, {"status": "bad-output", "message": str(e),
                                          "seconds": perf() - t0})
            else:
                tmp = os.path.join(out_dir, f"{key}.tmp.npz")
                savez(tmp, **arrays)
                replace(tmp, os.path.join(out_dir, f"{key}.npz"))
                _write_json(result_path, {"status": "ok", "seconds": perf() - t0})
        except BaseException as e:  # noqa: B036 - SystemExit/KeyboardInterrupt are results too
            _write_json(result_path, {
                "status": "error",
                "message": _describe(e),
                "traceback": _student_traceback(e, package_dir),
                "seconds": perf() - t0,
            })
        progress.write(f"done {key}")

    sys.stderr = real_stderr
    progress.write("finished")
    os._exit(0)  # no atexit handlers or non-daemon threads of the student's


if __name__ == "__main__":
    main()
