"""The checks (autograder/judging/, the catalogue in autograder/assignments/normalization/):
comparisons and their messages, the check list, its ids and its mapping to tasks, points and
grade cells, the inputs and their seeds, and scoring. Probe calls run in-process here
(tests/support/job_inprocess_runner.py, on trusted code only) to keep these tests fast; the
sandboxed end-to-end runs are in test_job.py."""

from __future__ import annotations

import dataclasses
import re
import types
import zlib

import numpy as np
import pytest

from autograder.assignments.normalization import mistakes, wrong
from autograder.assignments.normalization.catalogue import all_checks
from autograder.assignments.normalization.inputs import make_bn_train
from autograder.assignments.normalization.inside import probes
from autograder.assignments.normalization.seed_keys import SEED_KEYS
from autograder.judging import compare as comparison
from autograder.judging import plan as planning
from autograder.judging import references
from autograder.sandbox.runner import ProbeOutcome
from tests.support.job_helpers import SOLUTIONS, config_for, make_submission
from tests.support.job_inprocess_runner import load_package, run_probes_inprocess

SOL = mistakes.solutions_package()
ALL_TASKS = sorted(config_for().tasks | {"optim.adam"})


def grade(pkg, config, seed=0):
    plan = planning.plan(config, seed=seed)
    outcomes = run_probes_inprocess(None, plan.calls, pkg=pkg)
    return {r.name: r for r in plan.evaluate(outcomes)}


def patched(**layers):
    """The solutions package with some layer functions replaced."""
    ns = types.SimpleNamespace(**{k: v for k, v in vars(SOL.layers).items()
                                  if not k.startswith("__")})
    for k, v in layers.items():
        setattr(ns, k, v)
    return types.SimpleNamespace(**{**vars(SOL), "layers": ns})


# --------------------------------------------------------------------------------------------------
# compare()
# --------------------------------------------------------------------------------------------------


def test_compare_names_the_worst_element_student_value_expected_and_error():
    expected = np.array([1.0, 2.0, 3.0, 0.82])
    got = np.array([1.0, 2.0, 3.0, 0.41])
    assert comparison.compare("dgamma", got, expected) == (
        "dgamma: worst element at index (3,) is 0.41 but expected 0.82 (rel. error 5.0e-01)")
    assert comparison.compare("dgamma", expected.copy(), expected) is None


def test_compare_scalars_and_custom_wording():
    assert comparison.compare("loss", np.array(2.0), np.array(1.0)) == (
        "loss: the value is 2 but expected 1 (rel. error 1.0e+00)")
    assert "but the numerical gradient is 1" in comparison.compare(
        "dx", np.array([2.0]), np.array([1.0]), what="the numerical gradient is")


def test_compare_nan_inf_shape_dtype_and_missing():
    e = np.ones((3, 4))
    nan = e.copy()
    nan[1, 2] = np.nan
    msg = comparison.compare("out", nan, e)
    assert msg.startswith("out contains NaN (1 of 12 elements, first at index (1, 2))")
    assert "square root of a negative number" in msg
    assert "contains inf" in comparison.compare("out", np.full(e.shape, np.inf), e)
    assert comparison.compare("dgamma", np.ones((1, 4)), np.ones(4)) == (
        "dgamma has shape (1, 4) but should have shape (4,) (a reduction with keepdims=True? "
        "reduce without it)")
    assert "(transposed?)" in comparison.compare("out", np.ones((4, 3)), e)
    assert comparison.compare("out", e.astype(np.float32), e, dtype=np.float64) == (
        "out has dtype float32 but should keep the inputs' dtype float64")
    assert "expected an array of numbers" in comparison.compare("out", e.astype(complex), e)
    assert comparison.compare("dbeta", None, e) == "dbeta: no value came back for it"
    arrays = {"note__dbeta": np.frombuffer(b"batchnorm_backward gave None", dtype=np.uint8)}
    assert comparison.compare("dbeta", None, e, arrays=arrays) == (
        "dbeta: batchnorm_backward gave None")


def test_compare_tolerances_and_the_floor_for_tiny_elements():
    e = np.array([1000.0, 1e-9])
    assert comparison.compare("dx", e + [1e-4, 1e-7], e) is None  # 1e-7 tiny next to the scale
    assert comparison.compare("dx", e * (1 + 2e-6), e) is not None  # 2e-6 > F64_RTOL
    assert comparison.compare("dx", e * (1 + 2e-6), e, rtol=1e-5) is None
    assert comparison.compare("mean", np.array([1e-7]), np.array([0.0]), floor=1.0) is None
    assert comparison.compare("mean", np.array([1e-3]), np.array([0.0]), floor=1.0) is not None


