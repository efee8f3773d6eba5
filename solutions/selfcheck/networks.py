"""Self-checks of the networks: the affine - norm - ReLU sandwich and FullyConnectedNet.

Both are first compared with what your own parts give when chained by hand (which judges only
the wiring), then with numerical gradients (which need the parts right as well).
"""

from __future__ import annotations

import copy

import numpy as np

from ..gradient_check import eval_numerical_gradient
from .batchnorm import RUNNING, TEST, TRAIN
from .core import Fatal, Need, Own, Step, task, uses
from .tools import (
    GRAD_TOL,
    backward_steps,
    close,
    forward,
    gradient_error,
    kind,
    require_shape,
    same,
    vec,
)

#: normalization -> (its forward task, the aspects other code needs, its backward tasks)
_NORMS = {
    "batchnorm": ("batchnorm_forward", TRAIN, ("batchnorm_backward_alt", "batchnorm_backward")),
    "layernorm": ("layernorm_forward", None, ("layernorm_backward",)),
}


def _param(normalization):
    return {"mode": "train"} if normalization == "batchnorm" else {}


def _given(module, fallback, name):
    """The function ``name`` as ``module`` sees it (it imported it), else ``fallback``'s."""
    return getattr(module, name, None) or getattr(fallback, name)


@task("affine_norm_relu", "layer_utils",
      owned=("affine_norm_relu_forward", "affine_norm_relu_backward"),
      subject="affine_norm_relu_forward / affine_norm_relu_backward")
def _sandwich_steps(context):
    U, L = context.modules.layer_utils, context.modules.layers
    rng = np.random.default_rng(30)
    N, M = 5, 3
    x, w = rng.standard_normal((N, 2, 2)), rng.standard_normal((4, M))
    b, gamma, beta = rng.standard_normal(M), rng.uniform(0.5, 2.0, M), 0.5 * rng.standard_normal(M)
    steps = []
    for normalization in _NORMS:
        steps += _sandwich(U, L, normalization, (x, w, b, gamma, beta))
    return steps


def _sandwich(U, L, normalization, inputs):
    x, w, b, gamma, beta = inputs
    forward_task, aspects, backward_tasks = _NORMS[normalization]
    other = "layernorm" if normalization == "batchnorm" else "batchnorm"

    def uses_forward():
        return [U.affine_norm_relu_forward]

    def uses_backward():
        return [U.affine_norm_relu_backward]

    forward_needs = (Need(forward_task, aspects, uses_forward),)
    state = {}

    def norm(name, a):
        return _given(U, L, f"{name}_forward")(a, gamma, beta, _param(name))[0]

    def composed():
        out, _ = forward(U.affine_norm_relu_forward, x.copy(), w, b, gamma, beta,
                         _param(normalization), normalization)
        require_shape("out", out, (x.shape[0], w.shape[1]))
        a = _given(U, L, "affine_forward")(x, w, b)[0]
        normalized = norm(normalization, a)
        if same(out, np.maximum(normalized, 0)):
            return None
        if same(out, normalized):
            state["forward"] = Own("out has negative values: finish with relu_forward of the "
                                   "normalized values")
        elif same(out, norm(normalization, np.maximum(a, 0))):
            state["forward"] = Own(f"the ReLU comes before the normalization; the order is "
                                   f"affine, then {normalization}, then ReLU")
        elif same(out, np.maximum(norm(other, a), 0)):
            state["forward"] = Own(f"normalization={normalization!r} ran {other}_forward: choose "
                                   f"the layer by the normalization argument")
        elif same(out, np.maximum(a, 0)):
            state["forward"] = Own("the normalization is missing: out is relu(affine(x))")
        else:
            state["forward"] = (f"out differs from relu({forward_task}(affine_forward(x, w, b)))"
                                f" computed with your {forward_task}")
        return state["forward"]

    def passes_param():
        bn_param = {"mode": "train"}
        U.affine_norm_relu_forward(x.copy(), w, b, gamma, beta, bn_param, "batchnorm")
        if "running_mean" in bn_param and np.shape(bn_param["running_mean"]) == (w.shape[1],):
            return None
        return ("the bn_param passed in holds no running_mean of shape (M,) afterwards: hand "
                "that very dict to batchnorm_forward (the network keeps its running averages "
                "in it)")

    steps = [Step(f"{normalization}: out is relu({forward_task}(affine_forward(x, w, b)))",
                  composed, normalization, forward_needs)]
    if _NORMS[normalization][1]:  # batch norm keeps running averages
        steps.append(Step("batchnorm: the running averages go into the bn_param passed in",
                          passes_param, normalization,
                          (Need(forward_task, RUNNING, uses_forward),)))

    def forward_fn(x_, w_, b_, gamma_, beta_):
        return U.affine_norm_relu_forward(x_, w_, b_, gamma_, beta_, _param(normalization),
                                          normalization)

    forward_fn.__name__ = "affine_norm_relu_forward"
    steps += backward_steps(
        forward_fn, U.affine_norm_relu_backward,
        lambda: [a.copy() for a in inputs], ["dx", "dw", "db", "dgamma", "dbeta"], {},
        forward_needs=forward_needs,
        backward_needs=tuple(Need(t, via=uses_backward) for t in backward_tasks),
        precondition=lambda: state.get("forward") if isinstance(state.get("forward"), Own)
        else None,
        prefix=f"{normalization}: ", aspect=normalization)
    return steps


