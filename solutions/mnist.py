"""Loading MNIST (or its synthetic stand-in) from the IDX files, for the Keras MNIST lab.

This module is given code: nothing here is part of the assignment.

The IDX format
--------------
MNIST comes as four files in Yann LeCun's IDX format, each usually gzip-compressed::

    train-images-idx3-ubyte.gz   60000 images, shape (60000, 28, 28), uint8 (0 = background)
    train-labels-idx1-ubyte.gz   60000 labels, shape (60000,), uint8 in 0..9
    t10k-images-idx3-ubyte.gz    10000 test images, shape (10000, 28, 28)
    t10k-labels-idx1-ubyte.gz    10000 test labels, shape (10000,)

An IDX file is a 4-byte magic number, then one big-endian uint32 per dimension, then the values in
C order, big-endian. The magic number is two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B
int16, 0x0C int32, 0x0D float32, 0x0E float64) and the number of dimensions: 0x00000803 for the
image files, 0x00000801 for the label files. :func:`read_idx` checks all of it and says what is
wrong with a file that is not right (a bad magic number, a truncated file, trailing bytes).

Where the data lives
--------------------
When no folder is given, the MNIST folder is, in order:

1. the folder named by the environment variable ``NORMLAB_MNIST_DIR``, if it is set;
2. ``datasets/mnist`` in the kit folder, where ``bash datasets/get_datasets.sh mnist`` puts the
   four files (kept compressed: the loader reads the ``.gz`` files, or the same names without
   ``.gz`` if someone unpacked them).

Without the download, :func:`find_mnist` writes and uses a small synthetic set in the same format
(see ``synthetic_mnist.py``); it is learnable, but it is not MNIST.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

#: Environment variable naming an MNIST folder to use instead of the default.
ENV_VAR = "NORMLAB_MNIST_DIR"

#: The kit folder: the parent of this package (``solutions/`` or the generated ``assignment/``).
KIT_ROOT = Path(__file__).resolve().parent.parent
DATASETS_DIR = KIT_ROOT / "datasets"
REAL_DIRNAME = "mnist"
SYNTHETIC_DIRNAME = "synthetic-mnist"

#: The four files of an MNIST folder, by role, in the order get_datasets.sh checks them.
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

#: IDX type byte -> numpy dtype (big-endian, as stored).
IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

_PACKAGE = __name__.rpartition(".")[0] or "solutions"


class IDXError(ValueError):
    """A file that is not a valid IDX file; the message names the file and what is wrong."""

    def __init__(self, message):
        super().__init__(message)


# --------------------------------------------------------------------------------------------------
# The IDX format
# --------------------------------------------------------------------------------------------------


def _read_bytes(path):
    """The file's bytes, gunzipped if it starts with the gzip signature (whatever its name)."""
    raw = Path(path).read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise IDXError(f"{path}: the gzip stream is truncated (the file ends early); the "
                       f"download was probably cut off. Delete it and download it again.") from None
    except (OSError, zlib.error) as exc:
        raise IDXError(f"{path}: not a valid gzip file ({exc}); delete it and download it "
                       f"again.") from None


