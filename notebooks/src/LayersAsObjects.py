# The source of notebooks/LayersAsObjects.ipynb: the layers behind assignment/nn.py's objects.
# jupytext py:percent: a cell is `# %% <cell id>` (`[markdown]` for text), its metadata in the
# header. Edit here, then run `python notebooks/build.py`, which says what it adds.

# %% intro [markdown]
# # Layers as objects
#
# In the BatchNormalization notebook every layer is a pair of functions, a forward pass that
# returns `(out, cache)` and a backward pass that takes them back, and `FullyConnectedNet`
# wires them together by hand. Deep-learning libraries package the same thing as *objects*:
# a layer owns its parameters and its cache, a model is a list of layers, and an optimizer
# walks over the parameters. This notebook builds that small library on top of the functions
# you already wrote, then uses it to compare deep networks with and without normalization.
#
# `assignment/nn.py` gives you most of it: the `Layer` contract, the `Dense` and `Dropout`
# layers, `Model.forward` and `predict`, the `SGD` and `Adam` optimizers and the training
# loop `epoch_solver`. **Your tasks**, each a `raise NotImplementedError` in that file:
#
# 1. `BatchNorm.forward` and `BatchNorm.backward`, with the activation fused after the
#    normalization;
# 2. `LayerNorm.forward` and `LayerNorm.backward`;
# 3. `Model.calculate_loss` (the regularization term) and `Model.backward`.
#
# The normalization layers call your `batchnorm_forward`, `batchnorm_backward_alt`,
# `layernorm_forward` and `layernorm_backward` from `assignment/layers.py`: **finish the
# BatchNormalization notebook first.** There is one inline question at the end.
#
# The autograded cells (marked "Autograded test") run a visible self-check now and hidden
# tests when your work is graded: do not edit, copy or delete them.
#
# **FAST mode.** Set the environment variable `NORMLAB_FAST=1` before starting Jupyter (or
# `FAST = True` in the setup cell) to shrink the experiment so that the whole notebook runs in
# a few seconds. The plots are then meaningless; answer the question from a full run.

# %% setup-md include="shared"

# %% setup include="shared"

# %% imports
import numpy as np

from assignment.checks import check_nn_batchnorm, check_nn_layernorm, check_nn_model
from assignment.experiments import plot_training
from assignment.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
from assignment.layers import softmax_loss
from assignment.nn import Adam, BatchNorm, Dense, Dropout, LayerNorm, Model, epoch_solver
from assignment.todo import needs

# %% helpers
# Sizes of the experiment (FAST mode shrinks them).
NUM_TRAIN = 200 if FAST else 1000  # training images the networks learn from
NUM_EPOCHS = 2 if FAST else 10
HIDDEN_DIMS = [100, 100, 100, 100, 100]  # a deep network: five hidden layers
GRAD_TOL = 1e-5  # largest gradient error accepted (a right backward pass: about 1e-8)
# What the experiment trains: until you have written them it skips, saying so (`needs`).
EXPERIMENT_NEEDS = [BatchNorm, LayerNorm, Model]


def gradient_error(analytic, numeric, scale):
    """Largest |analytic - numeric| / (|analytic| + |numeric|), where elements below a
    thousandth of `scale` (the largest gradient around) are compared on that scale instead:
    a gradient that is exactly zero cannot match the rounding noise of a numerical one."""
    floor = 1e-3 * max(scale, 1e-12)
    return float(np.max(np.abs(analytic - numeric)
                        / np.maximum(np.abs(analytic) + np.abs(numeric), floor)))


def layer_gradient_errors(layer, x, mode="train", seed=0):
    """Error of layer.backward against numerical gradients of layer.forward, for the input
    ("x") and for each parameter, with a random upstream gradient."""
    out = layer.forward(x, mode)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    analytic = {"x": layer.backward(dout)}
    analytic.update({key: grad.copy() for key, grad in layer.grads.items()})
    numeric = {"x": eval_numerical_gradient_array(lambda v: layer.forward(v, mode), x, dout)}
    for key, value in layer.params.items():
        numeric[key] = eval_numerical_gradient_array(lambda _: layer.forward(x, mode), value,
                                                     dout)
    scale = max(np.abs(n).max() for n in numeric.values())
    return {key: gradient_error(analytic.get(key, np.nan), numeric[key], scale)
            for key in numeric}


