"""assignment/todo.py (from solutions/todo.py): which tasks are still stubs, for the notebooks'
experiments to skip with one sentence instead of training first."""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path

import pytest

from autograder.authoring import stubgen
from solutions import todo


def test_the_mark_is_what_stubgen_writes():
    region = stubgen.Region(module="layers", qualname="batchnorm_forward", label=None, begin=1,
                            end=2, indent="    ")
    assert todo.STUB_MARK in stubgen.stub_message(region)
    labelled = stubgen.Region(module="fc_net", qualname="FullyConnectedNet.loss",
                              label="normalization", begin=1, end=2, indent="    ")
    assert todo.STUB_MARK in stubgen.stub_message(labelled)


def _stub_objects(package):
    """Every task of the release as the object a notebook passes: the function, or the class
    of a method. Returns [(task key, object, qualname of the stub)]."""
    found = []
    for key in sorted(stubgen.load_tasks(stubgen.DEFAULT_CONFIG)):
        module_name, _, rest = key.partition(".")
        qualname = rest.partition(":")[0]
        module = importlib.import_module(f"{package}.{module_name}")
        owner = getattr(module, qualname.split(".")[0])
        found.append((key, owner, qualname))
    return found


def test_every_task_of_the_committed_stubs_is_found_and_no_solution_is():
    for key, owner, qualname in _stub_objects("assignment"):
        assert qualname in todo.not_implemented(owner), key
    for key, owner, _ in _stub_objects("solutions"):
        assert todo.not_implemented(owner) == [], key


def test_given_code_and_objects_without_source_count_as_implemented():
    from assignment.layers import affine_forward
    from assignment.nn import Dense

    assert todo.not_implemented(affine_forward, Dense, len, 3) == []
    assert todo.needs(affine_forward, Dense) is True
    assert todo.needs() is True


def _module(tmp_path, monkeypatch, source, name="student_work"):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(name)


def test_a_task_counts_as_done_once_its_raise_is_replaced(tmp_path, monkeypatch):
    mod = _module(tmp_path, monkeypatch, '''
        def untouched(x):
            """Docstring."""
            raise NotImplementedError("untouched: not implemented yet — this is your task (m.untouched). Replace this raise with your code.")

        def started(x):
            y = x + 1
            raise NotImplementedError("started: not implemented yet — this is your task (m.started). Replace this raise with your code.")
            return y

        def done(x):
            # raise NotImplementedError("done: not implemented yet — this is your task (m.done).")
            return x

        def own_error(x):
            raise NotImplementedError("mode 'foo' is not supported")

        class Net:
            def forward(self, x):
                return x

            def backward(self, d):
                raise NotImplementedError("Net.backward: not implemented yet — this is your task (m.Net.backward).")
    ''')  # noqa: E501
    assert todo.not_implemented(mod.untouched, mod.started, mod.done, mod.own_error) == [
        "untouched", "started"]
    assert todo.not_implemented(mod.Net, mod.Net.backward, mod.Net.forward) == ["Net.backward"]


def test_needs_says_one_sentence(capsys, tmp_path, monkeypatch):
    from assignment.fc_net import FullyConnectedNet
    from assignment.layers import batchnorm_forward

    assert todo.needs(batchnorm_forward) is False
    assert capsys.readouterr().out == ("Skipped: this experiment needs batchnorm_forward, which "
                                       "is not implemented yet.\n")
    assert todo.needs(batchnorm_forward, FullyConnectedNet, batchnorm_forward,
                      what="this plot") is False
    assert capsys.readouterr().out == (
        "Skipped: this plot needs batchnorm_forward, FullyConnectedNet.__init__ and "
        "FullyConnectedNet.loss, which are not implemented yet.\n")


@pytest.mark.parametrize("package", ["solutions", "assignment"])
def test_the_module_is_given_code_in_the_release(package):
    """No task in it: the students get it as it is, and it imports nothing of the kit."""
    source = importlib.import_module(f"{package}.todo").__file__
    text = Path(source).read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in text and "import solutions" not in text
    assert "from ." not in text and "autograder" not in text
