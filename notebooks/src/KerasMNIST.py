# The source of notebooks/KerasMNIST.ipynb: a Keras MNIST lab in our layers and in Keras. Keras
# and PyTorch are optional (NORMLAB_NO_KERAS=1, NORMLAB_NO_TORCH=1 behave as if missing).
# jupytext py:percent: a cell is `# %% <cell id>` (`[markdown]` for text), its metadata in the
# header. Edit here, then run `python notebooks/build.py`, which says what it adds.

# %% intro [markdown]
# # The Keras MNIST lab, in our layers and in Keras
#
# A TensorFlow course runs this lab: an MNIST classifier with two hidden layers of 32 units,
# **batch normalization before each ReLU**, Adam at learning rate 0.01, minibatches of 32 and
# ten epochs, trained once with and once without batch norm, comparing the training and
# validation loss and accuracy curves. In this notebook you run that lab twice: with the NumPy
# layers you wrote in this kit (`nn.Dense`, `nn.BatchNorm`, `nn.Adam` from the LayersAsObjects
# notebook) and with Keras's own `keras.layers.BatchNormalization`, side by side. On the way:
#
# 1. MNIST in the kit: the real data if you downloaded it, otherwise a small synthetic stand-in
#    in the same file format;
# 2. how Keras's batch norm differs from ours and from PyTorch's, and a small task: the
#    function that makes a Keras layer behave exactly like ours;
# 3. a parity table: our layer against PyTorch's and Keras's on the same batches (outputs,
#    gradients, running statistics), after converting the conventions and without converting;
# 4. the lab's experiment.
#
# It builds on `batchnorm_forward` / `batchnorm_backward` (BatchNormalization notebook) and on
# `nn.BatchNorm` and `nn.Model` (LayersAsObjects notebook).
#
# **Keras and PyTorch are optional.** Without them, the cells that need them print that they
# were skipped and everything else runs (the NumPy half of the lab, the conversion task). Keras 3
# runs on TensorFlow, JAX or PyTorch; this notebook takes whichever is installed (the
# environment variable `KERAS_BACKEND` chooses when there are several).
#
# * **Google Colab** has TensorFlow, Keras 3 and PyTorch preinstalled: nothing to do.
# * **Your own machine:** Keras plus one backend. The smallest is the CPU build of PyTorch,
#   which also gives the PyTorch column of the parity table:
#
#   ```bash
#   pip install keras torch --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple
#   ```
#
#   (or `pip install tensorflow-cpu`, which brings Keras along, about 1.6 GB), then restart
#   the kernel.
#
# `NORMLAB_NO_KERAS=1` or `NORMLAB_NO_TORCH=1` in the environment makes the notebook behave as
# if Keras or PyTorch were missing. **FAST mode**: `NORMLAB_FAST=1` (or `FAST = True` in the
# setup cell) shrinks the experiment so that the notebook runs in seconds; the curves are then
# meaningless.

# %% setup-md include="shared"

# %% setup include="shared"

# %% imports
import matplotlib.pyplot as plt
import numpy as np

from assignment.checks import check_keras_conventions
from assignment.experiments import load_data
from assignment.framework import (
    keras_batchnorm_from_normlab,
    torch_momentum_from_normlab,
    torch_running_var,
)
from assignment.layers import batchnorm_backward, batchnorm_forward
from assignment.mnist_lab import plot_lab, run_lab, summary
from assignment.nn import BatchNorm, Model
from assignment.parity import import_keras, import_torch, parity_table, three_way_parity
from assignment.todo import needs

# %% frameworks
# Keras and PyTorch are optional: each is a module, or None when it is missing (or switched
# off with NORMLAB_NO_KERAS=1 / NORMLAB_NO_TORCH=1).
keras, keras_info = import_keras()
torch, torch_info = import_torch()
print(keras_info)
print(torch_info)
INSTALL_HINT = ("To run the framework cells, install Keras and a backend into this kernel's "
                "environment (see the introduction) and restart the kernel.")
