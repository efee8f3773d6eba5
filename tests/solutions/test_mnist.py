"""solutions/mnist.py (the IDX format, MNIST folders) and solutions/synthetic_mnist.py.

The reader is tested against bytes built here by hand (the format's header written out with
``struct``), not only against its own writer; every corruption a download can suffer (a cut-off
file, a cut-off gzip stream, an HTML error page saved under the file's name) gives an IDXError
that names the file and the problem.
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from solutions import mnist
from solutions.mnist import MNIST_FILES, IDXError, read_idx, write_idx
from solutions.synthetic_mnist import main as synthetic_main
from solutions.synthetic_mnist import synthetic_digits, write_synthetic_mnist

pytestmark = pytest.mark.data


def idx_bytes(type_code, shape, payload):
    return struct.pack(">BBBB", 0, 0, type_code, len(shape)) + struct.pack(
        f">{len(shape)}I", *shape) + payload


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return write_synthetic_mnist(tmp_path_factory.mktemp("mnist"), 120, 30, seed=4)


# --------------------------------------------------------------------------------------------------
# IDX
# --------------------------------------------------------------------------------------------------


def test_reads_hand_made_files_plain_and_gzipped(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = idx_bytes(0x08, (2, 3, 4), images.tobytes())
    (tmp_path / "plain").write_bytes(raw)
    (tmp_path / "packed.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "packed-no-suffix").write_bytes(gzip.compress(raw))  # detected by content
    for name in ("plain", "packed.gz", "packed-no-suffix"):
        got = read_idx(tmp_path / name)
        assert got.dtype == np.uint8 and got.shape == (2, 3, 4)
        np.testing.assert_array_equal(got, images)
    ints = np.array([-2, 70000, 3], dtype=np.int32)
    (tmp_path / "ints").write_bytes(idx_bytes(0x0C, (3,), ints.astype(">i4").tobytes()))
    got = read_idx(tmp_path / "ints")
    assert got.dtype == np.int32 and got.dtype.isnative
    np.testing.assert_array_equal(got, ints)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_write_then_read_round_trips(tmp_path, dtype):
    array = (np.random.default_rng(0).normal(0, 50, (3, 5, 2))).astype(dtype)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "a", array)
    for name in ("a.gz", "a"):
        got = read_idx(tmp_path / name)
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, array)
    codes = {"uint8": 0x08, "int8": 0x09, "int16": 0x0B, "int32": 0x0C, "float32": 0x0D,
             "float64": 0x0E}
    with gzip.open(tmp_path / "a.gz") as f:
        assert f.read(4) == bytes([0, 0, codes[dtype], 3])  # the magic number


def test_writer_refuses_what_idx_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="no IDX type code"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="cannot be stored"):
        write_idx(tmp_path / "x", np.float64(1.0))


@pytest.mark.parametrize("content, message", [
    (b"<html>404 Not Found</html>", "bad magic number 0x3C68746D"),
    (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 9]), "bad magic number 0x00000701"),  # no such type
    (bytes([0, 0, 0x08, 0]), "bad magic number 0x00000800"),  # zero dimensions
    (b"\x00\x00", "truncated: 2 bytes"),
    (idx_bytes(0x08, (10, 28, 28), b"")[:9], "truncated inside the header"),
    (idx_bytes(0x08, (10, 28, 28), bytes(28 * 28 * 9)), "truncated: shape (10, 28, 28) needs "
                                                       "7840 bytes of values, the file has 7056"),
    (idx_bytes(0x08, (2,), b"\x01\x02\x03"), "1 bytes left over"),
])
def test_corrupt_files_are_refused_with_a_clear_message(tmp_path, content, message):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(IDXError, match="train-images-idx3-ubyte") as info:
        read_idx(path)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_a_cut_off_gzip_stream_is_a_truncated_download(tmp_path, small):
    whole = (small / MNIST_FILES["train_images"]).read_bytes()
    path = tmp_path / "cut.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(IDXError, match="gzip stream is truncated"):
        read_idx(path)
    path.write_bytes(b"\x1f\x8b" + bytes(40))
    with pytest.raises(IDXError, match="not a valid gzip file"):
        read_idx(path)


# --------------------------------------------------------------------------------------------------
# MNIST folders
# --------------------------------------------------------------------------------------------------


def test_load_MNIST_shapes_dtypes_and_labels(small):
    Xtr, ytr, Xte, yte = mnist.load_MNIST(small)
    assert Xtr.shape == (120, 28, 28) and Xtr.dtype == np.uint8
    assert Xte.shape == (30, 28, 28) and yte.shape == (30,)
    assert ytr.dtype == np.int64 and set(ytr.tolist()) == set(range(10))
    assert np.bincount(ytr).tolist() == [12] * 10  # balanced
    assert mnist.is_synthetic_mnist(small)


def test_unpacked_files_are_read_too(tmp_path, small):
    for name in MNIST_FILES.values():
        (tmp_path / name.removesuffix(".gz")).write_bytes(gzip.decompress(
            (small / name).read_bytes()))
    for got, want in zip(mnist.load_MNIST(tmp_path), mnist.load_MNIST(small), strict=True):
        np.testing.assert_array_equal(got, want)
    assert not mnist.is_synthetic_mnist(tmp_path)


def test_missing_and_mismatched_files(tmp_path, small):
    with pytest.raises(FileNotFoundError, match="No MNIST data found.*get_datasets.sh mnist"):
        mnist.load_MNIST(tmp_path)
    (tmp_path / MNIST_FILES["train_images"]).write_bytes(
        (small / MNIST_FILES["train_images"]).read_bytes())
    with pytest.raises(FileNotFoundError, match="incomplete.*t10k-labels-idx1-ubyte.gz"):
        mnist.load_MNIST(tmp_path)
    for role in ("train_labels", "test_images"):
        (tmp_path / MNIST_FILES[role]).write_bytes((small / MNIST_FILES[role]).read_bytes())
    write_idx(tmp_path / MNIST_FILES["test_labels"], np.zeros(29, dtype=np.uint8))
    with pytest.raises(IDXError, match="expected 30 labels"):
        mnist.load_MNIST(tmp_path)
    write_idx(tmp_path / MNIST_FILES["test_labels"], np.full(30, 10, dtype=np.uint8))
    with pytest.raises(IDXError, match="digits 0..9"):
        mnist.load_MNIST(tmp_path)


def test_get_MNIST_data_splits_flattens_and_scales(small):
    data = mnist.get_MNIST_data(100, 20, 30, mnist_dir=small)
    Xtr, ytr, _, _ = mnist.load_MNIST(small)
    assert data["X_train"].shape == (100, 784) and data["X_train"].dtype == np.float32
    assert data["X_val"].shape == (20, 784) and data["X_test"].shape == (30, 784)
    assert data["X_train"].min() >= 0.0 and data["X_train"].max() <= 1.0
    np.testing.assert_allclose(data["X_val"][0] * 255, Xtr[100].ravel(), atol=1e-4)
    np.testing.assert_array_equal(data["y_val"], ytr[100:120])
    with pytest.raises(ValueError, match="has 120 training and 30 test images"):
        mnist.get_MNIST_data(100, 21, 30, mnist_dir=small)
    with pytest.raises(ValueError, match="non-negative integers"):
        mnist.get_MNIST_data(-1, 0, 0, mnist_dir=small)


def test_find_mnist_prefers_real_data_and_falls_back_to_synthetic(tmp_path, monkeypatch, capsys,
                                                                  small):
    monkeypatch.delenv(mnist.ENV_VAR, raising=False)
    path, synthetic = mnist.find_mnist(datasets_dir=tmp_path)
    assert path == tmp_path / "synthetic-mnist" and synthetic
    assert "SYNTHETIC MNIST" in capsys.readouterr().out
    assert len(mnist.load_MNIST(path)[0]) == 6000
    monkeypatch.setenv(mnist.ENV_VAR, str(small))
    assert mnist.find_mnist(datasets_dir=tmp_path) == (small, True)
    assert mnist.find_mnist(prefer_real=False, datasets_dir=tmp_path)[0] == path


# --------------------------------------------------------------------------------------------------
# The synthetic set
# --------------------------------------------------------------------------------------------------


def test_writing_twice_gives_the_same_bytes_and_test_split_ignores_num_train(tmp_path):
    a = write_synthetic_mnist(tmp_path / "a", 50, 20, seed=7)
    b = write_synthetic_mnist(tmp_path / "b", 50, 20, seed=7)
    c = write_synthetic_mnist(tmp_path / "c", 70, 20, seed=7)
    for name in MNIST_FILES.values():
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / MNIST_FILES["test_images"]).read_bytes() == (
        c / MNIST_FILES["test_images"]).read_bytes()
    assert (a / MNIST_FILES["train_images"]).read_bytes() != (
        write_synthetic_mnist(tmp_path / "d", 50, 20, seed=8) / MNIST_FILES["train_images"]
    ).read_bytes()


def test_digits_look_like_mnist_and_are_learnable_but_not_trivial():
    X, y = synthetic_digits(2000, seed=1)
    assert X.dtype == np.uint8 and X.shape == (2000, 28, 28)
    assert np.median(X) == 0 and X.max() == 255  # dark background, bright strokes
    ink = (X > 128).mean(axis=(1, 2))
    assert 0.04 < ink.mean() < 0.3
    # Nearest class mean, fitted on 1500 images and scored on 500: far above chance (10 %) but
    # well below perfect, so training curves have something to show.
    flat = X.reshape(len(X), -1) / 255.0
    means = np.stack([flat[:1500][y[:1500] == c].mean(axis=0) for c in range(10)])
    predicted = np.argmin(((flat[1500:, None] - means[None]) ** 2).sum(-1), axis=1)
    accuracy = (predicted == y[1500:]).mean()
    assert 0.45 < accuracy < 0.95, accuracy


def test_command_line(tmp_path, capsys):
    assert synthetic_main([str(tmp_path / "out"), "--num-train", "20", "--num-test", "10"]) == 0
    assert "wrote synthetic MNIST (20 train / 10 test images" in capsys.readouterr().out
    assert mnist.load_MNIST(tmp_path / "out")[2].shape == (10, 28, 28)
    with pytest.raises(SystemExit):
        synthetic_main([str(tmp_path / "bad"), "--num-test", "0"])
