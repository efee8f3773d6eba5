# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/todo.py by `make stubs`; edit the solution.
"""Which of your tasks are still the stubs you were given, so that the notebooks' experiments can
skip with one sentence instead of training for a minute and then stopping at the first function
you have not written yet::

    from assignment.todo import needs

    if needs(batchnorm_forward, FullyConnectedNet):
        ...  # train

A function (or method) counts as not implemented while its code still holds the
``raise NotImplementedError("... this is your task ...")`` line it came with; a class, while
one of its methods does. Once you replace that line with your code it counts as implemented:
whether your code is right is for the self-checks to say, not for this module.
"""

import ast
import inspect
import textwrap

#: What the NotImplementedError of every task's stub says.
STUB_MARK = "this is your task"


def _stub_names(obj):
    """The names of the stubs left in ``obj``'s source code, in the order they appear."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    except (OSError, TypeError, SyntaxError):
        return []  # no source to read (a built-in, say): nothing to say about it
    names = []
    for node in sorted((n for n in ast.walk(tree) if isinstance(n, ast.Raise)),
                       key=lambda n: n.lineno):
        call = node.exc
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                and call.func.id == "NotImplementedError" and call.args):
            continue
        message = call.args[0]
        if isinstance(message, ast.Constant) and isinstance(message.value, str) \
                and STUB_MARK in message.value:
            names.append(message.value.split(":", 1)[0].strip())
    return names


def not_implemented(*objects):
    """The parts of ``objects`` (functions, methods or classes) that are still stubs, by name
    (e.g. ``"batchnorm_forward"``, ``"FullyConnectedNet.loss"``), each once, in order."""
    found = []
    for obj in objects:
        for name in _stub_names(obj):
            if name not in found:
                found.append(name)
    return found


def needs(*objects, what="this experiment"):
    """True when none of ``objects`` is a stub any more. Otherwise print one sentence that says
    which are (``Skipped: this experiment needs batchnorm_forward, which is not implemented
    yet.``) and return False."""
    missing = not_implemented(*objects)
    if not missing:
        return True
    if len(missing) == 1:
        names, verb = missing[0], "is"
    else:
        names, verb = ", ".join(missing[:-1]) + " and " + missing[-1], "are"
    print(f"Skipped: {what} needs {names}, which {verb} not implemented yet.")
    return False
