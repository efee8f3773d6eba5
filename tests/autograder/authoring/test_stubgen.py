"""Tests of the solutions -> assignment generator (autograder/authoring/stubgen.py).

Unit tests run on the fake package in tests/autograder/authoring/stubgen_fixtures/fakesol. The
real-repo tests check that the committed assignment/ is exactly what the generator makes from
solutions/ (drift), that no statement of a selected solution region survives in it (leak), that the
markers of solutions/ are well formed and the release config names existing tasks, and that the
student package has the same API as the solutions with each task raising NotImplementedError that
names it.
"""

import ast
import difflib
import importlib
import inspect
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from autograder.authoring import stubgen
from autograder.authoring.regions import MarkerError, StubgenError, find_regions
from autograder.authoring.stubgen import HEADER_PREFIX, generate, load_tasks, make_stub
from autograder.config import read_toml
from tests.support.paths import REPO

pytestmark = pytest.mark.stubgen

SOLUTIONS = REPO / "solutions"
ASSIGNMENT = REPO / "assignment"
CONFIG = REPO / "autograder" / "release.toml"
FIXTURE = Path(__file__).resolve().parent / "stubgen_fixtures" / "fakesol"
OPS = (FIXTURE / "ops.py").read_text(encoding="utf-8")
FIXTURE_TASKS = {"ops.scale", "ops.norm:l2", "ops.undocumented", "ops.Model.__init__",
                 "ops.Model.Inner.value"}
RAISE_RE = re.compile(r'^(?P<indent>[ \t]*)raise NotImplementedError\("(?P<message>[^"]*)"\)$')


def _raise_lines(stub):
    return [m for line in stub.splitlines() if (m := RAISE_RE.match(line))]


def _dedent(source):
    return textwrap.dedent(source).lstrip("\n")


# --------------------------------------------------------------------------------------------------
# find_regions and make_stub on the fixture module
# --------------------------------------------------------------------------------------------------


def test_regions_know_key_qualname_span_and_indent():
    regions = {r.key: r for r in find_regions(OPS, "ops")}
    assert set(regions) == {
        "ops.scale", "ops.shift", "ops.norm:l2", "ops.norm:l1", "ops.undocumented",
        "ops.Model.__init__", "ops.Model.Inner.value",
    }
    lines = OPS.splitlines()
    for region in regions.values():
        assert lines[region.begin - 1].strip().startswith("### BEGIN SOLUTION")
        assert lines[region.end - 1].strip().startswith("### END SOLUTION")
        assert lines[region.begin - 1].startswith(region.indent + "#")
    assert regions["ops.norm:l2"].qualname == "norm"
    assert regions["ops.norm:l2"].function_key == "ops.norm"
    assert regions["ops.norm:l2"].indent == " " * 8
    assert regions["ops.Model.Inner.value"].qualname == "Model.Inner.value"
    assert regions["ops.Model.Inner.value"].indent == " " * 12


def test_selected_region_becomes_one_raise_naming_the_task():
    stub = make_stub(OPS, "ops", {"ops.scale"})
    raises = _raise_lines(stub)
    assert len(raises) == 1
    assert raises[0]["indent"] == "    "
    message = raises[0]["message"]
    assert message.startswith("scale: not implemented yet")
    assert "(ops.scale)" in message and "docstring" in message
    assert "result = x * factor" not in stub
    assert "SOLUTION" not in stub
    # The docstring and the scaffolding around the region stay.
    assert '"""Return x * factor (task ops.scale: one unlabelled region)."""' in stub
    assert "    result = None\n    raise NotImplementedError(" in stub


def test_unselected_region_keeps_its_code_and_loses_the_markers():
    stub = make_stub(OPS, "ops", {"ops.scale"})
    assert "    shifted = x + offset\n    return shifted\n" in stub
    assert make_stub(OPS, "ops", set()) == "".join(
        line for line in OPS.splitlines(keepends=True) if "### " not in line
    )


