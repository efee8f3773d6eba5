# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/data_utils.py by `make stubs`; edit the solution.
"""Loading CIFAR-10 (or its synthetic stand-in) for the normalization experiments.

This module is given code: nothing here is part of the assignment.

Where the data lives
--------------------
The loaders read the ``cifar-10-batches-py`` folder of the official "CIFAR-10 python version"
archive: ``data_batch_1`` .. ``data_batch_5`` (training), ``test_batch`` and ``batches.meta``,
each a pickled dict with bytes keys (``b"data"``: uint8 array of shape (N, 3072), three 1024-value
colour planes per row; ``b"labels"``: list of N ints in 0..9).

When no folder is given, the data folder is, in order:

1. the folder named by the environment variable ``NORMLAB_CIFAR10_DIR``, if it is set;
2. ``datasets/cifar-10-batches-py`` in the kit folder (the folder that holds this package), which
   is where ``bash datasets/get_datasets.sh`` puts the real data.

Without the download, :func:`find_cifar10` writes and uses a small synthetic set in the same
format (see ``synthetic_cifar.py``); it is learnable but it is not CIFAR-10.

Dtypes
------
Images come back as ``float32`` rather than the ``float64`` of the original CS231n loader: that
halves the memory of the full training set (about 600 MB instead of 1.2 GB) and the networks cast
their inputs anyway. Labels are ``int64``.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

#: Environment variable naming a ``cifar-10-batches-py`` folder to use instead of the default.
ENV_VAR = "NORMLAB_CIFAR10_DIR"

#: The kit folder: the parent of this package (``solutions/`` or the generated ``assignment/``).
KIT_ROOT = Path(__file__).resolve().parent.parent

#: Where ``datasets/get_datasets.sh`` and the synthetic writer put their folders.
DATASETS_DIR = KIT_ROOT / "datasets"

REAL_DIRNAME = "cifar-10-batches-py"
SYNTHETIC_DIRNAME = "synthetic-cifar-10-batches-py"

#: The files of a complete ``cifar-10-batches-py`` folder.
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")

# "solutions" or "assignment": whichever package this copy of the file lives in.
_PACKAGE = __name__.rpartition(".")[0] or "solutions"


def default_cifar10_dir():
    """The data folder used when none is given: ``$NORMLAB_CIFAR10_DIR`` or the kit's download."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return DATASETS_DIR / REAL_DIRNAME


def _missing_files(root):
    """Names from CIFAR10_FILES that are not files in root (all of them if root is missing)."""
    root = Path(root)
    return [name for name in CIFAR10_FILES if not (root / name).is_file()]


def _check_folder(root):
    """Raise FileNotFoundError, saying how to get the data, unless root holds all seven files."""
    missing = _missing_files(root)
    if not missing:
        return
    if len(missing) == len(CIFAR10_FILES):
        what = f"No CIFAR-10 data found at {root}."
    else:
        what = f"The CIFAR-10 folder {root} is incomplete (missing: {', '.join(missing)})."
    raise FileNotFoundError(
        f"{what} To download the real data (about 170 MB), run `bash datasets/get_datasets.sh` "
        f"from the kit folder. Offline, use the small synthetic stand-in instead: run "
        f"`python -m {_PACKAGE}.synthetic_cifar datasets/{SYNTHETIC_DIRNAME}` from the kit folder "
        f"and set the environment variable {ENV_VAR} to that folder (or pass its path as "
        f"cifar10_dir)."
    )


def _unpickle(filename):
    """Load one CIFAR-10 pickle; return a dict with str keys (the files use bytes keys)."""
    with open(filename, "rb") as f:
        # The official files were written by Python 2; encoding="bytes" keeps their keys as bytes.
        d = pickle.load(f, encoding="bytes")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}


def _load_batch_raw(filename):
    """Return (data, labels): uint8 array (N, 3072) and int64 array (N,) from one batch file."""
    d = _unpickle(filename)
    data = np.asarray(d["data"], dtype=np.uint8)
    labels = np.asarray(d["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{filename}: expected data of shape (N, 3072) and N labels, got data "
            f"{data.shape} and {labels.shape[0]} labels"
        )
    return data, labels


def _to_nhwc_float(data):
    """uint8 rows (N, 3072) -> float32 images (N, 32, 32, 3)."""
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32)


