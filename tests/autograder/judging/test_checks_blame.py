"""The self-checks blame the task that holds the bug, and the tasks built on it wait for it.

Each broken copy is the reference package (solutions/) with one bug written into its source, as
a student would make it, imported under a name of its own; its checks.py is the real one, so the
downstream tasks call the broken function exactly as a student's code does. For every copy:
the task with the bug fails with a message that names the slip, each task built on it says
"fix that first" and fails none of its own checks (no misleading advice), and every other task
passes.
"""

import importlib
import shutil
import sys

import pytest

from solutions import checks
from tests.support.job_helpers import MISTAKE_PATCHES
from tests.support.paths import SOLUTIONS

pytestmark = pytest.mark.given


_BN_DOWNSTREAM = ("batchnorm_backward", "batchnorm_backward_alt", "affine_norm_relu",
                  "fc_net_batchnorm", "spatial_batchnorm", "nn_batchnorm", "nn_model")

#: name -> (patches [(file, old, new)] (tests.support.job_helpers.MISTAKE_PATCHES where the grader
#: tests
#: plant the same mistake), the task to blame, what its report says, the tasks
#: that must wait for it)
MISTAKES = {
    "unbiased_variance": (
        [("layers.py", 'var = np.einsum("nd,nd->d", xc, xc) / N',
          "var = np.var(x, axis=0, ddof=1)")],
        "batchnorm_forward", "you used the unbiased variance (ddof=1", _BN_DOWNSTREAM),
    "eps_outside_sqrt": (
        MISTAKE_PATCHES["eps_outside_sqrt"][1],
        "batchnorm_forward", "you added eps outside the square root", _BN_DOWNSTREAM),
    "layernorm_eps_outside_sqrt": (
        [("layers.py", 'var = np.einsum("nd,nd->n", xc, xc)[:, None] / D\n'
                       "    inv_std = 1.0 / np.sqrt(var + eps)",
          'var = np.einsum("nd,nd->n", xc, xc)[:, None] / D\n'
          "    inv_std = 1.0 / (np.sqrt(var) + eps)")],
        "layernorm_forward", "you added eps outside the square root",
        ("layernorm_backward", "affine_norm_relu", "fc_net_layernorm", "nn_layernorm",
         "nn_model")),
    "spatial_without_transpose": (
        [("layers.py", "x_flat = x.transpose(0, 2, 3, 1).reshape(-1, C)",
          "x_flat = x.reshape(-1, C)"),
         ("layers.py", "out = out_flat.reshape(N, H, W, C).transpose(0, 3, 1, 2)",
          "out = out_flat.reshape(N, C, H, W)")],
        "spatial_batchnorm", "move the channel axis last", ()),
    "sandwich_without_relu": (
        [("layer_utils.py", "out, relu_cache = relu_forward(a_norm)",
          "out, relu_cache = a_norm, a_norm")],
        "affine_norm_relu", "out has negative values: finish with relu_forward",
        ("fc_net_batchnorm", "fc_net_layernorm")),
    "nn_grads_before_activation": (
        MISTAKE_PATCHES["nn_grads_before_activation"][1],
        "nn_batchnorm", "dgamma and dbeta come from dout, before the ReLU", ("nn_model",)),
    "nn_model_key_error": (
        [("nn.py", '            dout = layer.backward(dout)\n            if "W" in layer.params:',
          "            dout = layer.backward(dout)\n            if True:")],
        "nn_model", "KeyError 'W': a layer without a W", ()),
    "nn_model_gamma_regularized": (
        [("nn.py", "            dout = layer.backward(dout)\n",
          "            dout = layer.backward(dout)\n"
          '            if "gamma" in layer.params:\n'
          '                layer.grads["gamma"] = layer.grads["gamma"] + self.reg * '
          'layer.params["gamma"]\n')],
        "nn_model", "got reg * gamma added: only W is regularized", ()),
    "framework_biased_running_var": (
        [("framework.py", "unbiased_var = var * (N / (N - 1))", "unbiased_var = var")],
        "framework_conventions", "averaged the biased variance (ours)", ()),
    "framework_momentum_unchanged": (
        [("framework.py", "return 1.0 - momentum", "return momentum")],
        "framework_conventions", "that is our momentum unchanged", ()),
    "keras_momentum_as_torch": (
        MISTAKE_PATCHES["keras_momentum_as_torch"][1],
        "keras_conventions", "that is PyTorch's convention", ()),
    "keras_moving_variance_ones": (
        MISTAKE_PATCHES["keras_moving_variance_ones"][1],
        "keras_conventions", "the moving averages must start at zeros", ()),
}

#: Advice that a waiting task must not give: it would send the student to correct code.
MISLEADING = ("transpose", "land in grads", "path through the variance", "check it node by node",
              "did you", "forget")


