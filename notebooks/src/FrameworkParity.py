# The source of notebooks/FrameworkParity.ipynb: our batch norm next to PyTorch's. PyTorch is
# optional: every cell that needs it checks HAVE_TORCH (NORMLAB_NO_TORCH=1 simulates its absence).
# jupytext py:percent: a cell is `# %% <cell id>` (`[markdown]` for text), its metadata in the
# header. Edit here, then run `python notebooks/build.py`, which says what it adds.

# %% intro [markdown]
# # Batch normalization in a framework: parity with PyTorch
#
# You have written batch normalization by hand. Deep-learning frameworks ship their own, and
# sooner or later you will move numbers between the two: port a trained PyTorch model, compare
# a result with a paper's code, or debug a layer by re-computing it in NumPy. The arithmetic
# of the normalization is the same everywhere, but the *bookkeeping* is not. This notebook:
#
# 1. names the two places where PyTorch's batch norm follows a different convention from ours
#    (the meaning of `momentum`, and which variance goes into the running average) and has
#    you write the two conversions;
# 2. runs our `batchnorm_forward` / `batchnorm_backward` and PyTorch's
#    `torch.nn.functional.batch_norm` on the same float64 data and shows that outputs,
#    gradients and running averages agree to within `1e-6` once the conventions are converted
#    (and that the running averages do not agree when they are not);
# 3. trains the same deep fully connected network with and without batch norm, both with our
#    `FullyConnectedNet` and with a small PyTorch model using `nn.BatchNorm1d`;
# 4. shows what the same layer looks like in a TensorFlow lab (`tf.layers.batch_normalization`
#    on MNIST) and how its conventions compare (the KerasMNIST notebook runs that lab);
# 5. asks two inline questions about the conventions.
#
# It builds on the BatchNormalization notebook: `batchnorm_forward` and `batchnorm_backward`
# in `assignment/layers.py` and the batch-norm parts of `FullyConnectedNet` should work first.
#
# **PyTorch is optional.** It is not among the kit's requirements. Without it every PyTorch
# cell prints that it was skipped and everything else still runs; the training comparison with
# our own network and the conversion exercise need only NumPy. To get PyTorch:
#
# * **Google Colab** has PyTorch preinstalled: nothing to do.
# * **Your own machine:** the CPU-only build is enough here and much smaller than the default
#   one. In the environment your Jupyter kernel uses, run
#
#   ```bash
#   pip install torch --index-url https://download.pytorch.org/whl/cpu
#   ```
#
#   then restart the kernel. (Any recent PyTorch version works; a GPU is not needed.)
#
# To see what the notebook does for someone without PyTorch, set the environment variable
# `NORMLAB_NO_TORCH=1` before starting Jupyter (or set `NO_TORCH = True` in the PyTorch cell
# below): PyTorch is then not imported even if it is installed.
#
# **FAST mode.** Set `NORMLAB_FAST=1` before starting Jupyter (or `FAST = True` in the setup
# cell) to shrink the training runs so that the notebook runs in seconds. The curves are then
# meaningless; look at them after a full run.

# %% setup-md include="shared"

# %% setup include="shared"

# %% torch-setup
# PyTorch is optional. Every cell below that needs it checks HAVE_TORCH first and otherwise
# prints that it skipped. NORMLAB_NO_TORCH=1 in the environment (or NO_TORCH = True here)
# makes the notebook behave as if PyTorch were not installed.
NO_TORCH = os.environ.get("NORMLAB_NO_TORCH", "0") not in ("", "0")

INSTALL_HINT = ("To run the PyTorch cells, install the CPU build of PyTorch into this "
                "kernel's environment with\n"
                "    pip install torch --index-url https://download.pytorch.org/whl/cpu\n"
                "and restart the kernel (Google Colab has PyTorch already).")

torch = None
if NO_TORCH:
    print("PyTorch: not used, because NORMLAB_NO_TORCH is set. The PyTorch cells will be "
          "skipped; everything else runs as usual.")
