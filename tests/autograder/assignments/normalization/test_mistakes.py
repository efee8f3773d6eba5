"""The catalogue of known mistakes (autograder/assignments/normalization/mistakes.py): each wrong
implementation is really wrong on the graded inputs, reproduces what the matching source-level slip
in a student's code
does, and `recognise` names it only when it explains the outputs."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.assignments.normalization import mistakes
from autograder.assignments.normalization import wrong as wrong_code
from autograder.assignments.normalization.inputs import HIDDEN, hidden_inputs
from autograder.assignments.normalization.inside import probes
from autograder.judging import plan as planning
from tests.support.job_helpers import MISTAKE_PATCHES, config_for, make_submission
from tests.support.job_inprocess_runner import load_package

SOL = mistakes.solutions_package()


def hidden_by_probe():
    found = {}
    for case_id, (probe, _) in HIDDEN.items():
        found.setdefault(probe, []).append(hidden_inputs(case_id))
    return found


def fresh_by_probe(seed=0):
    """Fresh inputs of every check for every probe, without the perturbation step."""
    plan = planning.plan(config_for(*sorted(config_for().tasks | {"optim.adam"}), seed=seed))
    found = {}
    for name in plan.cases:
        for case in plan.cases[name]:
            inputs = {k: v for k, v in case.call.inputs.items() if k != "h"}
            found.setdefault(case.call.probe, []).append(inputs)
    return found


def test_every_mistake_has_a_source_level_twin_in_the_tests():
    assert set(MISTAKE_PATCHES) == set(mistakes.MISTAKES)


def test_the_slip_free_versions_are_the_reference():
    right = {
        "batchnorm_forward_train": {"batchnorm_forward": wrong_code.bn_forward()},
        "batchnorm_forward_test": {"batchnorm_forward": wrong_code.bn_forward()},
        "layernorm_forward": {"layernorm_forward": wrong_code.ln_forward()},
        "spatial_groupnorm_forward": {"spatial_groupnorm_forward": wrong_code.gn_forward()},
        "spatial_batchnorm_forward_train": {
            "spatial_batchnorm_forward": wrong_code.spatial_bn_forward(wrong_code.bn_forward())},
    }
    for probe, overrides in right.items():
        ns = dict(vars(SOL))
        ns["layers"] = type(SOL)(**{**{k: v for k, v in vars(SOL.layers).items()
                                        if not k.startswith("__")}, **overrides})
        pkg = type(SOL)(**ns)
        for inputs in hidden_by_probe()[probe] + fresh_by_probe()[probe]:
            want = probes.PROBES[probe](SOL, inputs)
            got = probes.PROBES[probe](pkg, inputs)
            assert set(got) == set(want)
            for k in want:
                rtol = 1e-9 if want[k].dtype == np.float64 else 1e-5
                np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=rtol * 1e-3,
                                           err_msg=f"{probe} {k}")


@pytest.mark.parametrize("key", sorted(mistakes.MISTAKES))
def test_each_mistake_changes_its_outputs_on_the_hidden_inputs(key):
    mistake = mistakes.MISTAKES[key]
    hidden = hidden_by_probe()
    for probe, outputs in mistake.outputs.items():
        differs = False
        for inputs in hidden[probe]:
            ref = probes.PROBES[probe](SOL, inputs)
            wrong = mistakes.wrong_outputs(key, probe, inputs)
            telling = mistakes._keys(outputs, set(ref))
            assert telling, (key, probe)
            differs |= any(not mistakes.same(wrong.get(k), ref[k]) for k in telling)
        assert differs, f"{key} does not show on the hidden inputs of {probe}"


@pytest.mark.parametrize("key", sorted(mistakes.MISTAKES))
def test_recognise_names_the_mistake_in_code_that_makes_it(tmp_path, key):
    """The package with the slip in its source (as a student would write it) is recognised on
    the fresh inputs of at least one probe, and only as this mistake."""
    _, patches = MISTAKE_PATCHES[key]
    pkg = load_package(make_submission(tmp_path, patches=patches) / "assignment")
    fresh = fresh_by_probe(seed=1)
    recognised = []
    for probe in mistakes.MISTAKES[key].outputs:
        for inputs in fresh.get(probe, []):
            ref = probes.PROBES[probe](SOL, inputs)
            with np.errstate(all="ignore"):
                student = probes.PROBES[probe](pkg, inputs)
            found = mistakes.recognise(list(mistakes.MISTAKES), probe, inputs, student, ref,
                                       looked_at=list(ref))
            if found is not None:
                assert found.key == key, (probe, found.key)
                recognised.append(probe)
    assert recognised, f"{key} was never recognised"


def test_the_reference_and_noise_are_never_taken_for_a_mistake():
    rng = np.random.default_rng(0)
    for probe, all_inputs in fresh_by_probe(seed=2).items():
        for inputs in all_inputs:
            ref = probes.PROBES[probe](SOL, inputs)
            assert mistakes.recognise(list(mistakes.MISTAKES), probe, inputs, ref, ref,
                                      looked_at=list(ref)) is None, probe
            noise = {k: v + rng.standard_normal(v.shape) for k, v in ref.items()}
            assert mistakes.recognise(list(mistakes.MISTAKES), probe, inputs, noise, ref,
                                      looked_at=list(ref)) is None, probe


def test_recognise_only_looks_at_the_outputs_the_check_compared():
    inputs = hidden_by_probe()["batchnorm_forward_train"][0]
    ref = probes.PROBES["batchnorm_forward_train"](SOL, inputs)
    wrong = mistakes.wrong_outputs("momentum_reversed", "batchnorm_forward_train", inputs)
    found = mistakes.recognise(list(mistakes.MISTAKES), "batchnorm_forward_train", inputs,
                               wrong, ref, looked_at=["running_mean"])
    assert found.key == "momentum_reversed"
    assert mistakes.recognise(list(mistakes.MISTAKES), "batchnorm_forward_train", inputs,
                              wrong, ref, looked_at=["out"]) is None


def test_adam_t_after_use_divides_by_zero_on_the_first_step_and_is_off_later():
    w = np.ones((2, 2))
    adam_t_after_use = wrong_code.adam_t_after_use(SOL.optim.adam)
    first, _ = adam_t_after_use(w, w.copy(), {})
    assert np.isnan(first).all()
    config = {"t": 3, "m": np.full((2, 2), 0.1), "v": np.full((2, 2), 0.2)}
    wrong, wrong_config = adam_t_after_use(w, w.copy(), dict(config))
    right, right_config = SOL.optim.adam(w, w.copy(), dict(config))
    assert wrong_config["t"] == right_config["t"] == 4
    assert not np.allclose(wrong - w, right - w, rtol=1e-2)  # the steps differ


def test_same_compares_shape_nan_positions_and_values():
    a = np.array([1.0, np.nan, 3.0])
    assert mistakes.same(a, a.copy())
    assert not mistakes.same(a, np.array([1.0, 2.0, 3.0]))
    assert not mistakes.same(a[None, :], a)
    assert mistakes.same(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]))
    assert not mistakes.same(np.array([1.0, 2.0]), np.array([1.0, 2.1]))
    assert not mistakes.same(None, a)
    assert not mistakes.same(np.array(["a"]), np.array(["a"]))


def test_messages_say_what_it_looks_like_and_what_to_do():
    for mistake in mistakes.MISTAKES.values():
        text = mistake.message()
        assert text.startswith("This looks like ") and text.endswith(".")
        assert ": " in text
