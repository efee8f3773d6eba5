# The source of notebooks/ConvNormalization.ipynb: spatial batch norm and group norm. All
# notebooks are one nbgrader assignment, so its grade_ids are its own (convnorm_question_<n>).
# jupytext py:percent: a cell is `# %% <cell id>` (`[markdown]` for text), its metadata in the
# header. Edit here, then run `python notebooks/build.py`, which says what it adds.

# %% intro [markdown]
# # Normalization in convolutional networks: spatial batch norm and group norm
#
# The layers of the BatchNormalization notebook normalize activations of shape $(N, D)$: one
# vector of $D$ features per example. A convolutional layer produces *feature maps* instead,
# of shape $(N, C, H, W)$: for every example, $C$ channels, each an $H \times W$ image of the
# responses of one filter at every position. This notebook adapts normalization to them:
#
# 1. **Spatial batch normalization**: batch norm for feature maps, forward (training and test
#    behaviour) and backward.
# 2. **Group normalization**: a normalization that, like layer norm, never looks at the other
#    examples of the batch; forward and backward.
# 3. **An experiment** on CIFAR-10 images: how much does the normalized output of one image
#    depend on the other images that happen to share its batch?
# 4. **Two inline questions.**
#
# **Before you start**, finish `batchnorm_forward` and a backward pass of batch norm in the
# BatchNormalization notebook: spatial batch norm is quickest to write on top of them.
#
# **Where the code goes.** As before, you write code in `assignment/layers.py`, not in this
# notebook. The four functions of this notebook raise `NotImplementedError` naming themselves
# until you replace that line; their docstrings give the shapes. Edited modules are reloaded
# automatically.
#
# **How you know you are on track.** Each part ends with a *self-check* cell that tests your
# code for properties it must have and says in words what looks wrong, and an *autograded*
# cell ("Autograded test") that runs the same checks plus hidden tests when your work is
# graded: do not edit, copy or delete those. The inline questions are graded by hand.
#
# **FAST mode.** This notebook is quick: a full run takes well under a minute. Setting the
# environment variable `NORMLAB_FAST=1` before starting Jupyter (or `FAST = True` in the setup
# cell) shrinks the experiment further, to three batch sizes and a few batches each; the plot
# is then coarse, so answer the questions from a full run.

# %% setup-md include="shared"

# %% setup include="shared"

# %% imports
import numpy as np

from assignment.data_utils import find_cifar10, get_CIFAR10_data
from assignment.experiments import plot_sweep, print_layer_gradient_errors, show_stats
from assignment.layers import (
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
)
from assignment.todo import needs

# %% helpers
# The self-checks of the two tasks: each explains in words what looks wrong.
from assignment.checks import check_groupnorm, check_spatial_batchnorm, run_all

# Size of the experiment at the end (FAST mode shrinks it).
BATCH_SIZES = [2, 8, 32] if FAST else [2, 4, 8, 16, 32, 64, 128]
NUM_BATCHES = 10 if FAST else 100  # random batches drawn for each batch size
NUM_IMAGES = 1000 if FAST else 4000  # CIFAR-10 images the batches are drawn from
# What the experiment runs: until you have written them it skips, saying so (`needs`).
EXPERIMENT_NEEDS = [spatial_batchnorm_forward, spatial_groupnorm_forward]
PER_CHANNEL = (0, 2, 3)  # the axes a channel's statistics are taken over: N, H and W