# --------------------------------------------------------------------------------------------------
# The check list
# --------------------------------------------------------------------------------------------------

GRADE_IDS = {"batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
             "layernorm_forward", "layernorm_backward", "fc_net_batchnorm", "fc_net_layernorm",
             "spatial_batchnorm", "groupnorm", "adam"}
GRADE_IDS |= {"nn_batchnorm", "nn_layernorm", "nn_model"}  # the object API (nn.py)
GRADE_IDS |= {"framework_conventions"}  # PyTorch conventions (framework.py)
GRADE_IDS |= {"keras_conventions"}  # Keras conventions (framework.py)
FUNCTIONS = {"batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
             "layernorm_forward", "layernorm_backward", "spatial_batchnorm_forward",
             "spatial_batchnorm_backward", "spatial_groupnorm_forward",
             "spatial_groupnorm_backward", "affine_norm_relu_forward",
             "affine_norm_relu_backward", "FullyConnectedNet.__init__", "FullyConnectedNet.loss",
             "adam"}
FUNCTIONS |= {"BatchNorm.forward", "BatchNorm.backward", "LayerNorm.forward",
              "LayerNorm.backward", "Model.calculate_loss", "Model.backward"}
FUNCTIONS |= {"torch_momentum_from_normlab", "torch_running_var", "keras_batchnorm_from_normlab"}


def test_check_titles_start_with_the_graded_function_and_credit_a_known_cell():
    checks = all_checks()
    assert len({c.title for c in checks}) == len(checks)
    for c in checks:
        assert re.fullmatch(r"[\w.]+: \S.*", c.title), c.title
        assert c.task in FUNCTIONS and c.title.startswith(c.task + ": ")
        assert c.grade_id in GRADE_IDS and c.points > 0 and c.cases
        if c.task.startswith("affine_norm_relu"):
            assert c.grade_id == "fc_net_batchnorm"
        if c.task.startswith("FullyConnectedNet"):
            assert c.grade_id == ("fc_net_batchnorm" if "(batchnorm)" in c.title
                                  else "fc_net_layernorm")
        if c.task.startswith("spatial_batchnorm"):
            assert c.grade_id == "spatial_batchnorm"
        if c.task.startswith("spatial_groupnorm"):
            assert c.grade_id == "groupnorm"
        if c.task in ("batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
                      "layernorm_forward", "layernorm_backward"):
            assert c.grade_id == c.task


def test_check_ids_are_unique_dotted_snake_case_and_start_with_their_task():
    ids = [c.id for c in all_checks()]
    assert len(set(ids)) == len(ids)
    for check_id in ids:
        assert re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+", check_id), check_id
    assert "batchnorm_forward.train_stats" in ids and "batchnorm_forward.float32" in ids
    assert {i.split(".")[0] for i in ids} >= {"batchnorm_forward", "layernorm_backward", "adam",
                                              "fully_connected_net", "keras_batchnorm_from_normlab"}
    with pytest.raises(ValueError, match="snake_case"):
        dataclasses.replace(all_checks()[0], id="Batchnorm Forward: mean")


def test_a_checks_task_is_the_code_it_grades_and_not_read_from_its_title():
    """The task (what "Fix first" and the grade table name) is a function or method that exists
    in solutions/, and a retitled (translated) check keeps it."""
    import importlib

    for check in all_checks():
        module = check.release_keys[0].split(".", 1)[0]
        owner = importlib.import_module(f"solutions.{module}")
        for part in check.task.split("."):
            owner = getattr(owner, part)
        assert callable(owner), check.id
        retitled = dataclasses.replace(check, title="une autre langue : " + check.title)
        assert retitled.task == check.task
    with pytest.raises(ValueError, match="one graded function"):
        dataclasses.replace(all_checks()[0], release_keys=("layers.batchnorm_forward",
                                                           "layers.layernorm_forward"))


