"""Build notebooks/BatchNormalization.ipynb (nbgrader source format) from the cells below.

The notebook is generated so that its cells can be reviewed as plain Python and so that cell ids
and nbgrader metadata stay deterministic; a test checks that the committed notebook is exactly
what this script writes. Edit the cells here, then run::

    .venv/bin/python notebooks/build_batchnorm.py           # rewrite the notebook
    .venv/bin/python notebooks/build_batchnorm.py --check   # exit 1 if it is out of date

nbgrader conventions used (schema version 3):

* autograded test cells: ``grade=True, solution=False, locked=True`` with ``points`` and a
  ``grade_id`` named after the task; the part between ``### BEGIN HIDDEN TESTS`` and
  ``### END HIDDEN TESTS`` is removed from the student release by nbgrader;
* inline questions: markdown cells with ``grade=True, solution=True`` (graded by hand); the model
  answer between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes ``YOUR ANSWER HERE`` in
  the student release;
* the first cell that calls student code carries the tag ``first-task``.

Conventions every notebook of the release follows (the tests check them):

* the setup cells (``setup-md``, ``setup``) and the submission cells (``submit-md``, ``submit``,
  the last two) are this notebook's, copied unchanged by the other builders;
* a cell that trains or measures something with the student's code (an experiment, and the plot
  of its results) starts with ``if needs(<the functions and classes it runs>):``
  (``assignment/todo.py``), so that on unfinished stubs it prints one "Skipped: ..." sentence
  instead of training a baseline first and failing a minute later.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat

NOTEBOOK = Path(__file__).resolve().parent / "BatchNormalization.ipynb"

sys.path.insert(0, str(NOTEBOOK.parent.parent))  # the repo root, for the autograder package
from autograder.config import load_config  # noqa: E402
from autograder.judging.plan import points_per_grade_id  # noqa: E402

#: The release config (autograder/release.toml), read once for every builder.
CONFIG = load_config()


def _points_per_grade_id() -> dict[str, float]:
    """Points of each autograded cell: the sum of the points of the checks that credit it, so
    the notebook and the grader cannot disagree (one source: autograder/assignments/normalization/
    catalogue.py + release.toml).
    """
    totals = points_per_grade_id(CONFIG)
    return {k: int(v) if float(v).is_integer() else v for k, v in totals.items()}


#: Points of each autograded task (grade_id -> points) and of each inline question.
TASK_POINTS = _points_per_grade_id()
QUESTION_POINTS = 2
#: The assignment's name: the release folder students upload, and their zip's first word.
ASSIGNMENT = CONFIG.assignment
#: The example of DRIVE_FOLDER, the release folder inside My Drive (as in the student README).
DRIVE_EXAMPLE = f"cs231n/{ASSIGNMENT}"

_cells: list = []
_ids: set[str] = set()


def _source(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def _add(cell, cell_id: str):
    if cell_id in _ids:
        raise ValueError(f"duplicate cell id {cell_id}")
    _ids.add(cell_id)
    cell["id"] = cell_id
    _cells.append(cell)


def md(cell_id: str, text: str) -> None:
    _add(nbformat.v4.new_markdown_cell(_source(text)), cell_id)


def code(cell_id: str, text: str, tags: list[str] | None = None) -> None:
    cell = nbformat.v4.new_code_cell(_source(text))
    if tags:
        cell.metadata["tags"] = tags
    _add(cell, cell_id)


def _nbgrader(grade_id: str, *, grade: bool, solution: bool, locked: bool, points=None) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return meta


def test_cell(task: str, visible: str, hidden: str) -> None:
    """An autograded, locked test cell: the visible self-check, then the hidden tests."""
    points = TASK_POINTS[task]
    text = (
        f"# Autograded test: {task} ({points} points). Do not edit, copy or delete this cell.\n"
        + _source(visible)
        + "\n\n### BEGIN HIDDEN TESTS\n"
        + _source(hidden)
        + "\n### END HIDDEN TESTS"
    )
    cell = nbformat.v4.new_code_cell(text)
    cell.metadata["nbgrader"] = _nbgrader(task, grade=True, solution=False, locked=True,
                                          points=points)
    _add(cell, f"test-{task}")


def answer_cell(number: int, model_answer: str) -> None:
    """A hand-graded markdown answer cell; the model answer is for TAs only."""
    grade_id = f"inline_question_{number}"
    text = (
        "**Your answer:**\n\n### BEGIN SOLUTION\n"
        "*Model answer (instructor copy only; nbgrader replaces it with the placeholder in the "
        "student release):*\n\n"
        + _source(model_answer)
        + "\n### END SOLUTION"
    )
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["nbgrader"] = _nbgrader(grade_id, grade=True, solution=True, locked=False,
                                          points=QUESTION_POINTS)
    _add(cell, f"answer-{number}")


def visible_check(task: str) -> str:
    return f"""
        report = check_{task}()
        print(report.summary())
        assert report.passed, "\\n".join(str(c) for c in report.failures) or str(report)
    """


# ==================================================================================================
# Introduction and setup
# ==================================================================================================

md("intro", r"""
    # Batch normalization and layer normalization

    In this notebook you implement two normalization layers for fully connected networks, check
    them piece by piece, and then run experiments that show what they buy you:

    1. **Batch normalization**: the forward pass (training and test behaviour), the backward pass
       twice (node by node through the computation graph, then in closed form), and its use in a
       deep `FullyConnectedNet`.
    2. **Experiments**: deep networks with and without batch norm; sensitivity to the weight
       initialization; sensitivity to the batch size.
    3. **Layer normalization**: forward, backward, in the network, and the batch-size experiment
       again.
    4. **Four inline questions** about what you observed.

    **Where the code goes.** You write code in the package `assignment/`, not in this notebook:
    `assignment/layers.py` (the layers), `assignment/layer_utils.py` (the affine-norm-ReLU
    sandwich) and `assignment/fc_net.py` (the network). Every piece you have to write currently
    raises `NotImplementedError` with a message that names it; its docstring says what to
    compute, with shapes. The notebook reloads your modules automatically when you save them.

    **How you know you are on track.** After each task a *self-check* cell tests your code for
    properties it must have and explains in words what looks wrong. The *autograded* cells
    (marked "Autograded test") run the same checks plus hidden tests when your work is graded:
    do not edit, copy or delete them. Inline questions are graded by hand.

    **FAST mode.** The experiments take a few minutes on a laptop. To try the whole notebook
    quickly, set the environment variable `NORMLAB_FAST=1` before starting Jupyter (or set
    `FAST = True` in the setup cell): every experiment shrinks so that the notebook runs in well
    under a minute. The plots are then meaningless; answer the questions from a full run.
""")

md("setup-md", r"""
    ## Setup

    Run the next cell first; it is safe to run it again.

    * **On your own machine or on JupyterHub** it finds the kit folder (the folder you unpacked:
      it holds `assignment/`, `datasets/` and the notebooks) by looking in the current folder
      and its parents, puts it on Python's path and turns on automatic reloading of your edited
      modules.
    * **In Google Colab** upload the kit folder to your Google Drive and set `DRIVE_FOLDER` to its
      path inside "My Drive", e.g. `"@@DRIVE_EXAMPLE@@"`. The cell mounts your Drive, moves into the
      kit folder, installs whatever the kit needs that Colab lacks and downloads CIFAR-10 with
      `datasets/get_datasets.sh` (once). If the folder is not there, it says what your Drive
      holds instead.
