# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/checks.py by `make stubs`; edit the solution.
"""Self-checks for the normalization tasks (given code: handed to students complete).

Each ``check_<task>()`` function runs a few quick experiments on your code and reports, in words,
what looks right and what looks wrong, with a hint at the usual cause. The checks compare your
code with properties it must have (the output of batch norm has mean beta and std gamma per
feature; an analytic gradient matches a numerical one; ...) and with your own functions it
builds on, never with stored answers, so passing them is a good sign but not a proof: the
autograder runs more tests.

In a notebook::

    from assignment.checks import check_batchnorm_forward
    check_batchnorm_forward()     # shows the report; .passed is True when every check passed

From a shell, ``python -m assignment.checks`` runs all of them (``python -m assignment.checks
batchnorm_forward`` one).

**Tasks build on each other.** ``batchnorm_backward`` differentiates your ``batchnorm_forward``;
spatial batch norm, the affine - norm - ReLU sandwich, ``FullyConnectedNet`` and ``nn.BatchNorm``
call them; ``nn.Model`` runs your ``nn`` layers (`DEPENDS` lists it all). When a check of one
task fails because a task it builds on fails its own check, the check does not blame your code
for it: that step *waits* (``[wait]``) and says which task to fix first. Where it can, a check
also compares with your own function applied by hand (spatial batch norm against your
``batchnorm_forward`` of the rearranged input), so that the task's own part is judged even while
the other one is still wrong.

Every check function takes the module under test as an optional argument (``layers=``,
``layer_utils=``, ``fc_net=``, ``nn=`` or ``framework=``, as keywords); by default it uses the
sibling module of the package this file lives in, so inside ``assignment/`` it checks your code.
A check never raises: a missing implementation is reported as "not implemented yet", any other
exception in words with the file and line it came from. Each check takes well under half a
second. The machinery lives in ``selfcheck/`` beside this file.

`assert_passes` is the one that raises: an AssertionError with the check's report when a task
does not pass it. With ``extra=True`` it runs the task's *extra cases* instead (odd shapes, a
single example, a given eps, float32, ...: ``selfcheck/extra.py``), which is what the autograded
cells of the notebooks run besides the check when your work is graded.
"""

from __future__ import annotations

import dataclasses
import sys

from .selfcheck import (  # noqa: F401
    batchnorm,
    conv,
    conventions,
    extra_objects,  # noqa: F401 - registers the extra cases of nn and framework
    layernorm,
    networks,
    objects,
)
from .selfcheck.core import REGISTRY, Check, Context, Modules, Report, report_of, run_task
from .selfcheck.extra import EXTRA
from .selfcheck.tools import GRAD_TOL

__all__ = [
    "Check",
    "DEPENDS",
    "GRAD_TOL",
    "Report",
    "TASKS",
    "assert_passes",
    "check_batchnorm_forward",
    "check_batchnorm_backward",
    "check_batchnorm_backward_alt",
    "check_layernorm_forward",
    "check_layernorm_backward",
    "check_affine_norm_relu",
    "check_fc_net_batchnorm",
    "check_fc_net_layernorm",
    "check_spatial_batchnorm",
    "check_groupnorm",
    "check_nn_batchnorm",
    "check_nn_layernorm",
    "check_nn_model",
    "check_framework_conventions",
    "check_keras_conventions",
    "run_all",
]


def check_batchnorm_forward(layers=None, verbose=False, **modules):
    """Check ``batchnorm_forward`` in train and test mode; returns a `Report`."""
    return run_task("batchnorm_forward", verbose, layers=layers, **modules)


def check_batchnorm_backward(layers=None, verbose=False, **modules):
    """Check ``batchnorm_backward`` (the staged one) against numerical gradients."""
    return run_task("batchnorm_backward", verbose, layers=layers, **modules)


def check_batchnorm_backward_alt(layers=None, verbose=False, **modules):
    """Check ``batchnorm_backward_alt`` against numerical gradients and the staged version."""
    return run_task("batchnorm_backward_alt", verbose, layers=layers, **modules)


