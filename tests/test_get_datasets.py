"""Tests of datasets/get_datasets.sh, run for real with bash against a loopback server.

Nothing here touches the network: the archive is a small tar.gz built from the synthetic writer
and served by an http.server on 127.0.0.1 (or read through a file:// URL). The script under test
is a copy placed in a temporary kit folder, run from a different working directory.
"""

from __future__ import annotations

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

pytestmark = pytest.mark.data

SCRIPT = Path(__file__).resolve().parent.parent / "datasets" / "get_datasets.sh"
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
    requests: list[str] = []
    handler = partial(type("Handler", (_QuietHandler,), {"requests": requests}), directory=www)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {
            "url": f"http://127.0.0.1:{server.server_address[1]}/cifar-10-python.tar.gz",
            "missing_url": f"http://127.0.0.1:{server.server_address[1]}/no-such-file.tar.gz",
            "archive": archive,
            "md5": hashlib.md5(archive.read_bytes()).hexdigest(),
            "src": src,
            "requests": requests,
        }
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def kit(tmp_path):
    """A fresh kit folder holding only datasets/get_datasets.sh; returns the datasets folder."""
    datasets = tmp_path / "kit" / "datasets"
    datasets.mkdir(parents=True)
    shutil.copy2(SCRIPT, datasets / "get_datasets.sh")
    return datasets


def run(datasets, url, md5, path=None, downloader=None):
    """Run the copied script from an unrelated folder; return the CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    for key in ("CIFAR10_URL", "CIFAR10_MD5", "CIFAR10_DOWNLOADER"):
        env.pop(key, None)
    env.update(CIFAR10_URL=url, CIFAR10_MD5=md5, no_proxy="127.0.0.1,localhost", LC_ALL="C")
    if path is not None:
        env["PATH"] = str(path)
    if downloader is not None:
        env["CIFAR10_DOWNLOADER"] = downloader
    elsewhere = datasets.parent.parent  # not the script's folder: the script must not care
    return subprocess.run(
        [BASH, str(datasets / "get_datasets.sh")],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def leftovers(datasets):
    """Everything in the datasets folder except the script and a finished data folder."""
    return sorted(
        p.name
        for p in datasets.iterdir()
        if p.name not in {"get_datasets.sh", "cifar-10-batches-py"}
    )


def assert_extracted(datasets, src):
    dest = datasets / "cifar-10-batches-py"
    assert sorted(p.name for p in dest.iterdir()) == sorted(BATCH_FILES)
    for name in BATCH_FILES:
        assert (dest / name).read_bytes() == (src / name).read_bytes(), name


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


@pytest.mark.parametrize("downloader", ["curl", "wget"])
def test_download_verify_extract_and_clean_up(served, kit, downloader):
    if shutil.which(downloader) is None:
        pytest.skip(f"{downloader} is not installed")
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