if keras is None or torch is None:
    print("The cells that need the missing framework(s) will say what they skipped.")

# %% data-md [markdown]
# ## MNIST
#
# MNIST is 70,000 grey 28x28 images of handwritten digits, 60,000 for training and 10,000 for
# testing, in four files of the IDX format (a magic number, the dimensions, then the bytes).
# `bash datasets/get_datasets.sh mnist` downloads them (about 11 MB) into `datasets/mnist/` and
# checks their MD5 sums; `assignment/mnist.py` reads them and says clearly what is wrong with a
# truncated or mislabelled file. Without the download the next cell writes and uses a small
# **synthetic** MNIST in the same format (digits drawn from pen strokes with random slants,
# widths and stray marks): everything runs the same way, but the numbers then say nothing about
# MNIST.
#
# As in the lab, the images are flattened to 784 values and divided by 255, and the last 5,000
# training images are the validation set.

# %% data
if IN_COLAB and not (KIT_ROOT / "datasets" / "mnist").is_dir():
    subprocess.run(["bash", "datasets/get_datasets.sh", "mnist"], check=False)

data = load_data("MNIST", fast=FAST)

fig, axes = plt.subplots(2, 10, figsize=(10, 2.4))
for ax, image, label in zip(axes.ravel(), data["X_train"], data["y_train"], strict=False):
    ax.imshow(image.reshape(28, 28), cmap="gray")
    ax.set_title(int(label), fontsize=9)
    ax.axis("off")
plt.show()

# %% conventions-md [markdown]
# ## Keras's batch norm, ours and PyTorch's
#
# In Keras the lab's network reads
#
# ```python
# model = keras.Sequential([
#     keras.Input((784,)),
#     keras.layers.Dense(32),
#     keras.layers.BatchNormalization(),       # momentum=0.99, epsilon=1e-3 by default
#     keras.layers.Activation("relu"),
#     keras.layers.Dense(32),
#     keras.layers.BatchNormalization(),
#     keras.layers.Activation("relu"),
#     keras.layers.Dense(10),
# ])
# model.compile(optimizer=keras.optimizers.Adam(0.01),
#               loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
#               metrics=["accuracy"])
# history = model.fit(X_train, y_train, batch_size=32, epochs=10,
#                     validation_data=(X_val, y_val))
# ```
#
# (`fit` and `model(x, training=...)` switch between the batch statistics and the moving
# averages; TensorFlow 1's `tf.layers.batch_normalization` needed the `UPDATE_OPS` dependency
# for that, a classic bug of older versions of this lab). All three layers normalize a training
# batch the same way, $y = \gamma (x - \mu) / \sqrt{\sigma^2 + \epsilon} + \beta$ with the batch
# mean and the biased variance. The bookkeeping differs:
#
# | | ours | PyTorch `nn.BatchNorm1d` | Keras `BatchNormalization` |
# | --- | --- | --- | --- |
# | `momentum` weights | the old running value | the new batch statistic | the old running value |
# | default `momentum` | 0.9 | 0.1 (= our 0.9) | 0.99 (= our 0.99) |
# | default $\epsilon$ | 1e-5 | 1e-5 | 1e-3 |
# | running variance averages | biased variance | **unbiased** variance | biased variance |
# | running variance starts at | 0 | 1 | 1 |
# | running averages named | running_mean, running_var | the same | moving_mean, moving_variance |
#
# So Keras is closer to us than PyTorch is: the same momentum rule, the same variance. What
# remains is the defaults, and where the moving averages start.