# %% sbn-forward-md [markdown]
# ## Spatial batch normalization: the forward pass
#
# For fully connected layers, batch norm computes one mean and one variance per feature, over
# the $N$ examples of the minibatch. For feature maps, spatial batch normalization computes one
# mean and one variance per **channel**, over the examples *and* all positions, that is over
# $N \cdot H \cdot W$ values:
#
# $$\mu_c = \frac{1}{NHW} \sum_{n,h,w} x_{nchw}, \qquad
#   \sigma_c^2 = \frac{1}{NHW} \sum_{n,h,w} (x_{nchw} - \mu_c)^2, \qquad
#   y_{nchw} = \gamma_c \frac{x_{nchw} - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}} + \beta_c .$$
#
# $\gamma$ and $\beta$ hold one number per channel (shape `(C,)`), and so do the running
# averages used in test mode. `bn_param` has the same keys and meaning as for
# `batchnorm_forward` (`mode`, `eps`, `momentum`, `running_mean`, `running_var`).
#
# **Your task:** implement `spatial_batchnorm_forward` in `assignment/layers.py`. You need no
# new arithmetic: rearrange the input so that every row is one $(n, h, w)$ position and every
# column one channel, call your `batchnorm_forward`, and put the output back into the
# $(N, C, H, W)$ layout. Beware: `x.reshape(-1, C)` on an $(N, C, H, W)$ array does *not*
# give that, because the channel axis is not the last one.
#
# The next cell makes a small batch of feature maps with large, unequal channel means and
# prints the statistics of each channel before and after.

# %% sbn-forward-train tags=["first-task"]
np.random.seed(231)
N, C, H, W = 2, 3, 4, 5
x = 4 * np.random.randn(N, C, H, W) + 10
print("x has shape", x.shape)
show_stats("Before spatial batch norm, per channel", x, axis=PER_CHANNEL)

out, _ = spatial_batchnorm_forward(x, np.ones(C), np.zeros(C), {"mode": "train"})
print("out has shape", out.shape)
show_stats("After, with gamma = 1 and beta = 0 (expect 0 and 1)", out, axis=PER_CHANNEL)

gamma = np.array([3.0, 4.0, 5.0])
beta = np.array([6.0, 7.0, 8.0])
out, _ = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
show_stats("After, with gamma = [3, 4, 5] and beta = [6, 7, 8] (expect beta and gamma)",
           out, axis=PER_CHANNEL)

# %% sbn-forward-test-md [markdown]
# Test mode: 50 training-mode passes over fresh batches (every channel with mean 13 and
# standard deviation 2.3) let the running averages settle, then `bn_param["mode"]` becomes
# `"test"`. The running averages start at zero and move 10% of the way towards the batch
# statistics at each step, so after 50 steps they are within about half a percent of the true
# values. The test-mode output is therefore close to mean 0 and standard deviation 1 per
# channel, but not exactly: deviations of up to about 0.1 are expected.

# %% sbn-forward-test
np.random.seed(231)
N, C, H, W = 10, 4, 11, 12
gamma, beta = np.ones(C), np.zeros(C)
bn_param = {"mode": "train"}
for _ in range(50):
    x = 2.3 * np.random.randn(N, C, H, W) + 13
    spatial_batchnorm_forward(x, gamma, beta, bn_param)
print("running_mean:", bn_param["running_mean"])
print("running_var: ", bn_param["running_var"], "\n")

bn_param["mode"] = "test"
x = 2.3 * np.random.randn(N, C, H, W) + 13
out, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
show_stats("After spatial batch norm in test mode (expect roughly 0 and 1)", out,
           axis=PER_CHANNEL)

# %% sbn-forward-check-md [markdown]
# **Self-check, forward part.** The self-check of spatial batch norm covers the forward and the
# backward pass. Run it now: its forward checks should pass, and it will say that
# `spatial_batchnorm_backward` is not implemented yet. That is your next task.

# %% sbn-forward-check
check_spatial_batchnorm()

# %% sbn-backward-md [markdown]
# ## Spatial batch normalization: the backward pass
#
# The forward pass was a rearrangement, the vanilla batch norm and the inverse rearrangement.
# The backward pass runs the same three steps backwards: bring `dout` into the layout your
# forward pass gave to `batchnorm_forward`, call your batch-norm backward pass (either version)
# with the cache, and bring `dx` back into the $(N, C, H, W)$ layout. `dgamma` and `dbeta`
# come out with shape `(C,)` already.
#
# **Your task:** implement `spatial_batchnorm_backward`. The next cell compares its gradients
# with numerical ones: relative errors of `1e-6` or less mean it is right, errors near 1 mean
# it is not.