def model_gradient_errors(model, X, y, reg):
    """(loss, errors): the model's loss and the error of every gradient Model.backward
    leaves (and of the dX it returns) against numerical gradients of that loss."""

    def loss_at(_):
        return model.calculate_loss(model.forward(X, "train"), y, reg)[0]

    loss, dscores, _ = model.calculate_loss(model.forward(X, "train"), y, reg)
    analytic = {"X": model.backward(dscores)}
    analytic.update({f"{name}.{key}": layer.grads[key].copy()
                     for name, key, layer in model.parameters()})
    numeric = {"X": eval_numerical_gradient(loss_at, X, verbose=False)}
    for name, key, layer in model.parameters():
        numeric[f"{name}.{key}"] = eval_numerical_gradient(loss_at, layer.params[key],
                                                           verbose=False)
    scale = max(np.abs(n).max() for n in numeric.values())
    return loss, {key: gradient_error(analytic[key], numeric[key], scale) for key in numeric}


def print_errors(title, errors):
    print(title)
    for key, error in errors.items():
        print(f"  {key:>14}: {error:.1e}" + ("" if error < GRAD_TOL else "   <-- wrong"))


# %% data-md include="shared"

# %% data include="shared"

# %% api-md [markdown]
# ## The object API
#
# Every layer in `assignment/nn.py` follows one contract:
#
# * `layer.params` maps names to the learnable arrays (`"W"` and `"b"` for `Dense`,
#   `"gamma"` and `"beta"` for the normalizations, nothing for `Dropout`);
# * `layer.forward(x, mode)` with `mode` `"train"` or `"test"` returns the output and keeps
#   in `layer.cache` what the backward pass needs;
# * `layer.backward(dout)` takes the gradient of the loss with respect to that output,
#   returns the gradient with respect to `x` and stores the gradient of every parameter in
#   `layer.grads`, under the same names.
#
# A layer may *fuse* an activation: `Dense(D, M, activation="relu")` computes
# $\mathrm{relu}(xW + b)$ and `BatchNorm(M, activation="relu")` computes
# $\mathrm{relu}(\gamma \hat{x} + \beta)$. The activation comes **after** the layer's own
# operation, so the backward pass meets it **first**: `layer.activation_backward(dout)` turns
# the gradient with respect to the output into the gradient with respect to the
# pre-activation. `Dense` (given) shows the pattern. A model is put together like this:
#
# ```python
# model = Model()
# model.add(Dense(3 * 32 * 32, 100, weight_scale=2e-2), "fc1")
# model.add(BatchNorm(100, activation="relu"), "bn1")
# model.add(Dense(100, 10, weight_scale=2e-2), "scores")
# model.add_loss(softmax_loss)
# ```
#
# and one training step is `scores = model.forward(X, "train")`, then
# `loss, dscores, _ = model.calculate_loss(scores, y, reg)`, `model.backward(dscores)` and
# `optimizer.step()` (what `epoch_solver` repeats). The next cell checks the given `Dense`
# layer the way you will check yours: errors around `1e-8` mean right, errors near 1 mean
# wrong, and the self-checks accept up to `GRAD_TOL = 1e-5`.

# %% dense-check
np.random.seed(231)
dense = Dense(12, 5, weight_scale=0.5, activation="relu")
x = np.random.randn(4, 3, 2, 2)  # each example is flattened to 12 values
print(dense, "maps", x.shape, "to", dense.forward(x).shape)
print_errors("Dense with a fused ReLU, gradient errors:", layer_gradient_errors(dense, x))

# %% bn-md [markdown]
# ## The `BatchNorm` layer
#
# **Your task:** implement `BatchNorm.forward` in `assignment/nn.py`. It is a thin wrapper: set
# the mode in the layer's `bn_param` (the dict that also holds the running averages), call
# your `batchnorm_forward` with the layer's $\gamma$ and $\beta$, keep its cache, and apply the
# fused activation.
#
# The next cell feeds three features with large, unequal means and spreads through two
# layers. Without an activation each output feature should have mean 0 and standard deviation
# 1. With a fused ReLU the normalization comes first, so the share of units the ReLU lets
# through is the share of $\gamma \hat{x} + \beta$ above zero: about 50%, 84% and 16% for
# $\beta = 0, 1, -1$ (the normal distribution above $0$, $-1$ and $+1$).

# %% bn-forward tags=["first-task"]
np.random.seed(231)
a = 5 * np.random.randn(200, 3) + np.array([10.0, -3.0, 0.5])
bn = BatchNorm(3)
out = bn.forward(a, "train")
print("no activation, per-feature means:", out.mean(axis=0).round(6))
print("                            stds:", out.std(axis=0).round(6))

