"""The probes (autograder/assignments/normalization/inside/probes.py): standalone, cheap,
side-effect free, and they collect what
the package returns (or say why they cannot) without deciding anything."""

from __future__ import annotations

import ast
import subprocess
import sys
import types

import numpy as np
import pytest

from autograder.assignments.normalization import mistakes
from autograder.assignments.normalization.catalogue import all_checks
from autograder.assignments.normalization.inputs import (
    HIDDEN,
    hidden_inputs,
    make_adam,
    make_bn_train,
)
from autograder.assignments.normalization.inside import probes
from autograder.config import REPO_ROOT
from autograder.judging import compare as comparison
from autograder.judging import plan as planning
from tests.support.job_helpers import config_for

SOL = mistakes.solutions_package()


def all_calls(seed=0):
    """Every probe call of the default release plus Adam, and every hidden case."""
    plan = planning.plan(config_for(*sorted(config_for().tasks | {"optim.adam"}), seed=seed))
    calls = [(c.call.probe, c.call.inputs) for name in plan.cases for c in plan.cases[name]]
    calls += [(probe, hidden_inputs(case_id)) for case_id, (probe, _) in
              HIDDEN.items()]
    return calls


INSIDE = sorted((REPO_ROOT / "autograder").rglob("inside"))


@pytest.mark.parametrize("folder", INSIDE, ids=lambda f: str(f.relative_to(REPO_ROOT)))
def test_code_inside_the_sandbox_imports_only_the_standard_library_numpy_and_its_siblings(folder):
    """Every module of an ``inside/`` folder runs in the child, copied there with its siblings
    only: no ``autograder``, no third-party package but NumPy."""
    siblings = {p.stem for p in folder.glob("*.py")}
    for path in sorted(folder.glob("*.py")):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1, (path.name, ast.unparse(node))
                names = [node.module] if node.module else [a.name for a in node.names]
                assert set(names) <= siblings, (path.name, ast.unparse(node))
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module.split(".")[0])
        assert imported <= set(sys.stdlib_module_names) | {"numpy"}, (path.name, imported)


def test_the_probes_load_from_a_copied_folder_as_the_child_loads_them(tmp_path):
    """The probes folder copied alone, loaded by the child's own loader in an isolated Python:
    every probe is there and nothing of ``autograder`` was imported."""
    inside = REPO_ROOT / "autograder" / "assignments" / "normalization" / "inside"
    copy = tmp_path / "inside"
    copy.mkdir()
    for module in inside.glob("*.py"):
        (copy / module.name).write_text(module.read_text())
    child = REPO_ROOT / "autograder" / "sandbox" / "inside" / "child.py"
    code = ("import importlib.util, sys; "
            f"s = importlib.util.spec_from_file_location('c', {str(child)!r}); "
            "c = importlib.util.module_from_spec(s); s.loader.exec_module(c); "
            f"m = c._load_probes({str(copy / 'probes.py')!r}); "
            "print(len(m.PROBES), any(n.startswith('autograder') for n in sys.modules))")
    out = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == [str(len(probes.PROBES)), "False"]


def test_every_probe_is_used_and_every_check_uses_a_known_probe():
    used = {spec.probe for check in all_checks() for spec in check.cases}
    assert used == set(probes.PROBES)
    assert {probe for probe, _ in HIDDEN.values()} <= set(probes.PROBES)


def test_outputs_are_named_numeric_arrays_and_inputs_stay_untouched():
    for probe, inputs in all_calls():
        before = {k: v.copy() for k, v in inputs.items()}
        result = probes.PROBES[probe](SOL, inputs)
        assert result, probe
        for key, value in result.items():
            assert key.isidentifier() and not key.startswith("note__"), (probe, key)
            assert isinstance(value, np.ndarray) and value.dtype.kind in "biuf", (probe, key)
        for key, value in inputs.items():
            np.testing.assert_array_equal(value, before[key], err_msg=f"{probe} changed {key}")


def test_every_probe_is_cheap():
    """The cost of a call is its forward evaluations: 2 per element it perturbs. Bounded by
    count, not by a clock (the time of a whole submission is in benchmarks/bench_grading.py)."""
    for probe, inputs in all_calls(seed=1):
        out = probes.PROBES[probe](SOL, inputs)
        perturbed = sum(v.size for k, v in out.items() if k.startswith("plus__"))
        assert perturbed <= 150, f"{probe} perturbs {perturbed} elements"
        plain = [v for k, v in inputs.items() if not k.startswith("standin__")]
        assert sum(v.size for v in plain) <= 500, f"{probe}: inputs too large"


@pytest.mark.parametrize("probe", sorted({s.probe for c in all_checks() for s in c.cases
                                          if s.make and "h" in s.make(np.random.default_rng(0))}))