# %% sbn-backward-numeric
# Random feature maps x of shape (N, C, H, W) = (2, 3, 4, 5), gamma and beta of shape (3,).
# print_layer_gradient_errors (assignment/experiments.py) nudges each entry of x, gamma and beta
# and watches the forward pass's output, as in the BatchNormalization notebook.
print_layer_gradient_errors(spatial_batchnorm_forward, spatial_batchnorm_backward,
                            {"mode": "train"}, x_shape=(2, 3, 4, 5))

# %% sbn-check-md [markdown]
# **Self-check.** Now every check of spatial batch norm should pass. The autograded cell after
# it runs the same checks and, when your work is graded, hidden tests with other shapes (a
# single image, a single channel, one pixel per channel) and float32 inputs.

# %% sbn-check
check_spatial_batchnorm()

# %% test-spatial_batchnorm nbgrader={"grade_id": "spatial_batchnorm", "grade": true, "locked": true, "solution": false}
# Autograded test: spatial_batchnorm (@@POINTS@@ points). Do not edit, copy or delete this cell.
report = check_spatial_batchnorm()
print(report.summary())
assert report.passed, "\n".join(str(c) for c in report.failures) or str(report)

### BEGIN HIDDEN TESTS
from assignment.checks import assert_passes

print(assert_passes("spatial_batchnorm", extra=True).summary())
### END HIDDEN TESTS

# %% gn-md [markdown]
# ## Group normalization
#
# Spatial batch norm inherits batch norm's weak spot: its statistics come from the minibatch.
# Tasks with large inputs (detection, segmentation, video) often fit only one or two images
# per device, and then the batch statistics are noisy and training-mode outputs differ from
# test-mode ones. Layer normalization avoids the batch, but normalizing all $C \cdot H \cdot W$
# values of an example together tends to work less well in convolutional networks than batch
# norm does.
#
# Group normalization [1] sits in between. The $C$ channels are split into $G$ groups of
# $C / G$ consecutive channels, and every example normalizes each of its groups with the mean
# and variance of that group's values, over its $C/G$ channels and all $H \cdot W$ positions.
# For example $n$ and group $g$ (the set of channels $S_g$),
#
# $$\mu_{ng} = \frac{1}{|S_g| H W} \sum_{c \in S_g} \sum_{h,w} x_{nchw}, \qquad
#   \sigma_{ng}^2 = \frac{1}{|S_g| H W} \sum_{c \in S_g} \sum_{h,w} (x_{nchw} - \mu_{ng})^2,$$
#
# $$y_{nchw} = \gamma_c \frac{x_{nchw} - \mu_{ng}}{\sqrt{\sigma_{ng}^2 + \epsilon}} + \beta_c
#   \quad \text{for } c \in S_g .$$
#
# $\gamma$ and $\beta$ are still one number per channel, stored with shape `(1, C, 1, 1)` so
# that they broadcast against the feature maps. No statistic involves another example, so
# there are no running averages and training and test behave the same; `gn_param` holds only
# an optional `eps`. $G$ must divide $C$.
#
# [1] Yuxin Wu and Kaiming He, "Group Normalization", ECCV 2018.
#
# **Your task:** implement `spatial_groupnorm_forward`. Group $g$ of example $n$ is a
# contiguous block of channels, so a reshape gives you all groups as rows without a loop.
# The next cell prints the statistics of every (example, group) pair before and after.

# %% gn-forward
np.random.seed(231)
N, C, H, W = 2, 6, 4, 5
G = 2
x = 4 * np.random.randn(N, C, H, W) + 10
gamma, beta = np.ones((1, C, 1, 1)), np.zeros((1, C, 1, 1))


def by_group(a, groups):
    """One row per (example, group), in the order n = 0 with g = 0, 1, ..., then n = 1."""
    return a.reshape(a.shape[0] * groups, -1)