bn_relu = BatchNorm(3, activation="relu")
bn_relu.params["beta"] = np.array([0.0, 1.0, -1.0])
out = bn_relu.forward(a, "train")
print("fused ReLU, share of units let through:", (out > 0).mean(axis=0).round(2))

# Test mode normalizes with the running averages the training call left behind.
print("running mean after one batch:", bn.bn_param["running_mean"].round(3))
print("test-mode output of the first example:", bn.forward(a[:1], "test").round(3))

# %% bn-selfcheck
# The self-check says in words what is wrong, and when a function of layers.py that the
# layer calls fails its own check, that you should fix that function first. Its forward checks
# should pass now; it says that BatchNorm.backward, your next task, is not implemented yet.
check_nn_batchnorm()

# %% bn-backward-md [markdown]
# **Your task:** implement `BatchNorm.backward`. The layer computes
# $\mathrm{out} = \mathrm{relu}(a)$ with $a = \gamma \hat{x} + \beta$, so the chain rule goes
# backwards in the opposite order: first through the ReLU, from `dout` to $\partial L /
# \partial a$, then through the normalization with your `batchnorm_backward_alt`.
# **All three gradients**, $dx$, $d\gamma$ and $d\beta$, come from $\partial L / \partial a$.
# A published version of this exercise took $d\gamma$ and $d\beta$ from `dout`, before the
# ReLU: units that the ReLU had cut, which do not change the loss at all, still pushed
# $\gamma$ and $\beta$ around. A numerical gradient check catches that at once, which is what
# the next cell does, without and with the fused ReLU. (Run the self-check above again too.)

# %% bn-backward-check
np.random.seed(231)
x = 4 * np.random.randn(8, 5) + 2
for bn in (BatchNorm(5), BatchNorm(5, activation="relu")):
    bn.params["gamma"] = np.random.uniform(0.5, 2.0, 5)
    bn.params["beta"] = np.random.randn(5)
    print_errors(f"{bn}, gradient errors:", layer_gradient_errors(bn, x))

# %% test-nn_batchnorm nbgrader={"grade_id": "nn_batchnorm", "grade": true, "locked": true, "solution": false}
# Autograded test: nn_batchnorm (@@POINTS@@ points). Do not edit, copy or delete this cell.
# Self-check: gradients of a batch-norm layer with and without a fused ReLU.
np.random.seed(0)
for activation in (None, "relu"):
    layer = BatchNorm(6, activation=activation)
    layer.params["gamma"] = np.random.uniform(0.5, 2.0, 6)
    layer.params["beta"] = np.random.randn(6)
    errors = layer_gradient_errors(layer, 3 * np.random.randn(7, 6) + 1)
    assert max(errors.values()) < GRAD_TOL, f"activation={activation}: {errors}"
print("BatchNorm: forward and backward look right.")

### BEGIN HIDDEN TESTS
from assignment.checks import assert_passes

print(assert_passes("nn_batchnorm", extra=True).summary())
### END HIDDEN TESTS

# %% ln-md [markdown]
# ## The `LayerNorm` layer
#
# **Your task:** implement `LayerNorm.forward` and `LayerNorm.backward` the same way, around
# your `layernorm_forward` and `layernorm_backward` (with the layer's `ln_param`). Layer norm
# behaves the same in train and test mode, so `mode` changes nothing here.

# %% ln-check
np.random.seed(231)
x = 3 * np.random.randn(4, 6) - 1
for ln in (LayerNorm(6), LayerNorm(6, activation="relu")):
    ln.params["gamma"] = np.random.uniform(0.5, 2.0, 6)
    ln.params["beta"] = np.random.randn(6)
    print_errors(f"{ln}, gradient errors:", layer_gradient_errors(ln, x))

# %% ln-selfcheck
check_nn_layernorm()

# %% test-nn_layernorm nbgrader={"grade_id": "nn_layernorm", "grade": true, "locked": true, "solution": false}
# Autograded test: nn_layernorm (@@POINTS@@ points). Do not edit, copy or delete this cell.
# Self-check: gradients of a layer-norm layer with and without a fused ReLU.
np.random.seed(1)
for activation in (None, "relu"):
    layer = LayerNorm(5, activation=activation)
    layer.params["gamma"] = np.random.uniform(0.5, 2.0, 5)
    layer.params["beta"] = np.random.randn(5)
    errors = layer_gradient_errors(layer, 2 * np.random.randn(6, 5) - 1)
    assert max(errors.values()) < GRAD_TOL, f"activation={activation}: {errors}"
