"""The students' self-checks (solutions/checks.py): pass on the reference, fail in words on bugs.

Each broken variant is a small wrapper around the reference that reproduces one classic mistake;
the check must fail and its message must name the mistake, never raise.
"""

import importlib
import sys
import types

import numpy as np
import pytest

from autograder.authoring import stubgen
from solutions import checks, fc_net, layers

pytestmark = pytest.mark.given

ALL = list(checks.TASKS)


def fake_layers(**overrides):
    """A stand-in for the layers module: the reference functions, some replaced."""
    module = types.ModuleType("fake_layers")
    module.__dict__.update({k: v for k, v in vars(layers).items() if not k.startswith("__")})
    module.__dict__.update(overrides)
    return module


def fail_text(report):
    """The report as text, after asserting it failed."""
    assert not report.passed, str(report)
    return str(report)


# --------------------------------------------------------------------------------------------------
# The reference passes everything, without side effects
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ALL)
def test_reference_passes_every_check(task):
    """(Their speed, half a second per task, is measured by benchmarks/bench_selfchecks.py.)"""
    report = checks.TASKS[task]()
    assert report.passed, str(report)
    assert report.not_implemented is None
    assert all(isinstance(c, checks.Check) and c.passed for c in report)


def test_report_is_a_list_of_name_passed_message_and_prints(capsys):
    report = checks.check_batchnorm_forward(verbose=True)
    printed = capsys.readouterr().out
    assert printed.strip() == str(report) == repr(report)
    assert printed.startswith("batchnorm_forward: 9 of 9 checks passed")
    for name, passed, message in report:
        assert isinstance(name, str) and passed is True and message == ""


def test_run_all_covers_every_task_and_summarizes(capsys):
    reports = checks.run_all()
    assert [r.task for r in reports] == ALL
    assert f"{len(ALL)} of {len(ALL)} tasks pass" in capsys.readouterr().out


def test_checks_leave_the_global_random_state_alone():
    np.random.seed(231)
    expected = np.random.rand(3)
    np.random.seed(231)
    checks.run_all(verbose=False)
    np.testing.assert_array_equal(np.random.rand(3), expected)


def test_command_line_exit_codes(capsys):
    assert checks.main(["batchnorm_forward"]) == 0
    assert checks.main(["no_such_task"]) == 2
    assert "unknown task" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# batchnorm_forward
# --------------------------------------------------------------------------------------------------


def bn_forward_ignoring_gamma(x, gamma, beta, bn_param):
    return layers.batchnorm_forward(x, np.ones_like(gamma), beta, bn_param)


def bn_forward_ignoring_beta(x, gamma, beta, bn_param):
    return layers.batchnorm_forward(x, gamma, np.zeros_like(beta), bn_param)


def bn_forward_keepdims_running_mean(x, gamma, beta, bn_param):
    out, cache = layers.batchnorm_forward(x, gamma, beta, bn_param)
    bn_param["running_mean"] = bn_param["running_mean"].reshape(1, -1)
    return out, cache


def bn_forward_not_writing_back(x, gamma, beta, bn_param):
    saved = {k: bn_param.get(k) for k in ("running_mean", "running_var")}
    out, cache = layers.batchnorm_forward(x, gamma, beta, bn_param)
    D = x.shape[1]
    for key, old in saved.items():
        bn_param[key] = np.zeros(D, x.dtype) if old is None else old
    return out, cache


def bn_forward_stub(x, gamma, beta, bn_param):
    raise NotImplementedError("batchnorm_forward: not implemented yet — this is your task")


def bn_forward_unbiased(x, gamma, beta, bn_param):
    N = x.shape[0]
    if bn_param["mode"] == "train":
        # Dividing by the ddof=1 std is the ddof=0 normalization scaled by sqrt((N - 1) / N).
        return layers.batchnorm_forward(x, gamma * np.sqrt((N - 1) / N), beta, bn_param)
    return layers.batchnorm_forward(x, gamma, beta, bn_param)


def bn_forward_wrong_axis(x, gamma, beta, bn_param):
    out, cache = layers.layernorm_forward(x, np.ones(x.shape[1]), np.zeros(x.shape[1]), {})
    return gamma * out + beta, cache


def bn_forward_test_uses_batch_stats(x, gamma, beta, bn_param):
    if bn_param["mode"] == "test":
        saved = dict(bn_param)
        out, cache = layers.batchnorm_forward(x, gamma, beta, {**bn_param, "mode": "train"})
        bn_param.update(saved)
        return out, cache
    return layers.batchnorm_forward(x, gamma, beta, bn_param)