show_stats(f"Before group norm, per (example, group), G = {G}", by_group(x, G), axis=1)
out, _ = spatial_groupnorm_forward(x, gamma, beta, G, {})
print("gamma has shape", gamma.shape, "and out has shape", out.shape)
show_stats("After group norm with gamma = 1, beta = 0 (expect 0 and 1)", by_group(out, G),
           axis=1)

# %% gn-groups-md [markdown]
# The number of groups is a choice. The next cell runs the same input through group norm for
# every $G$ that divides $C = 6$, from one group holding all channels to one group per
# channel, and checks each time that every (example, group) pair is standardized.

# %% gn-groups
for groups in [1, 2, 3, 6]:
    out, _ = spatial_groupnorm_forward(x, gamma, beta, groups, {})
    rows = by_group(out, groups)
    print(f"G = {groups}: {rows.shape[0]:2d} groups of {rows.shape[1]:3d} values each;  "
          f"largest |mean| {np.abs(rows.mean(axis=1)).max():.1e},  "
          f"largest |std - 1| {np.abs(rows.std(axis=1) - 1).max():.1e}")

# %% gn-backward-md [markdown]
# ## Group normalization: the backward pass
#
# Within one (example, group) pair, group norm is exactly layer norm over the pair's
# $M = (C / G) \cdot H \cdot W$ values, so your layer-norm derivation carries over with $M$ in
# place of $D$. Only $\gamma$ and $\beta$ differ: they are per channel, so their gradients
# sum over the examples and positions and keep the shape `(1, C, 1, 1)`.
#
# **Your task:** implement `spatial_groupnorm_backward` (and store what it needs in the cache
# of the forward pass). The next cell checks it against numerical gradients.

# %% gn-backward-numeric
# x of shape (2, 6, 4, 5) in G = 2 groups; gamma and beta of shape (1, 6, 1, 1).
print_layer_gradient_errors(spatial_groupnorm_forward, spatial_groupnorm_backward, 2, {},
                            x_shape=(2, 6, 4, 5), param_shape=(1, 6, 1, 1))

# %% gn-check-md [markdown]
# **Self-check.** The self-check of group norm covers both passes; the autograded cell after it
# adds hidden tests (a single example, $G = 1$ and $G = C$, 1x1 feature maps, float32).

# %% gn-check
check_groupnorm()

# %% test-groupnorm nbgrader={"grade_id": "groupnorm", "grade": true, "locked": true, "solution": false}
# Autograded test: groupnorm (@@POINTS@@ points). Do not edit, copy or delete this cell.
report = check_groupnorm()
print(report.summary())
assert report.passed, "\n".join(str(c) for c in report.failures) or str(report)

### BEGIN HIDDEN TESTS
from assignment.checks import assert_passes

print(assert_passes("groupnorm", extra=True).summary())
### END HIDDEN TESTS

# %% experiment-md [markdown]
# ## Experiment: does an image's output depend on its batch?
#
# In training mode, spatial batch norm normalizes an image with statistics of the whole batch,
# so the same image comes out differently depending on which other images share its batch;
# in test mode it uses fixed running averages instead. Group norm uses only the image itself.
# Let us measure both effects on CIFAR-10 images, treating the three colour channels of each
# image as a 3-channel feature map (with $C = 3$, group norm can use $G = 1$ or $G = 3$; we
# take $G = 3$, one group per channel).
#
# We follow one image. For each batch size $B$ we put it into many batches with $B - 1$ other
# images drawn at random and normalize each batch in training mode. Two numbers per batch
# size and method:
#
# * **spread**: how much the image's normalized output changes from one batch to another (the
#   standard deviation over the batches, averaged over the image's values);
# * **train/test gap**: the root-mean-square difference between its training-mode output and
#   its test-mode output. For batch norm, test mode uses the channel statistics of all the
#   images, which is what the running averages approach; group norm has no test mode of its
#   own, so its test-mode output is the image normalized alone.
#
# The next cell loads the images. If you have not downloaded CIFAR-10, a synthetic stand-in is
# used and the cell says so; the measurement still works, but its numbers are about the
# synthetic images.