def test_labelled_region_and_function_key():
    stub = make_stub(OPS, "ops", {"ops.norm:l2"})
    (raised,) = _raise_lines(stub)
    assert raised["message"].startswith("norm: the 'l2' part is not implemented yet")
    assert "(ops.norm:l2)" in raised["message"]
    assert "return sum(abs(item) for item in v)" in stub  # the l1 region is given
    assert "math.sqrt" not in stub
    # The label-less key selects every region of the function.
    both = make_stub(OPS, "ops", {"ops.norm"})
    assert [m["message"].split(" — ")[0] for m in _raise_lines(both)] == [
        "norm: the 'l2' part is not implemented yet",
        "norm: the 'l1' part is not implemented yet",
    ]


def test_message_mentions_the_docstring_only_when_there_is_one():
    stub = make_stub(OPS, "ops", {"ops.undocumented", "ops.Model.Inner.value"})
    messages = {m["message"].split(":")[0]: m["message"] for m in _raise_lines(stub)}
    assert "docstring" not in messages["undocumented"]
    assert "docstring" in messages["Model.Inner.value"]


def _assert_only_regions_changed(source, stub, regions, tasks):
    """Every difference between source and stub lies inside a region, and is the region's raise
    (selected) or the removal of its two marker lines (given)."""
    old, new = source.splitlines(keepends=True), stub.splitlines(keepends=True)
    inside = {n for r in regions for n in range(r.begin, r.end + 1)}
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        assert set(range(i1 + 1, i2 + 1)) <= inside, f"lines {i1 + 1}-{i2} changed: {old[i1:i2]}"
        for line in new[j1:j2]:  # a raise, or a region's line (its ending may go at EOF)
            text = line.rstrip("\r\n")
            assert RAISE_RE.match(text) or text in {old[n - 1].rstrip("\r\n") for n in inside}
    raises = [line for line in new if RAISE_RE.match(line.rstrip("\r\n"))]
    assert len(raises) == sum(r.selected_by(tasks) for r in regions)


@pytest.mark.parametrize("variant", ["lf", "crlf", "no-final-newline"])
def test_bytes_outside_the_regions_are_unchanged(variant):
    source = {
        "lf": OPS,
        "crlf": OPS.replace("\n", "\r\n"),
        "no-final-newline": OPS.rstrip("\n"),
    }[variant]
    regions = find_regions(source, "ops")
    selections = [FIXTURE_TASKS, set(), {"ops.Model.__init__", "ops.norm"}, {"ops.norm:l1"}]
    for tasks in selections:
        stub = make_stub(source, "ops", tasks)
        _assert_only_regions_changed(source, stub, regions, tasks)
        assert stub.endswith("\n") == source.endswith("\n")
        if variant == "crlf":
            assert "\n" not in stub.replace("\r\n", ""), "a bare LF crept into a CRLF file"


# --------------------------------------------------------------------------------------------------
# Marker errors: each names file:line and says what to fix
# --------------------------------------------------------------------------------------------------

