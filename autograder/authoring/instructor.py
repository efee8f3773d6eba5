"""Build the instructor copy of the kit: the notebooks with the full solution code behind them.

Usage::

    python -m autograder.authoring.instructor --out build/instructor     # `make instructor`

The copy holds

* ``assignment/``: generated from ``solutions/`` by the stub generator with NO task selected, so
  every function is complete (the same package students get, with the answers in place);
* ``notebooks/``: the notebooks in nbgrader's source format, with the model answers of the
  inline questions and the hidden tests;
* ``datasets/``: the download script, plus a symbolic link to each data folder already present in
  the repository's ``datasets/`` (``cifar-10-batches-py``, ``mnist``, the synthetic sets), so no
  170 MB copy;
* ``requirements.txt`` and a README saying what the folder is
  (``templates/instructor_README.txt``).

Opening a notebook there runs every cell. The folder contains the answers: never hand it out.

Rebuilding replaces the whole output folder, but only if it is empty or was written by this
module (it leaves a marker file); any other existing folder is refused rather than deleted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from autograder.authoring import TEMPLATES, stubgen

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "build" / "instructor"

#: Written into every instructor copy; its presence makes a folder safe to replace.
MARKER = ".normlab-instructor-copy"

#: Data folders linked (not copied) from the repository's datasets/ when they exist.
DATA_FOLDERS = ("cifar-10-batches-py", "synthetic-cifar-10-batches-py", "mnist", "synthetic-mnist")


class InstructorBuildError(Exception):
    """The instructor copy cannot be built (bad output folder, missing sources)."""


def _prepare_out(out: Path, repo: Path) -> None:
    """Create ``out`` empty, or refuse if it is something other than an old instructor copy."""
    resolved = out.resolve()
    if resolved == repo.resolve() or resolved in repo.resolve().parents:
        raise InstructorBuildError(f"{out}: refusing to build over the repository itself")
    for protected in ("solutions", "assignment", "notebooks", "autograder", "datasets", "tests"):
        if resolved == (repo / protected).resolve():
            raise InstructorBuildError(f"{out}: refusing to build into the repository's "
                                       f"{protected}/ folder")
    if out.exists():
        if not out.is_dir():
            raise InstructorBuildError(f"{out} exists and is not a folder")
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise InstructorBuildError(
                f"{out} exists, is not empty and is not an instructor copy (no {MARKER} file); "
                "choose another --out or remove it yourself"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("written by python -m autograder.authoring.instructor\n",
                              encoding="utf-8")


def build(out: Path | str = DEFAULT_OUT, repo: Path | str = REPO_ROOT,
          link_data: bool = True) -> Path:
    """Write the instructor copy of the kit at ``repo`` into ``out``; return ``out``.

    Inputs:
    - out: the folder to (re)create.
    - repo: the kit repository (holding solutions/, notebooks/, datasets/, requirements.txt).
    - link_data: link the data folders found in ``repo/datasets`` into the copy.
    """
    out, repo = Path(out), Path(repo)
    notebooks = sorted((repo / "notebooks").glob("*.ipynb"))
    if not notebooks:
        raise InstructorBuildError(f"{repo / 'notebooks'}: no notebooks to copy")
    _prepare_out(out, repo)

    # The full solutions, in the student package's layout and under its name.
    stubgen.generate(repo / "solutions", out / "assignment", tasks=set())

    (out / "notebooks").mkdir()
    for notebook in notebooks:
        shutil.copy2(notebook, out / "notebooks" / notebook.name)

    (out / "datasets").mkdir()
    for script in sorted((repo / "datasets").glob("*.sh")):
        shutil.copy2(script, out / "datasets" / script.name)
    if link_data:
        for name in DATA_FOLDERS:
            source = repo / "datasets" / name
            if source.is_dir():
                try:
                    os.symlink(source.resolve(), out / "datasets" / name,
                               target_is_directory=True)
                except OSError as exc:  # e.g. Windows without symlink rights
                    print(f"note: could not link {source} ({exc}); the notebooks will look "
                          f"for the data in {out / 'datasets'}", file=sys.stderr)

    shutil.copy2(repo / "requirements.txt", out / "requirements.txt")
    shutil.copyfile(TEMPLATES / "instructor_README.txt", out / "README.txt")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.authoring.instructor",
        description="Build the instructor copy: notebooks plus assignment/ with full solutions.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder to (re)create (default: %(default)s)")
    parser.add_argument("--no-data-links", action="store_true",
                        help="do not link the repository's downloaded data into the copy")
    args = parser.parse_args(argv)
    try:
        out = build(args.out, link_data=not args.no_data_links)
    except (InstructorBuildError, stubgen.StubgenError) as exc:
        print(f"instructor: error: {exc}", file=sys.stderr)
        return 2
    print(f"Instructor copy (complete solutions, do not distribute) written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