print("LayerNorm: forward and backward look right.")

### BEGIN HIDDEN TESTS
from assignment.checks import assert_passes

print(assert_passes("nn_layernorm", extra=True).summary())
### END HIDDEN TESTS

# %% model-md [markdown]
# ## The model: loss and backward pass
#
# **Your tasks:** in `Model.calculate_loss`, add the L2 regularization term to the data loss
# the loss function returned,
#
# $$L = L_\text{data} + \tfrac{1}{2}\,\lambda \sum_{\text{layers with a } W} \sum W^2 ,$$
#
# where $\lambda$ is `reg`; and write `Model.backward`, which runs the layers' backward passes
# in reverse order and then adds the gradient of that term, $\lambda W$, to `grads["W"]` of
# exactly those layers. As in `FullyConnectedNet`, biases, $\gamma$ and $\beta$ are not
# regularized, and a layer without a `"W"` (batch norm, dropout) must not be asked for one:
# the published version mentioned above stopped with `KeyError: 'W'` at its first batch-norm
# layer, and added $\lambda \gamma$ to the gradient of $\gamma$, a term its loss never had.
#
# The next cell checks every gradient of a small network that has all of it: a batch-norm
# layer with a fused ReLU, dropout (with a fixed seed, so that every forward pass drops the
# same units), layer norm, and regularization. The first layer's bias has a gradient of exactly
# zero, because batch norm subtracts the batch mean right after it, so it cancels any constant;
# the error measure compares it on the scale of the other gradients.

# %% model-check
def small_model(seed=231):
    np.random.seed(seed)
    model = Model()
    model.add(Dense(6, 7, weight_scale=0.5), "fc1")
    model.add(BatchNorm(7, activation="relu"), "bn1")
    model.add(Dropout(0.75, seed=seed), "drop1")
    model.add(Dense(7, 5, weight_scale=0.5), "fc2")
    model.add(LayerNorm(5, activation="relu"), "ln2")
    model.add(Dense(5, 4, weight_scale=0.5), "scores")
    model.add_loss(softmax_loss)
    return model


np.random.seed(231)
X = np.random.randn(9, 6)
y = np.random.randint(4, size=9)
for reg in (0.0, 3.14):
    loss, errors = model_gradient_errors(small_model(), X, y, reg)
    print_errors(f"reg = {reg}: loss {loss:.4f}, gradient errors:", errors)

# %% model-selfcheck
# Judges calculate_loss and backward on a model of given layers only, then with yours.
check_nn_model()

# %% test-nn_model nbgrader={"grade_id": "nn_model", "grade": true, "locked": true, "solution": false}
# Autograded test: nn_model (@@POINTS@@ points). Do not edit, copy or delete this cell.
# Self-check: every gradient of a model with batch norm, dropout and layer norm, reg > 0.
np.random.seed(5)
X = np.random.randn(7, 6)
y = np.array([0, 1, 2, 3, 0, 1, 2])
loss, errors = model_gradient_errors(small_model(seed=5), X, y, reg=0.7)
assert max(errors.values()) < GRAD_TOL, errors
print("Model: calculate_loss and backward look right.")

### BEGIN HIDDEN TESTS
from assignment.checks import assert_passes

print(assert_passes("nn_model", extra=True).summary())
### END HIDDEN TESTS

# %% experiment-md [markdown]
# ## Experiment: a deep network with and without normalization
#
# With everything in place, building a network is a loop. `build_model` stacks five hidden
# layers of 100 units, each `Dense` followed by the ReLU (fused into the `Dense` layer without
# normalization, into the normalization layer with it), and a scoring layer. We train three
# versions (no normalization, batch norm, layer norm) from the same small initial weight scale
# with Adam (learning rate `1e-3`) and `epoch_solver`, which shows a progress bar and returns
# three lists: the loss of every step, then the training and validation accuracies after
# every epoch.

# %% experiment-train
def build_model(normalization, hidden_dims=HIDDEN_DIMS, weight_scale=2e-2,
                input_dim=3 * 32 * 32, num_classes=10):
    """A deep net: {Dense - [BatchNorm or LayerNorm] - ReLU} per hidden layer, then scores."""
    norm_layer = {"batchnorm": BatchNorm, "layernorm": LayerNorm}.get(normalization)
    dims = [input_dim, *hidden_dims]
    model = Model()
    for i in range(1, len(dims)):
        if norm_layer is None:
            model.add(Dense(dims[i - 1], dims[i], weight_scale, activation="relu"), f"fc{i}")
        else:
            model.add(Dense(dims[i - 1], dims[i], weight_scale), f"fc{i}")
            model.add(norm_layer(dims[i], activation="relu"), f"norm{i}")
    model.add(Dense(dims[-1], num_classes, weight_scale), "scores")
    model.add_loss(softmax_loss)
    return model