BAD_MARKERS = {
    "begin-without-end": (
        """
        def f():
            x = 1
            ### BEGIN SOLUTION
            return x
        """,
        3, ["without a matching `### END SOLUTION`", "add the END marker"],
    ),
    "end-without-begin": (
        """
        def f():
            return 1
            ### END SOLUTION
        """,
        3, ["without a matching `### BEGIN SOLUTION`"],
    ),
    "nested-begin": (
        """
        def f():
            ### BEGIN SOLUTION
            x = 1
            ### BEGIN SOLUTION
            y = 2
            ### END SOLUTION
            return x + y
        """,
        4, ["nested", "opened at line 2", "do not nest"],
    ),
    "module-level": (
        """
        ### BEGIN SOLUTION
        X = 1
        ### END SOLUTION
        """,
        1, ["module level", "inside a function"],
    ),
    "class-body": (
        """
        class A:
            ### BEGIN SOLUTION
            x = 1
            ### END SOLUTION
        """,
        2, ["in the body of class A", "function or method body"],
    ),
    "different-indentation": (
        """
        def f(x):
            if x:
                ### BEGIN SOLUTION
                x = 1
            ### END SOLUTION
            return x
        """,
        5, ["indented differently", "BEGIN SOLUTION` at line 3"],
    ),
    "empty": (
        """
        def f():
            ### BEGIN SOLUTION
            # nothing yet

            ### END SOLUTION
            return 1
        """,
        2, ["is empty", "lines 2-5"],
    ),
    "starts-inside-ends-outside": (
        """
        def f(x):
            ### BEGIN SOLUTION
            if x:
                y = 1
            ### END SOLUTION
                y = 2
            return y
        """,
        3, ["starts inside", "ends at line 6, after `### END SOLUTION`"],
    ),
    "end-inside-a-multiline-statement": (
        """
        def f(x):
            ### BEGIN SOLUTION
            y = (x +
            ### END SOLUTION
                 1)
            return y
        """,
        4, ["inside the statement at lines 3-5", "split"],
    ),
    "begin-inside-a-multiline-statement": (
        """
        def f(x):
            y = [
                x,
            ### BEGIN SOLUTION
            ]
            z = 1
            ### END SOLUTION
            return y, z
        """,
        4, ["inside the statement at lines 2-5", "split"],
    ),
    "starts-outside-ends-inside": (
        """
        def f(x):
            if x:
                y = 1
                ### BEGIN SOLUTION
                y = 2
            z = 3
                ### END SOLUTION
            return y, z
        """,
        4, ["different blocks", "consecutive statements of one block"],
    ),
    "marker-in-a-docstring": (
        """
        def f():
            '''Doc.

            ### BEGIN SOLUTION
            '''
            return 1
        """,
        4, ["inside the statement at lines 2-5", "multi-line expression or string"],
    ),
    "code-indented-unlike-markers": (
        """
        def f(x):
            if x:
            ### BEGIN SOLUTION
                y = 1
            ### END SOLUTION
            return y
        """,
        4, ["indented by 8 but the markers by 4"],
    ),
    "region-in-a-header": (
        """
        def f(a, b):
            if (a and
            ### BEGIN SOLUTION
                b):
                y = 1
            ### END SOLUTION
            return y
        """,
        3, ["header of the `if` statement at line 2"],
    ),
    "docstring-inside-region": (
        """
        def f():
            ### BEGIN SOLUTION
            '''Doc.'''
            return 1
            ### END SOLUTION
        """,
        2, ["docstring of f", "below the docstring"],
    ),
    "mixed-labels": (
        """
        def f(x):
            ### BEGIN SOLUTION part
            y = x
            ### END SOLUTION
            ### BEGIN SOLUTION
            return y
            ### END SOLUTION
        """,
        5, ["mixes labelled and unlabelled", "give every region of the function a label"],
    ),
    "end-label-mismatch": (
        """
        def f(x):
            ### BEGIN SOLUTION part
            y = x
            ### END SOLUTION other
            return y
        """,
        4, ["closes a region opened as `### BEGIN SOLUTION part`"],
    ),
    "malformed-marker": (
        """
        def f(x):
            # BEGIN SOLUTION
            return x
        """,
        2, ["not a marker", "`### BEGIN SOLUTION`"],
    ),
    "label-of-two-words": (
        """
        def f(x):
            ### BEGIN SOLUTION two words
            return x
            ### END SOLUTION
        """,
        2, ["not a marker", "one label"],
    ),
    "syntax-error": (
        """
        def f(x):
            ### BEGIN SOLUTION
            return x +
            ### END SOLUTION
        """,
        3, ["not valid Python"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MARKERS))
def test_marker_errors_name_the_line_and_the_fix(case):
    source, line, fragments = BAD_MARKERS[case]
    with pytest.raises(MarkerError) as info:
        find_regions(_dedent(source), "pkg.bad")
    message = str(info.value)
    assert message.startswith(f"pkg/bad.py:{line}: "), message
    for fragment in fragments:
        assert fragment in message, message
    with pytest.raises(MarkerError):  # make_stub refuses the same file
        make_stub(_dedent(source), "pkg.bad", set(), filename="solutions/bad.py")


def test_marker_error_uses_the_given_filename():
    source, _, _ = BAD_MARKERS["empty"]
    with pytest.raises(MarkerError, match=r"^solutions/x\.py:2: "):
        find_regions(_dedent(source), "x", filename="solutions/x.py")


def test_a_file_without_markers_has_no_regions_and_is_copied_verbatim():
    source = (FIXTURE / "helpers.py").read_text()
    assert find_regions(source, "helpers") == []
    assert make_stub(source, "helpers", FIXTURE_TASKS) == source


# --------------------------------------------------------------------------------------------------
# generate, check, load_tasks and the command line on the fixture package
# --------------------------------------------------------------------------------------------------


def test_generate_writes_the_package_with_headers_and_data(tmp_path):
    out = tmp_path / "student"
    paths = generate(FIXTURE, out, FIXTURE_TASKS)
    assert sorted(p.relative_to(out).as_posix() for p in paths) == [
        "__init__.py", "helpers.py", "ops.py", "table.csv",
    ]
    for name in ("__init__.py", "helpers.py", "ops.py"):
        text = (out / name).read_text(encoding="utf-8")
        first, second, rest = text.split("\n", 2)
        assert first == HEADER_PREFIX + (
            " replace each `raise NotImplementedError` with your code."
            if name == "ops.py"
            else " given code, nothing to write here."
        )
        assert second.startswith(f"# Instructors: generated from fakesol/{name} by `make stubs`")
        source = (FIXTURE / name).read_text(encoding="utf-8")
        assert rest == make_stub(source, name[:-3], FIXTURE_TASKS)
    assert (out / "table.csv").read_bytes() == (FIXTURE / "table.csv").read_bytes()
    assert not list(out.rglob("__pycache__"))
    assert stubgen.check(FIXTURE, out, FIXTURE_TASKS) == []


def test_generated_stubs_import_and_raise_naming_the_function(tmp_path, monkeypatch):
    generate(FIXTURE, tmp_path / "fakestudent", FIXTURE_TASKS)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    try:
        ops = importlib.import_module("fakestudent.ops")
        for call, name in [
            (lambda: ops.scale(2.0), "scale"),
            (lambda: ops.norm([3.0, 4.0]), "norm"),
            (lambda: ops.undocumented(1), "undocumented"),
            (lambda: ops.Model(3), "Model.__init__"),
            (lambda: ops.Model.Inner().value(), "Model.Inner.value"),
        ]:
            with pytest.raises(NotImplementedError, match=rf"^{re.escape(name)}: "):
                call()
        # Given code still works, including the relative import of the sibling module.
        assert ops.shift(1.0) == 2.0
        assert ops.norm([3.0, -4.0], kind="l1") == 7.0
        assert ops.Model.twice(None, 5) == 10
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == "fakestudent"]:
            del sys.modules[name]