def test_the_checks_the_brief_asks_for_exist():
    names = {c.title for c in all_checks()}
    for name in ["batchnorm_forward: train-mode mean/std",
                 "batchnorm_forward: matches reference (hidden inputs)",
                 "batchnorm_forward: matches reference (fresh random inputs)",
                 "batchnorm_forward: running averages written back",
                 "batchnorm_forward: test mode uses and keeps running averages",
                 "batchnorm_forward: float32 preserved",
                 "batchnorm_backward: dx/dgamma/dbeta vs numerical gradients",
                 "batchnorm_backward: matches reference (hidden inputs)"]:
        assert name in names
    for task in FUNCTIONS:
        mine = [c for c in all_checks() if c.task == task]
        assert any(spec.make is not None for c in mine for spec in c.cases), task


def test_only_selected_tasks_are_graded():
    assert {c.task for c in planning.select_checks(config_for("layers.layernorm_forward"))} == \
        {"layernorm_forward"}
    default = planning.select_checks(config_for())
    assert {c.grade_id for c in default} == GRADE_IDS - {"adam"}
    assert [c.id for c in planning.select_checks(config_for(*ALL_TASKS))] == \
        [c.id for c in all_checks()]
    init = "fc_net.FullyConnectedNet.__init__:normalization"
    assert {c.task for c in planning.select_checks(config_for(init))} == \
        {"FullyConnectedNet.__init__"}
    # A key without a label selects every region of the function.
    assert {c.task for c in planning.select_checks(config_for("fc_net.FullyConnectedNet.loss"))} \
        == {"FullyConnectedNet.loss"}
    assert planning.select_checks(config_for(tasks=frozenset())) == []
    assert planning.ungraded_tasks(config_for("layers.dropout_forward", BN)) == \
        ["layers.dropout_forward"]


BN = "layers.batchnorm_forward"


def test_points_are_overridden_by_check_id_and_typos_are_refused():
    checks = planning.select_checks(config_for(BN, points={"batchnorm_forward.float32": 4.0}))
    points = {c.id: c.points for c in checks}
    assert points["batchnorm_forward.float32"] == 4.0
    assert points["batchnorm_forward.train_stats"] == 2.0  # the others keep their defaults
    with pytest.raises(ValueError, match=r"did you mean 'batchnorm_forward.float32'"):
        planning.select_checks(config_for(BN, points={"batchnorm_forward.float23": 1}))
    with pytest.raises(ValueError, match=r"did you mean 'batchnorm_forward: float32 preserved'"):
        planning.select_checks(config_for(BN, points={"batchnorm_forward: float32 preserve": 1}))


def test_points_by_a_checks_old_name_still_work_with_a_note_naming_its_id():
    title = "batchnorm_forward: float32 preserved"
    with pytest.warns(FutureWarning, match=r"use its id 'batchnorm_forward.float32'") as caught:
        checks = planning.select_checks(config_for(BN, points={title: 4.0}))
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    assert {c.id: c.points for c in checks}["batchnorm_forward.float32"] == 4.0
    with pytest.raises(ValueError, match="twice"), pytest.warns(FutureWarning):
        planning.select_checks(config_for(BN, points={title: 4.0,
                                                      "batchnorm_forward.float32": 3.0}))


# --------------------------------------------------------------------------------------------------
# Inputs and the plan
# --------------------------------------------------------------------------------------------------


def test_plan_call_ids_are_unique_and_inputs_are_plain_numbers():
    plan = planning.plan(config_for(*ALL_TASKS), seed=3)
    ids = [c.id for c in plan.calls]
    assert len(set(ids)) == len(ids)
    for call in plan.calls:
        assert re.fullmatch(r"[0-9]{2}\.[a-z0-9_.]+\.[0-9]+", call.id), call.id
        assert call.probe in probes.PROBES
        for value in call.inputs.values():
            assert isinstance(value, np.ndarray) and value.dtype.kind in "biuf"


def test_hidden_cases_come_from_the_references_file_and_fresh_ones_from_the_seed():
    stored = references.load_references("normalization")
    case = planning.plan(config_for(BN), seed=1).cases["batchnorm_forward.reference_hidden"][0]
    np.testing.assert_array_equal(case.call.inputs["x"], stored["bn_train"].inputs["x"])
    np.testing.assert_array_equal(case.reference["out"], stored["bn_train"].outputs["out"])
    fresh = "batchnorm_forward.reference_fresh"
    a, b, c = (planning.plan(config_for(BN), seed=s).cases[fresh][0].call.inputs["x"]
               for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)
    # The fresh inputs of one check do not depend on which other tasks are selected.
    d = planning.plan(config_for(*ALL_TASKS), seed=1).cases[fresh][0].call.inputs["x"]
    np.testing.assert_array_equal(a, d)


