# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/synthetic_mnist.py by `make stubs`; edit the solution.
"""A small synthetic stand-in for MNIST, written in the real IDX format.

Why it exists
-------------
Continuous integration and offline machines have no MNIST download. This module writes the four
files of an MNIST folder (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``) in exactly the real format (IDX,
gzip-compressed, uint8 images of shape (N, 28, 28) and uint8 labels of shape (N,)), so
:func:`mnist.load_MNIST` reads them through the same code as the real data. An empty file
``SYNTHETIC`` beside them lets a loader tell the two apart.

How the digits are drawn
------------------------
Each digit 0..9 is a few pen strokes (lines and arcs) in a unit box. One image of digit ``c`` is
those strokes

* under a random affine map (rotation up to 15 degrees, shear up to 0.3, a scale of 0.75-1.05
  per axis, a shift of up to 2.5 pixels),
* drawn with a random pen width (1.3-2.8 pixels) and soft edges, at a random ink intensity,
* plus, in a third of the images, a short stray stroke, and faint noise on the background,

rounded to uint8 with 0 as background, like MNIST. Classes are balanced in each split. A linear
classifier reaches roughly 85 % on it and a small MLP more: learnable, not trivial. It is a stand-in
for tests and offline runs, not a benchmark; numbers on it say nothing about MNIST.

Determinism
-----------
The output depends only on ``seed``, ``num_train`` and ``num_test``: writing twice gives the same
bytes (the gzip headers carry no time stamp). The test split does not depend on ``num_train``.

Command line
------------
``python -m solutions.synthetic_mnist OUTDIR [--num-train N] [--num-test N] [--seed S]``
(``assignment.synthetic_mnist`` in the student kit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .mnist import MNIST_FILES, write_idx
from .synthetic_cifar import command_line

SIDE = 28
_NUM_CLASSES = 10
_CHUNK = 128  # images per block of the distance computation (keeps it in cache)


def _arc(cx, cy, rx, ry, start, stop, n=9):
    """Points of an elliptic arc from angle ``start`` to ``stop`` (degrees, y pointing down)."""
    t = np.deg2rad(np.linspace(start, stop, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _line(*points):
    return np.array(points, dtype=float)


#: Each digit as strokes: arrays of (x, y) points in the unit box, y pointing down.
STROKES = {
    0: [_arc(0.5, 0.5, 0.28, 0.40, 0, 360, 17)],
    1: [_line((0.38, 0.22), (0.55, 0.1), (0.55, 0.9))],
    2: [_arc(0.5, 0.32, 0.26, 0.22, 190, 385, 9), _line((0.73, 0.40), (0.25, 0.9), (0.78, 0.9))],
    3: [_arc(0.48, 0.3, 0.24, 0.2, 200, 450, 9), _arc(0.48, 0.7, 0.27, 0.2, 270, 520, 9)],
    4: [_line((0.62, 0.1), (0.2, 0.64), (0.82, 0.64)), _line((0.62, 0.1), (0.62, 0.9))],
    5: [_line((0.75, 0.1), (0.32, 0.1), (0.28, 0.46)), _arc(0.48, 0.64, 0.27, 0.25, 230, 500, 10)],
    6: [_arc(0.72, 0.56, 0.45, 0.46, 250, 170, 7), _arc(0.5, 0.68, 0.23, 0.22, 0, 360, 13)],
    7: [_line((0.22, 0.1), (0.8, 0.1), (0.42, 0.9))],
    8: [_arc(0.5, 0.29, 0.2, 0.19, 0, 360, 13), _arc(0.5, 0.7, 0.25, 0.21, 0, 360, 13)],
    9: [_arc(0.5, 0.32, 0.23, 0.22, 0, 360, 13), _arc(0.28, 0.44, 0.45, 0.46, -10, 80, 7)],
}


def _segments(strokes):
    """(S, 2, 2) array: the start and end point of every segment of the strokes."""
    return np.concatenate([np.stack([s[:-1], s[1:]], axis=1) for s in strokes])


def _distance(points, seg):
    """Distance from every pixel centre to the nearest segment.

    points: (2, P) pixel centres; seg: (n, S, 2, 2) segments of n images (start and end point,
    each (x, y)). Returns a float32 array (n, P).
    """
    seg = seg.astype(np.float32)
    ax, ay = seg[:, :, 0, 0, None], seg[:, :, 0, 1, None]  # (n, S, 1)
    abx, aby = seg[:, :, 1, 0, None] - ax, seg[:, :, 1, 1, None] - ay
    inv = 1.0 / np.maximum(abx * abx + aby * aby, np.float32(1e-12))
    px, py = points.astype(np.float32)
    out = np.empty((len(seg), px.size), dtype=np.float32)
    for i in range(0, len(seg), _CHUNK):
        c = slice(i, i + _CHUNK)
        dx, dy = px - ax[c], py - ay[c]  # (chunk, S, P)
        t = np.clip((dx * abx[c] + dy * aby[c]) * inv[c], 0.0, 1.0)
        dx -= t * abx[c]
        dy -= t * aby[c]
        out[c] = np.sqrt((dx * dx + dy * dy).min(axis=1))
    return out


def _affine(rng, n):
    """n random affine maps of the unit box into pixel coordinates: (n, 2, 2) and (n, 2)."""
    angle = np.deg2rad(rng.uniform(-15, 15, n))
    shear = rng.uniform(-0.3, 0.3, n)
    scale = rng.uniform(0.75, 1.05, (n, 2)) * 20.0  # the box spans about 20 of the 28 pixels
    cos, sin = np.cos(angle), np.sin(angle)
    rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], axis=1)
    shr = np.zeros((n, 2, 2))
    shr[:, 0, 0] = shr[:, 1, 1] = 1.0
    shr[:, 0, 1] = shear
    A = rot @ shr * scale[:, None, :]
    centre = SIDE / 2 - 0.5 + rng.uniform(-2.5, 2.5, (n, 2))
    return A, centre - A @ np.array([0.5, 0.5])


def _draw(labels, rng):
    """uint8 images (n, 28, 28) of the digits ``labels`` (n,)."""
    n = len(labels)
    ys, xs = np.mgrid[0:SIDE, 0:SIDE]
    pixels = np.stack([xs.ravel(), ys.ravel()]).astype(float)  # (2, 784), x then y
    A, offset = _affine(rng, n)
    width = rng.uniform(1.3, 2.8, n)[:, None] / 2
    ink = rng.uniform(0.75, 1.0, n)[:, None]
    stray = rng.random(n) < 1 / 3
    stray_seg = rng.uniform(0.05, 0.95, (n, 1, 2, 2))
    images = np.empty((n, SIDE * SIDE))
    for digit in range(_NUM_CLASSES):
        rows = np.flatnonzero(labels == digit)
        if rows.size == 0:
            continue
        base = _segments(STROKES[digit])
        seg = np.broadcast_to(base, (rows.size, *base.shape))
        # The stray stroke is a segment of its own, folded onto the digit's last one when absent.
        extra = np.where(stray[rows, None, None, None], stray_seg[rows], seg[:, -1:])
        seg = np.concatenate([seg, extra], axis=1)
        seg = np.einsum("nij,nsej->nsei", A[rows], seg) + offset[rows, None, None, :]
        dist = _distance(pixels, seg)
        images[rows] = ink[rows] * np.clip(width[rows] + 0.7 - dist, 0.0, 1.0)
    noise = rng.uniform(0.0, 0.12, images.shape) * (rng.random(images.shape) < 0.05)
    images = np.clip(images + noise, 0.0, 1.0)
    return np.rint(images * 255).astype(np.uint8).reshape(n, SIDE, SIDE)


def synthetic_digits(n, seed=0):
    """``n`` labelled synthetic digits: uint8 images (n, 28, 28) and uint8 labels (n,).

    Classes are balanced (labels cycle through 0..9, then shuffled); the same ``n`` and ``seed``
    always give the same arrays.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % _NUM_CLASSES)
    return _draw(labels, rng), labels.astype(np.uint8)


