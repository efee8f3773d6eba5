"""How this assignment computes reference outputs: its probes run in-process on the trusted
``solutions`` package (`mistakes.solutions_package`), never on student code.

`run` gives a probe's reference outputs for some inputs; `record` runs it the same way while the
stand-in recorder (`inside.standins.Recorder`) writes down every call of the upstream functions
it is given, so that the child can answer those calls with trusted values; `without_table` drops
a stand-in table from a call's inputs. Judging reaches this module through the seam
(`autograder.judging.assignment.reference`), so a second assignment brings its own.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from collections.abc import Mapping, Sequence

import numpy as np

from autograder.assignments.normalization.inside import probes, standins
from autograder.assignments.normalization.mistakes import MODULES, solutions_package

Arrays = dict[str, np.ndarray]


def run(probe: str, inputs: Mapping[str, np.ndarray]) -> Arrays:
    """The reference outputs of ``probe`` on ``inputs`` (a stand-in table in them is ignored)."""
    return probes.PROBES[probe](solutions_package(), without_table(inputs))


def record(probe: str, inputs: Mapping[str, np.ndarray], targets: Sequence[str]) \
        -> tuple[Arrays, Arrays]:
    """(the reference outputs, the stand-in table): the probe run on this thread's own copy of
    the trusted package while every call of ``targets`` (``"layers.batchnorm_forward"``, ...) is
    recorded."""
    recorder = standins.Recorder(targets)
    outputs = recorder.run(probes.PROBES[probe], private_solutions(), without_table(inputs))
    return outputs, recorder.table()


def without_table(inputs: Mapping[str, np.ndarray]) -> Arrays:
    """``inputs`` without the stand-in table (the keys starting with ``standins.PREFIX``)."""
    return {k: v for k, v in inputs.items() if not k.startswith(standins.PREFIX)}


_local = threading.local()


def private_solutions() -> types.SimpleNamespace:
    """This thread's own copy of the ``solutions`` modules (imported under another name), which
    `standins.Recorder` may patch while it records without touching anybody else's."""
    pkg = getattr(_local, "solutions", None)
    if pkg is None:
        name = f"_normlab_recorded_solutions_{threading.get_ident()}"
        folder = solutions_package().layers.__file__.rsplit("/", 1)[0]
        spec = importlib.util.spec_from_file_location(
            name, f"{folder}/__init__.py", submodule_search_locations=[folder])
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
        pkg = types.SimpleNamespace(**{m: importlib.import_module(f"{name}.{m}")
                                       for m in MODULES})
        _local.solutions = pkg
    return pkg
