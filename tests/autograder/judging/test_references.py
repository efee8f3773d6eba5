"""The hidden reference cases (autograder/assignments/normalization/references.npz): regenerated
from solutions/ they match the committed file, drift is reported, and the file stays small."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.assignments.normalization import mistakes
from autograder.assignments.normalization.catalogue import all_checks
from autograder.assignments.normalization.inputs import HIDDEN
from autograder.judging import references

COMMITTED = references.references_path("normalization")


def load(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    path = tmp_path_factory.mktemp("refs") / "normalization.npz"
    assert references.main(["--out", str(path)]) == 0
    return path


def test_regenerating_matches_the_committed_file(regenerated):
    """Same cases, probes and inputs bit for bit; outputs equal up to OUTPUT_RTOL (1e-10, so a
    different BLAS build is not drift but any change of solutions/ is)."""
    old, new = load(COMMITTED), load(regenerated)
    assert set(old) == set(new)
    for key in old:
        assert old[key].dtype == new[key].dtype and old[key].shape == new[key].shape, key
        if "/out/" in key:
            assert references._same_output(new[key], old[key]), key
        else:
            np.testing.assert_array_equal(new[key], old[key], err_msg=key)
    assert references.drift(COMMITTED, "normalization") == []


def test_check_mode_exit_codes(regenerated, tmp_path, capsys):
    assert references.main(["--check", "--out", str(regenerated)]) == 0
    assert references.main(["--check"]) == 0
    data = load(regenerated)
    data["bn_train/out/out"] = data["bn_train/out/out"] * (1 + 1e-6)
    tampered = tmp_path / "tampered.npz"
    np.savez(tampered, **data)
    assert references.main(["--check", "--out", str(tampered)]) == 1
    err = capsys.readouterr().err
    assert "bn_train/out/out: the reference output changed" in err
    assert references.main(["--check", "--out", str(tmp_path / "missing.npz")]) == 1


def test_a_change_in_solutions_that_changes_outputs_is_drift(monkeypatch):
    sol = mistakes.solutions_package()
    original = sol.layers.layernorm_forward

    def eps_changed(x, gamma, beta, ln_param):
        return original(x, gamma, beta, {**ln_param, "eps": 1e-6})

    monkeypatch.setattr(sol.layers, "layernorm_forward", eps_changed)
    problems = references.drift(COMMITTED, "normalization")
    assert "ln_forward/out/out: the reference output changed" in problems
    assert all(p.startswith(("ln_", "anr_forward_ln", "anr_backward_ln", "fc_ln"))
               for p in problems), problems


def test_a_change_in_the_hidden_inputs_is_drift(monkeypatch):
    probe, make = HIDDEN["gn_forward"]
    monkeypatch.setitem(HIDDEN, "gn_forward",
                        (probe, lambda rng: {**make(rng), "eps": np.array(1e-3)}))
    problems = references.drift(COMMITTED, "normalization")
    assert "gn_forward/in/eps: missing from the file" in problems


def test_the_file_is_small_and_holds_exactly_the_hidden_cases():
    assert COMMITTED.stat().st_size < 500_000
    stored = references.read_references(COMMITTED)
    assert set(stored) == set(HIDDEN)
    used = {spec.hidden for check in all_checks() for spec in check.cases if spec.hidden}
    assert used == set(HIDDEN)
    for case_id, case in stored.items():
        assert case.probe == HIDDEN[case_id][0]
        assert case.inputs and case.outputs


def test_hidden_inputs_separate_right_from_the_classic_mistakes():
    """Low-variance features, odd batch sizes, non-trivial gamma/beta, non-zero running
    averages and a non-default momentum, as the mistakes need them."""
    bn = references.read_references(COMMITTED)["bn_train"].inputs
    assert bn["x"].shape[0] % 2 == 1 and bn["x"].shape[0] != bn["x"].shape[1]
    assert bn["x"].std(axis=0).min() < 5e-3 < bn["x"].std(axis=0).max()
    assert not np.allclose(bn["gamma"], 1) and not np.allclose(bn["beta"], 0)
    assert np.all(bn["running_var"] > 0) and not np.allclose(bn["running_mean"], 0)
    assert 0.5 < float(bn["momentum"]) < 0.9
    ln = references.read_references(COMMITTED)["ln_forward"].inputs
    assert ln["x"].std(axis=1).min() < 5e-3