else:
    try:
        import torch
    except Exception as exc:  # not installed, or an installation that cannot be loaded
        torch = None
        print(f"PyTorch is not available ({type(exc).__name__}: {exc}).\n"
              "The PyTorch cells will be skipped; everything else runs as usual.\n"
              + INSTALL_HINT)
HAVE_TORCH = torch is not None

if HAVE_TORCH:
    import torch.nn.functional as F
    from torch import nn

    print(f"PyTorch {torch.__version__}: the PyTorch cells will run.")


def skipped(what):
    """What a PyTorch cell prints instead of running."""
    print(f"Skipped ({what}): PyTorch is not available in this kernel.")
    if not NO_TORCH:
        print(INSTALL_HINT)


# %% imports
from types import SimpleNamespace

import numpy as np

from assignment.checks import check_framework_conventions
from assignment.experiments import plot_training, print_final, train_with_adam, training_subset
from assignment.fc_net import FullyConnectedNet
from assignment.framework import torch_momentum_from_normlab, torch_running_var
from assignment.layers import batchnorm_backward, batchnorm_forward

# %% helpers
# Sizes of the training comparison (FAST mode shrinks them).
NUM_TRAIN = 200 if FAST else 2000  # training images both networks learn from
NUM_EPOCHS = 2 if FAST else 10
BATCH_SIZE = 50
HIDDEN_DIMS = [100, 100, 100, 100, 100]  # five hidden layers: deep enough for BN to help
WEIGHT_SCALE = 2e-2  # standard deviation of the initial weights, the same in both frameworks
LEARNING_RATE = 1e-3  # Adam, in both frameworks
OUR_MOMENTUM = 0.9  # bn_param["momentum"] in our convention (FullyConnectedNet's default)

# %% conventions-md [markdown]
# ## Two conventions
#
# In training mode our `batchnorm_forward` and PyTorch's batch norm compute exactly the same
# thing: the batch mean $\mu$ and the **biased** batch variance
# $\sigma^2 = \frac{1}{N}\sum_i (x_i - \mu)^2$ of each feature, then
# $y = \gamma \, (x - \mu) / \sqrt{\sigma^2 + \epsilon} + \beta$ with $\epsilon = 10^{-5}$ by
# default in both. So the outputs and the gradients agree without any conversion.
#
# They differ in the running averages they keep for test mode:
#
# 1. **What `momentum` weights.** Ours weights the *old* running value,
#    $$r \leftarrow m \, r + (1 - m) \, s \qquad (m = 0.9 \text{ by default}),$$
#    where $s$ is the batch statistic. PyTorch's `momentum` weights the *new* batch statistic,
#    $$r \leftarrow (1 - m_{\text{torch}}) \, r + m_{\text{torch}} \, s
#    \qquad (m_{\text{torch}} = 0.1 \text{ by default}).$$
#    The defaults are the same rule: our 0.9 is PyTorch's 0.1. Passing our number to PyTorch
#    unchanged gives running averages that follow each batch almost blindly.
# 2. **Which variance is averaged.** We average the biased variance $\sigma^2$, the one the layer
#    normalizes with. PyTorch normalizes with the biased variance too, but adds the
#    **unbiased** variance $\frac{1}{N-1}\sum_i (x_i - \mu)^2 = \frac{N}{N-1}\sigma^2$ to its
#    running average. With a batch of 8 that is 8/7, about 14 % more; with 256 it is 0.4 %.
#
# Two smaller differences: `nn.BatchNorm1d` starts its running variance at ones (our `bn_param`
# starts at zeros when it has none), and PyTorch switches between the batch and the running
# statistics with `model.train()` / `model.eval()` where we set `bn_param["mode"]`.
# (PyTorch's `momentum=None` means yet another rule, a plain cumulative average over all batches
# so far; we do not use it.)
#
# | | ours (CS231n) | PyTorch | TensorFlow / Keras |
# | --- | --- | --- | --- |
# | `momentum` weights | the old running value | the new batch statistic | the old running value |
# | default `momentum` | 0.9 | 0.1 (= our 0.9) | 0.99 |
# | default $\epsilon$ | 1e-5 | 1e-5 | 1e-3 |
# | normalizes with | biased variance | biased variance | biased variance |
# | running variance averages | biased variance | **unbiased** variance | biased variance |
# | initial running variance | 0 | 1 | 1 |
# | train / test switch | `bn_param["mode"]` | `model.train()`, `model.eval()` | `training=` |
#
# The TensorFlow column is discussed at the end of the notebook.

