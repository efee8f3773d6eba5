# The source of notebooks/BatchNormalization.ipynb: batch and layer normalization.
# jupytext py:percent: a cell is `# %% <cell id>` (`[markdown]` for text), its metadata in the
# header. Edit here, then run `python notebooks/build.py`, which says what it adds.

# %% intro [markdown]
# # Batch normalization and layer normalization
#
# In this notebook you implement two normalization layers for fully connected networks, check
# them piece by piece, and then run experiments that show what they buy you:
#
# 1. **Batch normalization**: the forward pass (training and test behaviour), the backward pass
#    twice (node by node through the computation graph, then in closed form), and its use in a
#    deep `FullyConnectedNet`.
# 2. **Experiments**: deep networks with and without batch norm; sensitivity to the weight
#    initialization; sensitivity to the batch size.
# 3. **Layer normalization**: forward, backward, in the network, and the batch-size experiment
#    again.
# 4. **Four inline questions** about what you observed.
#
# **Where the code goes.** You write code in the package `assignment/`, not in this notebook:
# `assignment/layers.py` (the layers), `assignment/layer_utils.py` (the affine-norm-ReLU
# sandwich) and `assignment/fc_net.py` (the network). Every piece you have to write currently
# raises `NotImplementedError` with a message that names it; its docstring says what to
# compute, with shapes. The notebook reloads your modules automatically when you save them.
#
# **How you know you are on track.** After each task a *self-check* cell tests your code for
# properties it must have and explains in words what looks wrong. The *autograded* cells
# (marked "Autograded test") run the same checks plus hidden tests when your work is graded:
# do not edit, copy or delete them. Inline questions are graded by hand.
#
# **FAST mode.** The experiments take a few minutes on a laptop. To try the whole notebook
# quickly, set the environment variable `NORMLAB_FAST=1` before starting Jupyter (or set
# `FAST = True` in the setup cell): every experiment shrinks so that the notebook runs in well
# under a minute. The plots are then meaningless; answer the questions from a full run.

# %% setup-md include="shared"

# %% setup include="shared"

# %% imports
import numpy as np

