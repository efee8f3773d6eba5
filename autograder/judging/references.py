"""Regenerate or verify the hidden reference cases:
``autograder/assignments/<assignment>/references.npz``.

    python -m autograder.judging.references          # (re)write the file from solutions/
    python -m autograder.judging.references --check  # write nothing; exit 1 if it has drifted

The file holds, for every hidden case of `autograder.judging.cases` (``HIDDEN``), the probe name,
the fixed inputs (drawn from a fixed seed) and the reference outputs (the probe run in-process on
``solutions``), as ``<id>/probe``, ``<id>/in/<name>`` and ``<id>/out/<name>``. It is part of the
grader, never of the student release.

``--check`` regenerates everything in memory and compares: the case ids, probes and inputs must be
identical; the outputs must agree to within ``OUTPUT_RTOL`` (far below any grading tolerance, but
not bit for bit, so that a different BLAS build does not count as drift). A change to
``solutions/`` that changes an output, or a change to a case's inputs, is drift: regenerate and
commit the file together with that change.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from autograder.config import load_config
from autograder.judging import cases

OUTPUT_RTOL = 1e-10
MAX_BYTES = 500_000


def build() -> dict[str, np.ndarray]:
    """Every hidden case, flattened into the arrays of the .npz file."""
    data: dict[str, np.ndarray] = {}
    for case_id in sorted(cases.HIDDEN):
        probe = cases.HIDDEN[case_id][0]
        inputs = cases.hidden_inputs(case_id)
        outputs = cases.run_reference(probe, inputs)
        data[f"{case_id}/probe"] = np.array(probe)
        for name, value in inputs.items():
            data[f"{case_id}/in/{name}"] = np.asarray(value)
        for name, value in outputs.items():
            data[f"{case_id}/out/{name}"] = np.asarray(value)
    return data


def write(path: Path) -> int:
    """Write the references to ``path`` (atomically); returns its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **build())
    tmp.replace(path)
    return path.stat().st_size


def _same_output(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind not in "fc":
        return bool(np.array_equal(a, b))
    scale = float(np.max(np.abs(b), initial=0.0))
    return bool(np.allclose(a, b, rtol=OUTPUT_RTOL, atol=OUTPUT_RTOL * scale, equal_nan=True))


def drift(path: Path) -> list[str]:
    """What differs between the file at ``path`` and a fresh regeneration (empty: no drift)."""
    if not path.is_file():
        return [f"{path} does not exist"]
    fresh = build()
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
                        help="file to write or check (default autograder/references/"
                             "<assignment>.npz)")
    args = parser.parse_args(argv)
    path = args.out or cases.references_path(load_config(args.config).assignment)
    if args.check:
        problems = drift(path)
        if problems:
            print(f"{path}: the hidden references have drifted from solutions/ and "
                  f"autograder/judging/cases.py:", file=sys.stderr)
            for line in problems[:20]:
                print(f"  {line}", file=sys.stderr)
            if len(problems) > 20:
                print(f"  ... and {len(problems) - 20} more", file=sys.stderr)
            print("Run `python -m autograder.judging.references` and commit the file.",
                  file=sys.stderr)
            return 1
        print(f"{path}: up to date ({len(cases.HIDDEN)} hidden cases)")
        return 0
    size = write(path)
    print(f"wrote {path} ({len(cases.HIDDEN)} hidden cases, {size / 1000:.1f} kB)")
    if size > MAX_BYTES:
        print(f"warning: {path} is larger than {MAX_BYTES / 1000:.0f} kB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