# %% conversions-md [markdown] if_tasks=["framework.torch_momentum_from_normlab", "framework.torch_running_var"]
# ### Your task: the two conversions
#
# Implement the two functions in `assignment/framework.py`; their docstrings give the
# shapes. They need only NumPy.
#
# * `torch_momentum_from_normlab(momentum)`: the PyTorch `momentum` that gives the same
#   running averages as our `momentum`.
# * `torch_running_var(running_var, var, N, momentum)`: the running variance PyTorch holds
#   after one training step on a batch of `N` examples whose biased variance is `var`,
#   starting from `running_var`, written with *our* momentum. Compute the unbiased
#   variance from `var` and `N`; the function does not see the data.
#
# The next cell calls both on a small example and compares the second with the unbiased
# variance computed directly from the data (`ddof=1`). The cell after it is the
# self-check; later the PyTorch parity check uses your functions to set PyTorch's momentum
# and to predict its running variance.

# %% conversions-md [markdown] unless_tasks=["framework.torch_momentum_from_normlab", "framework.torch_running_var"]
# ### The two conversions
#
# `assignment/framework.py` holds two small functions (given code in this release: read
# them, and their docstrings, before going on):
#
# * `torch_momentum_from_normlab(momentum)`: the PyTorch `momentum` that gives the same
#   running averages as our `momentum`.
# * `torch_running_var(running_var, var, N, momentum)`: the running variance PyTorch holds
#   after one training step on a batch of `N` examples whose biased variance is `var`,
#   starting from `running_var`, written with *our* momentum.
#
# The next cell calls both on a small example and compares the second with the unbiased
# variance computed directly from the data (`ddof=1`); the cell after it checks them. The
# PyTorch parity check below uses them to set PyTorch's momentum and to predict its
# running variance.

# %% conversions-demo tags=["first-task"]
for ours in (0.9, 0.99, 0.5):
    print(f"our momentum {ours} is PyTorch's momentum {torch_momentum_from_normlab(ours):.3g}")
print()

rng = np.random.default_rng(0)
N, D = 4, 3
x = rng.normal(2.0, 1.5, size=(N, D))
running_var = np.ones(D)  # where nn.BatchNorm1d starts
biased = x.var(axis=0)  # what our batchnorm_forward normalizes with (ddof=0)
unbiased = x.var(axis=0, ddof=1)  # what PyTorch adds to its running average
print("biased variance:   ", biased)
print("unbiased variance: ", unbiased, f"(ratio {unbiased[0] / biased[0]:.4f} = N / (N - 1))")
predicted = torch_running_var(running_var, biased, N, OUR_MOMENTUM)
direct = OUR_MOMENTUM * running_var + (1 - OUR_MOMENTUM) * unbiased
print("torch_running_var: ", predicted)
print("from the data:     ", direct)

# %% conversions-check
check_framework_conventions()

# %% test-framework_conventions nbgrader={"grade_id": "framework_conventions", "grade": true, "locked": true, "solution": false}
# Autograded test: framework_conventions (@@POINTS@@ points). Do not edit, copy or delete this cell.
report = check_framework_conventions()
print(report.summary())
assert report.passed, "\n".join(str(c) for c in report.failures) or str(report)

### BEGIN HIDDEN TESTS
from assignment.checks import assert_passes

print(assert_passes("framework_conventions", extra=True).summary())
### END HIDDEN TESTS

# %% question-1 [markdown]
# ### Inline question 1
#
# A colleague trained a network in PyTorch with `nn.BatchNorm1d(..., momentum=0.01)` and a
# batch size of 4, and you want our code to keep the same running averages.
#
# 1. Which `bn_param["momentum"]` do you use?
# 2. Suppose you train the same network in our code, with the same batches, starting from the
#    same running averages. After many steps, how do our running variances compare with
#    PyTorch's (give the factor), and what does that do to the test-mode outputs of the
#    batch-norm layer?
# 3. Why does neither difference change anything in training mode?

