"""A small synthetic stand-in for CIFAR-10, written in the real on-disk format.

Why it exists
-------------
The real CIFAR-10 is a 170 MB download. Continuous integration, offline machines and quick
experiments use this synthetic set instead. It is written in exactly the layout of the real
``cifar-10-batches-py`` folder, so :func:`data_utils.load_CIFAR10` reads it through the same code
path as the real data::

    <root>/data_batch_1 ... data_batch_5   training images, split evenly over five batches
    <root>/test_batch                      test images
    <root>/batches.meta                    label names

Each batch is a protocol-2 pickle of a dict with bytes keys, as in the real files:

* ``b"data"``: ``numpy.ndarray`` of ``uint8``, shape ``(N, 3072)``. Each row is one 32x32 colour
  image stored as three 1024-value channel planes (red, green, blue), each plane row-major.
* ``b"labels"``: ``list`` of ``N`` Python ints in ``0..9``.
* ``b"batch_label"``: ``bytes``, e.g. ``b"synthetic training batch 1 of 5"``.
* ``b"filenames"``: ``list`` of ``N`` ``bytes`` names.

``batches.meta`` holds ``b"label_names"`` (the ten real CIFAR-10 class names, as bytes),
``b"num_cases_per_batch"`` and ``b"num_vis"`` (3072) like the real file, plus ``b"synthetic": True``
and ``b"seed"`` so a loader can tell the two apart.

How the images are made
-----------------------
Every class owns a smooth random colour template (a coarse random grid of colours, bilinearly
upsampled and larger than the image). One image of class ``c`` is

* a random 32x32 crop of template ``c`` (a shift of up to 8 pixels each way),
* blended with a randomly shifted crop of another class's template (weight up to 0.5),
* plus a smooth per-image random colour field,
* times a random brightness gain, plus a random colour cast,
* plus per-pixel noise, clipped to ``0..255``.

The class signal is real but partly hidden by shifts and clutter. Trained on 4000 of the default
5000 training images for 5-20 epochs (seeds 0-2), a plain softmax classifier reaches about 60-70 %
validation accuracy, a 100-unit two-layer ReLU net about 63-77 %, and nearest class mean about
50 % (chance is 10 %), so training curves move and do not saturate at once.
Classes are exactly balanced in each split. This is a stand-in for experiments and tests, not a
benchmark; numbers on it say nothing about real CIFAR-10.

Determinism
-----------
The output depends only on ``seed`` (and on ``num_train``/``num_test``); writing twice gives the
same bytes. The test split does not depend on ``num_train`` and vice versa. The pickles name
numpy's own array-reconstruction function, so byte-identity holds for one numpy version.

Command line
------------
``python -m solutions.synthetic_cifar OUTDIR [--num-train N] [--num-test N] [--seed S]``
(``assignment.synthetic_cifar`` in the student kit). Running it again rewrites the same bytes.
"""

from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path

import numpy as np

#: The ten CIFAR-10 class names, in label order.
LABEL_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

#: File names of a complete ``cifar-10-batches-py`` folder.
BATCH_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")

_NUM_CLASSES = 10
_SIDE = 32
_MAX_SHIFT = 8  # a crop may move this many pixels either way
_TEMPLATE_GRID = 6  # coarse grid points per side of a class template
_CLUTTER_GRID = 4  # coarse grid points per side of the per-image colour field
_CLUTTER_STD = 80.0  # std of the per-image colour field at its grid points
_MAX_BLEND = 0.5  # largest weight of the other class's template
_GAIN = 0.25  # brightness gain is uniform in [1 - _GAIN, 1 + _GAIN]
_CAST_STD = 15.0  # std of the per-channel colour cast
_PIXEL_NOISE = 30  # per-pixel noise is uniform in [-_PIXEL_NOISE, _PIXEL_NOISE]


def _interp_matrix(n_out, n_in):
    """Bilinear-interpolation weights, shape (n_out, n_in), mapping n_in grid points to n_out."""
    x = np.linspace(0.0, n_in - 1.0, n_out)
    i0 = np.clip(np.floor(x).astype(np.int64), 0, n_in - 2)
    t = x - i0
    M = np.zeros((n_out, n_in))
    M[np.arange(n_out), i0] = 1.0 - t
    M[np.arange(n_out), i0 + 1] = t
    return M


def _upsample(grids, size):
    """Bilinearly upsample grids of shape (..., g, g) to (..., size, size)."""
    M = _interp_matrix(size, grids.shape[-1])
    return np.einsum("ij,...jk,lk->...il", M, grids, M)


