"""Build the notebooks (nbgrader source format) from their text sources in notebooks/src/.

Each notebook ``notebooks/<Name>.ipynb`` has one source, ``notebooks/src/<Name>.py``, in
jupytext's py:percent format; edit the source, never the .ipynb. A cell starts with a line
``# %% <cell id>`` (``# %% <cell id> [markdown]`` for markdown, whose lines are commented with
``# ``), followed by its metadata as jupytext writes it: ``tags=["first-task"]``,
``nbgrader={"grade_id": "...", "grade": true, "locked": true, "solution": false}``. The lines
before the first ``# %%`` say what the file is; they are not a cell. What the build adds:

* ``# %% <id> include="shared"``: the cell ``<id>`` of ``notebooks/src/shared.py``, in place (the
  setup, data and submission cells that several notebooks share, written once);
* every nbgrader cell gets ``"schema_version": 3, "task": false``; an autograded cell (``grade``,
  not ``solution``) gets the points the grader's checks credit its grade_id with
  (``points_per_grade_id``, the grader's one computation), also where its text says
  ``@@POINTS@@``. An autograded cell no check credits is left out: nbgrader points that could
  never be earned would make the release refuse;
* ``if_tasks=[...]`` / ``unless_tasks=[...]``: the cell is kept only when one / none of these
  ``[stubs] tasks`` is a task of the release (text that says "your task" or "given code");
* ``@@ASSIGNMENT@@`` and ``@@DRIVE_EXAMPLE@@`` become the assignment's name and
  ``cs231n/<name>``, the folder the student README suggests on Google Drive.

Run::

    .venv/bin/python notebooks/build.py           # write the notebooks whose sources changed
    .venv/bin/python notebooks/build.py --check   # write nothing; exit 1 if one is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jupytext
import nbformat

NOTEBOOKS_DIR = Path(__file__).resolve().parent
SOURCES = NOTEBOOKS_DIR / "src"
SHARED = SOURCES / "shared.py"

sys.path.insert(0, str(NOTEBOOKS_DIR.parent))  # the repo root, for the autograder package
from autograder.config import load_config  # noqa: E402
from autograder.judging.plan import points_per_grade_id  # noqa: E402

#: Header keys the build reads; everything else in a header is the cell's metadata.
_DIRECTIVES = ("title", "include", "if_tasks", "unless_tasks")
_PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")
KERNEL = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                   "name": "python3"},
    "language_info": {"name": "python"},
}


def names() -> list[str]:
    """The notebooks that have a source, e.g. ``BatchNormalization``."""
    return sorted(p.stem for p in SOURCES.glob("*.py") if p != SHARED)


def read_cells(path: Path) -> list:
    """The cells of a source file as jupytext reads them (the file's header left out)."""
    cells = jupytext.read(path, fmt="py:percent").cells
    if cells and "title" not in cells[0].metadata and all(
            line.startswith("#") for line in cells[0].source.splitlines()):
        cells = cells[1:]
    for cell in cells:
        if not cell.metadata.get("title"):
            raise ValueError(f"{path.name}: a cell without an id: {cell.source[:80]!r}")
    return cells


def _kept(meta: dict, tasks: frozenset[str]) -> bool:
    if "if_tasks" in meta and not tasks & set(meta["if_tasks"]):
        return False
    return not ("unless_tasks" in meta and tasks & set(meta["unless_tasks"]))


def _cell(source_cell, values: dict[str, object], points: dict[str, float]):
    """The notebook cell of a source cell, or None when it is left out (an uncredited test)."""
    meta = {k: v for k, v in source_cell.metadata.items() if k not in _DIRECTIVES}
    grader = meta.get("nbgrader")
    values = dict(values)
    if grader is not None:
        grader.update(schema_version=3, task=False)
        if grader["grade"] and not grader["solution"]:
            if grader["grade_id"] not in points:
                return None
            grader["points"] = values["POINTS"] = points[grader["grade_id"]]

    def fill(match):
        if match.group(1) not in values:
            raise ValueError(f"cell {source_cell.metadata['title']}: unknown {match.group(0)}")
        return str(values[match.group(1)])

    text = _PLACEHOLDER.sub(fill, source_cell.source)
    if source_cell.cell_type == "markdown":
        cell = nbformat.v4.new_markdown_cell(text, metadata=meta)
    else:
        cell = nbformat.v4.new_code_cell(text, metadata=meta)
    cell["id"] = source_cell.metadata["title"]
    return cell


def build(name: str, config=None) -> nbformat.NotebookNode:
    """The notebook ``name`` (a stem, e.g. ``"BatchNormalization"``) for the release config."""
    config = config or load_config()
    points = {k: int(v) if float(v).is_integer() else v
              for k, v in points_per_grade_id(config).items()}
    values = {"ASSIGNMENT": config.assignment, "DRIVE_EXAMPLE": f"cs231n/{config.assignment}"}
    shared = {c.metadata["title"]: c for c in read_cells(SHARED)}
    cells = []
    for source_cell in read_cells(SOURCES / f"{name}.py"):
        if not _kept(source_cell.metadata, config.tasks):
            continue
        if "include" in source_cell.metadata:
            if source_cell.metadata["include"] != "shared" or source_cell.source.strip():
                raise ValueError(f"{name}: include=\"shared\" on an empty cell is the only include")
            source_cell = shared[source_cell.metadata["title"]]
        cell = _cell(source_cell, values, points)
        if cell is None:
            continue
        if any(c.id == cell.id for c in cells):
            raise ValueError(f"{name}: two cells with the id {cell.id}")
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells, metadata=KERNEL)
    nbformat.validate(nb)
    return nb


def render(name: str, config=None) -> str:
    """The exact text of ``notebooks/<name>.ipynb``."""
    return nbformat.writes(build(name, config)) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a committed notebook is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name in names():
        path = NOTEBOOKS_DIR / f"{name}.ipynb"
        text = render(name)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run python notebooks/build.py", file=sys.stderr)
        return 1
    if not stale:
        print("every notebook is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