# --------------------------------------------------------------------------------------------------
# The fully connected network
# --------------------------------------------------------------------------------------------------

_FC_PARTS = ("FullyConnectedNet.__init__", "FullyConnectedNet.loss")


def _chain(module, U, L, model, X, y, bn_params, normalization):
    """(loss, grads) of ``model`` computed with the student's own layers, chained by hand."""
    sandwich = _given(module, U, "affine_norm_relu_forward")
    sandwich_back = _given(module, U, "affine_norm_relu_backward")
    P, reg = model.params, model.reg
    h, caches = X, []
    for i in (1, 2):
        h, cache = sandwich(h, P[f"W{i}"], P[f"b{i}"], P[f"gamma{i}"], P[f"beta{i}"],
                            bn_params[i - 1], normalization)
        caches.append(cache)
    scores, scores_cache = _given(module, L, "affine_forward")(h, P["W3"], P["b3"])
    loss, dscores = _given(module, L, "softmax_loss")(scores, y)
    loss += 0.5 * reg * sum(np.sum(P[f"W{i}"] ** 2) for i in (1, 2, 3))
    grads = {}
    dh, grads["W3"], grads["b3"] = _given(module, L, "affine_backward")(dscores, scores_cache)
    for i in (2, 1):
        dh, grads[f"W{i}"], grads[f"b{i}"], grads[f"gamma{i}"], grads[f"beta{i}"] = (
            sandwich_back(dh, caches[i - 1]))
    for i in (1, 2, 3):
        grads[f"W{i}"] = grads[f"W{i}"] + reg * P[f"W{i}"]
    return loss, grads


def _chain_problem(model, loss, grads, want_loss, want):
    bad = sorted(name for name in want if not same(grads.get(name), want[name]))
    if not bad and same(loss, want_loss):
        return None
    P, reg = model.params, model.reg
    if not bad:
        return Own(f"the loss is {loss:.6g}; the softmax loss of the scores plus 0.5 * reg * "
                   f"sum(W ** 2) of your layers chained by hand is {want_loss:.6g}")
    if all(n.startswith("W") for n in bad) and all(
            same(grads[n] + reg * P[n], want[n]) for n in bad):
        return Own("each dW needs reg * W added (gamma, beta and biases are not regularized)")
    normalized = [n for n in bad if n.startswith(("gamma", "beta"))]
    if normalized and all(same(grads[n] - reg * P[n], want[n]) for n in normalized):
        return Own(f"{', '.join(normalized)} have reg times the parameter added: gamma and beta "
                   f"are not regularized, store dgamma and dbeta as they come")
    text = (f"grads {', '.join(repr(n) for n in bad)} differ from what your "
            f"affine_norm_relu_forward / _backward give when the layers are chained by hand")
    if normalized:
        text += (". grads['gamma{i}'] and grads['beta{i}'] are the dgamma and dbeta that "
                 "affine_norm_relu_backward returns for hidden layer i")
    return Own(text)