class _Generator:
    """Class templates plus the per-image recipe; draws labelled images of shape (N, 3072)."""

    def __init__(self, rng):
        n_shifts = 2 * _MAX_SHIFT + 1
        size = _SIDE + 2 * _MAX_SHIFT
        grid = rng.uniform(0.0, 255.0, (_NUM_CLASSES, 3, _TEMPLATE_GRID, _TEMPLATE_GRID))
        templates = _upsample(grid, size).astype(np.float32)  # (10, 3, size, size)
        # Every crop of every template, flattened: row c * n_shifts**2 + s is crop s of class c.
        crops = [
            templates[:, :, dy : dy + _SIDE, dx : dx + _SIDE]
            for dy in range(n_shifts)
            for dx in range(n_shifts)
        ]
        self.crops = np.stack(crops, axis=1).reshape(-1, 3 * _SIDE * _SIDE)
        self.n_crops = n_shifts * n_shifts
        k = 3 * _CLUTTER_GRID * _CLUTTER_GRID
        basis = np.eye(k).reshape(k, 3, _CLUTTER_GRID, _CLUTTER_GRID)
        self.clutter_basis = _upsample(basis, _SIDE).reshape(k, -1).astype(np.float32)

    def draw(self, n, rng):
        """Return (data, labels): uint8 array (n, 3072) and int64 array (n,), classes balanced."""
        labels = rng.permutation(np.arange(n) % _NUM_CLASSES)
        others = (labels + rng.integers(1, _NUM_CLASSES, n)) % _NUM_CLASSES
        x = self.crops[labels * self.n_crops + rng.integers(0, self.n_crops, n)]
        w = rng.uniform(0.0, _MAX_BLEND, (n, 1)).astype(np.float32)
        x *= 1.0 - w
        x += w * self.crops[others * self.n_crops + rng.integers(0, self.n_crops, n)]
        coeffs = rng.standard_normal((n, self.clutter_basis.shape[0]), dtype=np.float32)
        x += (_CLUTTER_STD * coeffs) @ self.clutter_basis
        x *= rng.uniform(1.0 - _GAIN, 1.0 + _GAIN, (n, 1)).astype(np.float32)
        cast = rng.normal(0.0, _CAST_STD, (n, 3)).astype(np.float32)
        x += np.repeat(cast, _SIDE * _SIDE, axis=1)
        x += rng.integers(-_PIXEL_NOISE, _PIXEL_NOISE + 1, x.shape, dtype=np.int16)
        np.clip(x, 0.0, 255.0, out=x)
        return np.rint(x).astype(np.uint8), labels


def _write_pickle(path, obj):
    """Pickle obj (protocol 2, as the real files) to path via a temporary file and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(obj, f, protocol=2)
    os.replace(tmp, path)


def _batch(data, labels, batch_label, first_index):
    """A batch dict in the real CIFAR-10 layout (bytes keys)."""
    names = [
        f"synthetic_{LABEL_NAMES[y]}_s_{first_index + i:06d}.png".encode()
        for i, y in enumerate(labels.tolist())
    ]
    return {
        b"batch_label": batch_label.encode(),
        b"labels": [int(y) for y in labels],
        b"data": data,
        b"filenames": names,
    }


def write_synthetic_cifar10(root, num_train=5000, num_test=1000, seed=0):
    """Write a synthetic CIFAR-10 in the real ``cifar-10-batches-py`` format to ``root``.

    Inputs:
    - root: folder to write (created if needed); existing batch files in it are replaced.
    - num_train: number of training images (>= 5), split as evenly as possible over
      ``data_batch_1`` .. ``data_batch_5`` (earlier batches take the remainder).
    - num_test: number of test images (>= 1), all in ``test_batch``.
    - seed: integer seed; the same arguments always give the same bytes.

    Returns:
    - Path of ``root``.

    With the defaults this takes well under a second and about 28 MB of disk.
    """
    num_train, num_test, seed = int(num_train), int(num_test), int(seed)
    if num_train < 5:
        raise ValueError(f"num_train must be at least 5 (one image per batch), got {num_train}")
    if num_test < 1:
        raise ValueError(f"num_test must be at least 1, got {num_test}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)

    template_seq, train_seq, test_seq = np.random.SeedSequence(seed).spawn(3)
    gen = _Generator(np.random.default_rng(template_seq))

    data, labels = gen.draw(num_train, np.random.default_rng(train_seq))
    start = 0
    for i, idx in enumerate(np.array_split(np.arange(num_train), 5), start=1):
        batch = _batch(data[idx], labels[idx], f"synthetic training batch {i} of 5", start)
        _write_pickle(root / f"data_batch_{i}", batch)
        start += len(idx)

    data, labels = gen.draw(num_test, np.random.default_rng(test_seq))
    _write_pickle(root / "test_batch", _batch(data, labels, "synthetic testing batch 1 of 1", 0))

    meta = {
        b"num_cases_per_batch": -(-num_train // 5),
        b"label_names": [name.encode() for name in LABEL_NAMES],
        b"num_vis": 3 * _SIDE * _SIDE,
        b"synthetic": True,
        b"seed": seed,
    }
    _write_pickle(root / "batches.meta", meta)
    return root


def command_line(write, argv=None, *, name, layout, example, num_train):
    """The command line of a synthetic data set's writer (this module's and synthetic_mnist's):
    ``OUTDIR [--num-train N] [--num-test N] [--seed S]``.

    ``write(outdir, num_train, num_test, seed)`` writes the set and returns its folder; ``name``
    is the data set's name ("CIFAR-10"), ``layout`` its on-disk format, ``example`` an OUTDIR for
    the help text and ``num_train`` the default number of training images. Returns 0; a bad
    argument exits with argparse's status 2.
    """
    parser = argparse.ArgumentParser(
        description=f"Write a small synthetic {name} in the real {layout} format.")
    parser.add_argument("outdir", help=f"folder to write, e.g. {example}")
    parser.add_argument("--num-train", type=int, default=num_train,
                        help=f"training images (default {num_train})")
    parser.add_argument("--num-test", type=int, default=1000, help="test images (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    try:
        root = write(args.outdir, args.num_train, args.num_test, args.seed)
    except ValueError as err:
        parser.error(str(err))
    print(f"wrote synthetic {name} ({args.num_train} train / {args.num_test} test images, seed "
          f"{args.seed}) to {root}")
    return 0


def main(argv=None):
    """Command-line entry point; see the module docstring."""
    return command_line(write_synthetic_cifar10, argv, name="CIFAR-10",
                        layout="cifar-10-batches-py",
                        example="datasets/synthetic-cifar-10-batches-py", num_train=5000)


if __name__ == "__main__":
    raise SystemExit(main())