# %% data
cifar10_dir, is_synthetic = find_cifar10()
data = get_CIFAR10_data(cifar10_dir=cifar10_dir, num_training=NUM_IMAGES, num_validation=0,
                        num_test=0, subtract_mean=False)
images = data["X_train"].astype(np.float64)  # raw pixel values in [0, 255]
print("Images:", cifar10_dir, "(SYNTHETIC stand-in)" if is_synthetic else "(CIFAR-10)")
print("  shape", images.shape, " per-channel means", images.mean(axis=PER_CHANNEL))

# %% experiment
if needs(*EXPERIMENT_NEEDS):
    rng = np.random.default_rng(231)
    probe, others = images[:1], images[1:]  # the image we follow, and its batch-mates' pool
    C = images.shape[1]
    ones, zeros = np.ones(C), np.zeros(C)  # gamma = 1, beta = 0: the normalization alone
    ones_gn, zeros_gn = ones.reshape(1, C, 1, 1), zeros.reshape(1, C, 1, 1)
    G_EXPERIMENT = C  # one group per colour channel

    population = {"mode": "test", "running_mean": images.mean(axis=PER_CHANNEL),
                  "running_var": images.var(axis=PER_CHANNEL)}
    test_outputs = {
        "spatial batch norm": spatial_batchnorm_forward(probe, ones, zeros, population)[0][0],
        "group norm": spatial_groupnorm_forward(probe, ones_gn, zeros_gn, G_EXPERIMENT,
                                                {})[0][0],
    }
    dependence = {name: {"spread": [], "gap": []} for name in test_outputs}
    for size in BATCH_SIZES:
        outputs = {name: [] for name in test_outputs}
        for _ in range(NUM_BATCHES):
            mates = others[rng.choice(len(others), size=size - 1, replace=False)]
            batch = np.concatenate([probe, mates])
            bn_out, _ = spatial_batchnorm_forward(batch, ones, zeros, {"mode": "train"})
            gn_out, _ = spatial_groupnorm_forward(batch, ones_gn, zeros_gn, G_EXPERIMENT, {})
            outputs["spatial batch norm"].append(bn_out[0])
            outputs["group norm"].append(gn_out[0])
        for name, outs in outputs.items():
            outs = np.array(outs)
            dependence[name]["spread"].append(outs.std(axis=0).mean())
            dependence[name]["gap"].append(np.sqrt(np.mean((outs - test_outputs[name]) ** 2)))

    BN, GN = dependence["spatial batch norm"], dependence["group norm"]
    print("           spread of the output    train/test gap")
    print("batch size      BN        GN          BN        GN")
    for i, size in enumerate(BATCH_SIZES):
        print(f"{size:>10}  {BN['spread'][i]:8.4f}  {GN['spread'][i]:8.1e}    "
              f"{BN['gap'][i]:8.4f}  {GN['gap'][i]:8.1e}")

# %% experiment-plot
if needs(*EXPERIMENT_NEEDS, what="this plot"):
    plot_sweep(BATCH_SIZES, dependence, [
        ("spread", "spread of one image's output over batches", "standard deviation"),
        ("gap", "train/test gap of one image's output", "root-mean-square difference"),
    ], xlabel="batch size", log_base=2, label_every_x=True)

# %% question-1 [markdown]
# ### Inline question 1
#
# Spatial batch norm keeps one mean and one variance per **channel**, pooled over the batch
# and all positions. One could instead flatten each example to a vector of $C \cdot H \cdot W$
# features and apply the vanilla batch norm, with its own mean, variance, $\gamma$ and $\beta$
# for every channel *and position*. Give two reasons why pooling over the positions is the
# better choice for the output of a convolutional layer. (Think about what a convolutional
# filter computes at different positions, and about how many values each statistic is
# estimated from.)

