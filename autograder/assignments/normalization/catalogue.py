"""The normalization assignment's checks, in assignment order: `all_checks`.

Each `autograder.judging.checks.Check` has a stable id (``batchnorm_forward.float32``: the key
of ``[points]``), a title for people (what grades.csv and the feedback show), the nbgrader cell
it credits, its default points, the release tasks it grades, its cases (hidden ones by their id
in `autograder.assignments.normalization.inputs.HIDDEN`, fresh ones by their maker) and its judge
(`autograder.judging.judges`). The seeds of the checks that existed before ids did are frozen in
`autograder.assignments.normalization.seed_keys`. When a check fails, `autograder.assignments.
normalization.mistakes` is asked whether a known wrong implementation explains the outputs.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from autograder.assignments.normalization.inputs import (
    HIDDEN,
    make_adam,
    make_anr,
    make_bn_test,
    make_bn_train,
    make_fc,
    make_fw_momentum,
    make_fw_running_var,
    make_gn,
    make_keras,
    make_ln_backward,
    make_ln_forward,
    make_nn_model,
    make_nn_norm,
    make_norm_backward,
    make_sbn,
)
from autograder.assignments.normalization.inside.layer_probes import NORMALIZATIONS
from autograder.assignments.normalization.inside.object_probes import KERAS_WEIGHTS, NN_NORMS
from autograder.assignments.normalization.seed_keys import SEED_KEYS
from autograder.judging.checks import CaseSpec, Check, Maker
from autograder.judging.compare import F32_FLOOR, F32_RTOL
from autograder.judging.judges import init_judge, numgrad_judge, reference_judge, stats_judge

HIDDEN_LABEL = "hidden inputs"
FRESH_LABEL = "fresh random inputs"
L = "layers."


def _hidden(case_id: str, label: str = HIDDEN_LABEL) -> CaseSpec:
    return CaseSpec(label, HIDDEN[case_id][0], hidden=case_id)


def _fresh(probe: str, make: Maker, label: str = FRESH_LABEL) -> CaseSpec:
    return CaseSpec(label, probe, make=make)


_BWD = ("dx", "dgamma", "dbeta")

#: Stand-in targets (`Check.stand_ins`) by upstream group.
BN_STANDINS = ("layers.batchnorm_forward", "layers.batchnorm_backward",
               "layers.batchnorm_backward_alt")
LN_STANDINS = ("layers.layernorm_forward", "layers.layernorm_backward")
ANR_STANDINS = ("layer_utils.affine_norm_relu_forward", "layer_utils.affine_norm_relu_backward")
NN_STANDINS = ("nn.BatchNorm.forward", "nn.BatchNorm.backward", "nn.LayerNorm.forward",
               "nn.LayerNorm.backward")
_RUNNING = ("running_mean", "running_var", "running_mean2", "running_var2")


def _reference_checks(fname, grade_id, points, key, hidden_id, fresh, outputs,
                      shared_scale=False, **options) -> list[Check]:
    """``<fname>.reference_hidden`` and ``<fname>.reference_fresh``, ``points`` each: the
    ``outputs`` against the reference's on the hidden case ``hidden_id`` and on the fresh case
    ``fresh`` (a `CaseSpec`). ``options`` are the other fields of both `Check` s."""
    return [
        Check(f"{fname}.reference_hidden",
              f"{fname}: matches reference (hidden inputs)", grade_id, points, (key,),
              (_hidden(hidden_id),), reference_judge(outputs, shared_scale=shared_scale),
              **options),
        Check(f"{fname}.reference_fresh",
              f"{fname}: matches reference (fresh random inputs)", grade_id, points, (key,),
              (fresh,), reference_judge(outputs, shared_scale=shared_scale), **options),
    ]


def _backward_checks(fname, grade_id, probe, hidden_id, make_numeric, make_fresh, key,
                     points=(3.0, 1.5), stand_ins=()) -> list[Check]:
    """The three checks of a normalization's backward pass (``points``: of the numerical one
    and of each reference one), which runs after the student's own forward (its cache):
    ``after`` that forward, with ``stand_ins`` for what both call. When that forward fails,
    dbeta (and for the fully connected layers dgamma: a feature-map layout mistake mixes up
    gamma too) are still judged, against what its output implies."""
    grads = [(g, g[1:]) for g in _BWD]
    still = ("dbeta",) if fname.startswith("spatial") else ("dgamma", "dbeta")
    dep = {"stand_ins": stand_ins, "still_judged": still,
           "after": (fname.replace("backward_alt", "forward").replace("backward", "forward"),)}
    return [
        Check(f"{fname}.numerical",
              f"{fname}: dx/dgamma/dbeta vs numerical gradients", grade_id, points[0], (key,),
              (_fresh(probe, make_numeric),), numgrad_judge(grads), looks_at=_BWD, **dep),
        *_reference_checks(fname, grade_id, points[1], key, hidden_id, _fresh(probe, make_fresh),
                           _BWD, shared_scale=True, looks_at=_BWD, **dep),
    ]


def _batchnorm_checks() -> list[Check]:
    key, gid, train = L + "batchnorm_forward", "batchnorm_forward", "batchnorm_forward_train"
    checks = [
        Check("batchnorm_forward.train_stats",
              "batchnorm_forward: train-mode mean/std", gid, 2.0, (key,),
              (_fresh(train, make_bn_train(running=False, second=False)),),
              stats_judge("bn", "feature"), looks_at=("out",)),
        *_reference_checks("batchnorm_forward", gid, 2.0, key, "bn_train",
                           _fresh(train, make_bn_train()), ("out", "out2"), looks_at=("out*",)),
        Check("batchnorm_forward.running_averages",
              "batchnorm_forward: running averages written back", gid, 1.5, (key,),
              (_fresh(train, make_bn_train(), "fresh inputs, given running averages and "
                                               "momentum, two calls"),
               _fresh(train, make_bn_train(running=False, second=False),
                      "fresh inputs, no running averages yet")),
              reference_judge(_RUNNING), looks_at=_RUNNING),
        Check("batchnorm_forward.test_mode",
              "batchnorm_forward: test mode uses and keeps running averages", gid, 1.5, (key,),
              (_hidden("bn_test"), _fresh("batchnorm_forward_test", make_bn_test)),
              reference_judge(("out", "running_mean", "running_var"),
                              weights={"out": 2.0, "running_mean": 0.5, "running_var": 0.5},
                              gate="out")),
        Check("batchnorm_forward.float32",
              "batchnorm_forward: float32 preserved", gid, 1.0, (key,),
              (_fresh(train, make_bn_train(low=False, running=False, second=False,
                                           dtype=np.float32), "fresh float32 inputs"),),
              reference_judge(("out", "running_mean", "running_var"), rtol=F32_RTOL,
                              floor_frac=F32_FLOOR, exact_dtype=True), rtol=F32_RTOL),
    ]
    for fname in ("batchnorm_backward", "batchnorm_backward_alt"):
        checks += _backward_checks(
            fname, fname, fname, "bn_backward" if fname == "batchnorm_backward"
            else "bn_backward_alt", make_norm_backward(low=False, numeric=True),
            make_norm_backward(low=True, numeric=False), L + fname)
    return checks


def _layernorm_checks() -> list[Check]:
    key, gid, probe = L + "layernorm_forward", "layernorm_forward", "layernorm_forward"
    checks = [
        Check("layernorm_forward.example_stats",
              "layernorm_forward: per-example mean/std", gid, 2.0, (key,),
              (_fresh(probe, make_ln_forward(row=False)),), stats_judge("ln", "example"),
              looks_at=("out",)),
        *_reference_checks("layernorm_forward", gid, 2.0, key, "ln_forward",
                           _fresh(probe, make_ln_forward()), ("out", "out_row")),
        Check("layernorm_forward.float32",
              "layernorm_forward: float32 preserved", gid, 1.0, (key,),
              (_fresh(probe, make_ln_forward(low=False, row=False, dtype=np.float32),
                      "fresh float32 inputs"),),
              reference_judge(("out",), rtol=F32_RTOL, floor_frac=F32_FLOOR, exact_dtype=True),
              rtol=F32_RTOL),
    ]
    checks += _backward_checks("layernorm_backward", "layernorm_backward", "layernorm_backward",
                               "ln_backward", make_ln_backward(low=False, numeric=True),
                               make_ln_backward(low=True, numeric=False),
                               L + "layernorm_backward")
    return checks


def _spatial_checks() -> list[Check]:
    key, gid, train = L + "spatial_batchnorm_forward", "spatial_batchnorm", \
        "spatial_batchnorm_forward_train"
    checks = [
        Check("spatial_batchnorm_forward.channel_stats",
              "spatial_batchnorm_forward: per-channel mean/std", gid, 1.5, (key,),
              (_fresh(train, make_sbn(running=False)),), stats_judge("sbn", "channel"),
              looks_at=("out",), stand_ins=BN_STANDINS),
        *_reference_checks("spatial_batchnorm_forward", gid, 1.5, key, "sbn_train",
                           _fresh(train, make_sbn()), ("out",), stand_ins=BN_STANDINS),
        Check("spatial_batchnorm_forward.running_averages",
              "spatial_batchnorm_forward: running averages per channel", gid, 1.0, (key,),
              (_fresh(train, make_sbn(low=False)),),
              reference_judge(("running_mean", "running_var")),
              looks_at=("running_mean", "running_var"), stand_ins=BN_STANDINS),
    ]
    checks += _backward_checks(
        "spatial_batchnorm_backward", gid, "spatial_batchnorm_backward", "sbn_backward",
        make_sbn(low=False, running=False, dout=True, numeric=True),
        make_sbn(running=False, dout=True), L + "spatial_batchnorm_backward", (2.0, 1.0),
        stand_ins=BN_STANDINS)

    key, gid, probe = L + "spatial_groupnorm_forward", "groupnorm", "spatial_groupnorm_forward"
    checks += [
        Check("spatial_groupnorm_forward.group_stats",
              "spatial_groupnorm_forward: per-group mean/std", gid, 2.0, (key,),
              (_fresh(probe, make_gn(low=False)),), stats_judge("gn", "group"),
              looks_at=("out",)),
        *_reference_checks("spatial_groupnorm_forward", gid, 1.5, key, "gn_forward",
                           _fresh(probe, make_gn()), ("out",)),
    ]
    checks += _backward_checks(
        "spatial_groupnorm_backward", gid, "spatial_groupnorm_backward", "gn_backward",
        make_gn(low=False, dout=True, numeric=True), make_gn(dout=True),
        L + "spatial_groupnorm_backward", (2.0, 1.0))
    return checks


_ANR_GRADS = ("dx", "dw", "db", "dgamma", "dbeta")


def _anr_reference_checks(direction, gid, key, outputs, **options) -> list[Check]:
    """``affine_norm_relu_<direction>.reference.<normalization>``, for batch and for layer norm:
    the ``outputs`` against the reference's, on the hidden case and on fresh inputs."""
    fname, backward = f"affine_norm_relu_{direction}", direction == "backward"
    checks = []
    for norm, name in enumerate(NORMALIZATIONS):
        short = "bn" if norm == 0 else "ln"
        checks.append(Check(
            f"{fname}.reference.{name}", f"{fname}: matches reference ({name})", gid, 1.0, (key,),
            (_hidden(f"anr_{direction}_{short}"), _fresh(fname, make_anr(norm, dout=backward))),
            reference_judge(outputs, shared_scale=backward), **options))
    return checks