def _load_raw(root):
    """Return (Xtr, ytr, Xte, yte) with X as uint8 rows (N, 3072) and y as int64 (N,)."""
    root = Path(root)
    _check_folder(root)
    parts = [_load_batch_raw(root / f"data_batch_{i}") for i in range(1, 6)]
    Xtr = np.concatenate([p[0] for p in parts])
    ytr = np.concatenate([p[1] for p in parts])
    Xte, yte = _load_batch_raw(root / "test_batch")
    return Xtr, ytr, Xte, yte


def load_CIFAR_batch(filename):
    """Load one CIFAR-10 batch file (``data_batch_<i>`` or ``test_batch``).

    Returns a tuple of:
    - X: float32 array of shape (N, 32, 32, 3), pixel values 0..255, channels last (RGB).
    - y: int64 array of shape (N,), labels in 0..9.
    """
    data, labels = _load_batch_raw(filename)
    return _to_nhwc_float(data), labels


def load_CIFAR10(root):
    """Load all of CIFAR-10 from a ``cifar-10-batches-py`` folder.

    Inputs:
    - root: folder holding ``data_batch_1`` .. ``data_batch_5``, ``test_batch``, ``batches.meta``.

    Returns a tuple (Xtr, Ytr, Xte, Yte):
    - Xtr: float32 array of shape (N_train, 32, 32, 3), values 0..255 (50000 images for CIFAR-10).
    - Ytr: int64 array of shape (N_train,), labels in 0..9.
    - Xte: float32 array of shape (N_test, 32, 32, 3) (10000 images for CIFAR-10).
    - Yte: int64 array of shape (N_test,).

    Raises FileNotFoundError, saying how to get the data, if a file is missing.
    """
    Xtr, ytr, Xte, yte = _load_raw(root)
    return _to_nhwc_float(Xtr), ytr, _to_nhwc_float(Xte), yte


def load_CIFAR10_meta(root):
    """Return the class names from ``<root>/batches.meta``: a list of 10 str, in label order."""
    path = Path(root) / "batches.meta"
    if not path.is_file():
        _check_folder(root)
    return [
        name.decode("utf-8") if isinstance(name, bytes) else str(name)
        for name in _unpickle(path)["label_names"]
    ]


def is_synthetic_cifar10(root):
    """True if the folder was written by ``synthetic_cifar`` (its batches.meta says so)."""
    path = Path(root) / "batches.meta"
    return path.is_file() and bool(_unpickle(path).get("synthetic", False))


def get_CIFAR10_data(
    num_training=49000, num_validation=1000, num_test=1000, subtract_mean=True, cifar10_dir=None
):
    """Load CIFAR-10 and split it into train / validation / test sets for the networks.

    The validation set is taken from the training batches right after the training set, as in
    CS231n: X_train is training images [0, num_training) and X_val is
    [num_training, num_training + num_validation). X_test is the first num_test test images.

    Inputs:
    - num_training, num_validation, num_test: sizes of the three sets.
    - subtract_mean: if True, subtract the mean training image (per pixel and channel, computed
      on X_train only) from all three sets.
    - cifar10_dir: the data folder; None means ``$NORMLAB_CIFAR10_DIR`` if set, else
      ``datasets/cifar-10-batches-py`` in the kit folder.

    Returns a dict with:
    - "X_train": float32 array of shape (num_training, 3, 32, 32) (channels first)
    - "y_train": int64 array of shape (num_training,)
    - "X_val": float32 array of shape (num_validation, 3, 32, 32)
    - "y_val": int64 array of shape (num_validation,)
    - "X_test": float32 array of shape (num_test, 3, 32, 32)
    - "y_test": int64 array of shape (num_test,)
    float32 (not CS231n's float64) halves the memory; see the module docstring.

    Raises:
    - FileNotFoundError, saying how to get the data, if the folder or a file is missing.
    - ValueError if more images are requested than the folder holds (e.g. the default sizes
      on the 5000-image synthetic set); the message says how many there are.
    """
    sizes = {"num_training": num_training, "num_validation": num_validation, "num_test": num_test}
    for name, value in sizes.items():
        if int(value) != value or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    num_training, num_validation, num_test = int(num_training), int(num_validation), int(num_test)
    root = Path(cifar10_dir) if cifar10_dir is not None else default_cifar10_dir()

    Xtr, ytr, Xte, yte = _load_raw(root)
    if num_training + num_validation > Xtr.shape[0]:
        raise ValueError(
            f"asked for num_training + num_validation = {num_training} + {num_validation} = "
            f"{num_training + num_validation} training images, but {root} has only "
            f"{Xtr.shape[0]}; ask for fewer"
        )
    if num_test > Xte.shape[0]:
        raise ValueError(
            f"asked for num_test = {num_test} test images, but {root} has only {Xte.shape[0]}; "
            f"ask for fewer"
        )

    def images(rows):
        # uint8 (N, 3072) -> float32 (N, 3, 32, 32): the rows are already channel planes.
        return rows.reshape(-1, 3, 32, 32).astype(np.float32)

    data = {
        "X_train": images(Xtr[:num_training]),
        "y_train": ytr[:num_training].copy(),
        "X_val": images(Xtr[num_training : num_training + num_validation]),
        "y_val": ytr[num_training : num_training + num_validation].copy(),
        "X_test": images(Xte[:num_test]),
        "y_test": yte[:num_test].copy(),
    }
    if subtract_mean and num_training > 0:
        mean_image = data["X_train"].mean(axis=0, dtype=np.float64).astype(np.float32)
        for key in ("X_train", "X_val", "X_test"):
            data[key] -= mean_image
    return data