def bn_forward_swapped_momentum(x, gamma, beta, bn_param):
    param = dict(bn_param, momentum=1 - bn_param.get("momentum", 0.9))
    out, cache = layers.batchnorm_forward(x, gamma, beta, param)
    bn_param.update(running_mean=param["running_mean"], running_var=param["running_var"])
    return out, cache


def bn_forward_in_place(x, gamma, beta, bn_param):
    out, cache = layers.batchnorm_forward(x, gamma, beta, bn_param)
    x -= x.mean(axis=0)
    return out, cache


def bn_forward_type_error(x, gamma, beta, bn_param):
    return None + x, None


@pytest.mark.parametrize(
    "broken, expected",
    [
        (bn_forward_ignoring_gamma,
         "output std is 1.0 per feature but gamma is 2.0: did you forget to scale by gamma?"),
        (bn_forward_ignoring_beta,
         "output mean is 0.0 per feature but beta is 3.0: did you forget to add beta?"),
        (bn_forward_keepdims_running_mean,
         "running_mean has shape (1, 5); expected (5,) — use x.mean(axis=0) without keepdims"),
        (bn_forward_not_writing_back, "running_mean is still all zeros after a train-mode call"),
        (bn_forward_unbiased, "unbiased variance (ddof=1"),
        (bn_forward_wrong_axis, "normalized along the wrong axis"),
        (bn_forward_test_uses_batch_stats, "test mode normalized with the minibatch's own mean"),
        (bn_forward_swapped_momentum, "momentum and 1 - momentum are swapped"),
        (bn_forward_in_place, "changed its input x in place"),
        (bn_forward_type_error, "your code raised TypeError"),
    ],
    ids=lambda v: getattr(v, "__name__", "")[len("bn_forward_"):] or None,
)
def test_batchnorm_forward_mistakes_are_named(broken, expected):
    text = fail_text(checks.check_batchnorm_forward(fake_layers(batchnorm_forward=broken)))
    assert expected in text


def test_not_implemented_is_reported_as_such():
    report = checks.check_batchnorm_forward(fake_layers(batchnorm_forward=bn_forward_stub))
    assert report.not_implemented == "batchnorm_forward"
    assert fail_text(report) == "batchnorm_forward: not implemented yet: batchnorm_forward"
    # A check that needs a missing function names the function, not just its own task.
    report = checks.check_batchnorm_backward(fake_layers(batchnorm_forward=bn_forward_stub))
    assert "not implemented yet: batchnorm_forward (needed by the batchnorm_backward check)" in (
        fail_text(report))


# --------------------------------------------------------------------------------------------------
# The backward passes
# --------------------------------------------------------------------------------------------------


def bn_backward_mean_dbeta(dout, cache):
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    return dx, dgamma, dout.mean(axis=0)


def bn_backward_direct_path_only(dout, cache):
    xc, var, inv_std, x_hat, gamma, eps = cache
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    return dout * gamma * inv_std, dgamma, dbeta


def bn_backward_keepdims(dout, cache):
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    return dx, dgamma[None, :], dbeta


def bn_backward_none(dout, cache):
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    return dx, None, dbeta


def bn_backward_wrong_dgamma(dout, cache):
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    return dx, 2 * dgamma, dbeta


@pytest.mark.parametrize("task", ["batchnorm_backward", "batchnorm_backward_alt"])
@pytest.mark.parametrize(
    "broken, expected",
    [
        (bn_backward_mean_dbeta, "dbeta does not match the numerical gradient"),
        (bn_backward_direct_path_only, "through the batch mean and the batch variance"),
        (bn_backward_keepdims, "dgamma has shape (1, 4)"),
        (bn_backward_none, "dgamma is None"),
        (bn_backward_wrong_dgamma, "dgamma does not match the numerical gradient"),
    ],
    ids=lambda v: getattr(v, "__name__", "")[len("bn_backward_"):] or None,
)
def test_batchnorm_backward_mistakes_are_named(task, broken, expected):
    module = fake_layers(**{task: broken})
    if task == "batchnorm_backward_alt" and "shape (1, 4)" in expected:
        expected = "dgamma has shape (1, 5)"  # the alt check uses five features
    text = fail_text(checks.TASKS[task](module))
    assert expected in text


def test_backward_check_waits_for_a_correct_forward():
    module = fake_layers(batchnorm_forward=bn_forward_ignoring_gamma)
    report = checks.check_batchnorm_backward(module)
    text = fail_text(report)
    assert report.failures == [] and report.waiting_for == ["batchnorm_forward"]
    assert "[wait] dgamma matches the numerical gradient: this uses batchnorm_forward, which " \
           "fails its own self-check: fix that first" in text
    assert "forget to scale by gamma" in text  # what check_batchnorm_forward() says


