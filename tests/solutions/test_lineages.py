"""The README's porting claim, played: a course's notebooks run once their import lines are
rewritten by the table of "Porting a course", and nothing else is.

`tests/solutions/lineages/` holds notebooks of our own (Python files whose cells start at ``# %%``),
one per lineage, in its style and with its own import lines: CS231n (the star import of ``fc_net``,
then direct layer calls; dropout with and without a seed after ``np.random.seed``, with the
published numbers; 2018-2019's ``dropout=``), CS231n 2016-2017 (``use_batchnorm=True``, dropout
as a drop probability), UCLA's ``nndl`` (``use_batchnorm=True``, its drop-probability dropout) and
IFT780 (the TP2 sequence, its reference outputs checked against the course's printed numbers
and against the same computation written out in NumPy). Each is rewritten with the README's
table and run cell by cell in a Jupyter kernel in a kit folder: ``assignment/`` with the full
solutions, as the stub generator lays it out, and a synthetic CIFAR-10 in ``datasets/``. Each
starts with the cell of ``lineages/preamble.py``, which imports nothing of a course's: the
``rel_error`` every course's notebook defines for itself, and the loop of CS231n's Dropout
notebook that meets its published losses.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from autograder.authoring import stubgen
from solutions.synthetic_cifar import write_synthetic_cifar10
from tests.support.paths import REPO

README = REPO / "README.md"
NOTEBOOKS = Path(__file__).resolve().parent / "lineages"
PREAMBLE = NOTEBOOKS / "preamble.py"  # the first cell of every lineage notebook
#: notebook file -> how its lineage's course cell in the README table begins
LINEAGES = {"cs231n": "CS231n assignment 2, 2018", "cs231n_2017": "CS231n assignment 2, 2016",
            "ucla_nndl": "UCLA", "ift780": "IFT780"}
LINEAGE_DIRS = ("classifiers", "ucla", "ift780")  # the lineage subpackages of solutions/
CELL_TIMEOUT = 120

_ROW = re.compile(r"^\|\s*(.*?)\s*\|\s*`([\w.]+)`\s*\|\s*`([\w.]+)`\s*\|\s*$")
_FROM = re.compile(r"^(\s*from\s+)([\w.]+)(\s+import\b.*)$")
_IMPORT = re.compile(r"^(\s*import\s+)([\w.]+)(.*)$")


def porting_table() -> dict[str, dict[str, str]]:
    """The README's table: lineage (its course cell up to the first ':') -> {module its
    notebooks import: the kit's module}."""
    section = README.read_text(encoding="utf-8").split("\n## Porting a course\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    table: dict[str, dict[str, str]] = {}
    lineage = None
    for line in section.splitlines():
        match = _ROW.match(line)
        if match:
            lineage = match[1].split(":", 1)[0].strip() if match[1] else lineage
            table.setdefault(lineage, {})[match[2]] = match[3]
    return table


def mapping_of(name: str) -> dict[str, str]:
    """The table rows of lineage notebook ``name`` (a key of `LINEAGES`)."""
    table = porting_table()
    [course] = [course for course in table if course.startswith(LINEAGES[name])]
    return table[course]


def rewrite(source: str, mapping: dict[str, str]) -> tuple[str, list[str]]:
    """``source`` with the module path of each import line in ``mapping`` replaced; returns it
    and the import lines of the course's packages that the table does not cover."""
    packages = {module.split(".")[0] for module in mapping}
    lines, unmapped = [], []
    for line in source.splitlines():
        match = _FROM.match(line) or _IMPORT.match(line)
        if match and match[2] in mapping:
            line = match[1] + mapping[match[2]] + match[3]
        elif match and match[2].split(".")[0] in packages:
            unmapped.append(line)
        lines.append(line)
    return "\n".join(lines) + "\n", unmapped


def cells_of(path: Path) -> list[tuple[str, str]]:
    """(name, source) of each ``# %% [name] ...`` cell of a lineage notebook."""
    cells = []
    for chunk in re.split(r"^(?=# %%)", path.read_text(encoding="utf-8"), flags=re.MULTILINE):
        if chunk.strip():
            name = re.match(r"# %% \[([\w-]+)\]", chunk)
            cells.append((name[1] if name else f"cell{len(cells)}", chunk.rstrip() + "\n"))
    return cells


def notebook_of(path: Path, mapping: dict[str, str]):
    """The lineage notebook ``path``, after the preamble, with its import lines rewritten."""
    cells = []
    for name, source in cells_of(PREAMBLE) + cells_of(path):
        text, unmapped = rewrite(source, mapping)
        assert not unmapped, f"{path.name} [{name}]: the README table lacks {unmapped}"
        cell = nbformat.v4.new_code_cell(text)
        cell["id"] = name
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """A kit folder: assignment/ with every task solved, datasets/cifar-10-batches-py synthetic."""
    root = tmp_path_factory.mktemp("kit")
    stubgen.generate(REPO / "solutions", root / "assignment", tasks=set())
    write_synthetic_cifar10(root / "datasets" / "cifar-10-batches-py", 600, 200, seed=4)
    return root


# --------------------------------------------------------------------------------------------------
# The table and the lineage packages
# --------------------------------------------------------------------------------------------------


def test_the_table_covers_each_lineage_and_every_kit_module_exists():
    table = porting_table()
    for name, begins in LINEAGES.items():
        assert sum(course.startswith(begins) for course in table) == 1, name
    assert len(table) == len(LINEAGES)
    for lineage, mapping in table.items():
        for kit_module in mapping.values():
            assert kit_module.startswith("assignment."), (lineage, kit_module)
            for package in ("solutions", "assignment"):
                importlib.import_module(package + kit_module[len("assignment"):])
    # CS231n: one substitution of the package name; UCLA and IFT780: one prefix each.
    cs231n = mapping_of("cs231n")
    assert all(k == "assignment" + c[len("cs231n"):] for c, k in cs231n.items())
    assert all(k == "assignment.ucla." + c for c, k in mapping_of("ucla_nndl").items())
    assert all(k == "assignment.ift780." + c for c, k in mapping_of("ift780").items())
    # CS231n 2016-2017: the same modules; the network and layers are UCLA's, the rest the kit's.
    old = mapping_of("cs231n_2017")
    assert set(old) == set(cs231n)
    ucla = {"cs231n.layers", "cs231n.layer_utils", "cs231n.classifiers.fc_net"}
    assert all(old[c] == "assignment.ucla.nndl." + c.split(".")[-1] for c in ucla)
    assert all(old[c] == cs231n[c] for c in set(old) - ucla)


def test_every_lineage_module_is_in_the_table():
    documented = {kit for mapping in porting_table().values() for kit in mapping.values()}
    for folder in LINEAGE_DIRS:
        for path in (REPO / "solutions" / folder).rglob("*.py"):
            if path.name != "__init__.py":
                rel = path.relative_to(REPO / "solutions").with_suffix("")
                assert "assignment." + ".".join(rel.parts) in documented, rel


def test_fc_net_star_import_brings_every_layer_function():
    """CS231n's fc_net.py starts with ``from ..layers import *`` and ``from ..layer_utils
    import *``: every layer function comes with the network."""
    from solutions import fc_net, layer_utils, layers

    functions = {name for module in (layers, layer_utils)
                 for name, value in vars(module).items()
                 if inspect.isfunction(value) and not name.startswith("_")
                 and value.__module__ == module.__name__}
    assert functions <= set(fc_net.__all__)
    namespace = {}
    exec("from assignment.classifiers.fc_net import *", namespace)  # noqa: S102
    assert set(fc_net.__all__) | {"__builtins__"} == set(namespace)
    assert namespace["batchnorm_forward"] is importlib.import_module(
        "assignment.layers").batchnorm_forward


def test_the_lineage_paths_of_the_student_stubs_lead_to_the_tasks():
    """In the committed stubs the lineage modules import, and a task called through them raises
    the NotImplementedError that names it."""
    from assignment.ift780.layers.BatchNorm import BatchNorm
    from assignment.ift780.model.Model import Model
    from assignment.ucla.nndl.fc_net import FullyConnectedNet

    with pytest.raises(NotImplementedError, match="BatchNorm.forward"):
        BatchNorm(3).forward(np.ones((4, 3)))
    with pytest.raises(NotImplementedError, match="FullyConnectedNet.__init__"):
        FullyConnectedNet([4], input_dim=3, use_batchnorm=True)
    assert Model is importlib.import_module("assignment.nn").Model


def test_ucla_dropout_drops_with_probability_p():
    from solutions.layers import dropout_forward as keep_dropout
    from solutions.ucla.nndl.layers import dropout_forward

    x = np.random.default_rng(0).standard_normal((40, 50)) + 5
    out, cache = dropout_forward(x, {"mode": "train", "p": 0.3, "seed": 9})
    same, _ = keep_dropout(x, {"mode": "train", "p": 0.7, "seed": 9})
    np.testing.assert_array_equal(out, same)
    assert cache[0]["p"] == 0.3
    with pytest.raises(ValueError, match="drop probability"):
        dropout_forward(x, {"mode": "train", "p": 1.0})


# --------------------------------------------------------------------------------------------------
# The notebooks
# --------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(LINEAGES))
def test_a_lineage_notebook_runs_with_only_its_import_lines_rewritten(name, kit, monkeypatch):
    monkeypatch.setenv("NORMLAB_CIFAR10_DIR", str(kit / "datasets" / "cifar-10-batches-py"))
    nb = notebook_of(NOTEBOOKS / f"{name}.py", mapping_of(name))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(kit)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{name}: {str(exc)[-3000:]}")
    assert all(not any(o.output_type == "error" for o in c.outputs) for c in nb.cells)
