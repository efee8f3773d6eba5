"""Generate the student package ``assignment/`` from the reference package ``solutions/``.

Solution code sits between markers inside function bodies (see CONTRIBUTING.md)::

    ### BEGIN SOLUTION            (or: ### BEGIN SOLUTION <label>)
    ...the answer...
    ### END SOLUTION

A region whose task key is selected in ``autograder/release.toml`` becomes a single line
``raise NotImplementedError("<qualname>: ...")``; any other region keeps its code and loses only
its two marker lines. Every other byte is copied unchanged, and each generated ``.py`` file gets a
two-line header comment. Where the regions are (and what makes markers wrong) is
`autograder.authoring.regions`; this module writes and checks the stubs.

Usage (paths default to the repository this file lives in, not to the current directory)::

    python -m autograder.authoring.stubgen          # (re)write assignment/
    python -m autograder.authoring.stubgen --check  # write nothing; exit 1 if assignment/ is stale
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from pathlib import Path

from autograder.authoring.regions import (
    Region,
    StubgenError,
    find_regions,
    line_ending,
    split_lines,
)
from autograder.config import DEFAULT_CONFIG, REPO_ROOT, ConfigError, read_toml

DEFAULT_SOLUTIONS = REPO_ROOT / "solutions"
DEFAULT_OUT = REPO_ROOT / "assignment"

#: Every generated ``.py`` file starts with this; it is also how stale generated files are found.
HEADER_PREFIX = "# normlab student file:"
_HEADER_TASKS = f"{HEADER_PREFIX} replace each `raise NotImplementedError` with your code."
_HEADER_GIVEN = f"{HEADER_PREFIX} given code, nothing to write here."
_HEADER_SECOND_LINE = "# Instructors: generated from {source} by `make stubs`; edit the solution."

_SKIPPED_NAMES = ("__pycache__",)
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


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
    lines = split_lines(source)
    out: list[str] = []
    position = 0  # index of the next line of `lines` to copy
    for region in find_regions(source, module, filename=filename):
        out.extend(lines[position : region.begin - 1])
        if region.selected_by(tasks):
            ending = line_ending(lines[region.end - 1])
            message = stub_message(region)
            out.append(f'{region.indent}raise NotImplementedError("{message}"){ending}')
        else:
            out.extend(lines[region.begin : region.end - 1])
        position = region.end
    out.extend(lines[position:])
    if lines and not line_ending(lines[-1]) and out:
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
        lines = split_lines(source)
        ending = (line_ending(lines[0]) if lines else "") or "\n"
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
