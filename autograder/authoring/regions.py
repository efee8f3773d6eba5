"""Where the solution regions of a ``solutions/`` module are: the markers, checked against its AST.

A region is the code between ``### BEGIN SOLUTION`` (optionally followed by one label word) and
``### END SOLUTION`` inside one function body (see CONTRIBUTING.md). `find_regions` returns them
in file order as `Region` (module, qualname, label, marker lines, indentation), or raises
`MarkerError` with file:line and the fix for markers that are unbalanced, nested, outside a
function, at different indentation, around nothing, inside a statement, or that mix labelled and
unlabelled regions in one function. `autograder.authoring.stubgen` turns the regions into stubs;
`autograder.authoring.leaks` reads them to know the answer lines a release must not contain.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_MARKER_RE = re.compile(
    r"(?P<indent>[ \t]*)###[ \t]*(?P<kind>BEGIN|END)[ \t]+SOLUTION(?:[ \t]+(?P<label>\w+))?[ \t]*"
)
_MENTION_RE = re.compile(r"\b(?:BEGIN|END)[ \t]+SOLUTION\b", re.IGNORECASE)
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class StubgenError(Exception):
    """A problem with the solutions package or the release config that stops generation."""


class MarkerError(StubgenError):
    """Misplaced or malformed solution markers; the message gives file:line and the fix."""


def split_key(key: str) -> tuple[str, str, str]:
    """``(module, qualname, label)`` of a task key as `Region.key` writes it
    (``"fc_net.FullyConnectedNet.loss:normalization"`` -> ``("fc_net",
    "FullyConnectedNet.loss", "normalization")``; the label is ``""`` when there is none).
    Raises ValueError for a key that names no function of a module."""
    module, _, rest = key.partition(".")
    qualname, _, label = rest.partition(":")
    if not module or not qualname:
        raise ValueError(f"task key {key!r} is not <module>.<qualname>[:<label>]")
    return module, qualname, label


@dataclass(frozen=True)
class Region:
    """One ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region of a solutions module.

    ``begin`` and ``end`` are the 1-based line numbers of the two marker lines; ``indent`` is their
    leading whitespace; ``documented`` tells whether the enclosing function has a docstring.
    """

    module: str
    qualname: str
    label: str | None
    begin: int
    end: int
    indent: str
    documented: bool = True

    @property
    def function_key(self) -> str:
        """``<module>.<qualname>``: selects every region of the function."""
        return f"{self.module}.{self.qualname}"

    @property
    def key(self) -> str:
        """The task key: the function key, plus ``:<label>`` for a labelled region."""
        return f"{self.function_key}:{self.label}" if self.label else self.function_key

    def selected_by(self, tasks: Iterable[str]) -> bool:
        """Whether ``tasks`` selects this region (its own key or its function's key)."""
        tasks = set(tasks)
        return self.key in tasks or self.function_key in tasks


# --------------------------------------------------------------------------------------------------
# Parsing the markers
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Marker:
    line: int
    kind: str  # "BEGIN" or "END"
    label: str | None
    indent: str


def split_lines(source: str) -> list[str]:
    """Split like Python's tokenizer (\\r\\n, \\r or \\n), keeping each line's ending."""
    return _LINE_RE.findall(source)


def line_ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")) :]


class _Tree:
    """The module's AST with a parent map (node -> (parent, field name))."""

    def __init__(self, source: str, filename: str) -> None:
        try:
            self.module = ast.parse(source, filename)
        except SyntaxError as exc:
            raise MarkerError(
                f"{filename}:{exc.lineno}: not valid Python ({exc.msg}); fix the syntax first"
            ) from None
        self.parent: dict[ast.AST, tuple[ast.AST, str]] = {}
        for node in ast.walk(self.module):
            for field, value in ast.iter_fields(node):
                children = value if isinstance(value, list) else [value]
                for child in children:
                    if isinstance(child, ast.AST):
                        self.parent[child] = (node, field)
        self.statements = [node for node in ast.walk(self.module) if isinstance(node, ast.stmt)]

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        while node in self.parent:
            node = self.parent[node][0]
            yield node

    def statement_of(self, node: ast.AST) -> ast.stmt | None:
        if isinstance(node, ast.stmt):
            return node
        return next((a for a in self.ancestors(node) if isinstance(a, ast.stmt)), None)


def _start(stmt: ast.stmt) -> int:
    """First line of a statement, decorators included."""
    decorators = getattr(stmt, "decorator_list", None) or []
    return min([stmt.lineno, *(d.lineno for d in decorators)])


def _is_block(node: ast.AST) -> bool:
    """Compound statements and except handlers: nodes that hold a list of statements."""
    return isinstance(getattr(node, "body", None), list)


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _scan_markers(lines: list[str], filename: str) -> list[_Marker]:
    markers = []
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        match = _MARKER_RE.fullmatch(text)
        if match:
            markers.append(
                _Marker(number, match["kind"], match["label"], match["indent"])
            )
        elif _MENTION_RE.search(text):
            raise MarkerError(
                f"{filename}:{number}: this line mentions BEGIN/END SOLUTION but is not a marker "
                f"line: {text.strip()!r}. A marker is a line of its own reading exactly "
                "`### BEGIN SOLUTION` or `### END SOLUTION`, optionally followed by one label "
                "word (letters, digits, _)"
            )
    return markers


def _check_marker_between_statements(tree: _Tree, marker: _Marker, filename: str) -> None:
    """A marker must be a comment between whole statements, not inside one (or a string)."""
    for node in ast.walk(tree.module):
        end = getattr(node, "end_lineno", None)
        if end is None or _is_block(node) or not node.lineno <= marker.line <= end:
            continue
        stmt = tree.statement_of(node) or node
        if _is_block(stmt):
            kind = type(stmt).__name__.lower()
            where = f"the header of the `{kind}` statement at line {stmt.lineno}"
        else:
            where = f"the statement at lines {_start(stmt)}-{stmt.end_lineno}"
        raise MarkerError(
            f"{filename}:{marker.line}: `### {marker.kind} SOLUTION` is inside {where} (a "
            "multi-line expression or string), so the markers would split it; put the marker "
            "on a line of its own between whole statements"
        )


def _pair(markers: list[_Marker], filename: str) -> list[tuple[_Marker, _Marker]]:
    pairs = []
    open_marker: _Marker | None = None
    for marker in markers:
        if marker.kind == "BEGIN":
            if open_marker is not None:
                raise MarkerError(
                    f"{filename}:{marker.line}: nested `### BEGIN SOLUTION`: the region opened at "
                    f"line {open_marker.line} is not closed yet; regions do not nest, so add "
                    "`### END SOLUTION` before this line"
                )
            open_marker = marker
        else:
            if open_marker is None:
                raise MarkerError(
                    f"{filename}:{marker.line}: `### END SOLUTION` without a matching "
                    "`### BEGIN SOLUTION` above it; add the BEGIN marker or delete this line"
                )
            pairs.append((open_marker, marker))
            open_marker = None
    if open_marker is not None:
        raise MarkerError(
            f"{filename}:{open_marker.line}: `### BEGIN SOLUTION` without a matching "
            "`### END SOLUTION`; add the END marker after the last line of the solution"
        )
    return pairs


def _qualname(tree: _Tree, function: ast.AST) -> str:
    chain = [a for a in tree.ancestors(function) if isinstance(a, _SCOPES)][::-1] + [function]
    parts = []
    for i, node in enumerate(chain):
        parts.append(node.name)
        if isinstance(node, _FUNCTIONS) and i < len(chain) - 1:
            parts.append("<locals>")
    return ".".join(parts)


def _make_region(
    tree: _Tree, lines: list[str], begin: _Marker, end: _Marker, module: str, filename: str
) -> Region:
    where = f"{filename}:{begin.line}"
    span = f"the region at lines {begin.line}-{end.line}"
    if begin.indent != end.indent:
        raise MarkerError(
            f"{filename}:{end.line}: `### END SOLUTION` is indented differently from its "
            f"`### BEGIN SOLUTION` at line {begin.line}; put both markers at the indentation of "
            "the code between them"
        )
    if end.label is not None and end.label != begin.label:
        raise MarkerError(
            f"{filename}:{end.line}: `### END SOLUTION {end.label}` closes a region opened as "
            f"`### BEGIN SOLUTION{' ' + begin.label if begin.label else ''}` at line "
            f"{begin.line}; use the same label or none on the END marker"
        )
    body = lines[begin.line : end.line - 1]
    if all(not text.strip() or text.strip().startswith("#") for text in body):
        raise MarkerError(
            f"{where}: {span} is empty; put the solution code between the markers or delete them"
        )

    inside = sorted(
        (s for s in tree.statements if begin.line < _start(s) < end.line),
        key=lambda s: (_start(s), s.col_offset),
    )
    if not inside:  # pragma: no cover - the marker check catches this first
        raise MarkerError(f"{where}: {span} holds no whole statement; move the markers")
    for stmt in inside:
        if stmt.end_lineno >= end.line:
            raise MarkerError(
                f"{filename}:{_start(stmt)}: the statement at line {_start(stmt)} starts inside "
                f"{span} but ends at line {stmt.end_lineno}, after `### END SOLUTION`; the "
                "markers must enclose whole statements, so move END below it"
            )
    inside_set = set(inside)
    top = [s for s in inside if tree.parent[s][0] not in inside_set]
    block = tree.parent[top[0]]
    for stmt in top[1:]:
        if tree.parent[stmt] != block:
            raise MarkerError(
                f"{where}: {span} mixes statements of different blocks (line {_start(top[0])} "
                f"and line {_start(stmt)}); the markers must enclose consecutive statements of one "
                "block, at that block's indentation"
            )
    for stmt in top:
        if stmt.col_offset != len(begin.indent):
            raise MarkerError(
                f"{filename}:{stmt.lineno}: the code in {span} is indented by {stmt.col_offset} "
                f"but the markers by {len(begin.indent)}; indent the markers exactly like the "
                "statements they enclose"
            )
    enclosing = set(tree.ancestors(top[0]))
    for stmt in tree.statements:
        overlaps = _start(stmt) < begin.line < stmt.end_lineno < end.line
        if overlaps and stmt not in enclosing:
            raise MarkerError(  # pragma: no cover - defensive; earlier checks catch known cases
                f"{where}: the statement at lines {_start(stmt)}-{stmt.end_lineno} starts before "
                f"{span} and ends inside it; the markers must enclose whole statements"
            )
    # Backstop: the region's text, dedented by the markers' indentation, must parse on its own.
    dedented = "".join(t[len(begin.indent) :] if t.startswith(begin.indent) else t for t in body)
    try:
        ast.parse(dedented)
    except SyntaxError as exc:
        raise MarkerError(
            f"{where}: the code in {span} is not a run of whole statements at the markers' "
            f"indentation ({exc.msg} at its line {exc.lineno}); move the markers"
        ) from None

    scope = next((a for a in tree.ancestors(top[0]) if isinstance(a, _SCOPES)), None)
    if not isinstance(scope, _FUNCTIONS):
        place = "at module level" if scope is None else f"in the body of class {scope.name}"
        raise MarkerError(
            f"{where}: {span} is {place}, not inside a function; solution regions go inside a "
            "function or method body"
        )
    if block == (scope, "body") and top[0] is scope.body[0] and _is_docstring(top[0]):
        raise MarkerError(
            f"{where}: {span} contains the docstring of {scope.name}, which students need; move "
            "`### BEGIN SOLUTION` below the docstring"
        )
    return Region(
        module=module,
        qualname=_qualname(tree, scope),
        label=begin.label,
        begin=begin.line,
        end=end.line,
        indent=begin.indent,
        documented=ast.get_docstring(scope) is not None,
    )


def find_regions(source: str, module: str, *, filename: str | None = None) -> list[Region]:
    """Return the solution regions of ``source`` (the text of module ``module``), in file order.

    Raises :class:`MarkerError` (with file:line and the fix) for unbalanced, nested or malformed
    markers, regions outside a function, markers at different indentation, empty regions, regions
    that split a statement, and functions mixing labelled and unlabelled regions.
    """
    filename = filename or module.replace(".", "/") + ".py"
    lines = split_lines(source)
    markers = _scan_markers(lines, filename)
    if not markers:
        return []
    tree = _Tree(source, filename)
    for marker in markers:
        _check_marker_between_statements(tree, marker, filename)
    regions = [
        _make_region(tree, lines, begin, end, module, filename)
        for begin, end in _pair(markers, filename)
    ]
    labelled: dict[str, list[Region]] = {}
    for region in regions:
        labelled.setdefault(region.function_key, []).append(region)
    for group in labelled.values():
        kinds = {region.label is None for region in group}
        if len(kinds) > 1:
            bare = next(region for region in group if region.label is None)
            raise MarkerError(
                f"{filename}:{bare.begin}: {bare.qualname} mixes labelled and unlabelled regions, "
                "so the unlabelled one cannot be selected on its own; give every region of "
                "the function a label"
            )
    return regions