def test_stale_generated_files_are_removed_and_others_kept(tmp_path):
    out = tmp_path / "student"
    generate(FIXTURE, out, FIXTURE_TASKS)
    (out / "sub").mkdir()
    stale = [out / "old.py", out / "sub" / "gone.py"]
    for path in stale:
        path.write_text(f"{HEADER_PREFIX} old\nx = 1\n")
    keep = [out / "notes.py", out / "notes.txt"]
    for path in keep:
        path.write_text("# written by hand\n")
    problems = stubgen.check(FIXTURE, out, FIXTURE_TASKS)
    assert sorted(problems) == sorted(f"extra: {path}" for path in stale)
    generate(FIXTURE, out, FIXTURE_TASKS)
    assert not any(path.exists() for path in stale)
    assert all(path.read_text() == "# written by hand\n" for path in keep)


def test_check_lists_drifted_missing_and_extra_files_and_writes_nothing(tmp_path):
    out = tmp_path / "student"
    assert sorted(stubgen.check(FIXTURE, out, FIXTURE_TASKS)) == [
        f"missing: {out / name}" for name in ("__init__.py", "helpers.py", "ops.py", "table.csv")
    ]
    assert not out.exists()
    generate(FIXTURE, out, FIXTURE_TASKS)
    (out / "ops.py").write_text((out / "ops.py").read_text() + "# student edit\n")
    (out / "helpers.py").unlink()
    assert stubgen.check(FIXTURE, out, FIXTURE_TASKS) == [
        f"missing: {out / 'helpers.py'}", f"drifted: {out / 'ops.py'}",
    ]