# %% answer-1 [markdown] nbgrader={"grade_id": "convnorm_question_1", "grade": true, "locked": false, "solution": true, "points": 2}
# **Your answer:**
#
# ### BEGIN SOLUTION
# *Model answer (instructor copy only; nbgrader replaces it with the placeholder in the student release):*
#
# 1. **Weight sharing and translation equivariance.** A convolutional filter applies the same
#    detector at every position, so all $H \cdot W$ values of a channel measure the same
#    feature and share one distribution. Normalizing them with the same $\mu_c$, $\sigma_c$,
#    $\gamma_c$, $\beta_c$ keeps the layer equivariant: a pattern gives the same normalized
#    response wherever it appears. Per-position statistics would treat the same pattern
#    differently in the centre and in a corner, so shifting an image by a few pixels would
#    change more than the position of the responses, and the layer would need $2CHW$
#    parameters instead of $2C$. They also tie the network to one input size, while the
#    per-channel version works for any $H \times W$ (e.g. larger images at test time).
# 2. **Better statistics.** Pooling estimates each mean and variance from $N \cdot H \cdot W$
#    values instead of $N$. With typical small batches the per-position estimates would be
#    very noisy (with $N = 1$ they would not exist: every output would equal $\beta$), and
#    the running averages used at test time would be correspondingly poor.
# ### END SOLUTION

# %% question-2 [markdown]
# ### Inline question 2
#
# (a) Group norm with $G = 1$ and with $G = C$ are two other normalizations you know or may
# have heard of. Which ones, and what does each assume about the channels it normalizes
# together?
#
# (b) Using your experiment, describe how spatial batch norm's output for one image depends on
# the batch size, and how group norm's does. In which situations would you choose group norm
# over spatial batch norm, and when would you still prefer batch norm?

# %% answer-2 [markdown] nbgrader={"grade_id": "convnorm_question_2", "grade": true, "locked": false, "solution": true, "points": 2}
# **Your answer:**
#
# ### BEGIN SOLUTION
# *Model answer (instructor copy only; nbgrader replaces it with the placeholder in the student release):*
#
# (a) $G = 1$ is **layer normalization** for feature maps: each example is normalized with
# one mean and variance over all of its $C \cdot H \cdot W$ values, which assumes all channels
# live on a common scale. $G = C$ is **instance normalization**: each channel of each example
# is normalized over its own $H \cdot W$ positions, which treats every channel as independent
# and removes each image's per-channel mean and contrast (useful in style transfer, but it
# throws away information a classifier may need, and with 1x1 maps it leaves only $\beta$).
# Group norm in between assumes that the channels of a group are alike and can share
# statistics, while different groups may differ.
#
# (b) With spatial batch norm the same image comes out differently in different batches, and
# its training-mode output differs from its test-mode output; both effects shrink as the batch
# grows (roughly like $1/\sqrt{B}$) but are large for batches of a few images. Group norm's
# output does not change with the batch at all (the spread and the gap are zero up to
# rounding), and training and test behave the same.
#
# Choose group norm when batches must be small (large images in detection or segmentation,
# video, 3-D medical volumes, one or two examples per device), when the examples of a batch
# are correlated rather than independent samples, or when training and test behaviour must
# match exactly. Batch norm remains a good choice with large batches of independent samples:
# it often gives slightly better accuracy there, its batch noise acts as a mild regularizer,
# and at test time it is a fixed affine map that can be folded into the preceding
# convolution, so it costs nothing, whereas group norm computes statistics at test time too.
# ### END SOLUTION

# %% summary-md [markdown]
# ## Summary of your self-checks
#
# The next cell re-runs the self-checks of both tasks of this notebook. Before you submit,
# make sure they pass, run the notebook from the top (Kernel → Restart & Run All) with FAST
# mode off, and answer the two inline questions.

# %% summary
reports = run_all(tasks=["spatial_batchnorm", "groupnorm"])

# %% submit-md include="shared"

# %% submit include="shared"