def write_synthetic_mnist(root, num_train=6000, num_test=1000, seed=0):
    """Write a synthetic MNIST folder (the four IDX ``.gz`` files of ``MNIST_FILES``) to ``root``.

    Inputs:
    - root: folder to write (created if needed); existing files of the same names are replaced.
    - num_train: training images (>= 1); num_test: test images (>= 1).
    - seed: integer seed; the same arguments always give the same bytes.

    Returns the Path of ``root``. The defaults take about a second and 1.5 MB of disk.
    """
    num_train, num_test, seed = int(num_train), int(num_test), int(seed)
    if num_train < 1 or num_test < 1:
        raise ValueError(f"num_train and num_test must be at least 1, got {num_train} and "
                         f"{num_test}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    train_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    for split, n, split_seed in (("train", num_train, train_seed), ("test", num_test, test_seed)):
        images, labels = synthetic_digits(n, split_seed)
        write_idx(root / MNIST_FILES[f"{split}_images"], images)
        write_idx(root / MNIST_FILES[f"{split}_labels"], labels)
    (root / "SYNTHETIC").write_text(
        f"synthetic MNIST stand-in written by synthetic_mnist.py: {num_train} training and "
        f"{num_test} test images, seed {seed}; not MNIST\n")
    return root


def main(argv=None):
    """Command-line entry point; see the module docstring."""
    return command_line(write_synthetic_mnist, argv, name="MNIST", layout="IDX",
                        example="datasets/synthetic-mnist", num_train=6000)


if __name__ == "__main__":
    raise SystemExit(main())