# %% answer-1 [markdown] nbgrader={"grade_id": "framework_question_1", "grade": true, "locked": false, "solution": true, "points": 2}
# **Your answer:**
#
# ### BEGIN SOLUTION
# *Model answer (instructor copy only; nbgrader replaces it with the placeholder in the student release):*
#
# 1. `bn_param["momentum"] = 0.99`: PyTorch's 0.01 is the weight of the new batch statistic,
#    ours is the weight of the old running value, so ours is 1 - 0.01.
# 2. Every term PyTorch adds is the unbiased variance, 4/3 times the biased one we add. The
#    running average is linear in the added terms, and the weight left on the common starting
#    value ($0.99^t$) dies out, so after many steps PyTorch's running variances are 4/3 times
#    ours (exactly 4/3 if both started from zero). At test time PyTorch divides by
#    $\sqrt{4/3 \, \sigma^2 + \epsilon} \approx 1.155 \, \sigma$, so its normalized values
#    $\hat{x}$ are about $\sqrt{3/4} \approx 0.87$ times ours: every normalized feature (and
#    what $\gamma$ scales) is about 13 % smaller, which shifts the inputs of all later layers.
#    With large batches the factor $N/(N-1)$ is close to 1 and the difference negligible.
# 3. In training mode both normalize each batch with its own mean and biased variance; the
#    running averages are only updated, never used, so outputs and gradients are identical.
#    The conventions matter only for test mode (and for anything loaded from a checkpoint).
# ### END SOLUTION

# %% parity-md [markdown]
# ## Numerical parity with PyTorch
#
# The next cell feeds the same 30 float64 batches ($N = 8$, $D = 5$, drawn from one
# distribution with a different mean and spread per feature) through our
# `batchnorm_forward` (with `momentum = 0.9`) and through PyTorch's
# `torch.nn.functional.batch_norm` in training mode, then runs the backward pass of the last
# batch in both: ours with `batchnorm_backward`, PyTorch's with autograd. PyTorch's running
# buffers start at zeros, as our `bn_param` does.
#
# It does this twice. **Converted**: PyTorch gets `momentum = torch_momentum_from_normlab(0.9)`,
# and its running variance is compared with what `torch_running_var` predicts from the same
# batches (and, as a cross-check, with ours times $N/(N-1)$, which is exact here because the
# batch size is fixed and both start at zero). **Naive**: PyTorch gets our `0.9` unchanged and
# the buffers are compared as they are. The table shows the largest absolute difference of
# each quantity; float64 agreement is around `1e-15`, and anything below `1e-6` is a match.

# %% parity-helpers
PARITY_TOL = 1e-6