def test_unknown_task_keys_are_an_error_listing_the_valid_keys(tmp_path):
    with pytest.raises(StubgenError) as info:
        generate(FIXTURE, tmp_path / "out", {"ops.scale", "ops.nope", "layers.scale"})
    message = str(info.value)
    assert "layers.scale, ops.nope" in message
    for valid in ("ops.scale", "ops.norm", "ops.norm:l2", "ops.Model.Inner.value"):
        assert f"\n  {valid}\n" in message + "\n"
    assert not (tmp_path / "out").exists()


def test_generate_refuses_to_overwrite_the_solutions(tmp_path):
    with pytest.raises(StubgenError, match="refusing"):
        generate(FIXTURE, FIXTURE, set())


def test_load_tasks_reads_stubs_and_ignores_other_sections(tmp_path):
    config = tmp_path / "release.toml"
    config.write_text(
        '[assignment]\nname = "x"\n[stubs]\ntasks = ["ops.scale", "ops.norm:l2"]\n'
        '[points]\n"ops.scale" = 3\n'
    )
    assert load_tasks(config) == {"ops.scale", "ops.norm:l2"}
    for bad in ('[assignment]\nname = "x"\n', '[stubs]\ntasks = "ops.scale"\n',
                '[stubs]\ntasks = [1]\n', "[stubs\n"):
        config.write_text(bad)
        with pytest.raises(StubgenError, match=re.escape(str(config))):
            load_tasks(config)
    with pytest.raises(StubgenError, match="not found"):
        load_tasks(tmp_path / "missing.toml")


def test_command_line(tmp_path, capsys):
    config = tmp_path / "release.toml"
    config.write_text('[stubs]\ntasks = ["ops.scale", "ops.Model.__init__"]\n')
    out = tmp_path / "student"
    args = ["--config", str(config), "--solutions", str(FIXTURE), "--out", str(out)]

    assert stubgen.main([*args, "--check"]) == 1
    assert not out.exists()
    assert f"missing: {out / 'ops.py'}" in capsys.readouterr().err

    assert stubgen.main(args) == 0
    assert "4 changed" in capsys.readouterr().out
    assert 'raise NotImplementedError("scale: ' in (out / "ops.py").read_text()
    assert stubgen.main([*args, "--check"]) == 0

    (out / "ops.py").write_text("# edited\n")
    assert stubgen.main([*args, "--check"]) == 1
    err = capsys.readouterr().err
    assert f"drifted: {out / 'ops.py'}" in err and "make stubs" in err

    config.write_text('[stubs]\ntasks = ["ops.nope"]\n')
    assert stubgen.main(args) == 2
    assert "unknown task key(s) ops.nope" in capsys.readouterr().err


def test_default_paths_are_relative_to_the_repository():
    assert stubgen.DEFAULT_SOLUTIONS == REPO / "solutions"
    assert stubgen.DEFAULT_OUT == REPO / "assignment"
    assert stubgen.DEFAULT_CONFIG == CONFIG


