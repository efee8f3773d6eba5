"""The hidden reference cases of an assignment (``autograder/assignments/<assignment>/
references.npz``): reading them for grading, computing reference outputs, and the command that
regenerates or verifies the file.

    python -m autograder.judging.references          # (re)write the file from solutions/
    python -m autograder.judging.references --check  # write nothing; exit 1 if it has drifted

The file holds, for every hidden case of the assignment (``HIDDEN`` of
``autograder/assignments/<assignment>/inputs.py``), the probe name, the fixed inputs (drawn from
a fixed seed) and the reference outputs (the probe run in-process on ``solutions``), as
``<id>/probe``, ``<id>/in/<name>`` and ``<id>/out/<name>``. It is part of the grader, never of
the student release. `load_references` reads it (cached by modification time); the outputs
come from the assignment's own ``reference.run`` (`autograder.judging.assignment.reference`).

``--check`` regenerates everything in memory and compares: the case ids, probes and inputs must be
identical; the outputs must agree to within ``OUTPUT_RTOL`` (far below any grading tolerance, but
not bit for bit, so that a different BLAS build does not count as drift). A change to
``solutions/`` that changes an output, or a change to a case's inputs, is drift: regenerate and
commit the file together with that change.
"""

from __future__ import annotations

import argparse
import functools
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder.config import load_config
from autograder.judging.assignment import module, reference

ASSIGNMENTS_DIR = Path(__file__).resolve().parents[1] / "assignments"
OUTPUT_RTOL = 1e-10
MAX_BYTES = 500_000


def references_path(assignment: str) -> Path:
    return ASSIGNMENTS_DIR / assignment / "references.npz"


@dataclass
class HiddenCase:
    probe: str
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]


def read_references(path: Path) -> dict[str, HiddenCase]:
    """Parse a references file: keys ``<id>/probe``, ``<id>/in/<name>``, ``<id>/out/<name>``."""
    cases: dict[str, HiddenCase] = {}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            case_id, kind, *rest = key.split("/")
            case = cases.setdefault(case_id, HiddenCase("", {}, {}))
            if kind == "probe":
                case.probe = str(data[key])
            elif kind == "in":
                case.inputs[rest[0]] = data[key]
            elif kind == "out":
                case.outputs[rest[0]] = data[key]
    return cases


@functools.lru_cache(maxsize=4)
def _cached_references(path: str, mtime_ns: int) -> dict[str, HiddenCase]:
    return read_references(Path(path))


def load_references(assignment: str) -> dict[str, HiddenCase]:
    path = references_path(assignment)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: run `python -m autograder.judging.references` to generate the "
            f"hidden reference cases of assignment {assignment!r}")
    return _cached_references(str(path), path.stat().st_mtime_ns)


# --------------------------------------------------------------------------------------------------
# Regenerating and verifying the file
# --------------------------------------------------------------------------------------------------


def _hidden_table(assignment: str):
    return module(assignment, "inputs")


def build(assignment: str) -> dict[str, np.ndarray]:
    """Every hidden case of ``assignment``, flattened into the arrays of the .npz file."""
    table = _hidden_table(assignment)
    data: dict[str, np.ndarray] = {}
    for case_id in sorted(table.HIDDEN):
        probe = table.HIDDEN[case_id][0]
        inputs = table.hidden_inputs(case_id)
        outputs = reference(assignment).run(probe, inputs)
        data[f"{case_id}/probe"] = np.array(probe)
        for name, value in inputs.items():
            data[f"{case_id}/in/{name}"] = np.asarray(value)
        for name, value in outputs.items():
            data[f"{case_id}/out/{name}"] = np.asarray(value)
    return data


def write(path: Path, assignment: str) -> int:
    """Write the references of ``assignment`` to ``path`` (atomically); returns its size in
    bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **build(assignment))
    tmp.replace(path)
    return path.stat().st_size


def _same_output(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind not in "fc":
        return bool(np.array_equal(a, b))
    scale = float(np.max(np.abs(b), initial=0.0))
    return bool(np.allclose(a, b, rtol=OUTPUT_RTOL, atol=OUTPUT_RTOL * scale, equal_nan=True))


def drift(path: Path, assignment: str) -> list[str]:
    """What differs between the file at ``path`` and a fresh regeneration of ``assignment``'s
    hidden cases (empty: no drift)."""
    if not path.is_file():
        return [f"{path} does not exist"]
    fresh = build(assignment)
    with np.load(path, allow_pickle=False) as stored_file:
        stored = {k: stored_file[k] for k in stored_file.files}
    problems = []
    for key in sorted(set(fresh) - set(stored)):
        problems.append(f"{key}: missing from the file")
    for key in sorted(set(stored) - set(fresh)):
        problems.append(f"{key}: in the file but no longer generated")
    for key in sorted(set(fresh) & set(stored)):
        a, b = stored[key], fresh[key]
        if "/out/" in key:
            if not _same_output(a, b):
                problems.append(f"{key}: the reference output changed")
        elif a.dtype != b.dtype or not np.array_equal(a, b):
            problems.append(f"{key}: the stored {'input' if '/in/' in key else 'value'} changed")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.judging.references",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the stored references have drifted")
    parser.add_argument("--config", type=Path, default=None,
                        help="release config (default autograder/release.toml)")
    parser.add_argument("--out", type=Path, default=None,
                        help="file to write or check (default autograder/assignments/"
                             "<assignment>/references.npz)")
    args = parser.parse_args(argv)
    assignment = load_config(args.config).assignment
    path = args.out or references_path(assignment)
    count = len(_hidden_table(assignment).HIDDEN)
    if args.check:
        problems = drift(path, assignment)
        if problems:
            print(f"{path}: the hidden references have drifted from solutions/ and "
                  f"autograder/assignments/{assignment}/inputs.py:", file=sys.stderr)
            for line in problems[:20]:
                print(f"  {line}", file=sys.stderr)
            if len(problems) > 20:
                print(f"  ... and {len(problems) - 20} more", file=sys.stderr)
            print("Run `python -m autograder.judging.references` and commit the file.",
                  file=sys.stderr)
            return 1
        print(f"{path}: up to date ({count} hidden cases)")
        return 0
    size = write(path, assignment)
    print(f"wrote {path} ({count} hidden cases, {size / 1000:.1f} kB)")
    if size > MAX_BYTES:
        print(f"warning: {path} is larger than {MAX_BYTES / 1000:.0f} kB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