def _affine_norm_relu_checks() -> list[Check]:
    gid = "fc_net_batchnorm"
    fkey, bkey = "layer_utils.affine_norm_relu_forward", "layer_utils.affine_norm_relu_backward"
    checks = _anr_reference_checks("forward", gid, fkey, ("out", "running_mean", "running_var"),
                                   stand_ins=BN_STANDINS + LN_STANDINS)
    checks.append(Check(
        "affine_norm_relu_backward.numerical",
        "affine_norm_relu_backward: gradients vs numerical (batchnorm and layernorm)", gid, 1.0,
        (bkey,),
        tuple(_fresh("affine_norm_relu_backward", make_anr(norm, dout=True, numeric=True),
                     f"fresh random inputs, {name}")
              for norm, name in enumerate(NORMALIZATIONS)),
        numgrad_judge([(g, g[1:]) for g in _ANR_GRADS]), looks_at=_ANR_GRADS,
        stand_ins=BN_STANDINS + LN_STANDINS, after=("affine_norm_relu_forward",)))
    checks += _anr_reference_checks("backward", gid, bkey, _ANR_GRADS, looks_at=_ANR_GRADS,
                                    stand_ins=BN_STANDINS + LN_STANDINS,
                                    after=("affine_norm_relu_forward",))
    return checks


