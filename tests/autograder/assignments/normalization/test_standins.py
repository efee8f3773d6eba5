"""Trusted stand-ins (autograder/assignments/normalization/inside/standins.py): the parent records
the reference's calls of an upstream function, the child answers the student's matching calls from
that table, so a check of a composite task judges the composite's own code. Probe calls run
in-process here, on trusted code only (tests/support/job_inprocess_runner.py);
tests/autograder/judging/test_fairness.py grades real,
sandboxed submissions."""

from __future__ import annotations

import json
import types

import numpy as np

from autograder.assignments.normalization import mistakes, reference
from autograder.assignments.normalization.inside import layer_probes, probes, standins
from autograder.judging import plan as planning
from autograder.sandbox.runner import ProbeOutcome
from tests.support.job_helpers import config_for
from tests.support.job_inprocess_runner import run_probes_inprocess

SOL = mistakes.solutions_package()
ANR = "affine_norm_relu_forward.reference.batchnorm"  # its id


def _copy(module, **changes):
    ns = types.SimpleNamespace(**{k: v for k, v in vars(module).items() if not k.startswith("__")})
    for k, v in changes.items():
        setattr(ns, k, v)
    return ns


def _unbiased_bn(x, gamma, beta, bn_param):
    """A batchnorm_forward with np.var(ddof=1): the upstream mistake."""
    mean, var = x.mean(axis=0), x.var(axis=0, ddof=1)
    return gamma * (x - mean) / np.sqrt(var + bn_param.get("eps", 1e-5)) + beta, (x, mean, var)


def _student(layers=None, anr=None):
    """A 'student' package: solutions with a wrong batchnorm_forward, and an affine-norm-relu
    written on top of the package's own layers (as students write it)."""
    layers = layers or _copy(SOL.layers, batchnorm_forward=_unbiased_bn)

    def affine_norm_relu_forward(x, w, b, gamma, beta, norm_param, normalization):
        a, fc = layers.affine_forward(x, w, b)
        norm = layers.batchnorm_forward if normalization == "batchnorm" else \
            layers.layernorm_forward
        h, nc = norm(a, gamma, beta, norm_param)
        out, rc = layers.relu_forward(h)
        return out, (fc, nc, rc)

    layer_utils = _copy(SOL.layer_utils, affine_norm_relu_forward=anr or affine_norm_relu_forward)
    return types.SimpleNamespace(**{**vars(SOL), "layers": layers, "layer_utils": layer_utils})


def _anr_case():
    plan = planning.plan(config_for("layer_utils.affine_norm_relu_forward"), "ada", seed=0)
    return plan, plan.cases[ANR][1]  # the fresh case (the first is hidden)


def test_a_composite_is_judged_with_the_reference_upstream_answering():
    plan, case = _anr_case()
    got = probes.PROBES[case.call.probe](_student(), dict(case.call.inputs))
    np.testing.assert_allclose(got["out"], case.reference["out"], rtol=1e-12)
    # without the table the student's own (wrong) batch norm is used, as before
    own = probes.PROBES[case.call.probe](_student(), planning.analytic(case.call.inputs, reference))
    assert not np.allclose(own["out"], case.reference["out"])
    outcomes = run_probes_inprocess(None, plan.calls, pkg=_student())
    assert all(r.status == "passed" for r in plan.evaluate(outcomes))


def test_a_call_the_reference_did_not_make_goes_to_the_students_own_function():
    _, case = _anr_case()
    seen = []

    def spying_bn(x, gamma, beta, bn_param):
        seen.append(x.shape)
        return _unbiased_bn(x, gamma, beta, bn_param)

    layers = _copy(SOL.layers, batchnorm_forward=spying_bn)

    def shifted(x, w, b, gamma, beta, norm_param, normalization):  # a glue mistake: + 1
        a, fc = layers.affine_forward(x, w, b)
        h, nc = layers.batchnorm_forward(a + 1.0, gamma, beta, norm_param)
        return np.maximum(h, 0), (fc, nc)

    got = probes.PROBES[case.call.probe](_student(layers, shifted), dict(case.call.inputs))
    assert seen, "the student's own batchnorm_forward answered the unrecorded call"
    assert not np.allclose(got["out"], case.reference["out"])


