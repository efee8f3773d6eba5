"""``make demo`` / ``python -m autograder.demo``: release, sample submissions, grading, in one go.

Offline and self-contained. Writes (default ``--dir build/demo``)::

    build/demo/release/normalization/        the student release (and normalization.zip)
    build/demo/course/                       the nbgrader course: gradebook.db, source/, release/,
                                             submitted/, autograded/ (open it with formgrader)
    build/demo/submissions/                  sample submissions:
        reference/          the complete solution package as assignment/, answers filled in
        untouched/          the release as handed out
        classic_mistake/    the solution, but batch norm with the unbiased variance (N - 1)
        colab_stripped.zip  the solution; the notebook lost its nbgrader metadata (as Colab can
                            do), zipped inside one top-level folder
    build/demo/out/                          grades.csv, <student>/feedback.html, results.json

then prints the grade table and where the feedback is. Rerunning replaces the folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import zipfile
from pathlib import Path

from autograder.authoring import stubgen
from autograder.authoring.release import build_release
from autograder.cli import fix_first_summary, format_table
from autograder.config import REPO_ROOT, GradingConfig, load_config
from autograder.grading.pipeline import grade_all

DEFAULT_DIR = REPO_ROOT / "build" / "demo"
MARKER = ".normlab-demo"

#: The classic mistake of the demo: batch norm's variance with N - 1 (unbiased) instead of N.
MISTAKE_FILE = "layers.py"
MISTAKE_FROM = 'var = np.einsum("nd,nd->d", xc, xc) / N'
MISTAKE_TO = 'var = np.einsum("nd,nd->d", xc, xc) / (N - 1)  # the unbiased variance'

DEMO_ANSWER = ("**Your answer:**\n\n(Demo answer for {grade_id}.) Batch normalization keeps "
               "every layer's pre-activations standardized, so ...")


def _prepare(base: Path) -> None:
    if base.exists():
        if any(base.iterdir()) and not (base / MARKER).is_file():
            raise SystemExit(f"demo: {base} exists and was not written by the demo; choose "
                             "another --dir or remove it yourself")
        shutil.rmtree(base)
    base.mkdir(parents=True)
    (base / MARKER).write_text("written by python -m autograder.demo\n", encoding="utf-8")


def _fill_answers(nb: dict) -> dict:
    nb = json.loads(json.dumps(nb))
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and cell["cell_type"] == "markdown":
            cell["source"] = DEMO_ANSWER.format(grade_id=meta["grade_id"])
    return nb


def _write_nb(path: Path, nb: dict) -> None:
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def make_submissions(release_tree: Path, folder: Path, config: GradingConfig,
                     solutions: Path = REPO_ROOT / "solutions") -> dict[str, Path]:
    """Write the sample submissions; return {student: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}

    def copy_release(student: str) -> Path:
        target = folder / student
        shutil.copytree(release_tree, target)
        return target

    def solved(target: Path) -> None:
        shutil.rmtree(target / "assignment")
        stubgen.generate(solutions, target / "assignment", tasks=set())  # no task: all solved
        for name in config.notebooks:
            nb = json.loads((release_tree / name).read_text(encoding="utf-8"))
            _write_nb(target / name, _fill_answers(nb))

    made["untouched"] = copy_release("untouched")

    reference = copy_release("reference")
    solved(reference)
    made["reference"] = reference

    mistake = copy_release("classic_mistake")
    solved(mistake)
    layers = mistake / "assignment" / MISTAKE_FILE
    text = layers.read_text(encoding="utf-8")
    if text.count(MISTAKE_FROM) != 1:
        raise RuntimeError(f"demo: cannot plant the mistake, {MISTAKE_FROM!r} is not (once) in "
                           f"solutions/{MISTAKE_FILE}; update autograder/demo.py")
    layers.write_text(text.replace(MISTAKE_FROM, MISTAKE_TO), encoding="utf-8")
    made["classic_mistake"] = mistake

    stripped = copy_release("colab_stripped")
    solved(stripped)
    for name in config.notebooks:
        nb = json.loads((stripped / name).read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            cell.get("metadata", {}).pop("nbgrader", None)
        _write_nb(stripped / name, nb)
    zip_path = folder / "colab_stripped.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(stripped.rglob("*")):
            if path.is_file() and "datasets" not in path.relative_to(stripped).parts:
                archive.write(path, f"{config.assignment}/{path.relative_to(stripped).as_posix()}")
    shutil.rmtree(stripped)
    made["colab_stripped"] = zip_path
    return made


def run(base: Path = DEFAULT_DIR, config_path: Path | None = None, progress: bool = True) -> dict:
    """The whole demo; returns timings, rows and paths (for tests)."""
    config = load_config(config_path)
    base = Path(base).resolve()
    _prepare(base)
    timings = {}

    started = time.perf_counter()
    release = build_release(config, base / "release", base / "course", log=lambda *a: None)
    timings["release"] = time.perf_counter() - started
    print(f"Release: {release.tree} and {release.zip_path.name} "
          f"({timings['release']:.1f} s, nbgrader generate_assignment included)")
    for warning in release.warnings:
        print(f"warning: {warning}")

    made = make_submissions(release.tree, base / "submissions", config)
    print(f"Sample submissions in {base / 'submissions'}: {', '.join(sorted(made))}")

    started = time.perf_counter()
    rows, failures = grade_all(base / "submissions", base / "out", config, release.course,
                               progress=progress)
    timings["grade"] = time.perf_counter() - started
    print()
    print(fix_first_summary(base / "out", rows))
    print()
    print(format_table(rows))
    print()
    print(f"Graded {len(rows)} submissions in {timings['grade']:.1f} s.")
    print(f"  grades:   {base / 'out' / 'grades.csv'}")
    for row in sorted(rows, key=lambda r: r.student):
        print(f"  feedback: {base / 'out' / row.student / 'feedback.html'}")
    print(f"  course:   {release.course.root}")
    print(f"TAs grade the inline questions in formgrader:\n    python -m autograder formgrader "
          f"--course {release.course.root}")
    for failure in failures:
        print(f"ERROR {failure}", file=sys.stderr)
    return {"rows": rows, "failures": failures, "timings": timings, "base": base,
            "course": release.course}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.demo", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help="demo folder, replaced on each run (default: %(default)s)")
    parser.add_argument("--config", type=Path, default=None, help="release config")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = run(args.dir, args.config, progress=not args.no_progress)
    print(f"Demo done in {time.perf_counter() - started:.1f} s.")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