def _fc_net_checks() -> list[Check]:
    init = "fc_net.FullyConnectedNet.__init__:normalization"
    loss = "fc_net.FullyConnectedNet.loss:normalization"
    grads = ("loss", "grad__*")
    dep = {"stand_ins": BN_STANDINS + LN_STANDINS + ANR_STANDINS,
           "after": ("FullyConnectedNet.__init__",)}
    checks = []
    for norm, name in enumerate(NORMALIZATIONS):
        short, gid = ("bn" if norm == 0 else "ln"), f"fc_net_{name}"
        checks += [
            Check(f"fully_connected_net.init.{name}",
                  f"FullyConnectedNet.__init__: gamma and beta for every hidden layer ({name})",
                  gid, 1.0, (init,), (_fresh("fc_net", make_fc(norm, reg=False)),),
                  init_judge, looks_at=(), stand_ins=dep["stand_ins"]),
            Check(f"fully_connected_net.loss_reg0.{name}",
                  f"FullyConnectedNet.loss: loss and gradients match reference, reg = 0 "
                  f"({name})", gid, 1.5, (loss,),
                  (_hidden(f"fc_{short}_reg0"), _fresh("fc_net", make_fc(norm, reg=False))),
                  reference_judge(grads, shared_scale=True), looks_at=grads, **dep),
            Check(f"fully_connected_net.loss_reg.{name}",
                  f"FullyConnectedNet.loss: loss and gradients match reference, reg > 0 "
                  f"({name})", gid, 1.5, (loss,),
                  (_hidden(f"fc_{short}_reg"), _fresh("fc_net", make_fc(norm, reg=True))),
                  reference_judge(grads, shared_scale=True), looks_at=grads, **dep),
            Check(f"fully_connected_net.numerical.{name}",
                  f"FullyConnectedNet.loss: gradients vs numerical ({name})", gid, 1.0, (loss,),
                  (_fresh("fc_net", make_fc(norm, reg=True, numeric=True),
                          "fresh random inputs, reg > 0"),),
                  numgrad_judge([("grad__*", "")], of="loss"), looks_at=("grad__*",), **dep),
            Check(f"fully_connected_net.scores.{name}",
                  f"FullyConnectedNet.loss: test-mode scores ({name})", gid, 1.0, (loss,),
                  (_hidden(f"fc_{short}_reg0"), _fresh("fc_net", make_fc(norm, reg=False))),
                  reference_judge(("scores", "scores_row")), looks_at=("scores*",), **dep),
        ]
    return checks