def test_fresh_inputs_are_still_seeded_by_the_checks_old_names():
    """Ids must not change anybody's inputs: a check that existed before them is seeded, as
    before, by (release seed, crc32(student), crc32(its old name)); the name is written out
    here, not read from the catalogue."""
    for check_id, old_name, maker in [
            ("batchnorm_forward.reference_fresh",
             "batchnorm_forward: matches reference (fresh random inputs)", make_bn_train()),
            ("batchnorm_forward.train_stats", "batchnorm_forward: train-mode mean/std",
             make_bn_train(running=False, second=False))]:
        rng = np.random.default_rng([7, zlib.crc32(b"ada"), zlib.crc32(old_name.encode())])
        want = maker(rng)
        got = planning.plan(config_for(BN), "ada", seed=7).cases[check_id][0].call.inputs
        assert set(got) == set(want)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])


def test_a_new_check_is_seeded_by_its_id_and_a_retitled_one_keeps_its_seed():
    check = next(c for c in all_checks() if c.id == "batchnorm_forward.float32")
    assert check.seed_key == "batchnorm_forward: float32 preserved"
    assert dataclasses.replace(check, title="batchnorm_forward: keeps float32").seed_key == \
        "batchnorm_forward: float32 preserved"
    new = dataclasses.replace(check, id="batchnorm_forward.float16", seed_key="")
    assert new.seed_key == "batchnorm_forward.float16"
    stale = set(SEED_KEYS) - {c.id for c in all_checks()}
    assert not stale, f"seed keys of checks that no longer exist: {stale}"


@pytest.mark.parametrize("seed", range(5))
def test_fresh_inputs_separate_right_from_the_classic_mistakes(seed):
    plan = planning.plan(config_for(*ALL_TASKS), seed=seed)
    bn = plan.cases["batchnorm_forward.reference_fresh"][0].call.inputs
    assert bn["x"].shape[0] % 2 == 1 and bn["x"].shape[0] != bn["x"].shape[1]
    assert bn["x"].std(axis=0).min() < 5e-3
    assert not np.allclose(bn["gamma"], 1) and not np.allclose(bn["beta"], 0)
    assert float(bn["momentum"]) != 0.9 and not np.allclose(bn["running_mean"], 0)
    f32 = plan.cases["batchnorm_forward.float32"][0].call.inputs
    assert {v.dtype for v in f32.values()} == {np.dtype(np.float32)}
    sbn = plan.cases["spatial_batchnorm_forward.reference_fresh"]
    N, C, H, W = sbn[0].call.inputs["x"].shape
    assert len({C, H, W}) == 3  # a reshape without transposing cannot line up by accident
    gn = plan.cases["spatial_groupnorm_forward.reference_fresh"]
    assert gn[0].call.inputs["gamma"].shape == (1, C := gn[0].call.inputs["x"].shape[1], 1, 1)
    assert C % int(gn[0].call.inputs["G"]) == 0


def test_numerical_gradient_cases_leave_the_perturbations_out_of_the_reference():
    plan = planning.plan(config_for("layers.batchnorm_backward"), seed=0)
    case = plan.cases["batchnorm_backward.numerical"][0]
    assert "h" in case.call.inputs
    assert set(case.reference) == {"dx", "dgamma", "dbeta", "fwd__out"}
    assert "plus__x" in case.full_reference()


# --------------------------------------------------------------------------------------------------
# Scoring (in-process runs of trusted code)
# --------------------------------------------------------------------------------------------------


def test_the_reference_gets_full_marks_on_every_check():
    for seed in range(3):
        results = grade(SOL, config_for(*ALL_TASKS), seed=seed)
        for r in results.values():
            assert r.status == "passed" and r.score == r.max_score and r.output == "", (seed, r)
    # A result (grades.csv, feedback, results.json) still shows the check's title, not its id.
    assert "batchnorm_forward: float32 preserved" in results


def test_a_patched_copy_of_solutions_on_disk_gets_full_marks_too(tmp_path):
    pkg = load_package(make_submission(tmp_path, source=SOLUTIONS) / "assignment")
    results = grade(pkg, config_for(), seed=4)
    assert all(r.status == "passed" for r in results.values())