# %% task-md [markdown] if_tasks=["framework.keras_batchnorm_from_normlab"]
# ### Your task: the Keras conversion
#
# Implement the function in `assignment/framework.py` (its docstring gives the shapes):
#
# * `keras_batchnorm_from_normlab(gamma, beta, bn_param)` returns `(config, weights)`: the
#   constructor arguments `{"momentum": ..., "epsilon": ...}` of
#   `keras.layers.BatchNormalization` and its four weights in Keras's order
#   `[gamma, beta, moving_mean, moving_variance]` (for `layer.set_weights`), such that the
#   Keras layer then gives the outputs and the running averages our `batchnorm_forward` gives
#   with `gamma`, `beta` and `bn_param`. `bn_param` may lack any of its keys: then use what
#   our `batchnorm_forward` uses (and do not modify it).
#
# The next cell calls it; the one after is its self-check. The parity table below uses it
# to build the converted Keras layer.

# %% task-md [markdown] unless_tasks=["framework.keras_batchnorm_from_normlab"]
# ### The Keras conversion
#
# `assignment/framework.py` holds the conversion (given code in this release: read it and
# its docstring):
#
# * `keras_batchnorm_from_normlab(gamma, beta, bn_param)` returns `(config, weights)`: the
#   constructor arguments `{"momentum": ..., "epsilon": ...}` of
#   `keras.layers.BatchNormalization` and its four weights in Keras's order
#   `[gamma, beta, moving_mean, moving_variance]` (for `layer.set_weights`), such that the
#   Keras layer then gives the outputs and the running averages our `batchnorm_forward` gives
#   with `gamma`, `beta` and `bn_param`. `bn_param` may lack any of its keys: then use what
#   our `batchnorm_forward` uses (and do not modify it).
#
# The next cell calls it and the one after checks it; the parity table below uses it.

# %% task-demo tags=["first-task"]
gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 0.25])
for bn_param in ({"momentum": 0.95, "eps": 1e-4, "running_mean": np.array([0.1, 0.2, 0.3]),
                  "running_var": np.array([1.0, 2.0, 3.0])},
                 {"mode": "train"}):
    config, weights = keras_batchnorm_from_normlab(gamma, beta, bn_param)
    print(f"bn_param keys {sorted(bn_param)}:\n  config  {config}")
    for name, w in zip(["gamma", "beta", "moving_mean", "moving_variance"], weights,
                       strict=True):
        print(f"  {name:<16}{np.round(w, 3)}")

# %% task-check
check_keras_conventions()

# %% test-keras_conventions nbgrader={"grade_id": "keras_conventions", "grade": true, "locked": true, "solution": false}
# Autograded test: keras_conventions (@@POINTS@@ points). Do not edit, copy or delete this cell.
report = check_keras_conventions()
print(report.summary())
assert report.passed, "\n".join(str(c) for c in report.failures) or str(report)

### BEGIN HIDDEN TESTS
from assignment.checks import assert_passes

print(assert_passes("keras_conventions", extra=True).summary())
### END HIDDEN TESTS

# %% parity-md [markdown]
# ## Parity: our layer, PyTorch's and Keras's
#
# The next cell runs our `batchnorm_forward` (momentum 0.9, eps 1e-5) over 20 float64 training
# batches ($N = 8$, $D = 5$; feature 0 has a variance of about 2e-4, below Keras's default
# $\epsilon$), the backward pass of the last batch, and a test batch in test mode; then the
# same through PyTorch's `F.batch_norm` and Keras's `BatchNormalization` (gradients from the
# backend's autograd). Each entry is the largest difference relative to the quantity's size,
# $\max|\text{ours} - \text{theirs}| / \max|\text{ours}|$:
#
# * **converted**: PyTorch with momentum `torch_momentum_from_normlab(0.9)` = 0.1, its running
#   buffers starting at zeros like ours, and its running variance compared with what
#   `torch_running_var` predicts; Keras built from your `keras_batchnorm_from_normlab`. In
#   test mode the framework's running averages are loaded into ours as they are.
# * **naive**: PyTorch given our 0.9 unchanged, Keras with its defaults, both starting from
#   their own initial running variance of ones; test mode with each one's own averages.
#
# PyTorch computes in float64 and should agree to about 1e-15. Keras's batch norm computes in
# float32 whatever the input dtype, so it agrees to float32 rounding, about 1e-7.

