"""Tests of datasets/get_datasets.sh, run for real with bash against a loopback server.

Nothing here touches the network: the archive is a small tar.gz built from the synthetic writer
and served by an http.server on 127.0.0.1 (or read through a file:// URL). The script under test
is a copy placed in a temporary kit folder, run from a different working directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
from functools import partial
from pathlib import Path

import pytest

from solutions.synthetic_cifar import BATCH_FILES, write_synthetic_cifar10
from tests.support.paths import REPO

pytestmark = pytest.mark.data

SCRIPT = REPO / "datasets" / "get_datasets.sh"
BASH = shutil.which("bash")
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"

if BASH is None:  # pragma: no cover - every supported system has bash
    pytest.skip("bash is not installed", allow_module_level=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()


@contextlib.contextmanager
def _serving(www: Path):
    """Serve ``www`` on 127.0.0.1 in a thread; yield (base URL, the list of requested paths)."""
    requests: list[str] = []
    handler = partial(type("Handler", (_QuietHandler,), {"requests": requests}), directory=www)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Serve a small CIFAR-style archive on 127.0.0.1; yield a dict describing it."""
    root = tmp_path_factory.mktemp("served")
    src = write_synthetic_cifar10(root / "build" / "cifar-10-batches-py", 20, 5, seed=1)
    www = root / "www"
    www.mkdir()
    archive = www / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    with _serving(www) as (base, requests):
        yield {
            "url": f"{base}/cifar-10-python.tar.gz",
            "missing_url": f"{base}/no-such-file.tar.gz",
            "archive": archive,
            "md5": hashlib.md5(archive.read_bytes()).hexdigest(),
            "src": src,
            "requests": requests,
        }


@pytest.fixture
def kit(tmp_path):
    """A fresh kit folder holding only datasets/get_datasets.sh; returns the datasets folder."""
    datasets = tmp_path / "kit" / "datasets"
    datasets.mkdir(parents=True)
    shutil.copy2(SCRIPT, datasets / "get_datasets.sh")
    return datasets


#: Each data set's hooks (URL, MD5, downloader) and the script's arguments for it.
HOOKS = {"cifar10": (("CIFAR10_URL", "CIFAR10_MD5", "CIFAR10_DOWNLOADER"), ()),
         "mnist": (("MNIST_URL", "MNIST_MD5S", "MNIST_DOWNLOADER"), ("mnist",))}