""".replace("@@DRIVE_EXAMPLE@@", DRIVE_EXAMPLE))

code("setup", r'''
    # Setup: works in Google Colab and on your own machine; running it twice does no harm.
    import os
    import subprocess
    import sys
    from pathlib import Path

    # Google Colab only: the kit's folder inside "My Drive" (the folder with assignment/).
    DRIVE_FOLDER = None  # e.g. "@@DRIVE_EXAMPLE@@"

    # FAST mode: NORMLAB_FAST=1 in the environment (or FAST = True here) shrinks every experiment.
    FAST = os.environ.get("NORMLAB_FAST", "0") not in ("", "0")

    IN_COLAB = "google.colab" in sys.modules
    KIT_DESCRIPTION = "the folder you unpacked, with assignment/, datasets/ and the notebooks"


    def find_kit_root(start):
        """The nearest folder at or above `start` that holds assignment/__init__.py, or None."""
        for folder in (start, *start.parents):
            if (folder / "assignment" / "__init__.py").is_file():
                return folder
        return None


    def listing(folder, limit=12):
        """What `folder` holds, for a message: its names, folders with a trailing /."""
        try:
            names = sorted(p.name + "/" * p.is_dir() for p in folder.iterdir()
                           if not p.name.startswith("."))
        except OSError:
            return "nothing that can be read"
        more = f" and {len(names) - limit} more" if len(names) > limit else ""
        return ", ".join(names[:limit]) + more if names else "nothing"


    def drive_folder_problem(my_drive, folder):
        """Why "My Drive/<folder>" is not the kit folder, naming what the Drive holds instead."""
        def shown(path):
            return "/".join(["My Drive", *path.relative_to(my_drive).parts])

        target = my_drive / folder
        existing = target
        while not existing.is_dir() and existing != my_drive:
            existing = existing.parent
        if existing == target:
            problem = f"{shown(target)} holds no assignment/ folder; it holds {listing(target)}."
        else:
            problem = (f"{shown(target)} does not exist; {shown(existing)} holds "
                       f"{listing(existing)}.")
        kits = sorted(p.parent.parent for pattern in ("*/assignment/__init__.py",
                                                      "*/*/assignment/__init__.py")
                      for p in existing.glob(pattern))
        if kits:
            found = kits[0].relative_to(my_drive).as_posix()
            problem += (f" The kit folder is {shown(kits[0])}: set DRIVE_FOLDER = {found!r} and "
                        "run this cell again.")
        elif any(existing.glob("*.zip")):
            problem += (" Drive does not unzip: unzip the kit on your computer and upload the "
                        "folder.")
        return problem


    def install_missing(requirements):
        """pip-install the lines of requirements.txt whose package is not installed at all."""
        from importlib.metadata import PackageNotFoundError, version

        missing = []
        for line in requirements.read_text().splitlines():
            spec = line.split("#", 1)[0].strip()
            if not spec:
                continue
            name = spec.split(";")[0].split("[")[0]
            for sep in "<>=!~ ":
                name = name.split(sep)[0]
            try:
                version(name)
            except PackageNotFoundError:
                missing.append(spec)
        if missing:
            print("Installing:", ", ".join(missing))
            pip = [sys.executable, "-m", "pip", "install", "--quiet"]
            subprocess.run([*pip, *missing], check=True)


    KIT_IN_DRIVE = None  # "My Drive/<folder>" when the kit is on Google Drive
    if IN_COLAB and DRIVE_FOLDER is not None:
        from google.colab import drive

        mount = Path("/content/drive")
        drive.mount(str(mount))
        my_drive = mount / "MyDrive"
        folder = DRIVE_FOLDER.strip("/")
        for prefix in ("content/drive/", "MyDrive/", "My Drive/"):
            folder = folder[len(prefix):] if folder.startswith(prefix) else folder
        kit_root = my_drive / folder
        if not (kit_root / "assignment" / "__init__.py").is_file():
            raise FileNotFoundError(
                f"DRIVE_FOLDER = {DRIVE_FOLDER!r} is not the kit folder ({KIT_DESCRIPTION}): "
                + drive_folder_problem(my_drive, folder))
        KIT_IN_DRIVE = "/".join(["My Drive", *Path(folder).parts])
    else:
        if IN_COLAB:
            print("DRIVE_FOLDER is not set, so nothing you change will be kept after this session. "
                  "Upload the kit folder to your Google Drive, set DRIVE_FOLDER above to its path "
                  "inside My Drive and run this cell again. For now the kit is looked for in "
                  f"the Colab working folder, {os.getcwd()}.")
        kit_root = find_kit_root(Path.cwd())
        if kit_root is None:
            raise FileNotFoundError(
                f"The kit folder ({KIT_DESCRIPTION}) is not {Path.cwd()} or a folder above it; "
                f"{Path.cwd()} holds {listing(Path.cwd())}. "
                + ("Set DRIVE_FOLDER above to the kit's folder inside My Drive." if IN_COLAB else
                   "Start Jupyter in the kit folder, or open the notebook that is in it.")
            )

    KIT_ROOT = kit_root.resolve()
    if str(KIT_ROOT) not in sys.path:
        sys.path.insert(0, str(KIT_ROOT))

    if IN_COLAB:
        os.chdir(KIT_ROOT)
        install_missing(KIT_ROOT / "requirements.txt")
        if not (KIT_ROOT / "datasets" / "cifar-10-batches-py" / "batches.meta").is_file():
            download = subprocess.run(["bash", "datasets/get_datasets.sh"], check=False)
            if download.returncode != 0:
                print("The CIFAR-10 download failed; the notebook will use the synthetic set.")

    # Reload edited modules in assignment/ automatically before each cell runs.
    ipython = get_ipython()
    if not any(name.endswith("autoreload") for name in ipython.extension_manager.loaded):
        ipython.run_line_magic("load_ext", "autoreload")
    ipython.run_line_magic("autoreload", "2")

    print(f"Kit folder: {KIT_IN_DRIVE or KIT_ROOT}" + (" (Google Colab)" if IN_COLAB else ""))
    print(f"FAST mode: {'on: experiments are shrunk' if FAST else 'off'}")
'''.replace("@@DRIVE_EXAMPLE@@", DRIVE_EXAMPLE))

code("imports", r'''
    import statistics
    import timeit

    import matplotlib.pyplot as plt
    import numpy as np
    from tqdm.auto import tqdm

    from assignment.data_utils import find_cifar10, get_CIFAR10_data
    from assignment.fc_net import FullyConnectedNet
    from assignment.gradient_check import (
        eval_numerical_gradient,
        eval_numerical_gradient_array,
        rel_error,
    )
    from assignment.layer_utils import affine_norm_relu_backward, affine_norm_relu_forward
    from assignment.layers import (
        batchnorm_backward,
        batchnorm_backward_alt,
        batchnorm_forward,
        layernorm_backward,
        layernorm_forward,
    )
    from assignment.solver import Solver
    from assignment.todo import needs
''')

code("helpers", r'''
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

    # Sizes of the experiments (FAST mode shrinks them) and small helpers used below.
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


    def show_stats(title, a, axis):
        """Print the mean and standard deviation of `a` along `axis`."""
        print(title)
        print("  means:", a.mean(axis=axis))
        print("  stds: ", a.std(axis=axis))
        print()


    def print_gradient_check(model, X, y):
        """Print the loss, and each parameter's relative error against a numerical gradient."""
        loss, grads = model.loss(X, y)
        print("  initial loss:", loss)
        for name in sorted(grads):
            numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name],
                                              verbose=False, h=1e-5)
            print(f"  {name:>6} relative error {rel_error(numeric, grads[name]):.2e}"
                  f"   (largest |gradient| {np.abs(numeric).max():.1e})")
        print()


    def train(model, data, batch_size=50, num_epochs=None, verbose=True):
        """Train `model` with Adam (learning rate 1e-3); return the Solver with its histories."""
        solver = Solver(
            model,
            data,
            update_rule="adam",
            optim_config={"learning_rate": 1e-3},
            num_epochs=NUM_EPOCHS if num_epochs is None else num_epochs,
            batch_size=batch_size,
            print_every=20,
            verbose=verbose,
        )
        solver.train()
        return solver


    def plot_training(solvers, title, show_loss=True):
        """Training loss per iteration, training and validation accuracy per epoch."""
        panels = [("training loss", "iteration", "loss")] if show_loss else []
        panels += [("training accuracy", "epoch", "accuracy"),
                   ("validation accuracy", "epoch", "accuracy")]
        fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
        for label, solver in solvers.items():
            curves = [solver.train_acc_history, solver.val_acc_history]
            if show_loss:
                axes[0].plot(solver.loss_history, "o", markersize=2, alpha=0.4, label=label)
            for ax, curve in zip(axes[-2:], curves, strict=True):
                ax.plot(curve, "-o", markersize=4, label=label)
        for ax, (name, xlabel, ylabel) in zip(axes, panels, strict=True):
            ax.set_title(f"{title}: {name}")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.legend()
        fig.tight_layout()
        plt.show()