def _fc_steps(context, normalization):
    module, U, L = context.modules.fc_net, context.modules.layer_utils, context.modules.layers
    N, D, H1, H2, C = 4, 5, 4, 6, 3
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((N, D)), rng.integers(C, size=N)
    y[:C] = np.arange(C)  # every class present
    models = {}
    forward_task, aspects, backward_tasks = _NORMS[normalization]

    def uses_loss():
        return [module.FullyConnectedNet.loss]

    sandwich = Need("affine_norm_relu", (normalization,), uses_loss)
    gradient_needs = (sandwich, Need(forward_task, aspects, uses_loss),
                      *(Need(t, via=uses_loss) for t in backward_tasks))

    def build(reg):
        # The weights come from NumPy's global random state; leave the caller's state as it was.
        saved = np.random.get_state()
        try:
            np.random.seed(231)
            return module.FullyConnectedNet(
                [H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=0.5,
                dtype=np.float64, normalization=normalization,
            )
        finally:
            np.random.set_state(saved)

    def params():
        model = build(0.0)
        models[0.0] = model
        for i, H in ((1, H1), (2, H2)):
            for name, value in ((f"gamma{i}", 1.0), (f"beta{i}", 0.0)):
                if name not in model.params:
                    raise Fatal(Own(
                        f"model.params has no '{name}': with normalization={normalization!r} "
                        f"every hidden layer i needs gamma{{i}} (ones) and beta{{i}} (zeros)"
                    ))
                require_shape(name, model.params[name], (H,))
                if not np.all(model.params[name] == value):
                    what = "ones" if value else "zeros"
                    raise Fatal(Own(f"{name} should start as {what}, got "
                                    f"{vec(model.params[name])}"))
        if "gamma3" in model.params or "beta3" in model.params:
            return Own("the last (scoring) layer is not normalized: it needs no gamma3 / beta3")
        return None

    def grads_complete():
        model = models[0.0]
        result = model.loss(X, y)
        if not isinstance(result, tuple) or len(result) != 2:
            raise Fatal(Own(f"model.loss(X, y) should return (loss, grads), got {kind(result)}"))
        loss, grads = result
        missing = sorted(set(model.params) - set(grads or {}))
        if missing:
            return Own(
                f"grads has no {', '.join(repr(m) for m in missing)}: store the gradients of "
                f"every gamma{{i}} and beta{{i}} the normalization layers return"
            )
        for name, value in model.params.items():
            require_shape(f"grads['{name}']", grads[name], value.shape)
        if not np.isfinite(loss):
            raise Fatal(f"the loss is {loss}")
        return None

    def chained():
        if not uses([module.FullyConnectedNet.loss], ("affine_norm_relu_forward",)):
            return (None, "skipped: loss does not call affine_norm_relu_forward, so only the "
                          "numerical gradients below judge it")
        model = build(3.14)
        bn_params = copy.deepcopy(model.bn_params)
        loss, grads = model.loss(X, y)
        want_loss, want = _chain(module, U, L, model, X.copy(), y, bn_params, normalization)
        return _chain_problem(model, loss, grads, want_loss, want)

    def gradients(reg):
        def step():
            model = models.get(reg) or build(reg)
            _, grads = model.loss(X, y)
            numeric = {
                name: eval_numerical_gradient(lambda _: model.loss(X, y)[0], value,
                                              verbose=False)
                for name, value in sorted(model.params.items())
            }
            scale = max(float(np.max(np.abs(g))) for g in numeric.values())
            bad = sorted(((gradient_error(grads[n], g, scale), n) for n, g in numeric.items()
                          if gradient_error(grads[n], g, scale) > GRAD_TOL), reverse=True)
            if not bad:
                return None
            names = ", ".join(f"{name} ({err:.1e})" for err, name in bad)
            text = f"gradients that do not match the numerical ones (relative error): {names}"
            if reg and all(n.startswith("W") for _, n in bad):
                text += (". Only weight matrices are off, and only with regularization: each dW "
                         "needs reg * W added (gamma, beta and biases are not regularized)")
            return text

        return step

    def test_mode():
        model = build(0.0)
        model.loss(X, y)  # one training step's forward pass
        if aspects:  # batch norm: its running averages
            for i, (bn_param, H) in enumerate(zip(model.bn_params, (H1, H2), strict=False), 1):
                if "running_mean" not in bn_param:
                    return (
                        f"after a training pass, bn_params[{i - 1}] (layer {i}) has no "
                        f"running_mean: pass each layer its own self.bn_params[i - 1] dict"
                    )
                require_shape(f"bn_params[{i - 1}]['running_mean']", bn_param["running_mean"],
                              (H,))
        scores = model.loss(X)
        single = model.loss(X[:1])
        require_shape("test-mode scores", scores, (N, C))
        if not close(scores[:1], single, rtol=1e-8, atol=1e-10):
            return (
                "in test mode the scores of one example depend on the rest of the batch: test "
                "mode must use the running averages (batch norm) or per-example statistics"
            )
        return None

    test_needs = (sandwich, Need(forward_task, (TEST + RUNNING) if aspects else None, uses_loss))
    return [
        Step("creates gamma{i} = 1 and beta{i} = 0 for every hidden layer", params),
        Step("loss returns a gradient for every parameter, with its shape", grads_complete,
             needs=(sandwich,)),
        Step("loss and grads equal your affine_norm_relu layers chained by hand, reg = 3.14",
             chained, needs=(sandwich,)),
        Step("gradients match numerical ones, reg = 0", gradients(0.0), needs=gradient_needs),
        Step("gradients match numerical ones, reg = 3.14", gradients(3.14),
             needs=gradient_needs),
        Step("test mode scores each example independently of the batch", test_mode,
             needs=test_needs),
    ]


@task("fc_net_batchnorm", "fc_net", owned=_FC_PARTS)
def _fc_batchnorm_steps(context):
    return _fc_steps(context, "batchnorm")


@task("fc_net_layernorm", "fc_net", owned=_FC_PARTS)
def _fc_layernorm_steps(context):
    return _fc_steps(context, "layernorm")