def test_release_config():
    tasks = load_tasks(CONFIG)
    assert tasks and all(re.fullmatch(r"\w+(\.\w+)+(:\w+)?", task) for task in tasks)
    assert "layers.batchnorm_forward" in tasks
    assert not any(task.startswith(("layers.affine", "layers.relu", "layers.dropout", "optim."))
                   for task in tasks), "given code is not a task"
    assert read_toml(CONFIG)["assignment"]["name"] == "normalization"


# --------------------------------------------------------------------------------------------------
# The real repository: solutions/ -> assignment/
# --------------------------------------------------------------------------------------------------


def _require_real_solutions():
    if not (SOLUTIONS / "layers.py").is_file():
        pytest.skip("solutions/layers.py does not exist yet: nothing to generate assignment/ from")


def _package_files(root):
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file()
        and not any(p == "__pycache__" or p.startswith(".") for p in path.relative_to(root).parts)
        and path.suffix not in (".pyc", ".pyo")
    }


def _solution_modules():
    """(module name, path) of every solutions/*.py, ``__init__`` included."""
    return [
        (".".join(path.relative_to(SOLUTIONS).with_suffix("").parts), path)
        for path in sorted(SOLUTIONS.rglob("*.py"))
        if "__pycache__" not in path.parts
    ]


def _selected_regions():
    """(module name, solution source, its selected regions) for every module with a task."""
    tasks = load_tasks(CONFIG)
    result = []
    for module, path in _solution_modules():
        source = path.read_text(encoding="utf-8")
        regions = [r for r in find_regions(source, module) if r.selected_by(tasks)]
        if regions:
            result.append((module, source, regions))
    return result


def test_assignment_is_exactly_what_the_generator_makes(tmp_path):
    """Drift: the committed assignment/ matches a fresh generation byte for byte."""
    _require_real_solutions()
    fresh = tmp_path / "assignment"
    generate(SOLUTIONS, fresh, load_tasks(CONFIG))
    expected, actual = _package_files(fresh), _package_files(ASSIGNMENT)
    problems = [f"missing: assignment/{name}" for name in sorted(expected - actual)]
    problems += [
        f"drifted: assignment/{name}"
        for name in sorted(expected & actual)
        if (fresh / name).read_bytes() != (ASSIGNMENT / name).read_bytes()
    ]
    problems += [
        f"extra (nothing generates it; move it into solutions/ or delete it): assignment/{name}"
        for name in sorted(actual - expected)
    ]
    assert not problems, (
        "assignment/ is out of date with solutions/ and autograder/release.toml; run `make stubs` "
        "and commit assignment/:\n  " + "\n  ".join(problems)
    )


def _statements(nodes):
    return [n for node in nodes for n in ast.walk(node) if isinstance(n, ast.stmt)]