def batchnorm_parity(momentum=OUR_MOMENTUM, eps=1e-5, N=8, D=5, steps=30, seed=0):
    """Our batch norm and PyTorch's on the same float64 batches.

    Returns a dict: "converted" and "naive" map quantity -> max |ours - PyTorch|; "state"
    holds what the test-mode comparison needs (our bn_param, PyTorch's buffers, gamma,
    beta). Needs PyTorch.
    """
    rng = np.random.default_rng(seed)
    loc, spread = rng.uniform(-3, 3, D), rng.uniform(0.5, 3.0, D)  # per feature
    batches = [rng.normal(loc, spread, size=(N, D)) for _ in range(steps)]
    gamma, beta = rng.uniform(0.5, 2.0, D), rng.normal(0.0, 1.0, D)
    dout = rng.standard_normal((N, D))

    # Ours: `steps` training steps on one bn_param, then the backward pass of the last one.
    bn_param = {"mode": "train", "momentum": momentum, "eps": eps}
    ours_out = []
    for x in batches:
        out, cache = batchnorm_forward(x, gamma, beta, bn_param)
        ours_out.append(out)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)

    # PyTorch's running variance as predicted by torch_running_var, step by step.
    predicted_var = np.zeros(D)
    for x in batches:
        predicted_var = torch_running_var(predicted_var, x.var(axis=0), N, momentum)

    def run_torch(torch_momentum):
        running_mean = torch.zeros(D, dtype=torch.float64)
        running_var = torch.zeros(D, dtype=torch.float64)
        weight = torch.tensor(gamma, requires_grad=True)
        bias = torch.tensor(beta, requires_grad=True)
        outs = []
        for x in batches:
            x_t = torch.tensor(x, requires_grad=True)
            out_t = F.batch_norm(x_t, running_mean, running_var, weight, bias, training=True,
                                 momentum=torch_momentum, eps=eps)
            outs.append(out_t.detach().numpy())
        out_t.backward(torch.from_numpy(dout))  # the last batch, as ours
        return {"out": outs, "dx": x_t.grad.numpy(), "dgamma": weight.grad.numpy(),
                "dbeta": bias.grad.numpy(), "running_mean": running_mean.numpy(),
                "running_var": running_var.numpy()}

    def max_diff(a, b):
        return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))

    results = {}
    for label, torch_momentum in (("converted", torch_momentum_from_normlab(momentum)),
                                  ("naive", momentum)):
        t = run_torch(float(torch_momentum))
        diffs = {
            "out": max(max_diff(o, p) for o, p in zip(ours_out, t["out"], strict=True)),
            "dx": max_diff(dx, t["dx"]),
            "dgamma": max_diff(dgamma, t["dgamma"]),
            "dbeta": max_diff(dbeta, t["dbeta"]),
            "running_mean": max_diff(bn_param["running_mean"], t["running_mean"]),
        }
        if label == "converted":
            diffs["running_var"] = max_diff(predicted_var, t["running_var"])
            diffs["running_var (ours * N/(N-1))"] = max_diff(
                bn_param["running_var"] * N / (N - 1), t["running_var"])
            state = {"bn_param": bn_param, "torch": t, "gamma": gamma, "beta": beta,
                     "eps": eps, "loc": loc, "spread": spread}
        else:
            diffs["running_var"] = max_diff(bn_param["running_var"], t["running_var"])
        results[label] = diffs
    results["state"] = state
    return results


def print_parity(results):
    converted, naive = results["converted"], results["naive"]
    print(f"{'max |ours - PyTorch|':<30}{'converted':>12}{'naive':>12}")
    for name, value in converted.items():
        other = f"{naive[name]:12.2e}" if name in naive else f"{'':>12}"
        print(f"{name:<30}{value:12.2e}{other}")
    bad = [name for name, value in converted.items() if not value < PARITY_TOL]
    print()
    if bad:
        print(f"MISMATCH after converting the conventions: {', '.join(bad)} differ by more "
              f"than {PARITY_TOL:g}. Check your conversions (self-check above) and your "
              f"batchnorm_forward / batchnorm_backward.")
    else:
        print(f"Converted: all {len(converted)} quantities agree with PyTorch to within "
              f"{PARITY_TOL:g}.")
    naive_bad = [name for name, value in naive.items() if not value < PARITY_TOL]
    print(f"Naive: {', '.join(naive_bad) or 'nothing'} differ(s) by more than "
          f"{PARITY_TOL:g}: the conventions only touch the running averages.")


# %% parity
if HAVE_TORCH:
    parity = batchnorm_parity()
    print_parity(parity)
else:
    parity = None
    skipped("parity of our batch norm with PyTorch's")

# %% test-mode-md [markdown]
# ### Test mode, and loading PyTorch's statistics
#
# In test mode both layers normalize with their running averages, so now the conventions
# show. The next cell normalizes a fresh batch in test mode three ways: PyTorch with its
# buffers (`training=False`), ours with our own running averages, and ours with PyTorch's
# buffers copied into `bn_param`. The first comparison is off because PyTorch's running
# variance is $N/(N-1) = 8/7$ times ours, so its normalized values are about
# $\sqrt{7/8} \approx 0.94$ times ours; the second is exact. This is what porting a trained
# PyTorch layer means: copy `weight`, `bias`, `running_mean` and `running_var` into `gamma`,
# `beta` and `bn_param` as they are (they are estimates of the same population statistics,
# made differently), and use the same $\epsilon$.