def read_idx(path):
    """Read one IDX file (gzip-compressed or not) into a numpy array.

    Inputs:
    - path: the file. It is decompressed when its first two bytes are gzip's signature.

    Returns an array of the file's shape, e.g. (60000, 28, 28) for MNIST's training images, in the
    native byte order of the file's type (uint8 for MNIST).

    Raises IDXError (a ValueError) saying what is wrong: a bad magic number (not an IDX file, or
    an unknown type byte), a file that ends inside the header or before all the values (a
    truncated download), or bytes left over after the values.
    """
    data = _read_bytes(path)
    if len(data) < 4:
        raise IDXError(f"{path}: truncated: {len(data)} bytes, shorter than the 4-byte magic "
                       f"number of an IDX file")
    magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES or data[3] == 0:
        raise IDXError(
            f"{path}: bad magic number 0x{magic:08X}: not an IDX file. An IDX file starts with "
            f"two zero bytes, a type byte ({', '.join(f'0x{t:02X}' for t in IDX_TYPES)}) and the "
            f"number of dimensions: 0x00000803 for MNIST images, 0x00000801 for labels")
    dtype, ndim = IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{path}: truncated inside the header: {ndim} dimensions need {header} "
                       f"bytes, the file has {len(data)}")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    have = len(data) - header
    if have < expected:
        raise IDXError(f"{path}: truncated: shape {shape} needs {expected} bytes of values, the "
                       f"file has {have} (the download was probably cut off)")
    if have > expected:
        raise IDXError(f"{path}: {have - expected} bytes left over after the {expected} bytes "
                       f"of values of shape {shape}; not a valid IDX file")
    values = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return values.reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Write ``array`` as an IDX file; gzip-compressed when ``path`` ends in ``.gz``.

    Inputs:
    - path: the file to write (replaced atomically through a temporary file).
    - array: any shape with 1 to 255 dimensions, each below 2**32; a dtype of ``IDX_TYPES``
      (uint8, int8, int16, int32, float32, float64).

    The gzip header carries no time stamp, so the same array always gives the same bytes.
    """
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"write_idx: dtype {array.dtype} has no IDX type code")
    if not 1 <= array.ndim <= 255 or any(n >= 2**32 for n in array.shape):
        raise ValueError(f"write_idx: shape {array.shape} cannot be stored in IDX")
    payload = bytes([0, 0, code, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    payload += np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------------
# MNIST folders
# --------------------------------------------------------------------------------------------------


def default_mnist_dir():
    """The folder used when none is given: ``$NORMLAB_MNIST_DIR`` or the kit's download."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else DATASETS_DIR / REAL_DIRNAME