if needs(*EXPERIMENT_NEEDS):
    histories = {}
    for label, normalization in [("no normalization", None), ("batch norm", "batchnorm"),
                                 ("layer norm", "layernorm")]:
        np.random.seed(231)
        model = build_model(normalization)
        print(f"{label}:")
        histories[label] = epoch_solver(
            data["X_train"][:NUM_TRAIN], data["y_train"][:NUM_TRAIN], data["X_val"],
            data["y_val"], reg=0.0, optimizer=Adam(1e-3, model), epochs=NUM_EPOCHS,
            batch_size=50, seed=0)

# %% experiment-plot
if needs(*EXPERIMENT_NEEDS, what="this plot"):
    plot_training(histories, "6-layer net")  # epoch_solver's three lists for each network

# %% question-1 [markdown]
# ### Inline question 1
#
# A batch-norm layer with a fused ReLU computes $\mathrm{relu}(\gamma \hat{x} + \beta)$.
#
# 1. Explain why $d\gamma$ and $d\beta$ must be computed from the gradient *after* going back
#    through the ReLU. For a unit that the ReLU cut in some example, what did the mistaken
#    version (gradients taken from `dout`) add to $d\beta$, and in which direction does that
#    push training?
# 2. The same version added $\lambda \gamma$ to the gradient of $\gamma$ without adding
#    $\frac{1}{2} \lambda \sum \gamma^2$ to the loss. What does the optimizer then minimize,
#    and why would penalizing $\gamma$ (and so shrinking it towards 0) be a questionable idea
#    for a batch-norm layer followed by a ReLU in any case?

# %% answer-1 [markdown] nbgrader={"grade_id": "nn_question_1", "grade": true, "locked": false, "solution": true, "points": 2}
# **Your answer:**
#
# ### BEGIN SOLUTION
# *Model answer (instructor copy only; nbgrader replaces it with the placeholder in the student release):*
#
# 1. The loss depends on $a = \gamma \hat{x} + \beta$ only through $\mathrm{relu}(a)$, so
#    $\partial L / \partial a = \mathrm{dout} \cdot [a > 0]$, and by the chain rule
#    $d\beta = \sum_i \partial L / \partial a_i$ and
#    $d\gamma = \sum_i \hat{x}_i \, \partial L / \partial a_i$, summed over the batch. Where
#    the ReLU cut a unit ($a \le 0$), changing $\gamma$ or $\beta$ a little does not change
#    the output at all, so that example contributes nothing. The mistaken version adds
#    $\mathrm{dout}_i$ (and $\hat{x}_i \mathrm{dout}_i$) of those examples anyway: a gradient
#    of an output that was never used. It moves $\beta$ and $\gamma$ in directions that do not
#    lower the loss (it is no longer a descent direction), for instance pushing $\beta$ of a
#    unit up or down according to what the next layer would have liked from a unit that is
#    switched off; the numerical gradient check fails on exactly these entries.
# 2. The optimizer then follows the gradient of no function we wrote down: weight decay
#    applied to $\gamma$ alone means the dynamics minimize the data loss plus an implicit
#    $\frac{1}{2} \lambda \lVert\gamma\rVert^2$ while the reported loss (and the gradient
#    check) ignore it, so the two disagree and the loss curve no longer tells the truth about
#    what is optimized. Penalizing $\gamma$ is questionable in itself because $\gamma$ sets the
#    scale of the normalized activations: the weights before batch norm can grow or shrink
#    freely without changing anything (batch norm removes their scale), so regularizing $W$
#    there mostly changes the effective learning rate, while shrinking $\gamma$ towards 0
#    squeezes $\gamma \hat{x} + \beta$ towards $\beta$, so the ReLU output carries less and
#    less information about the input (with $\beta \le 0$ the unit dies altogether).
# ### END SOLUTION

# %% summary-md [markdown]
# ## Before you submit
#
# Run the notebook from the top (Kernel → Restart & Run All) with FAST mode off: the three
# autograded cells above must pass, and the plots should show the normalized networks
# learning faster than the plain one. Then answer the inline question.

# %% submit-md include="shared"

# %% submit include="shared"