# %% test-mode
if HAVE_TORCH:
    state = parity["state"]
    t, eps = state["torch"], state["eps"]
    x_test = np.random.default_rng(1).normal(state["loc"], state["spread"], size=(6, 5))
    torch_test = F.batch_norm(torch.from_numpy(x_test), torch.from_numpy(t["running_mean"]),
                              torch.from_numpy(t["running_var"]),
                              torch.from_numpy(state["gamma"]),
                              torch.from_numpy(state["beta"]), training=False, eps=eps).numpy()
    own = dict(state["bn_param"], mode="test")
    loaded = {"mode": "test", "eps": eps, "running_mean": t["running_mean"].copy(),
              "running_var": t["running_var"].copy()}
    ours_own, _ = batchnorm_forward(x_test, state["gamma"], state["beta"], own)
    ours_loaded, _ = batchnorm_forward(x_test, state["gamma"], state["beta"], loaded)
    print("test mode, max |ours - PyTorch|:")
    print(f"  ours, our own running averages:  {np.abs(ours_own - torch_test).max():.2e}")
    print(f"  ours, PyTorch's buffers loaded:  {np.abs(ours_loaded - torch_test).max():.2e}")
else:
    skipped("test-mode comparison with PyTorch")

# %% question-2 [markdown]
# ### Inline question 2
#
# PyTorch normalizes each training batch with the *biased* variance but averages the
# *unbiased* one for test time. Explain why each choice makes sense for its purpose: what is
# the running variance supposed to estimate, and what does the normalization of the batch
# itself need? Then give one argument for our convention (averaging the biased variance) as
# well.

# %% answer-2 [markdown] nbgrader={"grade_id": "framework_question_2", "grade": true, "locked": false, "solution": true, "points": 2}
# **Your answer:**
#
# ### BEGIN SOLUTION
# *Model answer (instructor copy only; nbgrader replaces it with the placeholder in the student release):*
#
# The running variance is an estimate of the feature's variance over the whole data
# distribution, to be used at test time. The biased variance of a batch underestimates it:
# it measures the spread around the batch's own mean, which sits closer to the batch than the
# true mean does, so on average it is $\frac{N-1}{N} \sigma^2$. Multiplying by $N/(N-1)$
# (Bessel's correction) removes that bias, and the running average of unbiased estimates is an
# unbiased estimate of $\sigma^2$. This is also what the original batch-norm paper prescribes
# for inference.
#
# The normalization of the batch itself has a different job: make this batch's features have
# mean 0 and variance 1 (before $\gamma$ and $\beta$). Dividing by the biased standard
# deviation does exactly that (the mean of $\hat{x}^2$ is $\sigma^2 / (\sigma^2 + \epsilon)
# \approx 1$); the unbiased one would leave a variance of $(N-1)/N$. The backward pass is also
# derived for the biased variance.
#
# For our convention: during training the layer only ever saw batches divided by the biased
# standard deviation, which is on average about $\sqrt{(N-1)/N} \, \sigma$. Averaging the
# biased variance reproduces that typical scale at test time, so the layers after batch norm
# see test inputs of the size they were trained on, whereas the unbiased estimate makes them
# slightly smaller. For large batches the two agree to within a fraction of a percent and the
# choice does not matter; it matters for small batches.
# ### END SOLUTION

# %% data-md [markdown]
# ## Training with and without batch normalization
#
# Now the same experiment in both worlds: a network with five hidden layers of 100 units,
# weights drawn from a normal distribution with standard deviation `2e-2`, trained with Adam
# (learning rate `1e-3`, batches of 50) on the same CIFAR-10 images, once without and once with
# batch normalization after every hidden affine layer. First with our `FullyConnectedNet` and
# `Solver` (no PyTorch needed), then with a PyTorch model built from `nn.Linear`,
# `nn.BatchNorm1d` and `nn.ReLU`, trained by a loop that mimics `Solver`: minibatches drawn at
# random, accuracies measured in evaluation mode after the first iteration and after every
# epoch.
#
# The data come from our loader. If you ran `bash datasets/get_datasets.sh` this is the real
# CIFAR-10; if not, a small **synthetic** stand-in in the same format, and the next cell says
# so: everything runs the same way, but the accuracies then say nothing about CIFAR-10.