def check_layernorm_forward(layers=None, verbose=False, **modules):
    """Check ``layernorm_forward``; returns a `Report`."""
    return run_task("layernorm_forward", verbose, layers=layers, **modules)


def check_layernorm_backward(layers=None, verbose=False, **modules):
    """Check ``layernorm_backward`` against numerical gradients."""
    return run_task("layernorm_backward", verbose, layers=layers, **modules)


def check_affine_norm_relu(layer_utils=None, verbose=False, **modules):
    """Check ``affine_norm_relu_forward`` / ``_backward`` with batch norm and with layer norm."""
    return run_task("affine_norm_relu", verbose, layer_utils=layer_utils, **modules)


def check_fc_net_batchnorm(fc_net=None, verbose=False, **modules):
    """Check FullyConnectedNet with ``normalization='batchnorm'`` on a tiny network."""
    return run_task("fc_net_batchnorm", verbose, fc_net=fc_net, **modules)


def check_fc_net_layernorm(fc_net=None, verbose=False, **modules):
    """Check FullyConnectedNet with ``normalization='layernorm'`` on a tiny network."""
    return run_task("fc_net_layernorm", verbose, fc_net=fc_net, **modules)


def check_spatial_batchnorm(layers=None, verbose=False, **modules):
    """Check ``spatial_batchnorm_forward`` and ``spatial_batchnorm_backward``."""
    return run_task("spatial_batchnorm", verbose, layers=layers, **modules)


def check_groupnorm(layers=None, verbose=False, **modules):
    """Check ``spatial_groupnorm_forward`` and ``spatial_groupnorm_backward``."""
    return run_task("groupnorm", verbose, layers=layers, **modules)


def check_nn_batchnorm(nn=None, verbose=False, **modules):
    """Check ``nn.BatchNorm.forward`` and ``backward``, without and with the fused ReLU."""
    return run_task("nn_batchnorm", verbose, nn=nn, **modules)


def check_nn_layernorm(nn=None, verbose=False, **modules):
    """Check ``nn.LayerNorm.forward`` and ``backward``, without and with the fused ReLU."""
    return run_task("nn_layernorm", verbose, nn=nn, **modules)


def check_nn_model(nn=None, verbose=False, **modules):
    """Check ``nn.Model.calculate_loss`` and ``nn.Model.backward`` (regularization, gradients)."""
    return run_task("nn_model", verbose, nn=nn, **modules)


def check_framework_conventions(framework=None, verbose=False, **modules):
    """Check ``torch_momentum_from_normlab`` and ``torch_running_var`` (framework.py)."""
    return run_task("framework_conventions", verbose, framework=framework, **modules)


def check_keras_conventions(framework=None, verbose=False, **modules):
    """Check ``keras_batchnorm_from_normlab`` (framework.py)."""
    return run_task("keras_conventions", verbose, framework=framework, **modules)


#: Every task with its check, in the order of the assignment.
TASKS = {
    "batchnorm_forward": check_batchnorm_forward,
    "batchnorm_backward": check_batchnorm_backward,
    "batchnorm_backward_alt": check_batchnorm_backward_alt,
    "layernorm_forward": check_layernorm_forward,
    "layernorm_backward": check_layernorm_backward,
    "affine_norm_relu": check_affine_norm_relu,
    "fc_net_batchnorm": check_fc_net_batchnorm,
    "fc_net_layernorm": check_fc_net_layernorm,
    "spatial_batchnorm": check_spatial_batchnorm,
    "groupnorm": check_groupnorm,
    "nn_batchnorm": check_nn_batchnorm,
    "nn_layernorm": check_nn_layernorm,
    "nn_model": check_nn_model,
    "framework_conventions": check_framework_conventions,
    "keras_conventions": check_keras_conventions,
}