def _file_of(root, name):
    """``root/name``, or the same name without ``.gz`` if only that exists; None if neither."""
    for candidate in (Path(root) / name, Path(root) / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def missing_mnist_files(root):
    """The names of MNIST_FILES that ``root`` lacks (compressed or not), in order."""
    return [name for name in MNIST_FILES.values() if _file_of(root, name) is None]


def _require_folder(root):
    missing = missing_mnist_files(root)
    if not missing:
        return
    what = (f"No MNIST data found at {root}." if len(missing) == len(MNIST_FILES) else
            f"The MNIST folder {root} is incomplete (missing: {', '.join(missing)}).")
    raise FileNotFoundError(
        f"{what} To download the real data (about 11 MB), run `bash datasets/get_datasets.sh "
        f"mnist` from the kit folder. Offline, write the small synthetic stand-in with `python -m "
        f"{_PACKAGE}.synthetic_mnist datasets/{SYNTHETIC_DIRNAME}` and set {ENV_VAR} to that "
        f"folder (or pass its path as mnist_dir).")


def _split(images, labels, images_path, labels_path):
    """Check one images/labels pair; return (uint8 (N, H, W), int64 (N,))."""
    if images.ndim != 3 or images.dtype != np.uint8:
        raise IDXError(f"{images_path}: expected uint8 images of shape (N, rows, cols), got "
                       f"{images.dtype} of shape {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise IDXError(f"{labels_path}: expected {images.shape[0]} labels (one per image of "
                       f"{images_path.name}), got shape {labels.shape}")
    if labels.size and not 0 <= int(labels.min()) <= int(labels.max()) <= 9:
        raise IDXError(f"{labels_path}: labels must be digits 0..9, found {int(labels.min())}.."
                       f"{int(labels.max())}")
    return images, labels.astype(np.int64)


def load_MNIST(root):
    """Load the four IDX files of an MNIST folder.

    Inputs:
    - root: folder holding the files of ``MNIST_FILES`` (``.gz`` or unpacked).

    Returns a tuple (Xtr, ytr, Xte, yte):
    - Xtr: uint8 array of shape (N_train, 28, 28), 0 = background (60000 images for MNIST).
    - ytr: int64 array of shape (N_train,), digits 0..9.
    - Xte: uint8 array of shape (N_test, 28, 28) (10000 for MNIST).
    - yte: int64 array of shape (N_test,).

    Raises FileNotFoundError (saying how to get the data) if a file is missing, IDXError if a
    file is not valid IDX or the images and labels do not match.
    """
    _require_folder(root)
    paths = {role: _file_of(root, name) for role, name in MNIST_FILES.items()}
    out = []
    for split in ("train", "test"):
        images_path, labels_path = paths[f"{split}_images"], paths[f"{split}_labels"]
        out += _split(read_idx(images_path), read_idx(labels_path), images_path, labels_path)
    return tuple(out)


def is_synthetic_mnist(root):
    """True if the folder was written by ``synthetic_mnist`` (it leaves a SYNTHETIC file)."""
    return (Path(root) / "SYNTHETIC").is_file()


def get_MNIST_data(num_training=55000, num_validation=5000, num_test=10000, mnist_dir=None):
    """Load MNIST and split it into flattened, scaled train / validation / test sets.

    The validation set is the training images right after the training set: X_train is training
    images [0, num_training), X_val is [num_training, num_training + num_validation). X_test is
    the first num_test test images. Pixels are divided by 255, as in the Keras lab.

    Inputs:
    - num_training, num_validation, num_test: sizes of the three sets.
    - mnist_dir: the MNIST folder; None means ``$NORMLAB_MNIST_DIR`` if set, else
      ``datasets/mnist`` in the kit folder.

    Returns a dict with float32 "X_train" (num_training, 784), "X_val" (num_validation, 784),
    "X_test" (num_test, 784), values in [0, 1], and int64 labels "y_train", "y_val", "y_test".

    Raises ValueError if more images are asked for than the folder holds.
    """
    sizes = (num_training, num_validation, num_test)
    if any(int(n) != n or n < 0 for n in sizes):
        raise ValueError(f"the set sizes must be non-negative integers, got {sizes}")
    num_training, num_validation, num_test = (int(n) for n in sizes)
    root = Path(mnist_dir) if mnist_dir is not None else default_mnist_dir()
    Xtr, ytr, Xte, yte = load_MNIST(root)
    if num_training + num_validation > len(Xtr) or num_test > len(Xte):
        raise ValueError(
            f"asked for {num_training} + {num_validation} training and validation images and "
            f"{num_test} test images, but {root} has {len(Xtr)} training and {len(Xte)} test "
            f"images; ask for fewer")

    def flat(images):
        return images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)

    end = num_training + num_validation
    return {"X_train": flat(Xtr[:num_training]), "y_train": ytr[:num_training].copy(),
            "X_val": flat(Xtr[num_training:end]), "y_val": ytr[num_training:end].copy(),
            "X_test": flat(Xte[:num_test]), "y_test": yte[:num_test].copy()}


def find_mnist(prefer_real=True, *, datasets_dir=None):
    """Find an MNIST folder: the real data if present, else the synthetic stand-in.

    Inputs:
    - prefer_real: if True and a complete real folder exists (``$NORMLAB_MNIST_DIR`` if set,
      else ``datasets/mnist``), use it; if False, always use the synthetic set.
    - datasets_dir: where the synthetic set lives (and, without the environment variable, where
      the real one is looked for); None means the kit's ``datasets/`` folder.

    Returns (path, is_synthetic). When the synthetic set is used it is written first if missing
    (6000 training / 1000 test images, about a second) and one line saying so is printed.
    """
    from .data_utils import find_dataset
    from .synthetic_mnist import write_synthetic_mnist

    return find_dataset(
        "MNIST", prefer_real, datasets_dir, env_var=ENV_VAR, real_dirname=REAL_DIRNAME,
        synthetic_dirname=SYNTHETIC_DIRNAME, missing=missing_mnist_files,
        is_synthetic=is_synthetic_mnist, write=write_synthetic_mnist,
        fetch="bash datasets/get_datasets.sh mnist")