# %% data include="shared"

# %% train-ours
small_data = training_subset(data, NUM_TRAIN)  # both frameworks learn from these images


def train_normlab(normalization):
    """Our FullyConnectedNet, trained by Solver with Adam; returns the Solver."""
    np.random.seed(0)
    model = FullyConnectedNet(HIDDEN_DIMS, weight_scale=WEIGHT_SCALE,
                              normalization=normalization)
    for bn_param in model.bn_params:
        bn_param["momentum"] = OUR_MOMENTUM
    return train_with_adam(model, small_data, NUM_EPOCHS, batch_size=BATCH_SIZE,
                           learning_rate=LEARNING_RATE, verbose=False)


ours = {"normlab, no normalization": train_normlab(None),
        "normlab, batch norm": train_normlab("batchnorm")}
print_final(ours)
plot_training(ours, "FullyConnectedNet")


# %% train-torch-helpers
def make_torch_mlp(batchnorm):
    """The same architecture and initialization as the FullyConnectedNet above, in PyTorch."""
    torch.manual_seed(0)
    layers, width_in = [], int(np.prod(small_data["X_train"].shape[1:]))
    for width in HIDDEN_DIMS:
        layers.append(nn.Linear(width_in, width))
        if batchnorm:
            # nn.BatchNorm1d's momentum in PyTorch's convention: converted from ours.
            layers.append(nn.BatchNorm1d(width, eps=1e-5,
                                         momentum=float(torch_momentum_from_normlab(
                                             OUR_MOMENTUM))))
        layers.append(nn.ReLU())
        width_in = width
    layers.append(nn.Linear(width_in, 10))
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, mean=0.0, std=WEIGHT_SCALE)
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