# %% parity
if keras is None and torch is None:
    print("Skipped (the parity table): neither Keras nor PyTorch is available.\n"
          + INSTALL_HINT)
elif needs(batchnorm_forward, batchnorm_backward, keras_batchnorm_from_normlab,
           torch_momentum_from_normlab, torch_running_var):
    print(parity_table(three_way_parity(torch=torch, keras=keras)))
    if keras is None or torch is None:
        print(f"\n(Only part of the table: {keras_info if keras is None else torch_info})")

# %% parity-after-md [markdown]
# Read the naive columns: training-mode outputs and gradients agree with PyTorch without any
# conversion (same normalization, same eps), but its running averages do not; with Keras's
# defaults even the training outputs differ, through the larger $\epsilon$ on the low-variance
# feature, and the running averages trail far behind (momentum 0.99, starting at one).

# %% lab-md [markdown]
# ## The lab: with and without batch norm, in NumPy and in Keras
#
# Both halves train the same network on the same data: 784 → 32 → 32 → 10, with a batch-norm
# layer between each hidden affine layer and its ReLU (or without), Adam at 0.01, batches of
# 32, ten epochs (two in FAST mode). The NumPy half (`assignment/mnist_lab.py`) is built from
# your `nn.Dense`, `nn.BatchNorm` and `nn.Adam` and takes Keras's settings where the two
# differ: batch norm with momentum 0.99 and eps 1e-3, Adam's epsilon 1e-7, Glorot-uniform
# initial weights. It also reports what Keras's `fit` reports: the training loss and accuracy
# averaged over each epoch's minibatches (in training mode), the validation loss and accuracy
# after each epoch (in test mode).
#
# The two frameworks draw different random numbers, so the curves are not identical; they
# should tell the same story. On the full MNIST a run takes about 15 s in NumPy and one to
# two minutes in Keras (on a laptop CPU).

# %% lab
EPOCHS = 2 if FAST else 10
if needs(BatchNorm, Model):
    if keras is None:
        print("Keras is not available, so only the NumPy half runs.\n" + INSTALL_HINT)
    results = run_lab(data, keras=keras, epochs=EPOCHS)
    print(summary(results))
    plot_lab(results, plt)
    plt.show()

# %% lab-after-md [markdown]
# Things to look for (after a full run, not in FAST mode):
#
# * With batch norm the training loss falls faster in the first epochs, in both frameworks: each
#   layer sees inputs of a steady scale, so Adam's large learning rate of 0.01 does not throw
#   the network around as much.
# * The validation curves are noisier than the training curves: they are measured once per
#   epoch in test mode, with the moving averages, which with momentum 0.99 lag behind the
#   weights by about a hundred steps.
# * The network is small (about 26,000 weights), so both versions end up close on MNIST; batch
#   norm's advantage is speed more than the final accuracy. Try a smaller learning rate, or a
#   deeper network (edit `HIDDEN` in `assignment/mnist_lab.py`), and see how the gap changes.

# %% summary-md [markdown]
# ## Summary
#
# * Keras's batch norm keeps the same kind of running averages as ours (the momentum weights
#   the old value, the variance is the biased one); only the defaults (momentum 0.99,
#   epsilon 1e-3) and the starting point of the moving variance differ. PyTorch also differs in
#   the meaning of its momentum and averages the unbiased variance.
# * Once converted, the three layers agree to rounding error: to float64 precision with
#   PyTorch, to float32 precision with Keras, whose batch norm computes in float32.
# * The lab's experiment gives the same picture in your NumPy layers as in Keras.
#
# Before you submit, run the whole notebook from the top (Kernel → Restart & Run All).

# %% submit-md include="shared"

# %% submit include="shared"
