# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/selfcheck/objects.py by `make stubs`; edit the solution.
"""Self-checks of the layers as objects (nn.py): BatchNorm, LayerNorm and the Model.

The normalization layers are compared with your own batchnorm_forward / layernorm_forward and
backward passes called as the layer should call them (which judges the layer alone), then with
numerical gradients. The model's loss and backward pass are judged on a model of given layers
only (Dense, Dropout and a plain scale-and-shift layer defined here), so they do not depend on
your normalization layers; a last step runs a model with them, as the notebook does.
"""

from __future__ import annotations

import copy

import numpy as np

from ..gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
from .batchnorm import RUNNING, TEST, TRAIN
from .core import Fatal, Need, Own, Step, task
from .tools import GRAD_TOL, gradient_error, same

_LAYERS = {
    # class name -> (its forward task, what the layer needs of it, its backward tasks)
    "BatchNorm": ("batchnorm_forward", TRAIN + RUNNING + TEST,
                  ("batchnorm_backward_alt", "batchnorm_backward")),
    "LayerNorm": ("layernorm_forward", None, ("layernorm_backward",)),
}


def _relu(a, activation):
    return np.maximum(a, 0) if activation == "relu" else a


def _layer_gradient_problem(layer, x, seed):
    """None if layer.backward matches numerical gradients of layer.forward, else which do not."""
    out = layer.forward(x.copy(), "train")
    dout = np.random.default_rng(seed).standard_normal(np.shape(out))
    analytic = {"x": layer.backward(dout.copy())}
    analytic.update({k: np.array(g, copy=True) for k, g in layer.grads.items()})
    numeric = {"x": eval_numerical_gradient_array(lambda v: layer.forward(v, "train"), x.copy(),
                                                  dout)}
    for key, value in layer.params.items():
        numeric[key] = eval_numerical_gradient_array(lambda _: layer.forward(x, "train"), value,
                                                     dout)
    scale = max(float(np.max(np.abs(n))) for n in numeric.values())
    bad = [f"{k} ({gradient_error(analytic[k], n, scale):.1e})" for k, n in numeric.items()
           if k not in analytic or np.shape(analytic[k]) != np.shape(n)
           or gradient_error(analytic[k], n, scale) > GRAD_TOL]
    return ", ".join(bad) or None