def find_cifar10(prefer_real=True, *, datasets_dir=None):
    """Find a CIFAR-10 folder to use: the real data if present, else the synthetic stand-in.

    Inputs:
    - prefer_real: if True and a complete real folder exists (``$NORMLAB_CIFAR10_DIR`` if set,
      else ``datasets/cifar-10-batches-py``), use it. If False, always use the synthetic set.
    - datasets_dir: where the synthetic set lives (and, without the environment variable, where
      the real one is looked for); None means the kit's ``datasets/`` folder.

    Returns a tuple (path, is_synthetic): a pathlib.Path to pass as ``cifar10_dir``, and whether
    it holds the synthetic set. When the synthetic set is used it is written first if missing
    (5000 training / 1000 test images, under a second), and one line saying so is printed. Its
    5000 training images are too few for ``get_CIFAR10_data()``'s defaults; ask for e.g.
    ``num_training=4000, num_validation=1000``.
    """
    from .synthetic_cifar import write_synthetic_cifar10

    return find_dataset(
        "CIFAR-10", prefer_real, datasets_dir, env_var=ENV_VAR, real_dirname=REAL_DIRNAME,
        synthetic_dirname=SYNTHETIC_DIRNAME, missing=_missing_files,
        is_synthetic=is_synthetic_cifar10, write=write_synthetic_cifar10,
        fetch="bash datasets/get_datasets.sh")


def find_dataset(title, prefer_real, datasets_dir, *, env_var, real_dirname, synthetic_dirname,
                 missing, is_synthetic, write, fetch):
    """The folder of a dataset (``title``: "CIFAR-10", "MNIST"): the real one if complete, else
    the synthetic stand-in, written first when missing. Used by `find_cifar10` and
    `mnist.find_mnist`, which pass their folder names and file checks.

    Inputs: ``prefer_real``, ``datasets_dir`` as for `find_cifar10`; ``env_var`` names the
    variable that points to the real folder; ``missing(path)`` lists the files a folder lacks;
    ``is_synthetic(path)`` says whether a folder holds the stand-in; ``write(path)`` writes the
    stand-in; ``fetch`` is the command that downloads the real data.

    Returns (path, is_synthetic).
    """
    datasets_dir = Path(datasets_dir) if datasets_dir is not None else DATASETS_DIR
    env = os.environ.get(env_var)
    real = Path(env).expanduser() if env else datasets_dir / real_dirname
    if prefer_real and not missing(real):
        return real, is_synthetic(real)
    synthetic = datasets_dir / synthetic_dirname
    if missing(synthetic):
        write(synthetic)
    reason = f"no complete {title} at {real}" if prefer_real else "prefer_real=False"
    print(f"Using the SYNTHETIC {title} stand-in at {synthetic} ({reason}); accuracies on it say "
          f"nothing about real {title}. For the real data run `{fetch}` from the kit folder.")
    return synthetic, True