def _functions(tree):
    """qualname -> function node, with the same qualnames as Python's __qualname__."""
    found = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[prefix + child.name] = child
                visit(child, f"{prefix}{child.name}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def _is_trivial(stmt):
    """pass, break, continue, and bare constants such as docstrings or ``...``."""
    return isinstance(stmt, (ast.Pass, ast.Break, ast.Continue)) or (
        isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
    )


def _is_substantial(stmt):
    """A block, or a statement that computes: an operator, a comparison, or a method call
    (``np.mean(x)``, ``x.sum()``). Plain plumbing such as ``a, fc_cache = affine_forward(x, w, b)``
    or ``N, D = x.shape`` may legitimately occur in given code elsewhere in the module."""
    if isinstance(getattr(stmt, "body", None), list) or isinstance(stmt, ast.AugAssign):
        return True
    for node in ast.walk(stmt):
        if isinstance(node, (ast.BinOp, ast.BoolOp, ast.Compare)):
            return True
        if isinstance(node, ast.UnaryOp) and not isinstance(node.operand, ast.Constant):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            return True
    return False


def test_no_solution_statement_leaks_into_assignment():
    """Leak: no statement of a selected region appears in the student module.

    Statements that the same function also has outside its selected regions (given scaffolding),
    pass/docstrings, and plain plumbing statements that given code elsewhere in the module also
    has are not leaks."""
    _require_real_solutions()
    leaks = []
    for module, source, regions in _selected_regions():
        stub_path = ASSIGNMENT / Path(*module.split(".")).with_suffix(".py")
        if not stub_path.is_file():
            pytest.fail(f"assignment/{stub_path.name} is missing; run `make stubs`")
        solution_tree = ast.parse(source)
        stub_tree = ast.parse(stub_path.read_text(encoding="utf-8"))
        solution_functions, stub_functions = _functions(solution_tree), _functions(stub_tree)
        module_dumps = {ast.dump(s) for s in _statements([stub_tree])}
        for region in regions:
            function = solution_functions[region.qualname]
            hidden = [
                (r.begin, r.end) for r in regions if r.qualname == region.qualname
            ]
            scaffolding = {
                ast.dump(s)
                for s in _statements(function.body)
                if not any(b <= s.lineno and s.end_lineno <= e for b, e in hidden)  # in a region
                and not any(s.lineno < b and e < s.end_lineno for b, e in hidden)  # holds one
            }
            stub_function = stub_functions.get(region.qualname)
            assert stub_function is not None, f"{module}.{region.qualname} missing from the stub"
            function_dumps = {ast.dump(s) for s in _statements(stub_function.body)}
            inside = [
                s for s in _statements(function.body) if region.begin < s.lineno < region.end
            ]
            for stmt in inside:
                dump = ast.dump(stmt)
                if _is_trivial(stmt) or dump in scaffolding:
                    continue
                if dump in function_dumps:
                    where = f"in {region.qualname}"
                elif dump in module_dumps and _is_substantial(stmt):
                    where = "elsewhere in the module"
                else:
                    continue
                leaks.append(
                    f"solutions/{stub_path.name}:{stmt.lineno} ({region.key}): "
                    f"`{ast.unparse(stmt).splitlines()[0]}` appears {where} in "
                    f"assignment/{stub_path.name}"
                )
    marked = [
        f"assignment/{name}"
        for name in sorted(_package_files(ASSIGNMENT))
        if name.endswith(".py")
        and re.search(r"(BEGIN|END) SOLUTION", (ASSIGNMENT / name).read_text(encoding="utf-8"))
    ]
    assert not leaks, "solution code leaks into the student files:\n  " + "\n  ".join(leaks)
    assert not marked, f"solution markers left in {marked}; run `make stubs`"


def test_solution_markers_are_well_formed_and_every_task_exists():
    _require_real_solutions()
    errors, keys = [], set()
    for module, path in _solution_modules():
        try:
            regions = find_regions(path.read_text(encoding="utf-8"), module,
                                   filename=f"solutions/{path.relative_to(SOLUTIONS).as_posix()}")
        except MarkerError as exc:
            errors.append(str(exc))
            continue
        keys.update(key for r in regions for key in (r.key, r.function_key))
    assert not errors, "bad solution markers:\n" + "\n".join(errors)
    unknown = load_tasks(CONFIG) - keys
    assert not unknown, (
        f"autograder/release.toml selects tasks with no solution region: {sorted(unknown)}; "
        f"valid keys: {sorted(keys)}"
    )


# Plausible arguments by parameter name, to call a stubbed function until it raises.
def _dummy_arguments(function, qualname):
    rng = np.random.default_rng(0)
    N, D, C, S = 4, 6, 4, 3
    spatial = "spatial" in qualname
    x_shape = (N, C, S, S) if spatial else (N, D)
    width = C if spatial else D
    gamma_shape = (1, C, 1, 1) if "groupnorm" in qualname else (width,)
    values = {
        "x": lambda: rng.standard_normal(x_shape),
        "X": lambda: rng.standard_normal((N, D)),
        "dout": lambda: rng.standard_normal(x_shape),
        "y": lambda: np.zeros(N, dtype=int),
        "gamma": lambda: np.ones(gamma_shape),
        "beta": lambda: np.zeros(gamma_shape),
        "w": lambda: rng.standard_normal((D, 5)),
        "b": lambda: np.zeros(5),
        "G": lambda: 2,
        "bn_param": lambda: {"mode": "train"},
        "ln_param": lambda: {},
        "gn_param": lambda: {},
        "norm_param": lambda: {"mode": "train"},
        "normalization": lambda: "batchnorm",
        "cache": lambda: None,
        "hidden_dims": lambda: [5],
        "input_dim": lambda: D,
        "num_classes": lambda: 3,
    }
    arguments = {}
    for name, parameter in inspect.signature(function).parameters.items():
        if name in values and (parameter.default is parameter.empty or name == "normalization"):
            arguments[name] = values[name]()
        elif parameter.default is parameter.empty and parameter.kind not in (
            parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD
        ):
            return None
    return arguments


def _import_pair(module):
    suffix = "" if module == "__init__" else "." + module.removesuffix(".__init__")
    return (importlib.import_module(f"solutions{suffix}"),
            importlib.import_module(f"assignment{suffix}"))


def test_assignment_has_the_api_of_the_solutions_and_each_task_raises():
    _require_real_solutions()
    if not (ASSIGNMENT / "__init__.py").is_file():
        pytest.fail("assignment/ has not been generated; run `make stubs`")
    problems = []
    for module, _ in _solution_modules():
        solution, student = _import_pair(module)
        for name, obj in vars(solution).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != solution.__name__:
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            other = getattr(student, name, None)
            pairs = [(name, obj, other)]
            if inspect.isclass(obj) and inspect.isclass(other):
                pairs += [
                    (f"{name}.{attr}", member, vars(other).get(attr))
                    for attr, member in vars(obj).items()
                    if inspect.isfunction(member)
                    and (not attr.startswith("_") or attr == "__init__")
                ]
            for label, expected, got in pairs:
                if got is None:
                    problems.append(f"{module}.{label} is missing from assignment/")
                elif str(inspect.signature(expected)) != str(inspect.signature(got)):
                    problems.append(
                        f"{module}.{label}: signature {inspect.signature(got)} in assignment/, "
                        f"{inspect.signature(expected)} in solutions/"
                    )
    assert not problems, "\n".join(problems)

    called = 0
    for module, _, regions in _selected_regions():
        _, student = _import_pair(module)
        stub_path = ASSIGNMENT / Path(*module.split(".")).with_suffix(".py")
        stub_functions = _functions(ast.parse(stub_path.read_text(encoding="utf-8")))
        for qualname in dict.fromkeys(r.qualname for r in regions):
            # Statically: the body holds one raise naming the function per selected region.
            messages = [
                node.exc.args[0].value
                for node in ast.walk(stub_functions[qualname])
                if isinstance(node, ast.Raise)
                and isinstance(node.exc, ast.Call)
                and getattr(node.exc.func, "id", None) == "NotImplementedError"
                and node.exc.args
                and isinstance(node.exc.args[0], ast.Constant)
            ]
            expected_count = sum(r.qualname == qualname for r in regions)
            assert len(messages) == expected_count, (module, qualname, messages)
            assert all(m.startswith(f"{qualname}: ") for m in messages), messages
            # Dynamically, where plausible arguments reach the raise: module-level functions and
            # constructors (other methods need an instance, which the stubbed __init__ prevents).
            path = qualname.split(".")
            if "<locals>" in path or (len(path) > 1 and path[-1] != "__init__"):
                continue
            target = student
            for part in path[:-1] if path[-1] == "__init__" else path:
                target = getattr(target, part)
            arguments = _dummy_arguments(target, qualname)
            if arguments is None:
                continue
            try:
                target(**arguments)
            except NotImplementedError as exc:
                assert str(exc).startswith(f"{qualname}: "), str(exc)
                called += 1
            except Exception:  # scaffolding that needs real inputs: the AST check above covers it
                pass
    assert called, "no stubbed task could be called to check its NotImplementedError"