def _norm_layer_steps(context, cls_name):
    nn, L = context.modules.nn, context.modules.layers
    forward_task, aspects, backward_tasks = _LAYERS[cls_name]
    batch = cls_name == "BatchNorm"
    cls = getattr(nn, cls_name)
    own_forward = getattr(nn, forward_task, None) or getattr(L, forward_task)
    rng = np.random.default_rng(40 if batch else 41)
    D = 5
    x = 3 * rng.standard_normal((8, D)) + 1
    gamma, beta = rng.uniform(0.5, 2.0, D), rng.standard_normal(D)
    param_key = "bn_param" if batch else "ln_param"

    def uses_forward():
        return [cls.forward]

    def uses_backward():
        return [cls.backward]


    def make(activation):
        layer = cls(D, eps=1e-3, momentum=0.6, activation=activation) if batch else cls(
            D, eps=1e-3, activation=activation)
        layer.params["gamma"], layer.params["beta"] = gamma.copy(), beta.copy()
        return layer

    def own(xs, param, mode="train"):
        param = copy.deepcopy(param)
        return own_forward(xs.copy(), gamma, beta, dict(param, mode=mode) if batch else param)

    def train_forward():
        for activation in (None, "relu"):
            layer = make(activation)
            param = dict(getattr(layer, param_key))
            out = layer.forward(x.copy(), "train")
            if out is None:
                return Own("forward returned None: assign out before the return")
            pre = own(x, param)[0]
            if same(out, _relu(pre, activation)):
                continue
            if activation and same(out, pre):
                return Own("with activation='relu' the output has negative values: finish with "
                           "self.activation_forward(a)")
            if same(out, _relu(own(x, {})[0], activation)):
                return Own(f"the layer's eps (1e-3 here) did not reach {forward_task}: pass it "
                           f"self.{param_key}")
            return (f"activation={activation!r}: out differs from your {forward_task} with the "
                    f"layer's gamma, beta and self.{param_key}"
                    + (", then the ReLU" if activation else ""))
        return None

    def train_keeps():
        layer = make(None)
        layer.forward(x.copy(), "train")
        if layer.cache is None:
            return Own(f"self.cache is still None after forward: keep {forward_task}'s cache "
                       f"there for backward")
        if batch and "running_mean" not in layer.bn_param:
            return ("self.bn_param has no running_mean after a train-mode forward: give "
                    "batchnorm_forward the layer's own self.bn_param (it keeps the running "
                    "averages there)")
        return None

    def test_forward():
        layer = make("relu")
        layer.forward(x.copy(), "train")
        xt = x[:3] + 0.5
        param = dict(getattr(layer, param_key))
        out = layer.forward(xt.copy(), "test")
        want = _relu(own(xt, param, "test")[0], "relu")
        if same(out, want):
            if not batch and not same(layer.forward(xt[1:2].copy(), "test"), want[1:2]):
                return "one example alone gives another output than in a batch"
            return None
        if batch and same(out, _relu(own(xt, param, "train")[0], "relu")):
            return Own("test mode normalized with the batch's own statistics: set "
                       "self.bn_param['mode'] = mode before calling batchnorm_forward")
        return f"test mode: out differs from your {forward_task} in test mode, then the ReLU"

    def backward_as_functions():
        problems = []
        for activation in (None, "relu"):
            layer = make(activation)
            param = dict(getattr(layer, param_key))
            layer.forward(x.copy(), "train")
            dout = np.random.default_rng(3).standard_normal(x.shape)
            dx = layer.backward(dout.copy())
            got = (dx, layer.grads.get("gamma"), layer.grads.get("beta"))
            if got[1] is None or got[2] is None:
                return Own("self.grads has no 'gamma' or 'beta' after backward: store dgamma "
                           "and dbeta there")
            pre = own(x, param)[0]
            da = dout * (pre > 0) if activation else dout
            for name in backward_tasks:
                func = getattr(nn, name, None) or getattr(L, name)
                try:
                    want = func(da.copy(), layer.cache)
                    raw = func(dout.copy(), layer.cache)
                except Exception:  # noqa: BLE001 - the cache is not the function's
                    continue
                if all(same(g, w) for g, w in zip(got, want, strict=True)):
                    break
                if activation and same(got[0], want[0]) and same(got[1], raw[1]):
                    return Own("dgamma and dbeta come from dout, before the ReLU: compute all "
                               "three gradients from what activation_backward returns (units "
                               "the ReLU cut do not change the loss)")
                if activation and same(got[0], raw[0]):
                    return Own("dx skips the ReLU: go back through self.activation_backward(dout)"
                               " first, then through the normalization")
            else:
                problems.append(activation)
        if problems:
            return (None, f"note: with activation={problems[0]!r} the gradients differ from "
                          f"your {backward_tasks[0]} of the gradient behind the activation; the "
                          f"numerical check below decides")
        return None

    def gradients():
        for activation in (None, "relu"):
            problem = _layer_gradient_problem(make(activation), x, seed=5)
            if problem:
                return (f"activation={activation!r}: gradients that do not match numerical ones"
                        f" (relative error): {problem}")
        return None

    forward_needs = (Need(forward_task, aspects, uses_forward),)
    name = cls_name
    return [
        Step(f"{name}.forward (train) is your {forward_task} with the layer's gamma, beta and "
             f"{param_key}, then the activation", train_forward, needs=forward_needs),
        Step(f"{name}.forward keeps the cache" + (" and the running averages" if batch else ""),
             train_keeps, needs=forward_needs),
        Step(f"{name}.forward in test mode" + (" uses the running averages" if batch
                                               else " is the same per example"),
             test_forward, needs=forward_needs),
        Step(f"{name}.backward is your {backward_tasks[0]} of the gradient behind the "
             f"activation", backward_as_functions),
        Step(f"{name}.backward matches numerical gradients, without and with the fused ReLU",
             gradients, needs=forward_needs + tuple(Need(t, via=uses_backward)
                                                    for t in backward_tasks)),
    ]