def test_partial_credit_per_output_and_the_probes_note():
    def backward(dout, cache):
        dx, dgamma, dbeta = SOL.layers.batchnorm_backward(dout, cache)
        return dx, None, dbeta

    results = grade(patched(batchnorm_backward=backward), config_for("layers.batchnorm_backward"))
    for r in results.values():
        assert r.status == "failed" and r.score == pytest.approx(r.max_score * 2 / 3)
        assert r.output.startswith("2 of 3 parts right (")
        assert "dgamma: batchnorm_backward gave None for dgamma: assign it before the return" \
            in r.output


def test_a_right_backward_after_a_wrong_forward_is_not_charged():
    """Error carried forward: a forward with eps outside the sqrt (charged in its own checks)
    and a backward that is right for the cache it gets: every backward check passes; the same
    forward with a wrong backward still fails them."""
    config = config_for("layers.batchnorm_backward_alt")
    results = grade(patched(batchnorm_forward=_bn_eps_outside_with_cache), config)
    assert all(r.status == "passed" for r in results.values()), results

    def dbeta_averaged(dout, cache):
        dx, dgamma, dbeta = SOL.layers.batchnorm_backward_alt(dout, cache)
        return dx, dgamma, dbeta / dout.shape[0]

    results = grade(patched(batchnorm_forward=_bn_eps_outside_with_cache,
                            batchnorm_backward_alt=dbeta_averaged), config)
    assert all(r.status == "failed" for r in results.values()), results
    assert all("dbeta" in r.output for r in results.values())


def _bn_eps_outside_with_cache(x, gamma, beta, bn_param):
    out, cache = SOL.layers.batchnorm_forward(x, gamma, beta, bn_param)
    xc, var, inv_std, x_hat, gamma_, eps = cache
    inv = 1.0 / (np.sqrt(var) + eps)
    return gamma * xc * inv + beta, (xc, var, inv, xc * inv, gamma_, eps)


def test_error_outcomes_become_error_and_timeout_statuses():
    plan = planning.plan(config_for("layers.layernorm_forward"), seed=0)
    outcomes = {c.id: ProbeOutcome("timeout", message="stopped after the 30 s time limit")
                for c in plan.calls}
    results = plan.evaluate(outcomes)
    assert {r.status for r in results} == {"timeout"}
    assert "your code did not finish in time: stopped after the 30 s time limit" in \
        results[0].output
    outcomes = {c.id: ProbeOutcome("crashed", message="killed by SIGSEGV") for c in plan.calls}
    assert {r.status for r in plan.evaluate(outcomes)} == {"error"}
    with pytest.raises(RuntimeError, match="no outcome"):
        plan.evaluate({})


def test_numerical_check_leaves_out_elements_at_a_relu_kink():
    """Where the reference's own numerical gradient disagrees with its analytic one (a kink),
    a student's disagreement is not held against them; anywhere else it is."""
    check = next(c for c in all_checks() if c.id == "affine_norm_relu_backward.numerical")
    plan = planning.plan(config_for("layer_utils.affine_norm_relu_backward"), seed=0)
    case = plan.cases[check.id][0]
    full = dict(case.full_reference())
    student = dict(full)
    student["dw"] = full["dw"].copy()
    student["dw"][0, 0] += 1e-2  # the student's dw is off at (0, 0) (so not the reference's),
    ok = ProbeOutcome("ok", arrays=student)  # and disagrees with their numerical gradient ...
    first = planning.evaluate_check(check, [case], {case.call.id: ok}, assignment="normalization")
    assert first.status != "passed"
    kinked = dict(full)
    kinked["dw"] = student["dw"]  # ... where the reference's do too: a kink
    case._full = kinked
    result = planning.evaluate_check(check, [case], {case.call.id: ok}, assignment="normalization")
    assert result.status == "passed", result.output


def test_long_outputs_are_capped():
    check = next(c for c in all_checks() if c.id == "fully_connected_net.loss_reg0.batchnorm")
    plan = planning.plan(config_for("fc_net.FullyConnectedNet.loss:normalization"), seed=0)
    pairs = plan.cases[check.id]
    outcomes = {c.call.id: ProbeOutcome("ok", arrays={k: v + 1 for k, v in c.reference.items()})
                for c in pairs}
    result = planning.evaluate_check(check, pairs, outcomes, assignment="normalization")
    assert result.score == 0 and "... and " in result.output
    assert len(result.output.splitlines()) <= planning.MAX_OUTPUT_LINES + 2