def _adam_checks() -> list[Check]:
    return [Check("adam.reference",
                  "adam: matches reference (two steps)", "adam", 2.0, ("optim.adam",),
                  (_hidden("adam", "hidden inputs, first step from a fresh config"),
                   _fresh("adam", make_adam(fresh_state=False),
                          "fresh random inputs, config with m, v and t")),
                  reference_judge(("next_w", "next_w2", "m", "m2", "v", "v2", "t", "t2"),
                                  weights={"next_w": 2.0, "next_w2": 2.0, "m": 0.25, "m2": 0.25,
                                           "v": 0.25, "v2": 0.25, "t": 0.25, "t2": 0.25}),
                  looks_at=("next_w*",))]


def _nn_checks() -> list[Check]:
    """The object API (nn.py): the normalization layers' forward/backward methods with a fused
    ReLU, and the model's regularized loss and backward pass."""
    checks = []
    for norm, kind in enumerate(NN_NORMS):
        short, gid = ("bn" if norm == 0 else "ln"), f"nn_{kind.lower()}"
        fkey, bkey = f"nn.{kind}.forward", f"nn.{kind}.backward"
        layer = BN_STANDINS if norm == 0 else LN_STANDINS
        fdep = {"stand_ins": layer}
        # the backward after a stand-in for the layer's own forward (it leaves self.cache, a
        # token, and the activation's input on the instance, as the given Layer code reads)
        bdep = {"stand_ins": (*layer, fkey), "after": (f"{kind}.forward",)}
        checks += [
            Check(f"nn_{kind.lower()}.forward.reference",
                  f"{kind}.forward: train and test outputs match reference (with and without "
                  f"a fused relu)", gid, 1.5, (fkey,),
                  (_hidden(f"nn_{short}_forward", "hidden inputs, fused relu"),
                   _fresh("nn_norm_forward", make_nn_norm(norm, relu=False),
                          "fresh random inputs, no activation"),
                   _fresh("nn_norm_forward", make_nn_norm(norm, relu=True),
                          "fresh random inputs, fused relu")),
                  reference_judge(("out", "out_test")), looks_at=("out*",), **fdep),
            Check(f"nn_{kind.lower()}.backward.numerical",
                  f"{kind}.backward: dx/dgamma/dbeta vs numerical gradients (fused relu)", gid,
                  2.0, (bkey,),
                  (_fresh("nn_norm_backward", make_nn_norm(norm, relu=True, backward=True,
                                                           numeric=True),
                          "fresh random inputs, fused relu"),),
                  numgrad_judge([(g, g[1:]) for g in _BWD]), looks_at=_BWD, **bdep),
            Check(f"nn_{kind.lower()}.backward.reference",
                  f"{kind}.backward: matches reference (with and without a fused relu)", gid,
                  1.5, (bkey,),
                  (_hidden(f"nn_{short}_backward", "hidden inputs, fused relu"),
                   _fresh("nn_norm_backward", make_nn_norm(norm, relu=False, backward=True),
                          "fresh random inputs, no activation")),
                  reference_judge(_BWD, shared_scale=True), looks_at=_BWD, **bdep),
        ]
    grads = ("dX", "grad__*")
    model = BN_STANDINS + LN_STANDINS + NN_STANDINS
    checks += [
        Check("model.calculate_loss",
              "Model.calculate_loss: data loss plus 0.5 * reg * sum(W ** 2) over the layers "
              "with a W (reg = 0 and reg > 0)", "nn_model", 1.5, ("nn.Model.calculate_loss",),
              (_hidden("nn_model_loss", "hidden inputs, reg > 0"),
               _fresh("nn_model_loss", make_nn_model(reg=False), "fresh random inputs, reg = 0"),
               _fresh("nn_model_loss", make_nn_model(reg=True), "fresh random inputs, reg > 0")),
              reference_judge(("loss",)), looks_at=("loss",), stand_ins=model),
        Check("model.backward.numerical",
              "Model.backward: gradients vs numerical (batch norm with a fused relu, dropout, "
              "reg > 0)", "nn_model", 2.0, ("nn.Model.backward",),
              (_fresh("nn_model", make_nn_model(reg=True, numeric=True),
                      "fresh random inputs, reg > 0"),),
              numgrad_judge([("dX", "X"), ("grad__*", "")], of="loss"), looks_at=grads,
              stand_ins=model, after=("Model.calculate_loss",)),
        Check("model.backward.reference",
              "Model.backward: gradients match reference (reg > 0)", "nn_model", 1.5,
              ("nn.Model.backward",),
              (_hidden("nn_model", "hidden inputs, reg > 0"),
               _fresh("nn_model", make_nn_model(reg=True), "fresh random inputs, reg > 0")),
              reference_judge(grads, shared_scale=True), looks_at=grads,
              stand_ins=model, after=("Model.calculate_loss",)),
    ]
    return checks