#: The tasks each task's check builds on (a check waits for them when they fail their own).
DEPENDS = {
    "batchnorm_forward": (),
    "batchnorm_backward": ("batchnorm_forward",),
    "batchnorm_backward_alt": ("batchnorm_forward",),
    "layernorm_forward": (),
    "layernorm_backward": ("layernorm_forward",),
    "affine_norm_relu": ("batchnorm_forward", "batchnorm_backward_alt", "batchnorm_backward",
                         "layernorm_forward", "layernorm_backward"),
    "fc_net_batchnorm": ("affine_norm_relu", "batchnorm_forward", "batchnorm_backward_alt",
                         "batchnorm_backward"),
    "fc_net_layernorm": ("affine_norm_relu", "layernorm_forward", "layernorm_backward"),
    "spatial_batchnorm": ("batchnorm_forward", "batchnorm_backward_alt", "batchnorm_backward"),
    "groupnorm": (),
    "nn_batchnorm": ("batchnorm_forward", "batchnorm_backward_alt", "batchnorm_backward"),
    "nn_layernorm": ("layernorm_forward", "layernorm_backward"),
    "nn_model": ("nn_batchnorm", "nn_layernorm"),
    "framework_conventions": (),
    "keras_conventions": (),
}


def run_all(layers=None, fc_net=None, verbose=True, tasks=None, **modules):
    """Run the checks of ``tasks`` (default: all, in order); return the list of `Report`s.

    The modules under test are the siblings of this file unless given (``layers=``,
    ``fc_net=``, ``layer_utils=``, ``nn=``, ``framework=``). With ``verbose`` each report is
    printed, then a summary that names the tasks to fix first.
    """
    context = Context(Modules(layers=layers, fc_net=fc_net, **modules))
    reports = []
    for task in tasks or TASKS:
        report = context.report(task)
        reports.append(report)
        context.shown.add(task)
        if verbose:
            print(report)
            print()
    if verbose:
        done = sum(r.passed for r in reports)
        print(f"{done} of {len(reports)} tasks pass their self-checks.")
        first = fix_first(reports)
        if first:
            print(first)
    return reports


def assert_passes(task, extra=False, **modules):
    """Run ``task``'s self-check (with ``extra``, its extra cases) and return the `Report`;
    raise AssertionError with the report's text when it does not pass. The modules under test
    are given as for the checks (``layers=``, ``nn=``, ...)."""
    context = Context(Modules(**modules))
    if extra:
        report = report_of(dataclasses.replace(REGISTRY[task], build=EXTRA[task]), context)
        report.task = f"{task} (extra cases)"
    else:
        report = context.report(task)
    if not report.passed:
        raise AssertionError(str(report))
    return report


def fix_first(reports):
    """A line naming the tasks that other tasks' checks wait for, or "" when none waits."""
    waiting = {}
    for report in reports:
        for root in report.waiting_for:
            waiting.setdefault(root, []).append(report.task)
    if not waiting:
        return ""
    order = [t for t in TASKS if t in waiting]
    parts = [f"{t} ({len(waiting[t])} other task{'s' if len(waiting[t]) > 1 else ''} wait"
             f"{'' if len(waiting[t]) > 1 else 's'} for it)" for t in order]
    return "Fix first: " + "; ".join(parts) + "."


def main(argv=None):
    """``python -m <package>.checks [task ...]``: run the checks; exit 1 if any fails."""
    argv = sys.argv[1:] if argv is None else argv
    unknown = [t for t in argv if t not in TASKS]
    if unknown:
        print(f"unknown task(s): {', '.join(unknown)}; choose from {', '.join(TASKS)}",
              file=sys.stderr)
        return 2
    reports = run_all(tasks=argv or None)
    return 0 if all(r.passed for r in reports) else 1


assert set(TASKS) == set(REGISTRY) == set(DEPENDS) and set(EXTRA) <= set(TASKS)

if __name__ == "__main__":
    raise SystemExit(main())