''')

# ==================================================================================================
# Data
# ==================================================================================================

md("data-md", r"""
    ## The data

    The experiments use CIFAR-10: 32x32 colour images of ten classes. If you ran
    `bash datasets/get_datasets.sh`, the real data set is used. If not, a small **synthetic**
    stand-in in the same format is written and used instead, and the next cell says so: the
    code runs the same way, but accuracies on the synthetic set tell you nothing about CIFAR-10,
    so get the real data before you answer the questions.
""")

code("data", r'''
    cifar10_dir, is_synthetic = find_cifar10()
    if FAST:
        sizes = {"num_training": 1000, "num_validation": 200, "num_test": 200}
    elif is_synthetic:
        sizes = {"num_training": 4000, "num_validation": 1000, "num_test": 1000}
    else:
        sizes = {"num_training": 49000, "num_validation": 1000, "num_test": 1000}
    data = get_CIFAR10_data(cifar10_dir=cifar10_dir, **sizes)

    print("Data:", cifar10_dir, "(SYNTHETIC stand-in)" if is_synthetic else "(CIFAR-10)")
    for name, array in data.items():
        print(f"  {name}: {array.shape} {array.dtype}")
''')

# ==================================================================================================
# Batch norm: forward
# ==================================================================================================

md("bn-forward-md", r"""
    ## Batch normalization: the forward pass

    Networks train best when the inputs of every layer are centred and of similar scale. We
    standardize the *data* before training, but a few layers in, the activations have whatever
    mean and spread the current weights produce, and these keep moving while the weights learn.
    Batch normalization [1] standardizes the activations inside the network, using the
    statistics of the current minibatch.

    For a minibatch $x \in \mathbb{R}^{N \times D}$, each feature (column) $j$ is normalized with
    the minibatch mean $\mu_j = \frac{1}{N} \sum_i x_{ij}$ and the (biased, $1/N$) variance
    $\sigma_j^2 = \frac{1}{N} \sum_i (x_{ij} - \mu_j)^2$, then scaled and shifted by two learned
    vectors $\gamma, \beta \in \mathbb{R}^D$:

    $$\hat{x}_{ij} = \frac{x_{ij} - \mu_j}{\sqrt{\sigma_j^2 + \epsilon}}, \qquad
      y_{ij} = \gamma_j \hat{x}_{ij} + \beta_j .$$

    The small $\epsilon$ keeps the division safe when a feature barely varies. $\gamma$ and
    $\beta$ give the layer its freedom back: with $\gamma_j = \sqrt{\sigma_j^2 + \epsilon}$ and
    $\beta_j = \mu_j$ it could undo the normalization completely, if that is what the loss wants.

    At test time a prediction must not depend on which other examples happen to share the batch.
    So in training mode the layer also keeps exponentially decaying *running averages* of $\mu$
    and $\sigma^2$, and in test mode it normalizes with those.

    **Your task:** implement `batchnorm_forward` in `assignment/layers.py`. Its docstring fixes the
    contract of `bn_param` (`mode`, `eps`, `momentum`, the running averages). Then run the next
    cells. The first one pushes random data through a two-layer ReLU network: before
    normalization the three output features have large, unequal means and spreads; after it,
    the means should be (nearly) 0 and the standard deviations 1, or $\beta$ and $\gamma$ when you
    pass them.

    [1] Sergey Ioffe and Christian Szegedy, "Batch Normalization: Accelerating Deep Network
    Training by Reducing Internal Covariate Shift", ICML 2015.
""")

code("bn-forward-train", r'''
    # The outputs of a two-layer ReLU network on random data: far from mean 0 and std 1.
    np.random.seed(231)
    N, D1, D2, D3 = 200, 50, 60, 3
    X = np.random.randn(N, D1)
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    a = np.maximum(0, X @ W1) @ W2
    show_stats("Before batch norm, per feature", a, axis=0)

    a_norm, _ = batchnorm_forward(a, np.ones(D3), np.zeros(D3), {"mode": "train"})
    show_stats("After batch norm with gamma = 1, beta = 0 (expect 0 and 1)", a_norm, axis=0)

    gamma = np.array([1.0, 2.0, 3.0])
    beta = np.array([11.0, 12.0, 13.0])
    a_norm, _ = batchnorm_forward(a, gamma, beta, {"mode": "train"})
    show_stats("After batch norm with gamma = [1, 2, 3], beta = [11, 12, 13]", a_norm, axis=0)
''', tags=["first-task"])

md("bn-forward-test-md", r"""
    Now test mode. We run 50 training-mode passes on fresh random batches so that the running
    averages settle, then switch `bn_param["mode"]` to `"test"`. The test-mode output is
    normalized with the running averages rather than with the batch's own statistics, so its
    means and standard deviations come out close to 0 and 1 but not exactly: a little noise is
    the expected result here.
""")

code("bn-forward-test", r'''
    np.random.seed(231)
    N, D1, D2, D3 = 200, 50, 60, 3
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    bn_param = {"mode": "train"}
    gamma, beta = np.ones(D3), np.zeros(D3)
    for _ in range(50):
        X = np.random.randn(N, D1)
        batchnorm_forward(np.maximum(0, X @ W1) @ W2, gamma, beta, bn_param)

    bn_param["mode"] = "test"
    X = np.random.randn(N, D1)
    a_norm, _ = batchnorm_forward(np.maximum(0, X @ W1) @ W2, gamma, beta, bn_param)
    show_stats("After batch norm in test mode (expect roughly 0 and 1)", a_norm, axis=0)
''')

md("bn-forward-check-md", r"""
    **Self-check.** The next cell tests your `batchnorm_forward` for what it must do (feature
    statistics, $\gamma$ and $\beta$, the running averages, test mode) and says in words what
    looks wrong. It never compares with stored answers, so passing it is a good sign, not a
    proof. Run it whenever you change your code.
""")

code("bn-forward-check", r'''
    check_batchnorm_forward()