def import_copy(tmp_path, name, patches):
    """Copy solutions/ to ``tmp_path/name`` with ``patches`` applied and import its checks."""
    package = tmp_path / name
    shutil.copytree(SOLUTIONS, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for file, old, new in patches:
        path = package / file
        text = path.read_text(encoding="utf-8")
        assert text.count(old) >= 1, f"{old!r} not in {file}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(f"{name}.checks")
    finally:
        sys.path.remove(str(tmp_path))


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """mistake -> (its checks module, {task: report} of run_all); each copy made once."""
    made = {}

    def get(mistake):
        if mistake not in made:
            root = tmp_path_factory.mktemp(mistake)
            module = import_copy(root, f"normlab_broken_{mistake}", MISTAKES[mistake][0])
            made[mistake] = module, {r.task: r for r in module.run_all(verbose=False)}
        return made[mistake]

    yield get
    for name in [m for m in sys.modules if m.startswith("normlab_broken_")]:
        del sys.modules[name]


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_the_task_with_the_bug_is_blamed_and_the_ones_built_on_it_wait(copies, mistake):
    _, blamed, said, waiting = MISTAKES[mistake]
    module, reports = copies(mistake)
    assert set(reports) == set(module.TASKS)
    culprit = reports[blamed]
    assert not culprit.passed and culprit.failures and not culprit.waiting_for, str(culprit)
    assert said in str(culprit)
    for name in waiting:
        report = reports[name]
        text = str(report)
        assert not report.passed, text
        assert report.failures == [], f"{name} blames its own code:\n{text}"
        assert report.waiting_for == [blamed], text
        assert "[wait]" in text and "fix that first" in text, text
        assert f"this uses {module.REGISTRY[blamed].subject}, which failed its own check " \
               "above" in text, text
        lowered = text.lower()
        assert not [m for m in MISLEADING if m in lowered], text
    for name in set(reports) - {blamed, *waiting}:
        assert reports[name].passed, str(reports[name])


def test_waiting_tasks_still_judge_their_own_part(copies):
    """With batchnorm_forward broken, what spatial batch norm and nn.BatchNorm do on top of it
    is still compared with the student's own batchnorm_forward, and passes."""
    _, reports = copies("unbiased_variance")
    passed = {c.name for r in reports.values() for c in r if c.passed}
    assert "train mode: out is your batchnorm_forward of each channel over N, H and W" in passed
    assert ("BatchNorm.backward is your batchnorm_backward_alt of the gradient behind the "
            "activation") in passed
    assert "loss and grads equal your affine_norm_relu layers chained by hand, reg = 3.14" in passed
    summary = reports["spatial_batchnorm"].summary()
    assert summary.startswith("spatial_batchnorm: waits for batchnorm_forward (fix it first)")


def test_a_failure_in_one_half_of_a_check_does_not_hide_the_other(copies):
    _, reports = copies("sandwich_without_relu")
    failed = [c.name for c in reports["affine_norm_relu"].failures]
    assert "batchnorm: out is relu(batchnorm_forward(affine_forward(x, w, b)))" in failed
    assert "layernorm: out is relu(layernorm_forward(affine_forward(x, w, b)))" in failed


def test_a_check_run_alone_says_what_the_upstream_check_finds(copies):
    module, _ = copies("unbiased_variance")
    text = str(module.check_spatial_batchnorm())
    assert "this uses batchnorm_forward, which fails its own self-check: fix that first " \
           "(check_batchnorm_forward() fails" in text
    assert "unbiased variance (ddof=1" in text
    # Only the first waiting step says it in full.
    assert text.count("fix that first") == 1 and "waits for batchnorm_forward as well" in text


def test_the_summary_names_the_task_to_fix_first(copies, capsys):
    module, _ = copies("eps_outside_sqrt")
    module.run_all()
    out = capsys.readouterr().out
    assert out.rstrip().endswith(
        "7 of 15 tasks pass their self-checks.\n"
        "Fix first: batchnorm_forward (7 other tasks wait for it).")
    assert module.main(["batchnorm_backward"]) == 1


def test_eps_outside_the_square_root_is_caught_with_its_numbers(copies):
    _, reports = copies("eps_outside_sqrt")
    [failure] = reports["batchnorm_forward"].failures
    assert failure.name.startswith("train mode: a feature of std 1e-3")
    assert failure.message.startswith(
        "a feature whose std is 1.0e-03 comes out with std 0.990; normalized with sqrt(var + "
        "eps), eps = 1e-05, it would be 0.302: you added eps outside the square root")


# --------------------------------------------------------------------------------------------------
# Every graded task has a check; the dependencies the checks act on are the declared ones
# --------------------------------------------------------------------------------------------------


def test_every_graded_task_has_a_self_check():
    from autograder.config import load_config
    from autograder.judging.plan import select_checks

    graded = {c.grade_id for c in select_checks(load_config())}
    assert graded <= set(checks.TASKS), sorted(graded - set(checks.TASKS))


def test_the_needs_of_every_step_are_declared_dependencies():
    from solutions.selfcheck.core import REGISTRY, Context

    context = Context()
    for name, spec in REGISTRY.items():
        needed = {need.task for step in spec.build(context) for need in step.needs}
        assert needed <= set(checks.DEPENDS[name]), (name, needed)
        assert list(checks.TASKS).index(name) > max(
            (list(checks.TASKS).index(t) for t in checks.DEPENDS[name]), default=-1)


def test_uses_follows_calls_into_the_package_and_closures():
    from solutions import fc_net, layers, nn
    from solutions.selfcheck.core import uses

    assert uses([layers.spatial_batchnorm_forward], ["batchnorm_forward"])
    assert not uses([layers.spatial_groupnorm_forward], ["batchnorm_forward"])
    # FullyConnectedNet.loss -> affine_norm_relu_forward -> batchnorm_forward
    assert uses([fc_net.FullyConnectedNet.loss], ["batchnorm_forward"])
    assert uses([nn.BatchNorm.backward], ["batchnorm_backward_alt"])
    base = fc_net.FullyConnectedNet.loss

    def wrapped(self, X, y=None):  # a subclass's loss that calls the base class's
        return base(self, X, y)

    assert uses([wrapped], ["affine_norm_relu_forward"])
