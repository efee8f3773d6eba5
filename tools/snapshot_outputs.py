"""Snapshot what the grader writes, to show that a refactoring changes nothing people read.

Grades, with one fixed ``[grading] seed``, the demo's sample submissions and the fairness
corpus (the independent implementation clean and with each of its single bugs), then copies
every grades.csv, results.json and feedback.html into ``--out`` with the run's temporary folder
replaced by ``<BASE>``, and writes ``MANIFEST.sha256`` (one line per file). Take a snapshot
before and after a change and compare them::

    python -m tools.snapshot_outputs --out /tmp/before
    ... change the code ...
    python -m tools.snapshot_outputs --out /tmp/after
    python -m tools.snapshot_outputs --compare /tmp/before /tmp/after

``--compare`` prints each file that differs with the first lines of its diff and exits 1 if any
does. The adversarial corpus is left out on purpose: its cases race time limits, so their
messages depend on how loaded the machine is.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

KEPT = ("grades.csv", "results.json", "feedback.html")
MANIFEST = "MANIFEST.sha256"


def _config_with_seed(folder: Path, seed: int) -> Path:
    from autograder.config import DEFAULT_CONFIG

    path = folder / "release.toml"
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    if "\n[grading]" in text:
        raise SystemExit("snapshot: release.toml already has a [grading] table; set its seed "
                         "there and drop --seed")
    path.write_text(text + f"\n[grading]\nseed = {seed}\n", encoding="utf-8")
    return path


def _grade_fairness_corpus(base: Path, config, course) -> Path:
    from autograder.grading.pipeline import grade_all
    from tests.autograder.judging.fairness.independent import BUGS, build_submission

    folder = base / "fairness"
    folder.mkdir()
    build_submission(folder / "clean")
    for bug in BUGS:
        build_submission(folder / bug, bug)
    out = base / "fairness_out"
    grade_all(folder, out, config, course, progress=False, echo=lambda *a, **k: None)
    return out


def take(dest: Path, seed: int) -> list[Path]:
    """Grade everything into a temporary folder and copy the kept files to ``dest``."""
    from autograder import demo
    from autograder.config import load_config

    dest.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="normlab-snapshot-") as tmp:
        tmp = Path(tmp)
        config_path = _config_with_seed(tmp, seed)
        result = demo.run(tmp / "demo", config_path, progress=False)
        outs = {"demo": tmp / "demo" / "out",
                "fairness": _grade_fairness_corpus(tmp, load_config(config_path),
                                                   result["course"])}
        for label, out in outs.items():
            for path in sorted(out.rglob("*")):
                if not (path.is_file() and path.name in KEPT):
                    continue
                text = path.read_text(encoding="utf-8").replace(str(tmp), "<BASE>")
                target = dest / label / path.relative_to(out)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
                written.append(target)
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(dest).as_posix()}"
             for p in written]
    (dest / MANIFEST).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return written


def _manifest(folder: Path) -> dict[str, str]:
    entries = {}
    for line in (folder / MANIFEST).read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        entries[name] = digest
    return entries


def compare(before: Path, after: Path, context_lines: int = 12) -> list[str]:
    """The names of the files that differ (or exist on one side only), after printing each."""
    old, new = _manifest(before), _manifest(after)
    differing = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) == new.get(name):
            continue
        differing.append(name)
        if name not in old or name not in new:
            print(f"{name}: only in {'after' if name not in old else 'before'}")
            continue
        diff = difflib.unified_diff(
            (before / name).read_text(encoding="utf-8").splitlines(),
            (after / name).read_text(encoding="utf-8").splitlines(),
            f"before/{name}", f"after/{name}", lineterm="", n=1)
        print("\n".join(list(diff)[:context_lines]))
    print(f"{len(differing)} of {len(set(old) | set(new))} files differ")
    return differing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.snapshot_outputs",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="folder for a new snapshot (replaced)")
    parser.add_argument("--seed", type=int, default=2310)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    if args.compare:
        return 1 if compare(*args.compare) else 0
    if args.out is None:
        parser.error("give --out DIR or --compare BEFORE AFTER")
    if args.out.exists():
        shutil.rmtree(args.out)
    files = take(args.out, args.seed)
    print(f"{len(files)} files in {args.out} ({MANIFEST} lists their digests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