def run(datasets, url, md5, path=None, downloader=None, data_set="cifar10", args=None):
    """Run the copied script for ``data_set`` from an unrelated folder, with its URL, MD5 (for
    MNIST: the four, space separated) and downloader hooks set; return the CompletedProcess."""
    (url_hook, md5_hook, downloader_hook), default_args = HOOKS[data_set]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    for hooks, _ in HOOKS.values():
        for key in hooks:
            env.pop(key, None)
    env.update({url_hook: url, md5_hook: md5}, no_proxy="127.0.0.1,localhost", LC_ALL="C")
    if path is not None:
        env["PATH"] = str(path)
    if downloader is not None:
        env[downloader_hook] = downloader
    elsewhere = datasets.parent.parent  # not the script's folder: the script must not care
    return subprocess.run(
        [BASH, str(datasets / "get_datasets.sh"), *(default_args if args is None else args)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def leftovers(datasets, done="cifar-10-batches-py"):
    """Everything in the datasets folder except the script and a finished data folder."""
    return sorted(p.name for p in datasets.iterdir() if p.name not in {"get_datasets.sh", done})


def assert_extracted(datasets, src):
    dest = datasets / "cifar-10-batches-py"
    assert sorted(p.name for p in dest.iterdir()) == sorted(BATCH_FILES)
    for name in BATCH_FILES:
        assert (dest / name).read_bytes() == (src / name).read_bytes(), name


@pytest.fixture(params=["curl", "wget"])
def downloader(request):
    """Each downloader the script can use, skipped where it is not installed."""
    if shutil.which(request.param) is None:
        pytest.skip(f"{request.param} is not installed")
    return request.param


def closed_port():
    """A loopback port nobody listens on (just released by us)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def restricted_path(tmp_path, tools):
    """A bin folder with symlinks to just these tools (name -> executable path)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, target in tools.items():
        (bin_dir / name).symlink_to(target)
    return bin_dir


def test_script_syntax_and_official_defaults():
    proc = subprocess.run([BASH, "-n", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in text
    assert OFFICIAL_MD5 in text
    for hook in ("CIFAR10_URL", "CIFAR10_MD5"):
        assert f"#   {hook}" in text, f"{hook} is not documented in the header"


def test_download_verify_extract_and_clean_up(served, kit, downloader):
    proc = run(kit, served["url"], served["md5"], downloader=downloader)
    assert proc.returncode == 0, proc.stderr
    assert_extracted(kit, served["src"])
    assert leftovers(kit) == [], "archive or temporary folder left behind"
    assert "ready" in proc.stdout


def test_second_run_is_idempotent_and_downloads_nothing(served, kit):
    first = run(kit, served["url"], served["md5"])
    assert first.returncode == 0, first.stderr
    before = {p.name: p.stat().st_mtime_ns for p in (kit / "cifar-10-batches-py").iterdir()}
    n_requests = len(served["requests"])

    second = run(kit, served["url"], served["md5"])
    assert second.returncode == 0, second.stderr
    assert "already" in second.stdout
    assert len(served["requests"]) == n_requests, "second run downloaded again"
    after = {p.name: p.stat().st_mtime_ns for p in (kit / "cifar-10-batches-py").iterdir()}
    assert after == before
    assert leftovers(kit) == []


def test_file_url_with_curl(served, kit):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (wget cannot read file:// URLs)")
    proc = run(kit, served["archive"].as_uri(), served["md5"], downloader="curl")
    assert proc.returncode == 0, proc.stderr
    assert_extracted(kit, served["src"])
    assert leftovers(kit) == []


def test_checksum_uppercase_is_accepted(served, kit):
    proc = run(kit, served["url"], served["md5"].upper())
    assert proc.returncode == 0, proc.stderr


def test_bad_checksum_fails_and_leaves_nothing(served, kit):
    proc = run(kit, served["url"], "0" * 32)
    assert proc.returncode != 0
    assert "checksum" in proc.stderr.lower()
    assert served["md5"] in proc.stderr  # says what it got
    assert not (kit / "cifar-10-batches-py").exists()
    assert leftovers(kit) == []


def test_unreachable_url_fails_fast_with_clear_message(kit):
    start = time.monotonic()
    proc = run(kit, f"http://127.0.0.1:{closed_port()}/cifar-10-python.tar.gz", OFFICIAL_MD5)
    assert time.monotonic() - start < 10
    assert proc.returncode != 0
    assert "could not download" in proc.stderr
    assert "offline" in proc.stderr
    assert not (kit / "cifar-10-batches-py").exists()
    assert leftovers(kit) == []


def test_http_error_fails_and_leaves_nothing(served, kit):
    proc = run(kit, served["missing_url"], served["md5"])
    assert proc.returncode != 0
    assert "could not download" in proc.stderr
    assert leftovers(kit) == []
    assert not (kit / "cifar-10-batches-py").exists()


def test_incomplete_folder_is_reported_not_touched(served, kit):
    dest = kit / "cifar-10-batches-py"
    dest.mkdir()
    (dest / "data_batch_1").write_bytes(b"partial")
    proc = run(kit, served["url"], served["md5"])
    assert proc.returncode != 0
    assert "incomplete" in proc.stderr
    assert "test_batch" in proc.stderr
    assert [p.name for p in dest.iterdir()] == ["data_batch_1"]
    assert (dest / "data_batch_1").read_bytes() == b"partial"
    assert leftovers(kit) == []


def test_manually_downloaded_archive_is_used_then_removed(served, kit):
    shutil.copy(served["archive"], kit / "cifar-10-python.tar.gz")
    proc = run(kit, f"http://127.0.0.1:{closed_port()}/unused.tar.gz", served["md5"])
    assert proc.returncode == 0, proc.stderr
    assert_extracted(kit, served["src"])
    assert leftovers(kit) == []


def _base_tools():
    tools = {}
    for name in ("mktemp", "rm", "mkdir", "mv", "tar", "gzip", "tr"):
        found = shutil.which(name)
        if found is None:
            pytest.skip(f"{name} is not installed")
        tools[name] = found
    return tools


def test_python_md5_fallback_without_md5sum(served, kit, tmp_path):
    tools = _base_tools()
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    tools.update(curl=shutil.which("curl"), python3=sys.executable)
    proc = run(kit, served["url"], served["md5"], path=restricted_path(tmp_path, tools))
    assert proc.returncode == 0, proc.stderr
    assert_extracted(kit, served["src"])
    assert leftovers(kit) == []


def test_no_downloader_is_a_clear_error(served, kit, tmp_path):
    tools = _base_tools()
    proc = run(kit, served["url"], served["md5"], path=restricted_path(tmp_path, tools))
    assert proc.returncode != 0
    assert "neither curl nor wget" in proc.stderr
    assert leftovers(kit) == []


# --------------------------------------------------------------------------------------------------
# MNIST: `get_datasets.sh mnist`, four IDX .gz files served from the same loopback server
# --------------------------------------------------------------------------------------------------

MNIST_OFFICIAL_MD5S = ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                       "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")


@pytest.fixture(scope="module")
def served_mnist(tmp_path_factory):
    """The four files of a small synthetic MNIST on 127.0.0.1; yield a dict describing them."""
    from solutions.mnist import MNIST_FILES
    from solutions.synthetic_mnist import write_synthetic_mnist

    www = tmp_path_factory.mktemp("served-mnist")
    write_synthetic_mnist(www / "mnist", 40, 20, seed=3)
    names = list(MNIST_FILES.values())
    with _serving(www) as (base, requests):
        yield {
            "url": f"{base}/mnist",
            "src": www / "mnist",
            "names": names,
            "md5s": " ".join(hashlib.md5((www / "mnist" / n).read_bytes()).hexdigest()
                             for n in names),
            "requests": requests,
        }


def run_mnist(datasets, url, md5s, downloader=None, args=None):
    return run(datasets, url, md5s, downloader=downloader, data_set="mnist", args=args)


def test_mnist_defaults_are_the_official_files_and_checksums():
    text = SCRIPT.read_text()
    for md5 in MNIST_OFFICIAL_MD5S:
        assert md5 in text
    for hook in ("MNIST_URL", "MNIST_MD5S", "MNIST_DOWNLOADER"):
        assert f"#   {hook}" in text, f"{hook} is not documented in the header"
    from solutions.mnist import MNIST_FILES

    assert "MNIST_FILES=(" + " ".join(MNIST_FILES.values()) in " ".join(text.split())


def test_mnist_download_verify_and_move_into_place(served_mnist, kit, downloader):
    proc = run_mnist(kit, served_mnist["url"], served_mnist["md5s"], downloader=downloader)
    assert proc.returncode == 0, proc.stderr
    dest = kit / "mnist"
    assert sorted(p.name for p in dest.iterdir()) == sorted(served_mnist["names"])
    for name in served_mnist["names"]:
        assert (dest / name).read_bytes() == (served_mnist["src"] / name).read_bytes()
    assert leftovers(kit, done="mnist") == []
    assert "MNIST is ready" in proc.stdout

    from solutions.mnist import load_MNIST

    Xtr, ytr, Xte, yte = load_MNIST(dest)
    assert Xtr.shape == (40, 28, 28) and Xte.shape == (20, 28, 28)

    n_requests = len(served_mnist["requests"])
    again = run_mnist(kit, served_mnist["url"], served_mnist["md5s"])
    assert again.returncode == 0 and "already" in again.stdout
    assert len(served_mnist["requests"]) == n_requests, "second run downloaded again"


def test_mnist_bad_checksum_names_the_file_and_keeps_nothing(served_mnist, kit):
    md5s = served_mnist["md5s"].split()
    md5s[2] = "0" * 32
    proc = run_mnist(kit, served_mnist["url"], " ".join(md5s))
    assert proc.returncode != 0
    assert "checksum mismatch" in proc.stderr and "t10k-images-idx3-ubyte.gz" in proc.stderr
    assert leftovers(kit, done="mnist") == [] and not (kit / "mnist").exists()


def test_mnist_missing_file_on_the_server_fails_cleanly(served_mnist, kit, tmp_path):
    partial_www = tmp_path / "www"
    shutil.copytree(served_mnist["src"], partial_www)
    (partial_www / "t10k-labels-idx1-ubyte.gz").unlink()
    proc = run_mnist(kit, partial_www.as_uri(), served_mnist["md5s"], downloader="curl")
    assert proc.returncode != 0
    assert "could not download t10k-labels-idx1-ubyte.gz" in proc.stderr
    assert "offline" in proc.stderr
    assert leftovers(kit, done="mnist") == [] and not (kit / "mnist").exists()


def test_mnist_files_put_by_hand_are_used_then_moved(served_mnist, kit):
    for name in served_mnist["names"]:
        shutil.copy(served_mnist["src"] / name, kit / name)
    proc = run_mnist(kit, f"http://127.0.0.1:{closed_port()}/unused", served_mnist["md5s"])
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in kit.iterdir()) == ["get_datasets.sh", "mnist"]
    assert len(list((kit / "mnist").iterdir())) == 4


def test_mnist_md5s_hook_needs_four_and_an_unknown_data_set_is_refused(served_mnist, kit):
    proc = run_mnist(kit, served_mnist["url"], "abc def")
    assert proc.returncode != 0 and "four MD5s" in proc.stderr
    proc = run_mnist(kit, served_mnist["url"], served_mnist["md5s"], args=("imagenet",))
    assert proc.returncode == 2 and "unknown data set 'imagenet'" in proc.stderr
    assert "usage:" in proc.stderr