''')

test_cell("batchnorm_forward", visible_check("batchnorm_forward"), r'''
    def _bn_reference(x, gamma, beta, eps=1e-5):
        mu = x.mean(axis=0)
        var = ((x - mu) ** 2).mean(axis=0)
        return gamma * (x - mu) / np.sqrt(var + eps) + beta


    _rng = np.random.default_rng(2024)
    # eps goes inside the square root: only visible when the variance is comparable to eps.
    _x = 1e-3 * _rng.standard_normal((16, 4)) + 7
    _g, _b = _rng.standard_normal(4), _rng.standard_normal(4)
    _out, _ = batchnorm_forward(_x.copy(), _g, _b, {"mode": "train"})
    np.testing.assert_allclose(_out, _bn_reference(_x, _g, _b), rtol=1e-6, atol=1e-8)
    # bn_param["eps"] is used.
    _out, _ = batchnorm_forward(_x.copy(), _g, _b, {"mode": "train", "eps": 1e-3})
    np.testing.assert_allclose(_out, _bn_reference(_x, _g, _b, 1e-3), rtol=1e-6, atol=1e-8)
    # float32 stays float32: the output and both running averages.
    _p = {"mode": "train"}
    _x32 = _rng.standard_normal((9, 3)).astype(np.float32)
    _out, _ = batchnorm_forward(_x32, np.ones(3, np.float32), np.zeros(3, np.float32), _p)
    assert _out.dtype == np.float32, _out.dtype
    assert _p["running_mean"].dtype == np.float32 and _p["running_var"].dtype == np.float32
    # Odd batch sizes: a single example (its output is beta), one feature, tiny batches.
    _out, _ = batchnorm_forward(np.array([[1.0, -2.0, 3.0]]), _g[:3], _b[:3], {"mode": "train"})
    np.testing.assert_allclose(_out, _b[None, :3], atol=1e-12)
    for _shape in [(3, 1), (2, 2), (5, 7), (33, 4)]:
        _x = 3 * _rng.standard_normal(_shape) + 1
        _g, _b = _rng.standard_normal(_shape[1]), _rng.standard_normal(_shape[1])
        _out, _ = batchnorm_forward(_x.copy(), _g, _b, {"mode": "train"})
        np.testing.assert_allclose(_out, _bn_reference(_x, _g, _b), rtol=1e-6, atol=1e-8)
    # Test mode: one example, custom eps, running averages used and left untouched.
    _rm, _rv = _rng.standard_normal(3), _rng.random(3) + 0.1
    _p = {"mode": "test", "running_mean": _rm.copy(), "running_var": _rv.copy(), "eps": 1e-2}
    _x = _rng.standard_normal((1, 3))
    _g, _b = _rng.standard_normal(3), _rng.standard_normal(3)
    _out, _ = batchnorm_forward(_x, _g, _b, _p)
    np.testing.assert_allclose(_out, _g * (_x - _rm) / np.sqrt(_rv + 1e-2) + _b, rtol=1e-10)
    np.testing.assert_array_equal(_p["running_mean"], _rm)
    np.testing.assert_array_equal(_p["running_var"], _rv)
''')

# ==================================================================================================
# Batch norm: backward through the computation graph
# ==================================================================================================

md("bn-backward-md", r"""
    ## Batch normalization: the backward pass, node by node

    Draw the forward pass as a computation graph of small steps: the mean $\mu$; the centred
    input $x - \mu$; the variance $\sigma^2$; the inverse standard deviation
    $1 / \sqrt{\sigma^2 + \epsilon}$; the product $\hat{x}$; finally $\gamma \hat{x} + \beta$.
    Then walk it backwards, one node at a time, applying the chain rule at each node. Two things
    to watch:

    * **Forks.** The centred input feeds both $\hat{x}$ and $\sigma^2$, and $x$ itself feeds
      both the centred input and $\mu$. Where a value is used twice, the gradients arriving from
      its two uses add up.
    * **Sums over the batch.** $\mu$, $\sigma^2$, $\gamma$ and $\beta$ have one entry per
      feature but touch every row; their gradients collect contributions from all $N$ rows.

    **Your task:** implement `batchnorm_backward` in `assignment/layers.py` (and store in the
    `cache` of `batchnorm_forward` whatever it needs). The next cell compares your gradients with
    numerical ones, computed by nudging each input and watching the forward pass's output.
    Relative errors around `1e-8` or below mean your backward pass is right; errors near `1`
    mean it is not.
""")

code("bn-backward-numeric", r'''
    np.random.seed(231)
    N, D = 4, 5
    x = 5 * np.random.randn(N, D) + 12
    gamma = np.random.randn(D)
    beta = np.random.randn(D)
    dout = np.random.randn(N, D)
    bn_param = {"mode": "train"}


    def bn_output(x, gamma, beta):
        return batchnorm_forward(x, gamma, beta, bn_param)[0]


    dx_num = eval_numerical_gradient_array(lambda v: bn_output(v, gamma, beta), x, dout)
    dgamma_num = eval_numerical_gradient_array(lambda v: bn_output(x, v, beta), gamma.copy(), dout)
    dbeta_num = eval_numerical_gradient_array(lambda v: bn_output(x, gamma, v), beta.copy(), dout)

    _, cache = batchnorm_forward(x, gamma, beta, bn_param)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    print(f"dx relative error:     {rel_error(dx_num, dx):.2e}")
    print(f"dgamma relative error: {rel_error(dgamma_num, dgamma):.2e}")
    print(f"dbeta relative error:  {rel_error(dbeta_num, dbeta):.2e}")
''')

code("bn-backward-check", r'''
    check_batchnorm_backward()
''')

test_cell("batchnorm_backward", visible_check("batchnorm_backward"), r'''
    def _numerical_grads(forward, args, dout):
        """Numerical gradients of forward(*args) with respect to each array in args."""
        grads = []
        for i in range(len(args)):
            def f(v, i=i):
                return forward(*[v if j == i else a for j, a in enumerate(args)])
            grads.append(eval_numerical_gradient_array(f, args[i].copy(), dout))
        return grads


    def _bn_train(x, gamma, beta):
        return batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]


    _rng = np.random.default_rng(77)
    for _shape in [(3, 1), (2, 3), (13, 2), (8, 6)]:
        _args = [4 * _rng.standard_normal(_shape) - 2, _rng.standard_normal(_shape[1]),
                 _rng.standard_normal(_shape[1])]
        _dout = _rng.standard_normal(_shape)
        _, _cache = batchnorm_forward(*[a.copy() for a in _args], {"mode": "train"})
        _grads = batchnorm_backward(_dout, _cache)
        for _a, _n in zip(_grads, _numerical_grads(_bn_train, _args, _dout), strict=True):
            np.testing.assert_allclose(_a, _n, rtol=1e-5, atol=1e-7 * (1 + np.abs(_n).max()))
    # A single example: the output is beta whatever x is, so dx vanishes.
    _, _cache = batchnorm_forward(np.array([[1.5, -2.0]]), np.array([2.0, 3.0]), np.zeros(2),
                                  {"mode": "train"})
    _dx, _dgamma, _dbeta = batchnorm_backward(np.array([[1.0, 2.0]]), _cache)
    np.testing.assert_allclose(_dx, 0, atol=1e-10)
    np.testing.assert_allclose(_dbeta, [1.0, 2.0])
    # float32 inputs give gradients as accurate as float32 allows.
    _args = [_rng.standard_normal((10, 4)), _rng.standard_normal(4), _rng.standard_normal(4)]
    _dout = _rng.standard_normal((10, 4))
    _, _c64 = batchnorm_forward(*_args, {"mode": "train"})
    _, _c32 = batchnorm_forward(*[a.astype(np.float32) for a in _args], {"mode": "train"})
    _g32 = batchnorm_backward(_dout.astype(np.float32), _c32)
    for _a, _b64 in zip(_g32, batchnorm_backward(_dout, _c64), strict=True):
        np.testing.assert_allclose(_a, _b64, rtol=1e-3, atol=1e-4)