@task("nn_batchnorm", "nn", owned=("BatchNorm.forward", "BatchNorm.backward"),
      subject="nn.BatchNorm", calls=("BatchNorm",))
def _nn_batchnorm_steps(context):
    return _norm_layer_steps(context, "BatchNorm")


@task("nn_layernorm", "nn", owned=("LayerNorm.forward", "LayerNorm.backward"),
      subject="nn.LayerNorm", calls=("LayerNorm",))
def _nn_layernorm_steps(context):
    return _norm_layer_steps(context, "LayerNorm")


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------


def _scale_shift(nn, dim):
    """A layer with parameters gamma and beta but no W, ``out = gamma * x + beta`` (given here,
    so the model's checks need none of your layers)."""

    class ScaleShift(nn.Layer):
        def __init__(self):
            super().__init__()
            self.params["gamma"] = np.linspace(0.5, 1.5, dim)
            self.params["beta"] = np.linspace(-0.2, 0.3, dim)

        def forward(self, x, mode="train"):
            self.cache = x
            return x * self.params["gamma"] + self.params["beta"]

        def backward(self, dout):
            self.grads["gamma"] = np.sum(self.cache * dout, axis=0)
            self.grads["beta"] = np.sum(dout, axis=0)
            return self.params["gamma"] * dout

    return ScaleShift()


def _model(nn, L, seed, own_layers=False):
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        model = nn.Model()
        model.add(nn.Dense(6, 5, weight_scale=0.5), "fc1")
        if own_layers:
            model.add(nn.BatchNorm(5, activation="relu"), "bn1")
        else:
            model.add(_scale_shift(nn, 5), "scale1")
        model.add(nn.Dropout(0.75, seed=seed), "drop1")
        model.add(nn.Dense(5, 4, weight_scale=0.5, activation=None if own_layers else "relu"),
                  "fc2")
        if own_layers:
            model.add(nn.LayerNorm(4, activation="relu"), "ln2")
        model.add(nn.Dense(4, 3, weight_scale=0.5), "scores")
        model.add_loss(L.softmax_loss)
        for layer in model.layers.values():  # biases away from zero: no row of fc2 is constant
            if "b" in layer.params:
                layer.params["b"] = 0.5 * np.random.randn(*layer.params["b"].shape)
        return model
    finally:
        np.random.set_state(state)


def _model_gradient_problem(model, X, y, reg):
    def loss_at(_):
        return model.calculate_loss(model.forward(X, "train"), y, reg)[0]

    _, dscores, _ = model.calculate_loss(model.forward(X, "train"), y, reg)
    analytic = {"X": model.backward(dscores)}
    analytic.update({f"{n}.{k}": np.array(layer.grads[k], copy=True)
                     for n, k, layer in model.parameters()})
    numeric = {"X": eval_numerical_gradient(loss_at, X, verbose=False)}  # probes X
    for n, k, layer in model.parameters():
        numeric[f"{n}.{k}"] = eval_numerical_gradient(loss_at, layer.params[k], verbose=False)
    scale = max(float(np.max(np.abs(v))) for v in numeric.values())
    bad = [f"{k} ({gradient_error(analytic[k], v, scale):.1e})" for k, v in numeric.items()
           if np.shape(analytic[k]) != np.shape(v) or gradient_error(analytic[k], v, scale)
           > GRAD_TOL]
    return ", ".join(bad) or None


@task("nn_model", "nn", owned=("Model.calculate_loss", "Model.backward"),
      subject="nn.Model", calls=("Model",))