def test_a_check_result_never_exceeds_its_points():
    config = dataclasses.replace(config_for(BN), points={
        "batchnorm_forward.running_averages": 0.1})
    results = grade(patched(batchnorm_forward=wrong.bn_forward(momentum_reversed=True)),
                    config)
    for r in results.values():
        assert 0 <= r.score <= r.max_score
    assert results["batchnorm_forward: running averages written back"].mistake == \
        "momentum_reversed"


def test_an_error_names_the_line_of_the_students_code():
    plan = planning.plan(config_for("layers.layernorm_forward"), seed=0)
    trace = ('  File "assignment/layers.py", line 207, in layernorm_forward\n'
             '    raise ValueError("nope")\nValueError: nope')
    outcomes = {c.id: ProbeOutcome("error", message="ValueError: nope", traceback=trace)
                for c in plan.calls}
    result = plan.evaluate(outcomes)[0]
    assert result.status == "error"
    assert "ValueError: nope (layers.py line 207, in layernorm_forward)" in result.output


def _net_with(extra=None, drop=None):
    base = SOL.fc_net.FullyConnectedNet

    class FullyConnectedNet(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if extra:
                self.params[extra] = np.ones(3)
            if drop:
                del self.params[drop]

    return types.SimpleNamespace(**{**vars(SOL), "fc_net": types.SimpleNamespace(
        FullyConnectedNet=FullyConnectedNet)})


def test_init_check_wants_gamma_and_beta_for_hidden_layers_only():
    init = "fc_net.FullyConnectedNet.__init__:normalization"
    name = "FullyConnectedNet.__init__: gamma and beta for every hidden layer (batchnorm)"
    result = grade(_net_with(extra="gamma3"), config_for(init))[name]
    assert result.status == "failed" and 0 < result.score < result.max_score
    assert "model.params has gamma3, but only the hidden layers are normalized" in result.output
    result = grade(_net_with(drop="beta2"), config_for(init))[name]
    assert "model.params has no 'beta2' after __init__" in result.output
    assert result.score == pytest.approx(result.max_score * 4 / 5)


def _garbage(reference, kind):
    out = {}
    for key, value in reference.items():
        if kind == "complex":
            out[key] = value.astype(complex) + 1j
        elif kind == "shape":
            out[key] = np.zeros((2, 3, 1))
        elif kind == "nan":
            out[key] = np.full(value.shape, np.nan)
        elif kind == "int":
            out[key] = np.ones(value.shape, dtype=np.int8)
        elif kind == "notes":
            out[f"note__{key}"] = np.array([1.5, np.nan])
    return out


@pytest.mark.parametrize("kind", ["empty", "complex", "shape", "nan", "int", "notes"])
def test_whatever_comes_back_every_check_is_scored_without_raising(kind):
    plan = planning.plan(config_for(*ALL_TASKS), seed=0)
    outcomes = {}
    for name in plan.cases:
        for case in plan.cases[name]:
            arrays = {} if kind == "empty" else _garbage(case.full_reference(), kind)
            outcomes[case.call.id] = ProbeOutcome("ok", arrays=arrays)
    for result in plan.evaluate(outcomes):
        assert result.status == "failed", result
        assert 0 <= result.score < result.max_score
        assert result.output


def test_other_correct_implementations_get_full_marks_too(tmp_path):
    """Right but computed differently (variance as E[x^2] - E[x]^2, np.var, the staged backward
    inside spatial batch norm): no false failures from the tolerances."""
    pkg = load_package(make_submission(tmp_path, patches=[
        ("layers.py", 'var = np.einsum("nd,nd->d", xc, xc) / N',
         "var = (x ** 2).mean(axis=0) - mean ** 2"),
        ("layers.py", 'var = np.einsum("nd,nd->n", xc, xc)[:, None] / D',
         "var = (x ** 2).mean(axis=1, keepdims=True) - mean ** 2"),
        ("layers.py", 'var = np.einsum("ngm,ngm->ng", xc, xc)[:, :, None] / xg.shape[2]',
         "var = xg.var(axis=2, keepdims=True)"),
        ("layers.py", "dx_flat, dgamma, dbeta = batchnorm_backward_alt(dout_flat, cache)",
         "dx_flat, dgamma, dbeta = batchnorm_backward(dout_flat, cache)"),
    ]) / "assignment")
    for seed in range(8):
        for r in grade(pkg, config_for(), seed=seed).values():
            assert r.status == "passed", (seed, r.name, r.output)
