"""The shape of autograder/ that the layout promises (CONTRIBUTING.md's map), read from the code.

Imports are read with `ast` (module-level and inside functions alike), so a test fails on the
import that breaks the rule and names it: no cycle between modules; the rest of the grader reaches
an assignment only through the seam `autograder.judging.assignment`; no module longer than a
sitting's reading.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from tests.support.paths import REPO

PACKAGE = REPO / "autograder"
#: About 500 lines, as CONTRIBUTING.md says; a little slack for a docstring that grows.
MAX_LINES = 520


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))
            if "__pycache__" not in p.parts}


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _annotation_only(tree: ast.Module) -> set[int]:
    """The ids of the import nodes under ``if TYPE_CHECKING:`` (they never run)."""
    return {id(n) for node in ast.walk(tree)
            if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
            for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))}


def _imports(path: Path, name: str, known: set[str], runtime_only: bool = False) -> set[str]:
    """The autograder modules ``path`` (module ``name``) imports, resolved to known modules;
    with ``runtime_only``, leaving out the imports under ``if TYPE_CHECKING:``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = _tree(path)
    skipped = _annotation_only(tree) if runtime_only else set()
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("autograder"):
                found.add(target)
    return found


def _graph(runtime_only: bool = False) -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known, runtime_only) for name, path in modules.items()}


def test_no_import_cycle_between_autograder_modules():
    graph = _graph(runtime_only=True)  # annotation-only imports never run: they make no cycle
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert len(state) == len(graph) > 40  # every module was read


def test_the_rest_of_the_grader_reaches_an_assignment_only_through_the_seam():
    """Judging, grading, the sandbox, recording and the commands import nothing of
    ``autograder/assignments/`` but through `autograder.judging.assignment`, so a second
    assignment is a second folder."""
    graph = _graph()
    generic = [n for n in graph if not n.startswith("autograder.assignments")
               and n != "autograder.judging.assignment"]
    assert {"autograder.judging.plan", "autograder.sandbox.runner", "autograder.cli"} <= set(
        generic)
    reaching = {n: sorted(t for t in graph[n] if t.startswith("autograder.assignments"))
                for n in generic}
    assert {n: t for n, t in reaching.items() if t} == {}


def test_no_module_is_longer_than_a_sitting():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_no_module_imports_another_ones_private_names():
    """A name with a leading underscore is its module's own business; what a sibling needs is
    public (a newcomer can then change a private helper without reading the whole package)."""
    crossing = []
    for name, path in _modules().items():
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("autograder"):
                crossing += [f"{name} imports {node.module}.{alias.name}" for alias in node.names
                             if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert crossing == []


def test_no_test_module_imports_another_test_module():
    """Shared test code is a fixture (conftest.py) or a module of tests/support/, so running or
    changing one test file never runs or breaks another's tests."""
    importing = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                last = name.rsplit(".", 1)[-1]
                if name.startswith("tests.") and (last.startswith("test_") or last == "conftest"):
                    importing.append(f"{path.relative_to(REPO)} imports {name}")
    assert importing == []