def test_the_table_holds_no_reference_cache_and_the_student_gets_a_token():
    _, case = _anr_case()
    inputs, table = standins.split(case.call.inputs)
    spec = json.loads(bytes(table[standins.SPEC]).decode())
    assert {e["target"] for e in spec["entries"]} == {"layers.batchnorm_forward"}
    # the reference's cache holds x_hat and 1/std: none of it is in the table
    run = dict(inputs)
    norm = layer_probes._norm_param(run, "batchnorm")
    a = run["x"] @ run["w"] + run["b"]
    _, cache = SOL.layers.batchnorm_forward(a, run["gamma"], run["beta"], norm)
    data = bytes(table[standins.DATA])
    given = [a, *inputs.values()]  # what the call itself passes may be in it (gamma)
    internal = [part for part in cache if isinstance(part, np.ndarray) and part.size > 1
                and not any(np.array_equal(part, g) for g in given)]
    assert len(internal) >= 3  # centred x, var, 1/std, x_hat
    for part in internal:
        assert np.ascontiguousarray(part).tobytes() not in data
    caches = []
    layers = _copy(SOL.layers)

    def keep_cache(x, w, b, gamma, beta, norm_param, normalization):
        a, _ = layers.affine_forward(x, w, b)
        h, nc = layers.batchnorm_forward(a, gamma, beta, norm_param)
        caches.append(nc)
        return np.maximum(h, 0), nc

    probes.PROBES[case.call.probe](_student(layers, keep_cache), dict(case.call.inputs))
    assert caches and all(isinstance(c, standins.Token) for c in caches)


def test_code_that_cannot_use_a_stand_in_runs_again_with_its_own_functions():
    _, case = _anr_case()

    layers = _copy(SOL.layers)
    calls = []

    def peeks_into_the_cache(x, w, b, gamma, beta, norm_param, normalization):
        a, _ = layers.affine_forward(x, w, b)
        h, nc = layers.batchnorm_forward(a, gamma, beta, norm_param)
        calls.append(type(nc))
        _ = nc[0]  # a Token cannot be indexed
        return np.maximum(h, 0), nc

    pkg = _student(layers, peeks_into_the_cache)
    got = probes.PROBES[case.call.probe](pkg, dict(case.call.inputs))
    np.testing.assert_allclose(got["out"], case.reference["out"], rtol=1e-12)
    assert calls == [standins.Token, tuple]  # first with the stand-in, then on its own


def test_the_patch_is_undone_everywhere():
    pkg = _student()
    before = {name: dict(vars(module)) for name, module in vars(pkg).items()}
    _, case = _anr_case()
    probes.PROBES[case.call.probe](pkg, dict(case.call.inputs))
    after = {name: dict(vars(module)) for name, module in vars(pkg).items()}
    assert after.keys() == before.keys()
    for name in before:
        changed = [k for k in before[name] if after[name].get(k) is not before[name][k]]
        assert not changed, (name, changed)


def test_a_backward_stand_in_pairs_with_its_forwards_token():
    """FullyConnectedNet.loss with a wrong batchnorm_backward: the loss checks pass (the stand-in
    answers the backward calls made with the stand-in forward's tokens)."""
    config = config_for("fc_net.FullyConnectedNet.loss:normalization")
    plan = planning.plan(config, "ada", seed=1)

    def wrong_backward(dout, cache):
        dx, dgamma, dbeta = SOL.layers.batchnorm_backward_alt(dout, cache)
        return -dx, dgamma, dbeta

    layers = _copy(SOL.layers, batchnorm_backward=wrong_backward,
                   batchnorm_backward_alt=wrong_backward)
    outcomes = run_probes_inprocess(None, plan.calls, pkg=_student(layers))
    results = plan.evaluate(outcomes)
    assert all(r.status == "passed" for r in results), [r.output for r in results
                                                         if r.status != "passed"]
    assert all("batchnorm_backward" in r.upstream for r in results)


def test_the_recording_uses_a_private_copy_of_the_solutions():
    assert reference.private_solutions().layers is not SOL.layers
    assert reference.private_solutions() is reference.private_solutions()