def _nn_model_steps(context):
    nn, L = context.modules.nn, context.modules.layers
    rng = np.random.default_rng(42)
    X, y = rng.standard_normal((7, 6)), np.array([0, 1, 2, 0, 1, 2, 0])

    def loss_value():
        model = _model(nn, L, 5)
        scores = model.forward(X, "train")
        data, dscores = L.softmax_loss(scores, y)
        squares = sum(float(np.sum(layer.params["W"] ** 2)) for layer in model.layers.values()
                      if "W" in layer.params)
        every = sum(float(np.sum(layer.params[k] ** 2)) for _, k, layer in model.parameters())
        result = model.calculate_loss(scores, y, 0.7)
        if not isinstance(result, tuple) or len(result) != 3:
            raise Fatal(Own("calculate_loss should return (loss, dscores, extra), as its given "
                            "last line does"))
        loss, got_dscores, _ = result
        if not same(got_dscores, dscores):
            return Own("dscores should be the gradient the loss function returned, unchanged")
        if same(loss, data + 0.35 * squares):
            return None
        for value, slip in ((data, "the regularization term is missing: add 0.5 * reg * "
                                   "sum(W ** 2) over the layers that have a W"),
                            (data + 0.7 * squares, "the regularization term lacks the 0.5: it is "
                                                   "0.5 * reg * sum(W ** 2)"),
                            (data + 0.35 * every, "only the W of each layer is regularized, not "
                                                  "b, gamma or beta")):
            if same(loss, value):
                return Own(slip)
        return Own(f"loss {loss:.6g}; the data loss {data:.6g} plus 0.5 * 0.7 * sum(W ** 2) "
                   f"= {data + 0.35 * squares:.6g}")

    def backward_adds():
        grads = {}
        for reg in (0.0, 0.9):
            model = _model(nn, L, 5)
            _, dscores, _ = model.calculate_loss(model.forward(X, "train"), y, reg)
            try:
                dX = model.backward(dscores)
            except KeyError as exc:
                if exc.args == ("W",):
                    return Own("KeyError 'W': a layer without a W (dropout, a normalization) "
                               "has no grads['W']; add reg * W only where 'W' in layer.params")
                raise
            if dX is None or np.shape(dX) != X.shape:
                return Own(f"backward returned {'None' if dX is None else np.shape(dX)}; "
                           f"expected dX of shape {X.shape}, what the first layer's backward "
                           f"returns")
            grads[reg] = {(n, k): np.array(layer.grads[k], copy=True)
                          for n, k, layer in model.parameters()}
        params = {(n, k): layer.params[k] for n, k, layer in _model(nn, L, 5).parameters()}
        for (n, k), value in params.items():
            extra = grads[0.9][(n, k)] - grads[0.0][(n, k)]
            want = 0.9 * value if k == "W" else np.zeros_like(value)
            if same(extra, want):
                continue
            if k != "W" and same(extra, 0.9 * value):
                return Own(f"{n}.{k} got reg * {k} added: only W is regularized, gamma, beta "
                           f"and biases are not")
            if k == "W" and same(extra, 0 * value):
                return Own("no reg * W was added to grads['W']: add self.reg * W (the reg "
                           "calculate_loss remembered) to the layers that have a W")
            if k == "W" and same(extra, 1.8 * value):
                return Own("reg * W is added twice to grads['W']")
            return Own(f"with reg = 0.9, {n}.{k}'s gradient changes by other than "
                       f"{'0.9 * W' if k == 'W' else 'nothing'}")
        return None

    def gradients():
        problem = _model_gradient_problem(_model(nn, L, 5), X, y, reg=0.7)
        if problem:
            return Own(f"gradients that do not match numerical ones (relative error): {problem}")
        return None

    def with_own_layers():
        problem = _model_gradient_problem(_model(nn, L, 7, own_layers=True), X, y, reg=0.7)
        if problem:
            return f"gradients that do not match numerical ones (relative error): {problem}"
        return None

    return [
        Step("calculate_loss adds 0.5 * reg * sum(W ** 2) over the layers with a W", loss_value),
        Step("backward adds exactly reg * W to each W's gradient and nothing to the others",
             backward_adds),
        Step("every gradient matches a numerical one (Dense, dropout, a layer with gamma and "
             "beta; reg = 0.7)", gradients),
        Step("the same with your BatchNorm and LayerNorm layers in the model", with_own_layers,
             needs=(Need("nn_batchnorm"), Need("nn_layernorm"))),
    ]
