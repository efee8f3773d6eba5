"""TEST-ONLY stand-in for `autograder.sandbox.runner.run_probes` that runs the probes IN THIS
PROCESS.

It imports the package under test directly, so it must only ever see trusted code (solutions/,
patched copies of it, small fakes written by the tests). It exists to keep unit tests of the
comparison and scoring logic fast; every end-to-end test of `grade_submission` uses the real,
sandboxed runner.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import sys
import types
from pathlib import Path

import numpy as np

from autograder.assignments.normalization.inside.probes import PROBES
from autograder.sandbox.runner import ProbeOutcome

_counter = itertools.count()
MODULES = ("layers", "layer_utils", "fc_net", "optim", "nn", "framework")


def load_package(package_dir: Path) -> types.SimpleNamespace:
    """Import the package in ``package_dir`` (a folder with __init__.py) under a unique name."""
    package_dir = Path(package_dir)
    name = f"_inprocess_pkg_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(
        name, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    modules = {}
    for m in MODULES:
        if (package_dir / f"{m}.py").exists():
            modules[m] = importlib.import_module(f"{name}.{m}")
    return types.SimpleNamespace(**modules)


def _numeric_only(result) -> dict[str, np.ndarray]:
    arrays = {}
    for key, value in result.items():
        arr = np.asarray(value)
        if not key.isidentifier() or arr.dtype.kind not in "biufc":
            raise ValueError(f"output {key!r} is not a numeric array")
        arrays[key] = arr
    return arrays


def run_probes_inprocess(package_dir, calls, limits=None, probes_file=None, *, pkg=None):
    """Same contract as `run_probes`, minus the sandbox: ``{call.id: ProbeOutcome}``."""
    if pkg is None:
        root = Path(package_dir)
        pkg = load_package(root / "assignment" if (root / "assignment").is_dir() else root)
    outcomes = {}
    for call in calls:
        inputs = {k: np.array(v, copy=True) for k, v in call.inputs.items()}
        try:
            with np.errstate(all="ignore"):
                result = PROBES[call.probe](pkg, inputs)
        except Exception as exc:  # noqa: BLE001 - the runner reports it the same way
            outcomes[call.id] = ProbeOutcome("error", message=f"{type(exc).__name__}: {exc}")
            continue
        try:
            outcomes[call.id] = ProbeOutcome("ok", arrays=_numeric_only(result))
        except ValueError as exc:
            outcomes[call.id] = ProbeOutcome("bad-output", message=str(exc))
    return outcomes