def test_a_backward_blocked_by_its_forward_says_so():
    config = config_for("layers.batchnorm_forward", "layers.batchnorm_backward")
    plan = planning.plan(config, "ada", seed=0)
    outcomes = {c.id: ProbeOutcome("error", message="NotImplementedError: batchnorm_forward")
                if "batchnorm" in c.probe else None for c in plan.calls}
    results = plan.evaluate(outcomes)
    backward = [r for r in results if r.task == "batchnorm_backward"]
    assert backward and all(r.blocked_by == ["batchnorm_forward"] for r in backward)
    assert all(r.output.startswith("Fix batchnorm_forward first") for r in backward)
    assert all(not r.blocked_by for r in results if r.task == "batchnorm_forward")


def _ln_wrong_axis(x, gamma, beta, ln_param):
    """layernorm_forward over the features' axis (axis 0): the upstream mistake, with the
    cache a correct layernorm_backward reads."""
    mean, var = x.mean(axis=0, keepdims=True), x.var(axis=0, keepdims=True)
    inv = 1.0 / np.sqrt(var + ln_param.get("eps", 1e-5))
    xhat = (x - mean) * inv
    return gamma * xhat + beta, (xhat, inv, gamma)


def _ln_backward(dout, cache):
    xhat, inv, gamma = cache
    D = dout.shape[1]
    dxhat = dout * gamma
    dx = inv / D * (D * dxhat - dxhat.sum(axis=1, keepdims=True)
                    - xhat * (dxhat * xhat).sum(axis=1, keepdims=True))
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def test_an_output_that_a_wrong_forward_makes_unjudgeable_is_not_charged():
    """A right layernorm_backward after a layernorm_forward over the wrong axis: dx cannot be
    told right or wrong, so it is not charged, and the feedback says why; dgamma and dbeta are
    still judged (against what that forward's output implies)."""
    config = config_for("layers.layernorm_forward", "layers.layernorm_backward")
    plan = planning.plan(config, "ada", seed=0)
    layers = _copy(SOL.layers, layernorm_forward=_ln_wrong_axis, layernorm_backward=_ln_backward)
    pkg = types.SimpleNamespace(**{**vars(SOL), "layers": layers})
    results = plan.evaluate(run_probes_inprocess(None, plan.calls, pkg=pkg))
    backward = [r for r in results if r.task == "layernorm_backward"]
    assert all(r.score == r.max_score for r in backward)
    assert all(r.blocked_by == ["layernorm_forward"] and "Not graded until layernorm_forward "
               "passes: dx" in r.output for r in backward)
    assert all(r.score < r.max_score for r in results if r.task == "layernorm_forward")

    def wrong_dgamma(dout, cache):  # ... but a wrong dgamma is charged all the same
        dx, dgamma, dbeta = _ln_backward(dout, cache)
        return dx, 2 * dgamma, dbeta

    layers.layernorm_backward = wrong_dgamma
    results = plan.evaluate(run_probes_inprocess(None, plan.calls, pkg=pkg))
    assert all(r.score < r.max_score for r in results if r.task == "layernorm_backward")


def test_a_backward_that_cannot_run_earns_nothing():
    """Doing nothing earns nothing: a not-started forward blocks its backward, scored 0."""
    def not_started(*args):
        raise NotImplementedError("layernorm_forward")

    config = config_for("layers.layernorm_forward", "layers.layernorm_backward")
    plan = planning.plan(config, "ada", seed=0)
    layers = _copy(SOL.layers, layernorm_forward=not_started)
    pkg = types.SimpleNamespace(**{**vars(SOL), "layers": layers})
    results = plan.evaluate(run_probes_inprocess(None, plan.calls, pkg=pkg))
    assert all(r.score == 0 for r in results)
    assert all(r.blocked_by == ["layernorm_forward"] for r in results
               if r.task == "layernorm_backward")


def test_calls_are_matched_by_the_references_signature_not_the_students():
    """The child swaps a function that hung for a ``raise TimeoutError`` taking ``*args``: the
    stand-in still recognises the composite's calls (bound to the reference's parameters), so
    the composite is not charged for the hang."""
    def hung(*args, **kwargs):
        raise TimeoutError("batchnorm_forward did not finish in an earlier call")

    plan, case = _anr_case()
    layers = _copy(SOL.layers, batchnorm_forward=hung)
    got = probes.PROBES[case.call.probe](_student(layers), dict(case.call.inputs))
    np.testing.assert_allclose(got["out"], case.reference["out"], rtol=1e-12)