def test_perturbed_projections_give_the_reference_gradients(probe):
    spec = next(s for c in all_checks() for s in c.cases
                if s.probe == probe and s.make and "h" in s.make(np.random.default_rng(0)))
    inputs = spec.make(np.random.default_rng(3))
    out = probes.PROBES[probe](SOL, inputs)
    h = float(inputs["h"])
    grads = [k for k in out if k.startswith("grad__") or k in ("dx", "dw", "db", "dgamma",
                                                                 "dbeta")]
    assert grads
    for g in grads:
        wrt = g[6:] if g.startswith("grad__") else g[1:]
        numeric = (out[f"plus__{wrt}"] - out[f"minus__{wrt}"]) / (2 * h)
        scale = max(np.abs(out[k]).max() for k in grads)
        np.testing.assert_allclose(out[g], numeric, atol=1e-6 * scale, err_msg=f"{probe} {g}")


def _fake(**layers):
    return types.SimpleNamespace(layers=types.SimpleNamespace(**layers))


def test_an_output_that_is_not_an_array_leaves_a_note_and_the_others_count():
    def forward(x, gamma, beta, bn_param):
        return x.copy(), "cache"

    def backward(dout, cache):
        return dout * 2, None, [[1, 2], [3]]

    pkg = _fake(batchnorm_forward=forward, batchnorm_backward=backward)
    inputs = hidden_inputs("bn_backward")
    result = probes.PROBES["batchnorm_backward"](pkg, inputs)
    np.testing.assert_array_equal(result["dx"], inputs["dout"] * 2)
    assert "dgamma" not in result and "dbeta" not in result
    dgamma_note = comparison.note(result, "dgamma")
    assert "None" in dgamma_note and "assign it" in dgamma_note
    assert "not an array" in comparison.note(result, "dbeta")


def test_a_result_of_the_wrong_form_raises_a_probe_error_for_the_student():
    inputs = hidden_inputs("bn_backward")
    pkg = _fake(batchnorm_forward=lambda x, g, b, p: x, batchnorm_backward=None)
    with pytest.raises(probes.ProbeError, match=r"batchnorm_forward should return a pair"):
        probes.PROBES["batchnorm_backward"](pkg, inputs)
    pkg = _fake(batchnorm_forward=lambda x, g, b, p: (x, None),
                batchnorm_backward=lambda dout, cache: (dout, dout))
    with pytest.raises(probes.ProbeError, match=r"should return 3 values \(dx, dgamma, dbeta\), "
                                                r"got a tuple of 2"):
        probes.PROBES["batchnorm_backward"](pkg, inputs)


def test_missing_running_averages_are_noted():
    pkg = _fake(batchnorm_forward=lambda x, g, b, p: (x, None))
    inputs = make_bn_train(running=False)(np.random.default_rng(0))
    result = probes.PROBES["batchnorm_forward_train"](pkg, inputs)
    assert "out" in result and "running_mean" not in result
    assert "bn_param has no 'running_mean'" in comparison.note(result, "running_mean")


def test_fc_net_probe_uses_the_given_parameters_and_reports_the_constructed_ones():
    inputs = hidden_inputs("fc_ln_reg")
    result = probes.PROBES["fc_net"](SOL, inputs)
    dims = [int(d) for d in inputs["dims"]]
    np.random.seed(0)
    model = SOL.fc_net.FullyConnectedNet(dims[1:-1], input_dim=dims[0], num_classes=dims[-1],
                                         normalization="layernorm", reg=float(inputs["reg"]),
                                         dtype=np.float64)
    assert {k[len("initshape__"):] for k in result if k.startswith("initshape__")} == \
        set(model.params)
    for name in model.params:
        model.params[name] = inputs[f"p__{name}"].copy()
    loss, grads = model.loss(inputs["X"], inputs["y"])
    assert result["loss"] == pytest.approx(loss, rel=1e-12)
    for name, grad in grads.items():
        np.testing.assert_allclose(result[f"grad__{name}"], grad, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(result["scores"], model.loss(inputs["Xtest"]), rtol=1e-12)
    np.testing.assert_array_equal(result["init__gamma1"], np.ones(dims[1]))


def test_adam_probe_takes_two_steps_on_one_config():
    inputs = make_adam(fresh_state=False)(np.random.default_rng(0))
    result = probes.PROBES["adam"](SOL, inputs)
    config = {"learning_rate": float(inputs["learning_rate"]), "beta1": 0.8,
              "m": inputs["m"].copy(), "v": inputs["v"].copy(), "t": int(inputs["t"])}
    w, config = SOL.optim.adam(inputs["w"].copy(), inputs["dw"], config)
    w2, config = SOL.optim.adam(w, inputs["dw2"], config)
    np.testing.assert_array_equal(result["next_w"], w)
    np.testing.assert_array_equal(result["next_w2"], w2)
    assert int(result["t2"]) == int(inputs["t"]) + 2