from assignment.experiments import (
    batch_size_experiment,
    plot_sweep,
    plot_training,
    print_fc_net_gradient_errors,
    print_layer_gradient_errors,
    print_timings,
    random_layer_inputs,
    relu_net_batches,
    relu_net_outputs,
    show_stats,
    train_with_adam,
    training_subset,
    weight_scale_sweep,
)
from assignment.fc_net import FullyConnectedNet
from assignment.gradient_check import rel_error
from assignment.layer_utils import affine_norm_relu_backward, affine_norm_relu_forward
from assignment.layers import (
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from assignment.todo import needs

# %% helpers
# The self-checks, one per task: each explains in words what looks wrong.
from assignment.checks import (
    check_affine_norm_relu,
    check_batchnorm_backward,
    check_batchnorm_backward_alt,
    check_batchnorm_forward,
    check_fc_net_batchnorm,
    check_fc_net_layernorm,
    check_layernorm_backward,
    check_layernorm_forward,
    run_all,
)

# Sizes of the experiments (FAST mode shrinks them). The experiments, their printouts and plots
# are functions of assignment/experiments.py (given code): read one to see what it measures.
NUM_TRAIN = 200 if FAST else 1000  # training images the experiments learn from
NUM_EPOCHS = 2 if FAST else 10
NUM_WEIGHT_SCALES = 4 if FAST else 20
HIDDEN_DIMS = [100, 100, 100, 100, 100]  # a deep network: five hidden layers

# What the experiments' networks run. An experiment first checks that you have written them
# (`needs`); until then it skips, saying so in one sentence, instead of training anything.
BATCHNORM_NET = [batchnorm_forward, batchnorm_backward_alt, affine_norm_relu_forward,
                 affine_norm_relu_backward, FullyConnectedNet]
LAYERNORM_NET = [layernorm_forward, layernorm_backward, affine_norm_relu_forward,
                 affine_norm_relu_backward, FullyConnectedNet]

# %% data-md include="shared"

# %% data include="shared"

# %% bn-forward-md [markdown]
# ## Batch normalization: the forward pass
#
# Networks train best when the inputs of every layer are centred and of similar scale. We
# standardize the *data* before training, but a few layers in, the activations have whatever
# mean and spread the current weights produce, and these keep moving while the weights learn.
# Batch normalization [1] standardizes the activations inside the network, using the
# statistics of the current minibatch.
#
# For a minibatch $x \in \mathbb{R}^{N \times D}$, each feature (column) $j$ is normalized with
# the minibatch mean $\mu_j = \frac{1}{N} \sum_i x_{ij}$ and the (biased, $1/N$) variance
# $\sigma_j^2 = \frac{1}{N} \sum_i (x_{ij} - \mu_j)^2$, then scaled and shifted by two learned
# vectors $\gamma, \beta \in \mathbb{R}^D$:
#
# $$\hat{x}_{ij} = \frac{x_{ij} - \mu_j}{\sqrt{\sigma_j^2 + \epsilon}}, \qquad
#   y_{ij} = \gamma_j \hat{x}_{ij} + \beta_j .$$
#
# The small $\epsilon$ keeps the division safe when a feature barely varies. $\gamma$ and
# $\beta$ give the layer its freedom back: with $\gamma_j = \sqrt{\sigma_j^2 + \epsilon}$ and
# $\beta_j = \mu_j$ it could undo the normalization completely, if that is what the loss wants.
#
# At test time a prediction must not depend on which other examples happen to share the batch.
# So in training mode the layer also keeps exponentially decaying *running averages* of $\mu$
# and $\sigma^2$, and in test mode it normalizes with those.
#
# **Your task:** implement `batchnorm_forward` in `assignment/layers.py`. Its docstring fixes the
# contract of `bn_param` (`mode`, `eps`, `momentum`, the running averages). Then run the next
# cells. The first one pushes random data through a two-layer ReLU network: before
# normalization the three output features have large, unequal means and spreads; after it,
# the means should be (nearly) 0 and the standard deviations 1, or $\beta$ and $\gamma$ when you
# pass them.
#
# [1] Sergey Ioffe and Christian Szegedy, "Batch Normalization: Accelerating Deep Network
# Training by Reducing Internal Covariate Shift", ICML 2015.

# %% bn-forward-train tags=["first-task"]
# The outputs of a random two-layer ReLU network on random data, 200 examples of 3 features:
# far from mean 0 and std 1.
a = relu_net_outputs(N=200)
show_stats("Before batch norm, per feature", a, axis=0)

a_norm, _ = batchnorm_forward(a, np.ones(3), np.zeros(3), {"mode": "train"})
show_stats("After batch norm with gamma = 1, beta = 0 (expect 0 and 1)", a_norm, axis=0)

gamma = np.array([1.0, 2.0, 3.0])
beta = np.array([11.0, 12.0, 13.0])
a_norm, _ = batchnorm_forward(a, gamma, beta, {"mode": "train"})
show_stats("After batch norm with gamma = [1, 2, 3], beta = [11, 12, 13]", a_norm, axis=0)

# %% bn-forward-test-md [markdown]
# Now test mode. We run 50 training-mode passes on fresh random batches so that the running
# averages settle, then switch `bn_param["mode"]` to `"test"`. The test-mode output is
# normalized with the running averages rather than with the batch's own statistics, so its
# means and standard deviations come out close to 0 and 1 but not exactly: a little noise is
# the expected result here.

# %% bn-forward-test
# One random network, 51 batches of its outputs (200 x 3 each): 50 for training, one for test.
*train_batches, test_batch = relu_net_batches(51, N=200)
bn_param = {"mode": "train"}
gamma, beta = np.ones(3), np.zeros(3)
for a in train_batches:
    batchnorm_forward(a, gamma, beta, bn_param)  # updates the running averages in bn_param

bn_param["mode"] = "test"
a_norm, _ = batchnorm_forward(test_batch, gamma, beta, bn_param)
show_stats("After batch norm in test mode (expect roughly 0 and 1)", a_norm, axis=0)

# %% bn-forward-check-md [markdown]
# **Self-check.** The next cell tests your `batchnorm_forward` for what it must do (feature
# statistics, $\gamma$ and $\beta$, the running averages, test mode) and says in words what
# looks wrong. It never compares with stored answers, so passing it is a good sign, not a
# proof. Run it whenever you change your code.

# %% bn-forward-check
check_batchnorm_forward()

# %% test-batchnorm_forward nbgrader={"grade_id": "batchnorm_forward", "grade": true, "locked": true, "solution": false}
# Autograded test: batchnorm_forward (@@POINTS@@ points). Do not edit, copy or delete this cell.
report = check_batchnorm_forward()
print(report.summary())
assert report.passed, "\n".join(str(c) for c in report.failures) or str(report)

### BEGIN HIDDEN TESTS
from assignment.checks import assert_passes

print(assert_passes("batchnorm_forward", extra=True).summary())
### END HIDDEN TESTS

# %% bn-backward-md [markdown]
# ## Batch normalization: the backward pass, node by node
#
# Draw the forward pass as a computation graph of small steps: the mean $\mu$; the centred
# input $x - \mu$; the variance $\sigma^2$; the inverse standard deviation
# $1 / \sqrt{\sigma^2 + \epsilon}$; the product $\hat{x}$; finally $\gamma \hat{x} + \beta$.
# Then walk it backwards, one node at a time, applying the chain rule at each node. Two things
# to watch:
#
# * **Forks.** The centred input feeds both $\hat{x}$ and $\sigma^2$, and $x$ itself feeds
#   both the centred input and $\mu$. Where a value is used twice, the gradients arriving from
#   its two uses add up.
# * **Sums over the batch.** $\mu$, $\sigma^2$, $\gamma$ and $\beta$ have one entry per
#   feature but touch every row; their gradients collect contributions from all $N$ rows.
#
# **Your task:** implement `batchnorm_backward` in `assignment/layers.py` (and store in the
# `cache` of `batchnorm_forward` whatever it needs). The next cell compares your gradients with
# numerical ones, computed by nudging each input and watching the forward pass's output.
# Relative errors around `1e-8` or below mean your backward pass is right; errors near `1`
# mean it is not.

# %% bn-backward-numeric
# x of shape (4, 5), gamma and beta (5,), all random; the layer in training mode.
print_layer_gradient_errors(batchnorm_forward, batchnorm_backward, {"mode": "train"},
                            x_shape=(4, 5))

# %% bn-backward-check
check_batchnorm_backward()

# %% test-batchnorm_backward nbgrader={"grade_id": "batchnorm_backward", "grade": true, "locked": true, "solution": false}
# Autograded test: batchnorm_backward (@@POINTS@@ points). Do not edit, copy or delete this cell.
report = check_batchnorm_backward()
print(report.summary())
assert report.passed, "\n".join(str(c) for c in report.failures) or str(report)

### BEGIN HIDDEN TESTS
from assignment.checks import assert_passes

print(assert_passes("batchnorm_backward", extra=True).summary())
### END HIDDEN TESTS

# %% bn-backward-alt-md [markdown]
# ## Batch normalization: the backward pass in closed form
#
# The node-by-node backward pass is mechanical but long. On paper, the chain rule simplifies a
# lot: the gradient with respect to $x$ can be written as one expression in the upstream
# gradient `dout`, the normalized input $\hat{x}$, $\gamma$ and the inverse standard deviation,
# with just two sums over the batch. Start from $\partial L / \partial \hat{x}$ and use
# $\partial \mu / \partial x_{ij} = 1/N$ and
# $\partial \sigma^2_j / \partial x_{ij} = 2 (x_{ij} - \mu_j) / N$.
#
# **Your task:** derive the simplified expression, then implement `batchnorm_backward_alt` in
# `assignment/layers.py`. It receives the same cache as `batchnorm_backward`. The next cell
# checks that both give the same gradients and times them.
#
# **About the timing.** Both versions are vectorized NumPy, so the gain comes from doing fewer
# passes over the $N \times D$ arrays, and its size depends on the shapes, your NumPy build and
# whatever else the machine is doing. The cell therefore repeats the measurement and reports
# the median; timing a single call with `time.time()` mostly measures noise. Run it twice and
# see how much the ratio moves.

# %% bn-backward-alt-compare
x, gamma, beta, dout = random_layer_inputs(x_shape=(256, 512))
N, D = x.shape

_, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
staged = batchnorm_backward(dout, cache)
closed = batchnorm_backward_alt(dout, cache)
for name, g1, g2 in zip(["dx", "dgamma", "dbeta"], staged, closed, strict=True):
    print(f"{name} difference between the two versions: {rel_error(g1, g2):.2e}")

repeats = 3 if FAST else 7
print(f"\nBackward pass on a {N} x {D} batch, median of {repeats} measurements:")
print_timings({"computation graph": lambda: batchnorm_backward(dout, cache),
               "closed form": lambda: batchnorm_backward_alt(dout, cache)}, repeats)

# %% bn-backward-alt-check
check_batchnorm_backward_alt()

# %% test-batchnorm_backward_alt nbgrader={"grade_id": "batchnorm_backward_alt", "grade": true, "locked": true, "solution": false}
# Autograded test: batchnorm_backward_alt (@@POINTS@@ points). Do not edit, copy or delete this cell.
report = check_batchnorm_backward_alt()
print(report.summary())
assert report.passed, "\n".join(str(c) for c in report.failures) or str(report)

### BEGIN HIDDEN TESTS
from assignment.checks import assert_passes

print(assert_passes("batchnorm_backward_alt", extra=True).summary())
### END HIDDEN TESTS

# %% fc-bn-md [markdown]
# ## A fully connected network with batch normalization
#
# Now put the layer into a network. In `FullyConnectedNet` every hidden layer becomes
# affine → batch norm → ReLU (the last, scoring layer stays a plain affine layer):
#
# * `assignment/layer_utils.py`: implement `affine_norm_relu_forward` and
#   `affine_norm_relu_backward`, the sandwich of the three layers. Use your
#   `batchnorm_backward_alt` in the backward pass.
# * `assignment/fc_net.py`: with `normalization="batchnorm"`, `__init__` creates `gamma{i}`
#   (ones) and `beta{i}` (zeros) for every hidden layer `i`; `loss` runs the sandwich with
#   `self.bn_params[i - 1]` and stores the gradients of `gamma{i}` and `beta{i}`. Batch norm's
#   parameters are not regularized.
#
# Start with the sandwich: the next cell is its self-check.

# %% fc-bn-sandwich-check
# The sandwich alone, with batch norm and with layer norm (its layer-norm half is for later).
check_affine_norm_relu()

# %% fc-bn-gradcheck-md [markdown]
# Then the network. The next cell checks the gradients of a small network numerically, without
# and with regularization. Most relative errors should be `1e-6` or smaller; errors near 1 mean a bug.
# Two exceptions are expected:
#
# * `W1` may show an error around `1e-4`. The batch holds only two examples, and normalizing two
#   values leaves little more than their sign, except in units where the two values nearly
#   coincide: there the output swings sharply with `W1`, and the loss curves so strongly that
#   the numerical gradient (a centred difference with step `1e-5`) is itself off by about that
#   much. A smaller step shrinks this error, until rounding noise takes over.
# * The biases `b1` and `b2` of the normalized layers have a gradient of exactly zero: batch
#   norm subtracts the batch mean, which cancels any constant added before it. Their relative
#   errors only compare rounding noise. The cell prints the largest gradient next to each error
#   so you can see this.

# %% fc-bn-gradcheck
# Two examples, 15 features, hidden layers of 20 and 30 units, 10 classes; reg = 0, then 3.14.
print_fc_net_gradient_errors(normalization="batchnorm")

# %% fc-bn-check
check_fc_net_batchnorm()

# %% test-fc_net_batchnorm nbgrader={"grade_id": "fc_net_batchnorm", "grade": true, "locked": true, "solution": false}
# Autograded test: fc_net_batchnorm (@@POINTS@@ points). Do not edit, copy or delete this cell.
report = check_fc_net_batchnorm()
print(report.summary())
assert report.passed, "\n".join(str(c) for c in report.failures) or str(report)

### BEGIN HIDDEN TESTS
from assignment.checks import assert_passes

print(assert_passes("fc_net_batchnorm", extra=True).summary())
### END HIDDEN TESTS

# %% deep-md [markdown]
# ## Experiment: a deep network with and without batch normalization
#
# Let us train a six-layer network (five hidden layers of 100 units) on a small subset of the
# training data, once with batch normalization and once without, with the same optimizer
# (Adam, learning rate `1e-3`) and the same initial weight scale. A progress bar shows each
# run. Expect the batch-norm network to make progress faster.

# %% deep-train
small_data = training_subset(data, NUM_TRAIN)

if needs(*BATCHNORM_NET):
    np.random.seed(231)
    bn_model = FullyConnectedNet(HIDDEN_DIMS, weight_scale=2e-2, normalization="batchnorm")
    plain_model = FullyConnectedNet(HIDDEN_DIMS, weight_scale=2e-2, normalization=None)

    print("With batch normalization:")
    bn_solver = train_with_adam(bn_model, small_data, NUM_EPOCHS)
    print("Without normalization:")
    plain_solver = train_with_adam(plain_model, small_data, NUM_EPOCHS)

# %% deep-plot
if needs(*BATCHNORM_NET, what="this plot"):
    plot_training({"batch norm": bn_solver, "no normalization": plain_solver},
                  "6-layer net")

# %% weight-scale-md [markdown]
# ## Experiment: batch normalization and weight initialization
#
# Deep networks are picky about the scale of their initial weights: too small and the signal
# fades layer after layer, too large and it blows up. The next cell trains the same six-layer
# network for a range of initial weight scales (log-spaced from `1e-4` to `1`), with and without
# batch normalization, and records the best training and validation accuracy and the final
# training loss of each run. This is the longest cell of the notebook.

# %% weight-scale-sweep
if needs(*BATCHNORM_NET):
    weight_scales = np.logspace(-4, 0, num=NUM_WEIGHT_SCALES)
    sweep = weight_scale_sweep(weight_scales, {"batch norm": "batchnorm", "no normalization": None},
                               small_data, HIDDEN_DIMS, NUM_EPOCHS)

# %% weight-scale-plot
if needs(*BATCHNORM_NET, what="this plot"):
    plot_sweep(weight_scales, sweep, [
        ("val", "best validation accuracy", "accuracy"),
        ("train", "best training accuracy", "accuracy"),
        ("loss", "final training loss (mean of the last 10 steps)", "loss"),
    ], xlabel="initial weight scale", log_y=["loss"])

# %% question-1 [markdown]
# ### Inline question 1
#
# Describe what the weight-scale experiment shows. For which initial weight scales does each
# network learn, and where does each one fail? Explain *why* batch normalization changes the
# picture, and why it does not rescue every scale. Refer to your plots.

# %% answer-1 [markdown] nbgrader={"grade_id": "inline_question_1", "grade": true, "locked": false, "solution": true, "points": 2}
# **Your answer:**
#
# ### BEGIN SOLUTION
# *Model answer (instructor copy only; nbgrader replaces it with the placeholder in the student release):*
#
# Without normalization the deep network learns only in a narrow band of weight scales (around
# `1e-2` to `1e-1` for six layers of width 100). With smaller weights every layer shrinks the
# signal, so activations and gradients vanish after a few layers: the loss stays at about
# $\ln 10 \approx 2.3$ and accuracy stays at chance. With larger weights activations grow
# layer by layer, the initial loss is huge and training is unstable or stalls.
#
# With batch norm the network learns over a much wider range, because every hidden layer's
# pre-activations are re-standardized whatever the scale of $W$: multiplying $W$ by a constant
# does not change the layer's output, so the forward signal keeps unit scale at every depth and
# the gradients do not vanish or explode through the stack (Adam's per-parameter step sizes
# also absorb the $1/\text{scale}$ factor in $\partial L / \partial W$). It still degrades at
# the extremes: at tiny scales the pre-activation variance falls to the order of $\epsilon$, so
# $\sqrt{\sigma^2 + \epsilon}$ no longer tracks $\sigma$ and the normalization stops working;
# the unnormalized first layer and last (scoring) layer also remain sensitive to the scale.
# ### END SOLUTION

# %% batch-size-md [markdown]
# ## Experiment: batch normalization and batch size
#
# Batch norm estimates its statistics from the minibatch, so the batch size should matter.
# The next cell trains the six-layer network with batch normalization at batch sizes 5, 10 and
# 50, and a baseline without normalization at batch size 10, for the same number of epochs
# (smaller batches take more, noisier steps per epoch).

# %% batch-size-bn
if needs(*BATCHNORM_NET):
    bn_batch_solvers = batch_size_experiment("batchnorm", small_data, HIDDEN_DIMS, NUM_EPOCHS)
    plot_training(bn_batch_solvers, "batch norm", panels=["train_acc", "val_acc"])

# %% question-2 [markdown]
# ### Inline question 2
#
# How does the batch size affect training with batch normalization in your experiment, and
# why? What does this mean for using batch norm when only small minibatches fit in memory?

# %% answer-2 [markdown] nbgrader={"grade_id": "inline_question_2", "grade": true, "locked": false, "solution": true, "points": 2}
# **Your answer:**
#
# ### BEGIN SOLUTION
# *Model answer (instructor copy only; nbgrader replaces it with the placeholder in the student release):*
#
# With batch size 50 the batch-norm network trains well; with 10 and especially 5 it does
# worse, and at batch size 5 it can fall behind the unnormalized baseline, most visibly in
# validation accuracy. The mean and variance of 5 examples are very noisy estimates of the
# true feature statistics, so each training step normalizes with different, wrong numbers:
# the gradient noise grows, and the network learns to work with batch statistics that differ
# from the running averages it uses at test time (a train/test mismatch), which hurts
# validation accuracy. A little of this noise regularizes; a lot of it harms.
#
# So batch norm needs reasonably large batches. When only small batches fit (large images,
# segmentation or detection, video, sequence models, online learning) one uses normalizations
# that do not depend on the batch, such as layer or group normalization, or variants that
# fix the statistics (batch renormalization, statistics synchronized across devices).
# ### END SOLUTION

# %% ln-md [markdown]
# ## Layer normalization
#
# Batch norm's dependence on the batch is a nuisance: small batches make its statistics noisy,
# and training and test behave differently. Layer normalization [2] swaps the roles of the two
# axes: each *example* is normalized with the mean and variance of its own $D$ features,
#
# $$\mu_i = \frac{1}{D} \sum_j x_{ij}, \qquad
#   \sigma_i^2 = \frac{1}{D} \sum_j (x_{ij} - \mu_i)^2, \qquad
#   y_{ij} = \gamma_j \frac{x_{ij} - \mu_i}{\sqrt{\sigma_i^2 + \epsilon}} + \beta_j .$$
#
# $\gamma$ and $\beta$ are still one per feature. Nothing depends on the other examples, so
# training and test behave the same and no running averages are needed.
#
# [2] Jimmy Lei Ba, Jamie Ryan Kiros and Geoffrey E. Hinton, "Layer Normalization", 2016.

# %% question-3 [markdown]
# ### Inline question 3
#
# Normalizing with statistics *of a feature over the examples* is batch-norm-like; normalizing
# with statistics *of one example over its features* is layer-norm-like. Classify each of these
# ways of preprocessing an image data set as batch-norm-like, layer-norm-like or neither, with
# a one-line reason each:
#
# 1. Dividing every image by the sum of all its pixel values (all positions and channels), so
#    that each image sums to 1.
# 2. Dividing each pixel value by the standard deviation that this position and channel has
#    across the training set.
# 3. Subtracting the mean image of the training set from every image.
# 4. Subtracting from every image its own average brightness (the mean of all its pixel
#    values).
# 5. Replacing every pixel value by 0 or 1 depending on whether it is above 128.

# %% answer-3 [markdown] nbgrader={"grade_id": "inline_question_3", "grade": true, "locked": false, "solution": true, "points": 2}
# **Your answer:**
#
# ### BEGIN SOLUTION
# *Model answer (instructor copy only; nbgrader replaces it with the placeholder in the student release):*
#
# 1. Layer-norm-like: the statistic (the sum of the pixels) is computed per image over all its
#    features.
# 2. Batch-norm-like: each feature (position and channel) is scaled by a statistic of that
#    feature over the examples.
# 3. Batch-norm-like: the mean image is, for each feature, the mean over the examples.
# 4. Layer-norm-like: the mean is taken over the features of one image.
# 5. Neither: an element-wise threshold that uses no statistic at all.
# ### END SOLUTION

# %% ln-forward-md [markdown]
# **Your task:** implement `layernorm_forward` in `assignment/layers.py`. The next cell pushes
# four examples through the same two-layer network as before and prints the statistics *per
# example* (along axis 1): after layer norm each example should have mean 0 and standard
# deviation 1 over its three features.

# %% ln-forward
a = relu_net_outputs(N=4)  # the same network, four examples of 3 features
show_stats("Before layer norm, per example", a, axis=1)

a_norm, _ = layernorm_forward(a, np.ones(3), np.zeros(3), {})
show_stats("After layer norm with gamma = 1, beta = 0 (expect 0 and 1)", a_norm, axis=1)

gamma = np.array([3.0, 3.0, 3.0])
beta = np.array([5.0, 5.0, 5.0])
a_norm, _ = layernorm_forward(a, gamma, beta, {})
show_stats("After layer norm with gamma = 3, beta = 5 (expect 5 and 3)", a_norm, axis=1)

# Nothing depends on the other examples: the first example normalized alone comes out the same.
alone, _ = layernorm_forward(a[:1], gamma, beta, {})
print("The first example alone gives the same output:", np.allclose(alone, a_norm[:1]))

# %% ln-forward-check
check_layernorm_forward()

# %% test-layernorm_forward nbgrader={"grade_id": "layernorm_forward", "grade": true, "locked": true, "solution": false}
# Autograded test: layernorm_forward (@@POINTS@@ points). Do not edit, copy or delete this cell.
report = check_layernorm_forward()
print(report.summary())
assert report.passed, "\n".join(str(c) for c in report.failures) or str(report)

### BEGIN HIDDEN TESTS
from assignment.checks import assert_passes

print(assert_passes("layernorm_forward", extra=True).summary())
### END HIDDEN TESTS

# %% ln-backward-md [markdown]
# **Your task:** implement `layernorm_backward`. It is the batch-norm backward pass with the
# roles of the axes exchanged: the statistics are per row now, while $\gamma$ and $\beta$ are
# still per feature, so their gradients still sum over the batch.

# %% ln-backward-numeric
print_layer_gradient_errors(layernorm_forward, layernorm_backward, {}, x_shape=(4, 5))

# %% ln-backward-check
check_layernorm_backward()

# %% test-layernorm_backward nbgrader={"grade_id": "layernorm_backward", "grade": true, "locked": true, "solution": false}
# Autograded test: layernorm_backward (@@POINTS@@ points). Do not edit, copy or delete this cell.
report = check_layernorm_backward()
print(report.summary())
assert report.passed, "\n".join(str(c) for c in report.failures) or str(report)

### BEGIN HIDDEN TESTS
from assignment.checks import assert_passes

print(assert_passes("layernorm_backward", extra=True).summary())
### END HIDDEN TESTS

# %% fc-ln-md [markdown]
# ## Layer normalization in the network
#
# **Your task:** make `FullyConnectedNet` (and the sandwich layer in `layer_utils.py`) support
# `normalization="layernorm"` as well. If you wrote the batch-norm version with the
# normalization as a switch, little is left to do. The gradient check below uses the same
# small network as before; unlike batch norm, layer norm does not cancel the biases, so every
# gradient should now match closely.

# %% fc-ln-gradcheck
print_fc_net_gradient_errors(normalization="layernorm")

# %% fc-ln-sandwich-check
# The sandwich's self-check again: now its layer-norm half should pass as well.
check_affine_norm_relu()

# %% fc-ln-check
check_fc_net_layernorm()

# %% test-fc_net_layernorm nbgrader={"grade_id": "fc_net_layernorm", "grade": true, "locked": true, "solution": false}
# Autograded test: fc_net_layernorm (@@POINTS@@ points). Do not edit, copy or delete this cell.
report = check_fc_net_layernorm()
print(report.summary())
assert report.passed, "\n".join(str(c) for c in report.failures) or str(report)

### BEGIN HIDDEN TESTS
from assignment.checks import assert_passes

print(assert_passes("fc_net_layernorm", extra=True).summary())
### END HIDDEN TESTS

# %% ln-batch-size-md [markdown]
# ## Experiment: layer normalization and batch size
#
# The same batch-size experiment as before, with layer normalization instead of batch
# normalization. Compare the two sets of curves.

# %% batch-size-ln
if needs(*LAYERNORM_NET):
    ln_batch_solvers = batch_size_experiment("layernorm", small_data, HIDDEN_DIMS, NUM_EPOCHS)
    plot_training(ln_batch_solvers, "layer norm", panels=["train_acc", "val_acc"])

# %% question-4 [markdown]
# ### Inline question 4
#
# Layer normalization does not care about the batch size. When is it nevertheless a bad idea?
# Think about how many values each per-example mean and variance is computed from, and about
# what the normalized features stand for. Give at least one concrete situation and explain
# what goes wrong.

# %% answer-4 [markdown] nbgrader={"grade_id": "inline_question_4", "grade": true, "locked": false, "solution": true, "points": 2}
# **Your answer:**
#
# ### BEGIN SOLUTION
# *Model answer (instructor copy only; nbgrader replaces it with the placeholder in the student release):*
#
# Layer norm is a poor choice when each example has few features to normalize over, i.e. a
# narrow layer: the per-example mean and variance of a handful of values are noisy and, worse,
# normalizing removes most of the information those few values carry. In the extreme case of
# one feature the output is always $\beta$; with two features only their sign pattern
# survives ($\pm 1$).
#
# It is also a bad idea when the features being pooled are heterogeneous: layer norm forces
# all features of an example to share one mean and one scale. If different units (or input
# features measured in different units, or convolutional channels with very different typical
# ranges) legitimately live on different scales, normalizing them together distorts their
# relative sizes; this is why layer norm tends to work worse than batch norm in convolutional
# networks, and why group normalization normalizes groups of similar channels instead.
# ### END SOLUTION

# %% summary-md [markdown]
# ## Summary of your self-checks
#
# The next cell re-runs the self-checks of every task in this notebook. Before you submit, make
# sure they all pass, run the whole notebook from the top (Kernel → Restart & Run All) with
# FAST mode off, and answer the four inline questions. The convolutional notebook builds on
# this one with spatial batch normalization and group normalization.

# %% summary
reports = run_all(tasks=["batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
                         "affine_norm_relu", "fc_net_batchnorm", "layernorm_forward",
                         "layernorm_backward", "fc_net_layernorm"])

# %% submit-md include="shared"

# %% submit include="shared"