''')

# ==================================================================================================
# Batch norm: closed-form backward
# ==================================================================================================

md("bn-backward-alt-md", r"""
    ## Batch normalization: the backward pass in closed form

    The node-by-node backward pass is mechanical but long. On paper, the chain rule simplifies a
    lot: the gradient with respect to $x$ can be written as one expression in the upstream
    gradient `dout`, the normalized input $\hat{x}$, $\gamma$ and the inverse standard deviation,
    with just two sums over the batch. Start from $\partial L / \partial \hat{x}$ and use
    $\partial \mu / \partial x_{ij} = 1/N$ and
    $\partial \sigma^2_j / \partial x_{ij} = 2 (x_{ij} - \mu_j) / N$.

    **Your task:** derive the simplified expression, then implement `batchnorm_backward_alt` in
    `assignment/layers.py`. It receives the same cache as `batchnorm_backward`. The next cell
    checks that both give the same gradients and times them.

    **About the timing.** Both versions are vectorized NumPy, so the gain comes from doing fewer
    passes over the $N \times D$ arrays, and its size depends on the shapes, your NumPy build and
    whatever else the machine is doing. The cell therefore repeats the measurement and reports
    the median; timing a single call with `time.time()` mostly measures noise. Run it twice and
    see how much the ratio moves.
""")

code("bn-backward-alt-compare", r'''
    np.random.seed(231)
    N, D = 256, 512
    x = 5 * np.random.randn(N, D) + 12
    gamma = np.random.randn(D)
    beta = np.random.randn(D)
    dout = np.random.randn(N, D)

    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    staged = batchnorm_backward(dout, cache)
    closed = batchnorm_backward_alt(dout, cache)
    for name, g1, g2 in zip(["dx", "dgamma", "dbeta"], staged, closed, strict=True):
        print(f"{name} difference between the two versions: {rel_error(g1, g2):.2e}")


    def median_seconds(func, repeats):
        """Median time of one call of func(), over `repeats` measurements of many calls each."""
        timer = timeit.Timer(func)
        calls, _ = timer.autorange()  # enough calls to take at least 0.2 s per measurement
        return statistics.median(timer.repeat(repeat=repeats, number=calls)) / calls


    repeats = 3 if FAST else 7
    t_staged = median_seconds(lambda: batchnorm_backward(dout, cache), repeats)
    t_closed = median_seconds(lambda: batchnorm_backward_alt(dout, cache), repeats)
    print()
    print(f"Backward pass on a {N} x {D} batch, median of {repeats} measurements:")
    print(f"  computation graph: {1e3 * t_staged:.3f} ms per call")
    print(f"  closed form:       {1e3 * t_closed:.3f} ms per call")
    print(f"  speedup:           {t_staged / t_closed:.2f}x")
''')

code("bn-backward-alt-check", r'''
    check_batchnorm_backward_alt()
''')

test_cell("batchnorm_backward_alt", visible_check("batchnorm_backward_alt"), r'''
    def _numerical_grads(forward, args, dout):
        """Numerical gradients of forward(*args) with respect to each array in args."""
        grads = []
        for i in range(len(args)):
            def f(v, i=i):
                return forward(*[v if j == i else a for j, a in enumerate(args)])
            grads.append(eval_numerical_gradient_array(f, args[i].copy(), dout))
        return grads


    def _bn_train(x, gamma, beta):
        return batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]


    _rng = np.random.default_rng(78)
    for _shape in [(3, 3), (1, 4), (11, 6), (64, 16)]:
        _args = [2 * _rng.standard_normal(_shape) - 1, _rng.standard_normal(_shape[1]),
                 _rng.standard_normal(_shape[1])]
        _dout = _rng.standard_normal(_shape)
        _, _cache = batchnorm_forward(*[a.copy() for a in _args], {"mode": "train"})
        _grads = batchnorm_backward_alt(_dout, _cache)
        _again = batchnorm_backward_alt(_dout, _cache)  # the cache must not have changed
        _nums = _numerical_grads(_bn_train, _args, _dout)
        for _a, _a2, _n in zip(_grads, _again, _nums, strict=True):
            np.testing.assert_array_equal(_a, _a2)
            np.testing.assert_allclose(_a, _n, rtol=1e-5, atol=1e-7 * (1 + np.abs(_n).max()))
''')

# ==================================================================================================
# FullyConnectedNet with batch norm
# ==================================================================================================

md("fc-bn-md", r"""
    ## A fully connected network with batch normalization

    Now put the layer into a network. In `FullyConnectedNet` every hidden layer becomes
    affine → batch norm → ReLU (the last, scoring layer stays a plain affine layer):

    * `assignment/layer_utils.py`: implement `affine_norm_relu_forward` and
      `affine_norm_relu_backward`, the sandwich of the three layers. Use your
      `batchnorm_backward_alt` in the backward pass.
    * `assignment/fc_net.py`: with `normalization="batchnorm"`, `__init__` creates `gamma{i}`
      (ones) and `beta{i}` (zeros) for every hidden layer `i`; `loss` runs the sandwich with
      `self.bn_params[i - 1]` and stores the gradients of `gamma{i}` and `beta{i}`. Batch norm's
      parameters are not regularized.

    The next cell checks the gradients of a small network numerically, without and with
    regularization. Most relative errors should be `1e-6` or smaller; errors near 1 mean a bug.
    Two exceptions are expected:

    * `W1` may show an error around `1e-4`. The batch holds only two examples, and normalizing two
      values leaves little more than their sign, except in units where the two values nearly
      coincide: there the output swings sharply with `W1`, and the loss curves so strongly that
      the numerical gradient (a centred difference with step `1e-5`) is itself off by about that
      much. A smaller step shrinks this error, until rounding noise takes over.
    * The biases `b1` and `b2` of the normalized layers have a gradient of exactly zero: batch
      norm subtracts the batch mean, which cancels any constant added before it. Their relative
      errors only compare rounding noise. The cell prints the largest gradient next to each error
      so you can see this.
""")

code("fc-bn-gradcheck", r'''
    np.random.seed(231)
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))

    for reg in [0, 3.14]:
        print(f"Gradient check with reg = {reg}")
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2,
                                  dtype=np.float64, normalization="batchnorm")
        print_gradient_check(model, X, y)
''')

code("fc-bn-sandwich-check", r'''
    # The sandwich alone, with batch norm and with layer norm (its layer-norm half is for later).
    check_affine_norm_relu()
''')

code("fc-bn-check", r'''
    check_fc_net_batchnorm()
''')

test_cell("fc_net_batchnorm", visible_check("fc_net_batchnorm"), r'''
    def _worst_gradient_error(model, X, y):
        _, _grads = model.loss(X, y)
        _nums = {k: eval_numerical_gradient(lambda _: model.loss(X, y)[0], v, verbose=False)
                 for k, v in model.params.items()}
        _scale = max(np.abs(n).max() for n in _nums.values())
        return max(
            np.max(np.abs(_grads[k] - n) / np.maximum(np.abs(_grads[k]) + np.abs(n), 1e-5 * _scale))
            for k, n in _nums.items()
        )


    _state = np.random.get_state()
    try:
        _rng = np.random.default_rng(79)
        _X, _y = _rng.standard_normal((5, 6)), np.array([0, 1, 2, 3, 0])
        # Three hidden layers, dropout on, regularization on.
        np.random.seed(3)
        _model = FullyConnectedNet([7, 5, 6], input_dim=6, num_classes=4, reg=0.7,
                                   weight_scale=0.3, dtype=np.float64, normalization="batchnorm",
                                   dropout_keep_ratio=0.75, seed=5)
        assert {f"gamma{i}" for i in (1, 2, 3)} <= set(_model.params), sorted(_model.params)
        assert "gamma4" not in _model.params and "beta4" not in _model.params
        assert [_model.params[f"beta{i}"].shape for i in (1, 2, 3)] == [(7,), (5,), (6,)]
        assert _worst_gradient_error(_model, _X, _y) < 1e-5
        # Test mode uses the running averages: scores of one example don't depend on the batch.
        np.random.seed(4)
        _model = FullyConnectedNet([8, 8], input_dim=6, num_classes=4, normalization="batchnorm",
                                   dtype=np.float64, weight_scale=0.3)
        for _ in range(3):
            _model.loss(_X, _y)
        assert all(p["running_mean"].shape == (8,) for p in _model.bn_params)
        np.testing.assert_allclose(_model.loss(_X)[2:3], _model.loss(_X[2:3]), rtol=1e-10)
    finally:
        np.random.set_state(_state)
