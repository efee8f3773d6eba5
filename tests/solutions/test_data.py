"""Tests of the CIFAR-10 loaders (solutions/data_utils.py) and the synthetic set.

The oracle for the loaders is the raw pickle, read here with plain `pickle` and indexed by the
documented layout (row = 3 channel planes of 32x32, row-major), never through the loader itself.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from solutions import data_utils
from solutions.data_utils import (
    ENV_VAR,
    find_cifar10,
    get_CIFAR10_data,
    load_CIFAR10,
    load_CIFAR10_meta,
    load_CIFAR_batch,
)
from solutions.synthetic_cifar import BATCH_FILES, write_synthetic_cifar10
from tests.support.paths import REPO

pytestmark = pytest.mark.data

KIT_ROOT = REPO
#: b"label_names" of the real cifar-10-batches-py/batches.meta, as `pickle.load` gives it (the
#: class list of https://www.cs.toronto.edu/~kriz/cifar.html, in label order).
REAL_LABEL_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog",
                    b"horse", b"ship", b"truck"]
CIFAR10_NAMES = [name.decode("ascii") for name in REAL_LABEL_NAMES]


def raw(path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def folder_bytes(root):
    return {name: (Path(root) / name).read_bytes() for name in BATCH_FILES}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """The default synthetic set (5000 train / 1000 test, seed 0), written once."""
    root = tmp_path_factory.mktemp("synthetic") / "cifar-10-batches-py"
    write_synthetic_cifar10(root)
    return root


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


# --- the synthetic writer -------------------------------------------------------------------


def test_writer_is_small(synthetic):  # its speed is no unit test's business (machines are noisy)
    root = synthetic
    total = sum((root / name).stat().st_size for name in BATCH_FILES)
    assert total < 40e6


def test_files_use_the_real_cifar10_layout(synthetic):
    root = synthetic
    for name in BATCH_FILES:
        assert (root / name).read_bytes()[:2] == b"\x80\x02", f"{name} is not a protocol-2 pickle"
    sizes = []
    for i in range(1, 6):
        d = raw(root / f"data_batch_{i}")
        assert set(d) == {b"batch_label", b"labels", b"data", b"filenames"}
        assert isinstance(d[b"data"], np.ndarray)
        assert d[b"data"].dtype == np.uint8
        assert d[b"data"].ndim == 2
        assert d[b"data"].shape[1] == 3072
        assert isinstance(d[b"labels"], list)
        assert all(type(y) is int and 0 <= y <= 9 for y in d[b"labels"])
        assert len(d[b"labels"]) == len(d[b"filenames"]) == d[b"data"].shape[0]
        assert all(isinstance(n, bytes) for n in d[b"filenames"])
        assert d[b"batch_label"].endswith(f"batch {i} of 5".encode())
        sizes.append(d[b"data"].shape[0])
    assert sizes == [1000] * 5
    test = raw(root / "test_batch")
    assert test[b"data"].shape == (1000, 3072)
    meta = raw(root / "batches.meta")
    assert meta[b"label_names"] == REAL_LABEL_NAMES
    assert meta[b"num_vis"] == 3072
    assert meta[b"num_cases_per_batch"] == 1000
    assert meta[b"synthetic"] is True


def test_classes_are_balanced_and_images_vary(synthetic):
    root = synthetic
    labels = np.concatenate([raw(root / f"data_batch_{i}")[b"labels"] for i in range(1, 6)])
    assert np.bincount(labels, minlength=10).tolist() == [500] * 10
    test = raw(root / "test_batch")
    assert np.bincount(test[b"labels"], minlength=10).tolist() == [100] * 10
    data = test[b"data"]
    assert len(np.unique(data, axis=0)) == len(data)
    assert data.min() == 0
    assert data.max() == 255
    assert 60 < data.mean() < 200


def test_writer_is_deterministic_and_seeded(tmp_path):
    a = folder_bytes(write_synthetic_cifar10(tmp_path / "a", 50, 10, seed=3))
    b = folder_bytes(write_synthetic_cifar10(tmp_path / "b", 50, 10, seed=3))
    assert a == b
    c = folder_bytes(write_synthetic_cifar10(tmp_path / "c", 50, 10, seed=4))
    assert a["test_batch"] != c["test_batch"]
    assert a["data_batch_1"] != c["data_batch_1"]
    # Rewriting in place gives the same bytes (idempotent), and leaves no temporary files.
    write_synthetic_cifar10(tmp_path / "a", 50, 10, seed=3)
    assert folder_bytes(tmp_path / "a") == a
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(BATCH_FILES)


def test_test_split_does_not_depend_on_train_size(tmp_path):
    a = write_synthetic_cifar10(tmp_path / "a", 50, 10, seed=0)
    b = write_synthetic_cifar10(tmp_path / "b", 60, 10, seed=0)
    assert (a / "test_batch").read_bytes() == (b / "test_batch").read_bytes()


def test_uneven_train_size_is_split_over_five_batches(tmp_path):
    root = write_synthetic_cifar10(tmp_path / "s", num_train=23, num_test=3)
    sizes = [len(raw(root / f"data_batch_{i}")[b"labels"]) for i in range(1, 6)]
    assert sizes == [5, 5, 5, 4, 4]


@pytest.mark.parametrize(("num_train", "num_test"), [(4, 10), (50, 0), (-1, 10)])
def test_writer_rejects_too_small_sizes(tmp_path, num_train, num_test):
    with pytest.raises(ValueError, match="at least"):
        write_synthetic_cifar10(tmp_path / "s", num_train, num_test)


def test_command_line(tmp_path):
    out = tmp_path / "cli"
    cmd = [sys.executable, "-m", "solutions.synthetic_cifar", str(out)]
    args = ["--num-train", "50", "--num-test", "10", "--seed", "3"]
    first = subprocess.run(cmd + args, cwd=KIT_ROOT, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert str(out) in first.stdout
    written = folder_bytes(out)
    second = subprocess.run(cmd + args, cwd=KIT_ROOT, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert folder_bytes(out) == written
    assert written == folder_bytes(write_synthetic_cifar10(tmp_path / "api", 50, 10, seed=3))
    bad = subprocess.run(
        cmd + ["--num-train", "2"], cwd=KIT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert "num_train" in bad.stderr


# --- the loaders ----------------------------------------------------------------------------


def test_load_CIFAR_batch_matches_the_raw_layout(synthetic):
    root = synthetic
    X, y = load_CIFAR_batch(root / "test_batch")
    d = raw(root / "test_batch")
    assert X.shape == (1000, 32, 32, 3)
    assert X.dtype == np.float32
    assert y.shape == (1000,)
    assert y.dtype == np.int64
    assert y.tolist() == d[b"labels"]
    data = d[b"data"]
    rng = np.random.default_rng(0)
    for n, h, w, c in zip(*(rng.integers(0, k, 200) for k in (1000, 32, 32, 3)), strict=True):
        assert X[n, h, w, c] == data[n, c * 1024 + h * 32 + w]


def test_load_CIFAR10_round_trip(synthetic):
    root = synthetic
    Xtr, ytr, Xte, yte = load_CIFAR10(root)
    assert Xtr.shape == (5000, 32, 32, 3)
    assert Xte.shape == (1000, 32, 32, 3)
    assert Xtr.dtype == Xte.dtype == np.float32
    assert ytr.shape == (5000,)
    assert yte.shape == (1000,)
    assert ytr.dtype == yte.dtype == np.int64
    assert ytr.min() == 0
    assert ytr.max() == 9
    # Batches are concatenated in order 1..5.
    third = raw(root / "data_batch_3")
    rows = third[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(Xtr[2000:3000], rows)
    assert ytr[2000:3000].tolist() == third[b"labels"]
    test_rows = raw(root / "test_batch")[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(Xte, test_rows)


def test_meta_names(synthetic):
    root = synthetic
    assert load_CIFAR10_meta(root) == CIFAR10_NAMES
    assert data_utils.is_synthetic_cifar10(root)


def test_get_CIFAR10_data_shapes_split_and_mean(synthetic):
    root = synthetic
    d = get_CIFAR10_data(4000, 500, 300, cifar10_dir=root)
    expected = {
        "X_train": (4000, 3, 32, 32),
        "y_train": (4000,),
        "X_val": (500, 3, 32, 32),
        "y_val": (500,),
        "X_test": (300, 3, 32, 32),
        "y_test": (300,),
    }
    assert {k: v.shape for k, v in d.items()} == expected
    for k in ("X_train", "X_val", "X_test"):
        assert d[k].dtype == np.float32
    for k in ("y_train", "y_val", "y_test"):
        assert d[k].dtype == np.int64
    # Mean subtraction: every pixel of the training set averages to zero.
    assert np.abs(d["X_train"].mean(axis=0, dtype=np.float64)).max() < 1e-3

    # Oracle for the split: NHWC images from load_CIFAR10, transposed, minus the train mean.
    Xtr, ytr, Xte, yte = load_CIFAR10(root)
    nchw = Xtr.transpose(0, 3, 1, 2)
    mean = nchw[:4000].mean(axis=0, dtype=np.float64)
    assert np.abs(d["X_train"] - (nchw[:4000] - mean)).max() < 1e-3
    assert np.abs(d["X_val"] - (nchw[4000:4500] - mean)).max() < 1e-3
    assert np.abs(d["X_test"] - (Xte[:300].transpose(0, 3, 1, 2) - mean)).max() < 1e-3
    assert d["y_val"].tolist() == ytr[4000:4500].tolist()
    assert d["y_test"].tolist() == yte[:300].tolist()


def test_get_CIFAR10_data_without_mean_subtraction(synthetic):
    root = synthetic
    d = get_CIFAR10_data(100, 10, 10, subtract_mean=False, cifar10_dir=root)
    assert d["X_train"].min() >= 0
    assert d["X_train"].max() <= 255
    np.testing.assert_array_equal(d["X_train"], np.round(d["X_train"]))
    first = raw(root / "data_batch_1")[b"data"][:100].reshape(100, 3, 32, 32)
    np.testing.assert_array_equal(d["X_train"], first)


@pytest.mark.parametrize(
    ("sizes", "available"),
    [((4990, 20, 10), "5000"), ((49000, 1000, 1000), "5000"), ((100, 10, 1001), "1000")],
)
def test_oversize_request_says_how_many_there_are(synthetic, sizes, available):
    root = synthetic
    with pytest.raises(ValueError, match=f"only {available}"):
        get_CIFAR10_data(*sizes, cifar10_dir=root)


def test_negative_size_is_rejected(synthetic):
    root = synthetic
    with pytest.raises(ValueError, match="num_validation"):
        get_CIFAR10_data(100, -1, 10, cifar10_dir=root)


def test_missing_folder_says_how_to_get_the_data(tmp_path, no_env):
    with pytest.raises(FileNotFoundError) as err:
        get_CIFAR10_data(cifar10_dir=tmp_path / "nowhere")
    message = str(err.value)
    assert "bash datasets/get_datasets.sh" in message
    assert "python -m solutions.synthetic_cifar" in message
    assert ENV_VAR in message
    assert str(tmp_path / "nowhere") in message
    with pytest.raises(FileNotFoundError, match="get_datasets.sh"):
        load_CIFAR10(tmp_path / "nowhere")


def test_incomplete_folder_names_the_missing_files(tmp_path):
    root = tmp_path / "partial"
    root.mkdir()
    (root / "data_batch_1").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="incomplete") as err:
        load_CIFAR10(root)
    assert "test_batch" in str(err.value)
    assert "get_datasets.sh" in str(err.value)


def test_default_folder_is_env_var_or_kit_datasets(monkeypatch, synthetic):
    root = synthetic
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert data_utils.KIT_ROOT == KIT_ROOT
    assert data_utils.default_cifar10_dir() == KIT_ROOT / "datasets" / "cifar-10-batches-py"
    monkeypatch.setenv(ENV_VAR, str(root))
    assert data_utils.default_cifar10_dir() == root
    d = get_CIFAR10_data(100, 10, 10)
    assert d["X_train"].shape == (100, 3, 32, 32)


# --- find_cifar10 ---------------------------------------------------------------------------


def copy_as_real(src, dest):
    """Copy a synthetic folder and drop the synthetic marker, so it looks like the real thing."""
    dest.mkdir(parents=True)
    for name in BATCH_FILES:
        (dest / name).write_bytes((src / name).read_bytes())
    meta = raw(src / "batches.meta")
    del meta[b"synthetic"], meta[b"seed"]
    with open(dest / "batches.meta", "wb") as f:
        pickle.dump(meta, f, protocol=2)


def test_find_cifar10_prefers_real_data(tmp_path, synthetic, no_env, capsys):
    root = synthetic
    real = tmp_path / "cifar-10-batches-py"
    copy_as_real(root, real)
    assert find_cifar10(datasets_dir=tmp_path) == (real, False)
    assert capsys.readouterr().out == ""
    assert not (tmp_path / "synthetic-cifar-10-batches-py").exists()


def test_find_cifar10_falls_back_to_synthetic_and_reuses_it(tmp_path, no_env, capsys):
    path, is_synthetic = find_cifar10(datasets_dir=tmp_path)
    assert (path, is_synthetic) == (tmp_path / "synthetic-cifar-10-batches-py", True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert "SYNTHETIC" in lines[0]
    assert "get_datasets.sh" in lines[0]
    assert load_CIFAR10_meta(path) == CIFAR10_NAMES
    written = {p.name: p.stat().st_mtime_ns for p in path.iterdir()}

    # prefer_real=False uses it even when real data is there; nothing is rewritten.
    copy_as_real(path, tmp_path / "cifar-10-batches-py")
    assert find_cifar10(prefer_real=False, datasets_dir=tmp_path) == (path, True)
    assert "SYNTHETIC" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in path.iterdir()} == written


def test_find_cifar10_honours_env_var(tmp_path, synthetic, monkeypatch, capsys):
    root = synthetic
    monkeypatch.setenv(ENV_VAR, str(root))
    assert find_cifar10(datasets_dir=tmp_path) == (root, True)  # it is the synthetic set
    assert not (tmp_path / "synthetic-cifar-10-batches-py").exists()


# --- learnability ---------------------------------------------------------------------------


def test_synthetic_set_is_learnable_but_not_trivial(synthetic):
    """A nearest-class-mean and a softmax classifier (plain numpy) beat chance by far."""
    root = synthetic
    d = get_CIFAR10_data(4000, 0, 1000, cifar10_dir=root)
    X = d["X_train"].reshape(4000, -1).astype(np.float64)
    Xt = d["X_test"].reshape(1000, -1).astype(np.float64)
    scale = X.std()
    X /= scale
    Xt /= scale
    y, yt = d["y_train"], d["y_test"]

    means = np.stack([X[y == c].mean(axis=0) for c in range(10)])
    dists = (Xt**2).sum(1)[:, None] - 2 * Xt @ means.T + (means**2).sum(1)[None, :]
    ncm_acc = np.mean(dists.argmin(axis=1) == yt)

    rng = np.random.default_rng(0)
    W = np.zeros((X.shape[1], 10))
    for _ in range(5):  # epochs of minibatch SGD on the softmax loss
        for idx in np.array_split(rng.permutation(len(X)), 20):
            scores = X[idx] @ W
            scores -= scores.max(axis=1, keepdims=True)
            p = np.exp(scores)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), y[idx]] -= 1
            W -= 1e-2 * (X[idx].T @ p / len(idx) + 1e-3 * W)
    softmax_acc = np.mean((Xt @ W).argmax(axis=1) == yt)

    assert 0.3 < ncm_acc < 0.9, ncm_acc
    assert 0.3 < softmax_acc < 0.95, softmax_acc