def test_alt_is_not_blamed_for_a_broken_staged_backward():
    report = checks.check_batchnorm_backward_alt(
        fake_layers(batchnorm_backward=bn_backward_wrong_dgamma))
    assert report.passed, str(report)
    assert "[note]" in str(report) and "look at batchnorm_backward" in str(report)
    report = checks.check_batchnorm_backward_alt(
        fake_layers(batchnorm_backward=lambda d, c: (_ for _ in ()).throw(NotImplementedError())))
    assert report.passed and "skipped: batchnorm_backward is not implemented yet" in str(report)


def bn_backward_mutating_cache(dout, cache):
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    cache[0][...] *= 2  # xc, as if `xc *= ...` were done in place
    return dx, dgamma, dbeta


def test_backward_that_changes_its_cache_is_caught():
    text = fail_text(checks.check_batchnorm_backward(
        fake_layers(batchnorm_backward=bn_backward_mutating_cache)))
    assert "modifies the cache in place" in text


# --------------------------------------------------------------------------------------------------
# Layer norm
# --------------------------------------------------------------------------------------------------


def ln_forward_over_batch(x, gamma, beta, ln_param):
    out, cache = layers.batchnorm_forward(x, np.ones_like(gamma), np.zeros_like(beta),
                                          {"mode": "train"})
    return gamma * out + beta, cache


def ln_forward_no_keepdims(x, gamma, beta, ln_param):
    mean = x.mean(axis=1)
    return gamma * (x - mean) + beta, None  # (N, D) - (N,): broadcasting error when N != D


def ln_forward_ignoring_gamma(x, gamma, beta, ln_param):
    return layers.layernorm_forward(x, np.ones_like(gamma), beta, ln_param)


def ln_forward_ignoring_beta(x, gamma, beta, ln_param):
    return layers.layernorm_forward(x, gamma, np.zeros_like(beta), ln_param)


@pytest.mark.parametrize(
    "broken, expected",
    [
        (ln_forward_over_batch, "normalized along the wrong axis"),
        (ln_forward_no_keepdims, "keepdims=True"),
        (ln_forward_ignoring_gamma, "did you forget to scale by gamma?"),
        (ln_forward_ignoring_beta, "did you forget to add beta?"),
    ],
    ids=lambda v: getattr(v, "__name__", "")[len("ln_forward_"):] or None,
)
def test_layernorm_forward_mistakes_are_named(broken, expected):
    text = fail_text(checks.check_layernorm_forward(fake_layers(layernorm_forward=broken)))
    assert expected in text


def ln_backward_no_mean_path(dout, cache):
    dx, dgamma, dbeta = layers.layernorm_backward(dout, cache)
    return dx + dx.mean(axis=1, keepdims=True) + 0.1, dgamma, dbeta


def test_layernorm_backward_mistake_is_named():
    text = fail_text(checks.check_layernorm_backward(
        fake_layers(layernorm_backward=ln_backward_no_mean_path)))
    assert "dx does not match the numerical gradient" in text
    assert "Each row of dx should sum to zero" in text


# --------------------------------------------------------------------------------------------------
# FullyConnectedNet
# --------------------------------------------------------------------------------------------------


def fake_fc_net(patch):
    """A fc_net module whose FullyConnectedNet is a subclass with ``patch`` applied."""
    cls = type("FullyConnectedNet", (fc_net.FullyConnectedNet,), {})
    patch(cls)
    return types.SimpleNamespace(FullyConnectedNet=cls)


def without_gamma(cls):
    base_init = cls.__init__

    def __init__(self, *args, **kwargs):
        base_init(self, *args, **kwargs)
        for name in [n for n in self.params if n.startswith(("gamma", "beta"))]:
            del self.params[name]

    cls.__init__ = __init__


def changing_grads(name, prefix, change):
    """A patch (called ``name``) whose loss returns ``change(model, key, grad)`` in place of each
    gradient whose key starts with ``prefix``."""

    def patch(cls):
        base_loss = cls.loss

        def loss(self, X, y=None):
            result = base_loss(self, X, y)
            if y is None:
                return result
            value, grads = result
            for key in grads:
                if key.startswith(prefix):
                    grads[key] = change(self, key, grads[key])
            return value, grads

        cls.loss = loss

    patch.__name__ = name
    return patch


regularizing_gamma = changing_grads(
    "regularizing_gamma", "gamma",
    lambda model, key, grad: grad + model.reg * model.params[key] + 0.05)