''')

# ==================================================================================================
# Experiments: deep network, weight scale, batch size
# ==================================================================================================

md("deep-md", r"""
    ## Experiment: a deep network with and without batch normalization

    Let us train a six-layer network (five hidden layers of 100 units) on a small subset of the
    training data, once with batch normalization and once without, with the same optimizer
    (Adam, learning rate `1e-3`) and the same initial weight scale. A progress bar shows each
    run. Expect the batch-norm network to make progress faster.
""")

code("deep-train", r'''
    small_data = {
        "X_train": data["X_train"][:NUM_TRAIN],
        "y_train": data["y_train"][:NUM_TRAIN],
        "X_val": data["X_val"],
        "y_val": data["y_val"],
    }

    if needs(*BATCHNORM_NET):
        np.random.seed(231)
        bn_model = FullyConnectedNet(HIDDEN_DIMS, weight_scale=2e-2, normalization="batchnorm")
        plain_model = FullyConnectedNet(HIDDEN_DIMS, weight_scale=2e-2, normalization=None)

        print("With batch normalization:")
        bn_solver = train(bn_model, small_data)
        print("Without normalization:")
        plain_solver = train(plain_model, small_data)
''')

code("deep-plot", r'''
    if needs(*BATCHNORM_NET, what="this plot"):
        plot_training({"batch norm": bn_solver, "no normalization": plain_solver},
                      "6-layer net")
''')

md("weight-scale-md", r"""
    ## Experiment: batch normalization and weight initialization

    Deep networks are picky about the scale of their initial weights: too small and the signal
    fades layer after layer, too large and it blows up. The next cell trains the same six-layer
    network for a range of initial weight scales (log-spaced from `1e-4` to `1`), with and without
    batch normalization, and records the best training and validation accuracy and the final
    training loss of each run. This is the longest cell of the notebook.
""")

code("weight-scale-sweep", r'''
    if needs(*BATCHNORM_NET):
        np.random.seed(231)
        weight_scales = np.logspace(-4, 0, num=NUM_WEIGHT_SCALES)
        variants = {"batch norm": "batchnorm", "no normalization": None}
        sweep = {label: {"train": [], "val": [], "loss": []} for label in variants}

        for scale in tqdm(weight_scales, desc="weight scales"):
            for label, normalization in variants.items():
                model = FullyConnectedNet(HIDDEN_DIMS, weight_scale=scale,
                                          normalization=normalization)
                solver = train(model, small_data, verbose=False)
                sweep[label]["train"].append(max(solver.train_acc_history))
                sweep[label]["val"].append(max(solver.val_acc_history))
                sweep[label]["loss"].append(np.mean(solver.loss_history[-10:]))
''')

code("weight-scale-plot", r'''
    if needs(*BATCHNORM_NET, what="this plot"):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4))
        panels = [
            ("val", "best validation accuracy", "accuracy"),
            ("train", "best training accuracy", "accuracy"),
            ("loss", "final training loss (mean of the last 10 steps)", "loss"),
        ]
        for ax, (key, title, ylabel) in zip(axes, panels, strict=True):
            for label in variants:
                ax.semilogx(weight_scales, sweep[label][key], "-o", markersize=4, label=label)
            ax.set_title(title)
            ax.set_xlabel("initial weight scale")
            ax.set_ylabel(ylabel)
            ax.legend()
        axes[2].set_yscale("log")
        fig.tight_layout()
        plt.show()
''')

md("question-1", r"""
    ### Inline question 1

    Describe what the weight-scale experiment shows. For which initial weight scales does each
    network learn, and where does each one fail? Explain *why* batch normalization changes the
    picture, and why it does not rescue every scale. Refer to your plots.
""")

answer_cell(1, r"""
    Without normalization the deep network learns only in a narrow band of weight scales (around
    `1e-2` to `1e-1` for six layers of width 100). With smaller weights every layer shrinks the
    signal, so activations and gradients vanish after a few layers: the loss stays at about
    $\ln 10 \approx 2.3$ and accuracy stays at chance. With larger weights activations grow
    layer by layer, the initial loss is huge and training is unstable or stalls.

    With batch norm the network learns over a much wider range, because every hidden layer's
    pre-activations are re-standardized whatever the scale of $W$: multiplying $W$ by a constant
    does not change the layer's output, so the forward signal keeps unit scale at every depth and
    the gradients do not vanish or explode through the stack (Adam's per-parameter step sizes
    also absorb the $1/\text{scale}$ factor in $\partial L / \partial W$). It still degrades at
    the extremes: at tiny scales the pre-activation variance falls to the order of $\epsilon$, so
    $\sqrt{\sigma^2 + \epsilon}$ no longer tracks $\sigma$ and the normalization stops working;
    the unnormalized first layer and last (scoring) layer also remain sensitive to the scale.
""")

md("batch-size-md", r"""
    ## Experiment: batch normalization and batch size

    Batch norm estimates its statistics from the minibatch, so the batch size should matter.
    The next cell trains the six-layer network with batch normalization at batch sizes 5, 10 and
    50, and a baseline without normalization at batch size 10, for the same number of epochs
    (smaller batches take more, noisier steps per epoch).
""")

code("batch-size-bn", r'''
    def batch_size_experiment(normalization, batch_sizes=(5, 10, 50), baseline_batch_size=10):
        """Train the deep net with `normalization` at each batch size, plus a plain baseline."""
        np.random.seed(231)
        runs = [(f"no normalization, batch {baseline_batch_size}", None, baseline_batch_size)]
        runs += [(f"{normalization}, batch {size}", normalization, size) for size in batch_sizes]
        solvers = {}
        for label, norm, size in tqdm(runs, desc=f"{normalization} batch sizes"):
            model = FullyConnectedNet(HIDDEN_DIMS, weight_scale=2e-2, normalization=norm)
            solvers[label] = train(model, small_data, batch_size=size, verbose=False)
        return solvers


    if needs(*BATCHNORM_NET):
        bn_batch_solvers = batch_size_experiment("batchnorm")
        plot_training(bn_batch_solvers, "batch norm", show_loss=False)