def _framework_checks() -> list[Check]:
    """framework.py: our momentum and running-variance conventions converted to PyTorch's
    (the FrameworkParity notebook's autograded cell)."""
    gid = "framework_conventions"
    return [
        Check("torch_momentum_from_normlab.reference",
              "torch_momentum_from_normlab: matches reference (floats and an array)", gid, 1.0,
              ("framework.torch_momentum_from_normlab",),
              (_hidden("fw_momentum"), _fresh("torch_momentum", make_fw_momentum)),
              reference_judge(("torch_momentum", "torch_momentum_array")), looks_at=()),
        Check("torch_running_var.reference",
              "torch_running_var: matches reference (unbiased variance, our momentum)", gid, 1.0,
              ("framework.torch_running_var",),
              (_hidden("fw_running_var"), _fresh("torch_running_var", make_fw_running_var)),
              reference_judge(("running_var",)), looks_at=()),
    ]


_KERAS_OUTPUTS = ("momentum", "epsilon", *KERAS_WEIGHTS)


def _keras_checks() -> list[Check]:
    """framework.py: our batch-norm settings and state as keras.layers.BatchNormalization's
    (the KerasMNIST notebook's autograded cell)."""
    gid, task = "keras_conventions", ("framework.keras_batchnorm_from_normlab",)
    judge = reference_judge(_KERAS_OUTPUTS, weights={"momentum": 2.0, "epsilon": 2.0})
    return [
        Check("keras_batchnorm_from_normlab.full_bn_param",
              "keras_batchnorm_from_normlab: matches reference (a full bn_param)", gid, 1.0, task,
              (_hidden("keras_full"), _fresh("keras_batchnorm", make_keras(full=True))),
              judge, looks_at=_KERAS_OUTPUTS),
        Check("keras_batchnorm_from_normlab.empty_bn_param",
              "keras_batchnorm_from_normlab: matches reference (an empty bn_param: our "
              "defaults)", gid, 1.0, task,
              (_hidden("keras_empty"), _fresh("keras_batchnorm", make_keras(full=False))),
              judge, looks_at=_KERAS_OUTPUTS),
    ]


@functools.cache
def all_checks() -> tuple[Check, ...]:
    """Every check of the assignment, in assignment order, with its default points."""
    checks = (_batchnorm_checks() + _layernorm_checks() + _affine_norm_relu_checks()
              + _fc_net_checks() + _spatial_checks() + _adam_checks() + _nn_checks()
              + _framework_checks() + _keras_checks())
    for what in ("id", "title"):
        values = [getattr(c, what) for c in checks]
        assert len(set(values)) == len(values), f"check {what}s must be unique"
    # The seeds of the checks graded before they had ids stay what they were (their old names):
    # a new seed would give every student new inputs, and so maybe new points.
    return tuple(dataclasses.replace(c, seed_key=SEED_KEYS.get(c.id, "")) for c in checks)