def train_torch(batchnorm):
    """Train make_torch_mlp(batchnorm) like Solver trains ours; return the histories, under
    Solver's names (loss_history, train_acc_history, val_acc_history)."""
    model = make_torch_mlp(batchnorm)
    X = torch.from_numpy(small_data["X_train"].reshape(NUM_TRAIN, -1).copy())
    y = torch.from_numpy(small_data["y_train"])
    X_val = torch.from_numpy(small_data["X_val"].reshape(len(small_data["X_val"]), -1).copy())
    y_val = torch.from_numpy(small_data["y_val"])
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(0)
    history = SimpleNamespace(loss_history=[], train_acc_history=[], val_acc_history=[])

    def accuracy(inputs, labels):
        model.eval()  # batch norm uses its running averages, like bn_param["mode"] = "test"
        with torch.no_grad():
            acc = (model(inputs).argmax(dim=1) == labels).double().mean().item()
        model.train()
        return acc

    def record():
        history.train_acc_history.append(accuracy(X[:1000], y[:1000]))
        history.val_acc_history.append(accuracy(X_val, y_val))

    iterations_per_epoch = max(NUM_TRAIN // BATCH_SIZE, 1)
    model.train()
    for t in range(NUM_EPOCHS * iterations_per_epoch):
        batch = torch.randint(NUM_TRAIN, (BATCH_SIZE,), generator=generator)
        loss = F.cross_entropy(model(X[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.loss_history.append(loss.item())
        if t == 0:
            record()
        if (t + 1) % iterations_per_epoch == 0:
            record()
    return history


# %% train-torch
if HAVE_TORCH:
    theirs = {"PyTorch, no normalization": train_torch(batchnorm=False),
              "PyTorch, nn.BatchNorm1d": train_torch(batchnorm=True)}
    print_final(theirs)
    plot_training(theirs, "PyTorch MLP")
else:
    theirs = {}
    skipped("PyTorch training comparison; the FullyConnectedNet comparison above needs no "
            "PyTorch")

# %% compare-md [markdown]
# The two frameworks draw different random numbers, so their curves are not identical, but
# they should tell the same story: the network with batch norm learns faster in the first
# epochs, in training and in validation accuracy. How large the gap is, and whether it lasts,
# depends on the data, the depth and the initialization. To see the unnormalized network
# stall, set `WEIGHT_SCALE = 1e-3` in the helpers cell and run the training cells again: the
# signal then shrinks by a large factor at every layer, and only the batch-norm networks
# (which rescale it at every layer) learn. The last plot puts the validation accuracies of
# all runs side by side (without PyTorch, only ours).

# %% compare
plot_training({**ours, **theirs}, "With and without batch norm, both frameworks",
              panels=["val_acc"])

# %% tensorflow-md [markdown]
# ## The same layer in TensorFlow
#
# Many course labs use TensorFlow instead. A typical TensorFlow 1 lab trains an MNIST
# classifier (28x28 grey digits flattened to 784 values) with a batch-norm layer after each
# hidden affine layer, roughly like this (shown here, not run; the KerasMNIST notebook runs the
# lab with Keras 3 and with our layers, curves side by side):
#
# ```python
# # TensorFlow 1.x graph code
# images = tf.placeholder(tf.float32, [None, 784])
# labels = tf.placeholder(tf.int64, [None])
# training = tf.placeholder_with_default(False, shape=())    # our bn_param["mode"]
#
# hidden = tf.layers.dense(images, 100, use_bias=False)      # beta makes the bias redundant
# # defaults: momentum=0.99, epsilon=1e-3
# hidden = tf.layers.batch_normalization(hidden, training=training)
# hidden = tf.nn.relu(hidden)
# logits = tf.layers.dense(hidden, 10)
# loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
#
# # The moving averages are updated by separate ops that nothing else depends on:
# # make the training step depend on them, or they are never run.
# with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
#     train_step = tf.train.AdamOptimizer(1e-3).minimize(loss)
# ```
#
# and feeds `training: True` with every training batch. Translated into our terms:
#
# * `training` is our `bn_param["mode"]`: `True` normalizes with the batch statistics and
#   updates the moving averages; `False` normalizes with the moving averages.
# * `momentum=0.99` weights the old moving average, as ours does: TensorFlow's 0.99 is our
#   0.99 and PyTorch's 0.01. The default is closer to 1 than ours, so the averages move more
#   slowly and need more steps to settle.
# * `epsilon=1e-3` by default, a hundred times our `1e-5`; for parity with our layer (or with
#   PyTorch) pass `epsilon=1e-5`, which matters for features with a small variance.
# * The moving variance averages the *biased* batch variance, as ours does (TensorFlow's fused
#   kernel computes the unbiased one and the layer rescales it by $(N-1)/N$ on purpose), and
#   starts at ones.
# * The classic bug of such labs is the `UPDATE_OPS` dependency: without it the moving
#   averages keep their initial zeros and ones, training accuracy looks fine, and test
#   accuracy (with `training=False`) is close to chance. Forgetting to feed `training: True`
#   is the opposite bug: the layer then normalizes training batches with the moving averages
#   and is never trained with batch statistics. In TensorFlow 2 / Keras,
#   `tf.keras.layers.BatchNormalization` (same defaults) updates its averages itself and
#   `model.fit` / `model(x, training=...)` take care of the mode.

# %% summary-md [markdown]
# ## Summary
#
# * The normalization and its gradients are the same in our code, PyTorch and TensorFlow; the
#   running averages are not. Convert `momentum` (PyTorch's is one minus ours, TensorFlow's
#   equals ours) and remember that PyTorch averages the unbiased variance.
# * Agreement to rounding error in float64 is a strong test of your own implementation: if
#   the converted column above is below `1e-6`, your forward and backward passes are right.
# * To run a PyTorch-trained layer in our code, copy its buffers into `bn_param` as they are.
#
# Answer the two inline questions above. Before you submit, run the whole notebook from the
# top (Kernel → Restart & Run All) with FAST mode off.

# %% submit-md include="shared"

# %% submit include="shared"