''')

md("question-2", r"""
    ### Inline question 2

    How does the batch size affect training with batch normalization in your experiment, and
    why? What does this mean for using batch norm when only small minibatches fit in memory?
""")

answer_cell(2, r"""
    With batch size 50 the batch-norm network trains well; with 10 and especially 5 it does
    worse, and at batch size 5 it can fall behind the unnormalized baseline, most visibly in
    validation accuracy. The mean and variance of 5 examples are very noisy estimates of the
    true feature statistics, so each training step normalizes with different, wrong numbers:
    the gradient noise grows, and the network learns to work with batch statistics that differ
    from the running averages it uses at test time (a train/test mismatch), which hurts
    validation accuracy. A little of this noise regularizes; a lot of it harms.

    So batch norm needs reasonably large batches. When only small batches fit (large images,
    segmentation or detection, video, sequence models, online learning) one uses normalizations
    that do not depend on the batch, such as layer or group normalization, or variants that
    fix the statistics (batch renormalization, statistics synchronized across devices).
""")

# ==================================================================================================
# Layer norm
# ==================================================================================================

md("ln-md", r"""
    ## Layer normalization

    Batch norm's dependence on the batch is a nuisance: small batches make its statistics noisy,
    and training and test behave differently. Layer normalization [2] swaps the roles of the two
    axes: each *example* is normalized with the mean and variance of its own $D$ features,

    $$\mu_i = \frac{1}{D} \sum_j x_{ij}, \qquad
      \sigma_i^2 = \frac{1}{D} \sum_j (x_{ij} - \mu_i)^2, \qquad
      y_{ij} = \gamma_j \frac{x_{ij} - \mu_i}{\sqrt{\sigma_i^2 + \epsilon}} + \beta_j .$$

    $\gamma$ and $\beta$ are still one per feature. Nothing depends on the other examples, so
    training and test behave the same and no running averages are needed.

    [2] Jimmy Lei Ba, Jamie Ryan Kiros and Geoffrey E. Hinton, "Layer Normalization", 2016.
""")

md("question-3", r"""
    ### Inline question 3

    Normalizing with statistics *of a feature over the examples* is batch-norm-like; normalizing
    with statistics *of one example over its features* is layer-norm-like. Classify each of these
    ways of preprocessing an image data set as batch-norm-like, layer-norm-like or neither, with
    a one-line reason each:

    1. Dividing every image by the sum of all its pixel values (all positions and channels), so
       that each image sums to 1.
    2. Dividing each pixel value by the standard deviation that this position and channel has
       across the training set.
    3. Subtracting the mean image of the training set from every image.
    4. Subtracting from every image its own average brightness (the mean of all its pixel
       values).
    5. Replacing every pixel value by 0 or 1 depending on whether it is above 128.
""")

answer_cell(3, r"""
    1. Layer-norm-like: the statistic (the sum of the pixels) is computed per image over all its
       features.
    2. Batch-norm-like: each feature (position and channel) is scaled by a statistic of that
       feature over the examples.
    3. Batch-norm-like: the mean image is, for each feature, the mean over the examples.
    4. Layer-norm-like: the mean is taken over the features of one image.
    5. Neither: an element-wise threshold that uses no statistic at all.
""")

md("ln-forward-md", r"""
    **Your task:** implement `layernorm_forward` in `assignment/layers.py`. The next cell pushes
    four examples through the same two-layer network as before and prints the statistics *per
    example* (along axis 1): after layer norm each example should have mean 0 and standard
    deviation 1 over its three features.
""")

code("ln-forward", r'''
    np.random.seed(231)
    N, D1, D2, D3 = 4, 50, 60, 3
    X = np.random.randn(N, D1)
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    a = np.maximum(0, X @ W1) @ W2
    show_stats("Before layer norm, per example", a, axis=1)

    a_norm, _ = layernorm_forward(a, np.ones(D3), np.zeros(D3), {})
    show_stats("After layer norm with gamma = 1, beta = 0 (expect 0 and 1)", a_norm, axis=1)

    gamma = np.array([3.0, 3.0, 3.0])
    beta = np.array([5.0, 5.0, 5.0])
    a_norm, _ = layernorm_forward(a, gamma, beta, {})
    show_stats("After layer norm with gamma = 3, beta = 5 (expect 5 and 3)", a_norm, axis=1)
''')

code("ln-forward-check", r'''
    check_layernorm_forward()
''')

test_cell("layernorm_forward", visible_check("layernorm_forward"), r'''
    def _ln_reference(x, gamma, beta, eps=1e-5):
        mu = x.mean(axis=1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
        return gamma * (x - mu) / np.sqrt(var + eps) + beta


    _rng = np.random.default_rng(80)
    # eps inside the square root, visible with low-variance rows; a custom eps is used.
    _x = 1e-3 * _rng.standard_normal((5, 8)) + 3
    _g, _b = _rng.standard_normal(8), _rng.standard_normal(8)
    for _eps in (1e-5, 1e-3):
        _out, _ = layernorm_forward(_x.copy(), _g, _b, {"eps": _eps})
        np.testing.assert_allclose(_out, _ln_reference(_x, _g, _b, _eps), rtol=1e-6, atol=1e-8)
    # Odd shapes: a single example, a single feature (output beta), square input.
    for _shape in [(1, 6), (7, 1), (4, 4), (2, 9)]:
        _x = 3 * _rng.standard_normal(_shape) + 1
        _g, _b = _rng.standard_normal(_shape[1]), _rng.standard_normal(_shape[1])
        _out, _ = layernorm_forward(_x.copy(), _g, _b, {"mode": "train"})
        np.testing.assert_allclose(_out, _ln_reference(_x, _g, _b), rtol=1e-6, atol=1e-8)
    # float32 stays float32.
    _out, _ = layernorm_forward(_rng.standard_normal((3, 5)).astype(np.float32),
                                np.ones(5, np.float32), np.zeros(5, np.float32), {})
    assert _out.dtype == np.float32, _out.dtype
''')

md("ln-backward-md", r"""
    **Your task:** implement `layernorm_backward`. It is the batch-norm backward pass with the
    roles of the axes exchanged: the statistics are per row now, while $\gamma$ and $\beta$ are
    still per feature, so their gradients still sum over the batch.
""")

code("ln-backward-numeric", r'''
    np.random.seed(231)
    N, D = 4, 5
    x = 5 * np.random.randn(N, D) + 12
    gamma = np.random.randn(D)
    beta = np.random.randn(D)
    dout = np.random.randn(N, D)
    ln_param = {}


    def ln_output(x, gamma, beta):
        return layernorm_forward(x, gamma, beta, ln_param)[0]


    dx_num = eval_numerical_gradient_array(lambda v: ln_output(v, gamma, beta), x, dout)
    dgamma_num = eval_numerical_gradient_array(lambda v: ln_output(x, v, beta), gamma.copy(), dout)
    dbeta_num = eval_numerical_gradient_array(lambda v: ln_output(x, gamma, v), beta.copy(), dout)

    _, cache = layernorm_forward(x, gamma, beta, ln_param)
    dx, dgamma, dbeta = layernorm_backward(dout, cache)
    print(f"dx relative error:     {rel_error(dx_num, dx):.2e}")
    print(f"dgamma relative error: {rel_error(dgamma_num, dgamma):.2e}")
    print(f"dbeta relative error:  {rel_error(dbeta_num, dbeta):.2e}")
''')

code("ln-backward-check", r'''
    check_layernorm_backward()
''')

test_cell("layernorm_backward", visible_check("layernorm_backward"), r'''
    def _numerical_grads(forward, args, dout):
        """Numerical gradients of forward(*args) with respect to each array in args."""
        grads = []
        for i in range(len(args)):
            def f(v, i=i):
                return forward(*[v if j == i else a for j, a in enumerate(args)])
            grads.append(eval_numerical_gradient_array(f, args[i].copy(), dout))
        return grads


    def _ln(x, gamma, beta):
        return layernorm_forward(x, gamma, beta, {})[0]


    _rng = np.random.default_rng(81)
    for _shape in [(1, 4), (5, 3), (3, 8), (6, 2)]:
        _args = [2 * _rng.standard_normal(_shape) + 1, _rng.standard_normal(_shape[1]),
                 _rng.standard_normal(_shape[1])]
        _dout = _rng.standard_normal(_shape)
        _, _cache = layernorm_forward(*[a.copy() for a in _args], {})
        _grads = layernorm_backward(_dout, _cache)
        for _a, _n in zip(_grads, _numerical_grads(_ln, _args, _dout), strict=True):
            np.testing.assert_allclose(_a, _n, rtol=1e-5, atol=1e-7 * (1 + np.abs(_n).max()))
''')

md("fc-ln-md", r"""
    ## Layer normalization in the network

    **Your task:** make `FullyConnectedNet` (and the sandwich layer in `layer_utils.py`) support
    `normalization="layernorm"` as well. If you wrote the batch-norm version with the
    normalization as a switch, little is left to do. The gradient check below uses the same
    small network as before; unlike batch norm, layer norm does not cancel the biases, so every
    gradient should now match closely.
""")

code("fc-ln-gradcheck", r'''
    np.random.seed(231)
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))

    for reg in [0, 3.14]:
        print(f"Gradient check with reg = {reg}")
        model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2,
                                  dtype=np.float64, normalization="layernorm")
        print_gradient_check(model, X, y)