forgetting_reg_on_weights = changing_grads(
    "forgetting_reg_on_weights", "W",
    lambda model, key, grad: grad - model.reg * model.params[key])


def stub_loss(cls):
    def loss(self, X, y=None):
        raise NotImplementedError("FullyConnectedNet.loss: the 'normalization' part is not "
                                  "implemented yet")

    cls.loss = loss


@pytest.mark.parametrize("task", ["fc_net_batchnorm", "fc_net_layernorm"])
@pytest.mark.parametrize(
    "patch, expected",
    [
        (without_gamma, "model.params has no 'gamma1'"),
        (regularizing_gamma, "grads['gamma{i}'] and grads['beta{i}'] are the dgamma and dbeta "
                             "that affine_norm_relu_backward returns"),
        (forgetting_reg_on_weights, "each dW needs reg * W added"),
        (stub_loss, "not implemented yet: FullyConnectedNet.loss"),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_fc_net_mistakes_are_named(task, patch, expected):
    text = fail_text(checks.TASKS[task](fake_fc_net(patch)))
    assert expected in text


def test_fc_net_batchnorm_must_use_its_running_averages():
    def no_running_stats(cls):
        base_loss = cls.loss

        def loss(self, X, y=None):
            result = base_loss(self, X, y)
            for bn_param in self.bn_params:
                bn_param.pop("running_mean", None)
            return result

        cls.loss = loss

    text = fail_text(checks.check_fc_net_batchnorm(fake_fc_net(no_running_stats)))
    assert "has no running_mean" in text


# --------------------------------------------------------------------------------------------------
# Spatial batch norm and group norm
# --------------------------------------------------------------------------------------------------


def spatial_bn_without_transpose(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    out, cache = layers.batchnorm_forward(x.reshape(-1, C), gamma, beta, bn_param)
    return out.reshape(N, C, H, W), cache


def groupnorm_interleaved(x, gamma, beta, G, gn_param):
    N, C, H, W = x.shape
    # Groups of every G-th channel instead of consecutive channels.
    perm = np.arange(C).reshape(C // G, G).T.ravel()
    inv = np.argsort(perm)
    out, cache = layers.spatial_groupnorm_forward(x[:, perm], gamma[:, perm], beta[:, perm], G,
                                                  gn_param)
    return out[:, inv], cache


def test_spatial_batchnorm_without_transpose_is_explained():
    text = fail_text(checks.check_spatial_batchnorm(
        fake_layers(spatial_batchnorm_forward=spatial_bn_without_transpose)))
    assert "move the channel axis last" in text


def test_groupnorm_with_wrong_groups_is_explained():
    text = fail_text(checks.check_groupnorm(
        fake_layers(spatial_groupnorm_forward=groupnorm_interleaved)))
    assert "C // G consecutive channels" in text


# --------------------------------------------------------------------------------------------------
# Against the generated student stubs: every task "not implemented yet", nothing raises
# --------------------------------------------------------------------------------------------------


def test_on_generated_stubs_every_task_is_not_implemented(tmp_path, monkeypatch):
    tasks = stubgen.load_tasks(stubgen.DEFAULT_CONFIG)
    stubgen.generate(stubgen.DEFAULT_SOLUTIONS, tmp_path / "normlab_stub_pkg", tasks)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        stub_checks = importlib.import_module("normlab_stub_pkg.checks")
        reports = stub_checks.run_all(verbose=False)
    finally:
        for name in [m for m in sys.modules if m.startswith("normlab_stub_pkg")]:
            del sys.modules[name]
    by_task = {r.task: r for r in reports}
    assert all(r.not_implemented for r in reports), [str(r) for r in reports]
    assert by_task["batchnorm_forward"].not_implemented == "batchnorm_forward"
    assert by_task["layernorm_backward"].not_implemented == "layernorm_forward (needed by the " \
        "layernorm_backward check)"
    assert by_task["fc_net_batchnorm"].not_implemented == "FullyConnectedNet.__init__"
    assert by_task["spatial_batchnorm"].not_implemented == "spatial_batchnorm_forward"
    assert str(by_task["groupnorm"]) == (
        "groupnorm: not implemented yet: spatial_groupnorm_forward")
    assert by_task["affine_norm_relu"].not_implemented == "affine_norm_relu_forward"
    assert by_task["nn_batchnorm"].not_implemented == "BatchNorm.forward"
    assert by_task["nn_model"].not_implemented == "Model.calculate_loss"
    assert by_task["framework_conventions"].not_implemented == "torch_momentum_from_normlab"
    assert by_task["keras_conventions"].not_implemented == "keras_batchnorm_from_normlab"
