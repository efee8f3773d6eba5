"""Generate the student package ``assignment/`` from the reference package ``solutions/``.

Solution code sits between markers inside function bodies (see CONTRIBUTING.md)::

    ### BEGIN SOLUTION            (or: ### BEGIN SOLUTION <label>)
    ...the answer...
    ### END SOLUTION

A region whose task key is selected in ``autograder/release.toml`` becomes a single line
``raise NotImplementedError("<qualname>: ...")``; any other region keeps its code and loses only
its two marker lines. Every other byte is copied unchanged, and each generated ``.py`` file gets a
two-line header comment.

Usage (paths default to the repository this file lives in, not to the current directory)::

    python -m autograder.authoring.stubgen          # (re)write assignment/
    python -m autograder.authoring.stubgen --check  # write nothing; exit 1 if assignment/ is stale
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from autograder.config import DEFAULT_CONFIG, REPO_ROOT, ConfigError, read_toml

DEFAULT_SOLUTIONS = REPO_ROOT / "solutions"
DEFAULT_OUT = REPO_ROOT / "assignment"

#: Every generated ``.py`` file starts with this; it is also how stale generated files are found.
HEADER_PREFIX = "# normlab student file:"
_HEADER_TASKS = f"{HEADER_PREFIX} replace each `raise NotImplementedError` with your code."
_HEADER_GIVEN = f"{HEADER_PREFIX} given code, nothing to write here."
_HEADER_SECOND_LINE = "# Instructors: generated from {source} by `make stubs`; edit the solution."

_MARKER_RE = re.compile(
    r"(?P<indent>[ \t]*)###[ \t]*(?P<kind>BEGIN|END)[ \t]+SOLUTION(?:[ \t]+(?P<label>\w+))?[ \t]*"
)
_MENTION_RE = re.compile(r"\b(?:BEGIN|END)[ \t]+SOLUTION\b", re.IGNORECASE)
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SKIPPED_NAMES = ("__pycache__",)
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


class StubgenError(Exception):
    """A problem with the solutions package or the release config that stops generation."""


class MarkerError(StubgenError):
    """Misplaced or malformed solution markers; the message gives file:line and the fix."""


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


def _split_lines(source: str) -> list[str]:
    """Split like Python's tokenizer (\\r\\n, \\r or \\n), keeping each line's ending."""
    return _LINE_RE.findall(source)


def _line_ending(line: str) -> str:
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
    lines = _split_lines(source)
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


# --------------------------------------------------------------------------------------------------
# Making one stub
# --------------------------------------------------------------------------------------------------


def stub_message(region: Region) -> str:
    """The NotImplementedError message that replaces a selected region."""
    if region.label:
        what = f"the '{region.label}' part is not implemented yet"
    else:
        what = "not implemented yet"
    see = "; the docstring says what to compute" if region.documented else ""
    return (
        f"{region.qualname}: {what} — this is your task ({region.key}). "
        f"Replace this raise with your code{see}."
    )


def make_stub(
    source: str, module: str, tasks: Iterable[str], *, filename: str | None = None
) -> str:
    """Return the student version of ``source``.

    Each region selected by ``tasks`` (its key, or its function's label-less key) becomes one line
    ``raise NotImplementedError("<qualname>: ...")`` at the markers' indentation; every other region
    keeps its code without the marker lines. All other bytes are unchanged.
    """
    tasks = set(tasks)
    filename = filename or module.replace(".", "/") + ".py"
    lines = _split_lines(source)
    out: list[str] = []
    position = 0  # index of the next line of `lines` to copy
    for region in find_regions(source, module, filename=filename):
        out.extend(lines[position : region.begin - 1])
        if region.selected_by(tasks):
            ending = _line_ending(lines[region.end - 1])
            message = stub_message(region)
            out.append(f'{region.indent}raise NotImplementedError("{message}"){ending}')
        else:
            out.extend(lines[region.begin : region.end - 1])
        position = region.end
    out.extend(lines[position:])
    if lines and not _line_ending(lines[-1]) and out:
        # No newline at the end of the source (say, after a dropped END marker): none in the stub.
        out[-1] = out[-1].rstrip("\r\n")
    stub = "".join(out)
    try:
        ast.parse(stub, filename)
    except SyntaxError as exc:  # pragma: no cover - find_regions should make this impossible
        raise StubgenError(
            f"{filename}: internal error, the stub is not valid Python at its line {exc.lineno}"
        ) from None
    return stub


# --------------------------------------------------------------------------------------------------
# The whole package
# --------------------------------------------------------------------------------------------------


def _package_files(root: Path) -> list[Path]:
    """Files of a package directory, relative to it; skips caches, bytecode and hidden files."""
    files = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part in _SKIPPED_NAMES or part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix not in _SKIPPED_SUFFIXES:
            files.append(rel)
    return sorted(files)


def _module_name(rel: Path) -> str:
    return ".".join(rel.with_suffix("").parts)


def _header(source_name: str, has_tasks: bool, ending: str) -> str:
    first = _HEADER_TASKS if has_tasks else _HEADER_GIVEN
    second = _HEADER_SECOND_LINE.format(source=source_name)
    return f"{first}{ending}{second}{ending}"


def _is_generated(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.readline().startswith(HEADER_PREFIX.encode())


def _render(solutions_dir: Path, tasks: set[str]) -> dict[Path, bytes]:
    """Relative path -> content of every file of the student package."""
    solutions_dir = Path(solutions_dir)
    if not solutions_dir.is_dir():
        raise StubgenError(f"{solutions_dir}: no such solutions directory")
    sources = {}
    valid: set[str] = set()
    for rel in _package_files(solutions_dir):
        if rel.suffix != ".py":
            continue
        source = (solutions_dir / rel).read_bytes().decode("utf-8")
        display = f"{solutions_dir.name}/{rel.as_posix()}"
        regions = find_regions(source, _module_name(rel), filename=display)
        valid.update(key for region in regions for key in (region.key, region.function_key))
        sources[rel] = (source, display, regions)
    unknown = set(tasks) - valid
    if unknown:
        listing = "\n".join(f"  {key}" for key in sorted(valid)) or "  (none: no markers found)"
        raise StubgenError(
            f"unknown task key(s) {', '.join(sorted(unknown))}: no solution region in "
            f"{solutions_dir} has that key. Valid keys:\n{listing}"
        )
    rendered = {}
    for rel in _package_files(solutions_dir):
        if rel not in sources:
            rendered[rel] = (solutions_dir / rel).read_bytes()
            continue
        source, display, regions = sources[rel]
        stub = make_stub(source, _module_name(rel), tasks, filename=display)
        lines = _split_lines(source)
        ending = (_line_ending(lines[0]) if lines else "") or "\n"
        has_tasks = any(r.selected_by(tasks) for r in regions)
        rendered[rel] = (_header(display, has_tasks, ending) + stub).encode("utf-8")
    return rendered


def _stale(out_dir: Path, expected: Iterable[Path]) -> list[Path]:
    """Generated ``.py`` files (they carry the header) in out_dir that nothing generates now."""
    if not out_dir.is_dir():
        return []
    expected = set(expected)
    return [
        rel
        for rel in _package_files(out_dir)
        if rel.suffix == ".py" and rel not in expected and _is_generated(out_dir / rel)
    ]


def check(solutions_dir: Path | str, out_dir: Path | str, tasks: Iterable[str]) -> list[str]:
    """List what :func:`generate` would change in ``out_dir``, one ``"<kind>: <path>"`` per file.

    Kinds: ``missing`` (would be created), ``drifted`` (content differs), ``extra`` (a generated
    file whose solution is gone; would be removed). Empty when ``out_dir`` is up to date.
    """
    out_dir = Path(out_dir)
    rendered = _render(Path(solutions_dir), set(tasks))
    problems = []
    for rel, content in sorted(rendered.items()):
        target = out_dir / rel
        if not target.is_file():
            problems.append(f"missing: {target}")
        elif target.read_bytes() != content:
            problems.append(f"drifted: {target}")
    problems += [f"extra: {out_dir / rel}" for rel in _stale(out_dir, rendered)]
    return problems


def generate(solutions_dir: Path | str, out_dir: Path | str, tasks: Iterable[str]) -> list[Path]:
    """Write the student package generated from ``solutions_dir`` into ``out_dir``.

    Files whose content is already right are left untouched; generated ``.py`` files (recognised by
    their header) whose solution no longer exists are removed; other files are never removed.
    Returns the paths of all generated files. Raises :class:`StubgenError` for bad markers and for
    task keys that match no region.
    """
    solutions_dir, out_dir = Path(solutions_dir), Path(out_dir)
    if out_dir.resolve() == solutions_dir.resolve():
        raise StubgenError(f"{out_dir}: refusing to write the stubs over the solutions")
    rendered = _render(solutions_dir, set(tasks))
    for rel in _stale(out_dir, rendered):
        (out_dir / rel).unlink()
    written = []
    for rel, content in sorted(rendered.items()):
        target = out_dir / rel
        if not target.is_file() or target.read_bytes() != content:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        written.append(target)
    return written


def load_tasks(config_path: Path | str) -> set[str]:
    """Read the selected task keys, ``[stubs] tasks = [...]``, from the release config."""
    path = Path(config_path)
    try:
        config = read_toml(path)
    except ConfigError as exc:
        raise StubgenError(str(exc)) from None
    tasks = config.get("stubs", {}).get("tasks") if isinstance(config.get("stubs"), dict) else None
    if not isinstance(tasks, list) or not all(isinstance(t, str) and t.strip() for t in tasks):
        raise StubgenError(
            f'{path}: needs a [stubs] section with tasks = ["<module>.<qualname>[:<label>]", ...]'
        )
    return {task.strip() for task in tasks}


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def _show(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 1 out of date, 2 error)."""
    parser = argparse.ArgumentParser(
        prog="python -m autograder.authoring.stubgen",
        description="Generate the student package (assignment/) from the solutions package.",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="release config with [stubs] tasks (default: %(default)s)")
    parser.add_argument("--solutions", type=Path, default=DEFAULT_SOLUTIONS,
                        help="solutions package directory (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="student package directory to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 and list the files that are out of date")
    args = parser.parse_args(argv)
    try:
        tasks = load_tasks(args.config)
        problems = check(args.solutions, args.out, tasks)
        if args.check:
            if problems:
                print(f"{_show(args.out)} is out of date with {_show(args.solutions)}:",
                      file=sys.stderr)
                for problem in problems:
                    print(f"  {problem}", file=sys.stderr)
                print("Run `make stubs` (python -m autograder.authoring.stubgen) and commit "
                      "the result.", file=sys.stderr)
                return 1
            print(f"{_show(args.out)} is up to date.")
            return 0
        written = generate(args.solutions, args.out, tasks)
    except StubgenError as exc:
        print(f"stubgen: error: {exc}", file=sys.stderr)
        return 2
    print(f"{_show(args.out)}: {len(written)} files, {len(problems)} changed"
          + "".join(f"\n  {problem}" for problem in problems))
    return 0


if __name__ == "__main__":
    sys.exit(main())