''')

code("fc-ln-check", r'''
    check_fc_net_layernorm()
''')

test_cell("fc_net_layernorm", visible_check("fc_net_layernorm"), r'''
    _state = np.random.get_state()
    try:
        _rng = np.random.default_rng(82)
        _X, _y = _rng.standard_normal((3, 7)), np.array([2, 0, 1])
        np.random.seed(6)
        _model = FullyConnectedNet([5, 4, 6], input_dim=7, num_classes=3, reg=0.4,
                                   weight_scale=0.4, dtype=np.float64, normalization="layernorm")
        assert [_model.params[f"gamma{i}"].shape for i in (1, 2, 3)] == [(5,), (4,), (6,)]
        assert "gamma4" not in _model.params
        _loss, _grads = _model.loss(_X, _y)
        assert set(_grads) == set(_model.params)
        for _k, _v in _model.params.items():
            _n = eval_numerical_gradient(lambda _: _model.loss(_X, _y)[0], _v, verbose=False)
            np.testing.assert_allclose(_grads[_k], _n, rtol=1e-5, atol=1e-8)
        # Layer norm never looks at the batch: scores of one example are the same alone.
        np.testing.assert_allclose(_model.loss(_X)[1:2], _model.loss(_X[1:2]), rtol=1e-10)
    finally:
        np.random.set_state(_state)
''')

md("ln-batch-size-md", r"""
    ## Experiment: layer normalization and batch size

    The same batch-size experiment as before, with layer normalization instead of batch
    normalization. Compare the two sets of curves.
""")

code("batch-size-ln", r'''
    if needs(*LAYERNORM_NET):
        ln_batch_solvers = batch_size_experiment("layernorm")
        plot_training(ln_batch_solvers, "layer norm", show_loss=False)
''')

md("question-4", r"""
    ### Inline question 4

    Layer normalization does not care about the batch size. When is it nevertheless a bad idea?
    Think about how many values each per-example mean and variance is computed from, and about
    what the normalized features stand for. Give at least one concrete situation and explain
    what goes wrong.
""")

answer_cell(4, r"""
    Layer norm is a poor choice when each example has few features to normalize over, i.e. a
    narrow layer: the per-example mean and variance of a handful of values are noisy and, worse,
    normalizing removes most of the information those few values carry. In the extreme case of
    one feature the output is always $\beta$; with two features only their sign pattern
    survives ($\pm 1$).

    It is also a bad idea when the features being pooled are heterogeneous: layer norm forces
    all features of an example to share one mean and one scale. If different units (or input
    features measured in different units, or convolutional channels with very different typical
    ranges) legitimately live on different scales, normalizing them together distorts their
    relative sizes; this is why layer norm tends to work worse than batch norm in convolutional
    networks, and why group normalization normalizes groups of similar channels instead.
""")

# ==================================================================================================
# Wrap-up
# ==================================================================================================

md("summary-md", r"""
    ## Summary of your self-checks

    The next cell re-runs the self-checks of every task in this notebook. Before you submit, make
    sure they all pass, run the whole notebook from the top (Kernel → Restart & Run All) with
    FAST mode off, and answer the four inline questions. The convolutional notebook builds on
    this one with spatial batch normalization and group normalization.
""")

code("summary", r'''
    reports = run_all(tasks=["batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
                             "affine_norm_relu", "fc_net_batchnorm", "layernorm_forward",
                             "layernorm_backward", "fc_net_layernorm"])
''')


# ==================================================================================================
# Submitting (the last two cells of every notebook of the release: copied by the other builders)
# ==================================================================================================

md("submit-md", r"""
    ## Submitting

    When you are done with all the notebooks, save them (File → Save) and run the next cell.
    In whichever notebook you run it, it makes the one zip of your work,
    `@@ASSIGNMENT@@_<your id>.zip`, with every notebook of the assignment and your
    `assignment/*.py`:

    * **In Google Colab** it writes the zip into your Drive folder (the one `DRIVE_FOLDER` names)
      and says where. Set `STUDENT_ID` to your id first, or type it when you are asked.
    * **On your own machine or on JupyterHub** it prints the command to run in a terminal in the
      kit folder, `python collect_submission.py --student YOUR_ID` (on JupyterHub your id is
      taken from the hub).

    Then upload the zip where your course says.
""".replace("@@ASSIGNMENT@@", ASSIGNMENT))

code("submit", r'''
    # Submitting: save your notebooks first. Your id as your course knows you (e.g. your login);
    # left empty, you are asked for it once.
    STUDENT_ID = ""

    if not (KIT_ROOT / "collect_submission.py").is_file():
        print(f"{KIT_ROOT} has no collect_submission.py: it is not a student's copy of the "
              "assignment, so there is nothing to submit from here.")
    elif IN_COLAB:
        from collect_submission import collect

        submission = collect(student=STUDENT_ID or None, dest=KIT_ROOT)
        if KIT_IN_DRIVE:
            print(f"Your submission is in your Google Drive: {KIT_IN_DRIVE}/{submission.name}")
        else:
            print(f"{submission} is NOT on your Google Drive (DRIVE_FOLDER is not set) and is "
                  "deleted when this session ends: download it now from the Files panel.")
    else:
        import shlex

        if os.name == "nt":
            command = f'cd /d "{KIT_ROOT}" && python collect_submission.py'
        else:
            command = f"cd {shlex.quote(str(KIT_ROOT))} && python collect_submission.py"
        if STUDENT_ID:
            command += f" --student {shlex.quote(STUDENT_ID)}"
        print("To submit, run this in a terminal (on JupyterHub: File > New > Terminal):")
        print(f"    {command}")
        print("It writes @@ASSIGNMENT@@_<your id>.zip into the kit folder and lists what is in it.")
'''.replace("@@ASSIGNMENT@@", ASSIGNMENT))


# ==================================================================================================
# Writing the notebook
# ==================================================================================================


def notebook_of(cells) -> nbformat.NotebookNode:
    """A validated notebook of ``cells`` with the kit's kernelspec (shared by every builder)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                       "name": "python3"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(nb)
    return nb


def render_cells(cells) -> str:
    """The exact text of the notebook file holding ``cells``."""
    return nbformat.writes(notebook_of(cells)) + "\n"


def run_cli(notebook: Path, cells, argv, description: str, script: str) -> int:
    """The command line every builder shares: write ``notebook``, or with ``--check`` exit 1
    when the committed file differs from what ``cells`` render to."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the committed notebook is out of date")
    args = parser.parse_args(argv)
    text = render_cells(cells)
    current = notebook.read_text(encoding="utf-8") if notebook.is_file() else None
    if args.check:
        if current != text:
            print(f"{notebook} is out of date; run python {script}", file=sys.stderr)
            return 1
        print(f"{notebook.name} is up to date.")
        return 0
    if current != text:
        notebook.write_text(text, encoding="utf-8")
        print(f"wrote {notebook}")
    else:
        print(f"{notebook.name} is already up to date.")
    return 0


def build() -> nbformat.NotebookNode:
    return notebook_of(_cells)


def render() -> str:
    """The notebook file's exact text."""
    return render_cells(_cells)


def main(argv=None) -> int:
    return run_cli(NOTEBOOK, _cells, argv, __doc__.splitlines()[0], Path(__file__).name)


if __name__ == "__main__":
    sys.exit(main())
