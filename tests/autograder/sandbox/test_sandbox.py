"""sandbox.run_python: limits, clean environment, timeouts, leftovers, uid drop, namespaces.

The scripts here are tiny and import nothing heavy, so each child costs a few tens of ms.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from autograder.config import REPO_ROOT, Limits
from autograder.sandbox import confine, uids
from autograder.sandbox import spawn as sandbox
from autograder.sandbox.errors import SandboxError
from autograder.sandbox.spawn import (
    SandboxResult,
    bubblewrap_available,
    namespaces_available,
    run_python,
)
from tests.support.processes import alive

FAST = Limits(wall_seconds=5, cpu_seconds=5, memory_bytes=1 * 2**30)
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="uid drop needs root")
needs_namespaces = pytest.mark.skipif(not namespaces_available(),
                                      reason="needs root and mount/network namespaces")


@pytest.fixture
def job():
    """A job directory as the runner makes it: under the temp dir, readable, with a workdir."""
    d = Path(tempfile.mkdtemp(prefix="normlab-sandbox-test-"))
    os.chmod(d, 0o755)
    (d / "work").mkdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run(job: Path, source: str, limits: Limits = FAST, args=(), **kwargs) -> SandboxResult:
    script = job / "script.py"
    script.write_text(textwrap.dedent(source).lstrip())
    os.chmod(script, 0o644)
    return run_python(script, [str(a) for a in args], job / "work", limits, **kwargs)


# ----------------------------------------------------------------------------------------------
# describe()


def result(**kw) -> SandboxResult:
    base = dict(returncode=0, timed_out=False, signal=None, seconds=1.0, stdout_tail="",
                stderr_tail="", limits=Limits(wall_seconds=30, cpu_seconds=30), cpu_seconds=0.5)
    base.update(kw)
    return SandboxResult(**base)


@pytest.mark.parametrize("kw, sentence", [
    (dict(returncode=-9, timed_out=True, signal=9), "stopped after the 30 s time limit"),
    (dict(returncode=-24, signal=24), "killed by SIGXCPU: CPU time limit of 30 s"),
    (dict(returncode=-9, signal=9, cpu_seconds=30.0), "killed by SIGKILL: CPU time limit of 30 s"),
    (dict(returncode=-9, signal=9), "killed by SIGKILL (likely the memory limit)"),
    (dict(returncode=1, stderr_tail="Traceback...\nMemoryError\n"),
     "ran out of memory (MemoryError)"),
    (dict(returncode=-11, signal=11), "crashed with SIGSEGV (segmentation fault)"),
    (dict(returncode=-25, signal=25), "killed by SIGXFSZ: wrote a file larger than 64 MiB"),
    (dict(returncode=-15, signal=15), "killed by SIGTERM"),
    (dict(returncode=3), "exited with status 3"),
    (dict(returncode=-9, signal=9, job_limit="output"),
     "stopped: wrote more than 16 MiB to stdout/stderr (the output limit of a submission)"),
    (dict(returncode=-9, signal=9, job_limit="memory"),
     "killed: its processes together used the memory limit of a submission (4 GiB)"),
])
def test_describe_says_why_the_child_stopped(kw, sentence):
    assert result(**kw).describe() == sentence


# ----------------------------------------------------------------------------------------------
# Running


def test_a_normal_run_gets_a_clean_environment(job, monkeypatch):
    monkeypatch.setenv("NORMLAB_FAKE_SECRET", "hunter2")
    res = run(job, """
        import os, sys
        print(os.getcwd())
        print(os.environ["HOME"], os.environ["PATH"], os.environ["OPENBLAS_NUM_THREADS"])
        print("NORMLAB_FAKE_SECRET" in os.environ, sys.flags.isolated, repr(sys.stdin.read()))
        print(os.getuid(), sys.argv[1:])
    """, args=["a", "b c"])
    assert res.ok and res.returncode == 0 and res.signal is None and not res.timed_out
    work = str(job / "work")
    lines = res.stdout_tail.splitlines()
    assert lines[0] == work
    assert lines[1] == f"{work} /usr/bin:/bin 1"
    assert lines[2] == "False 1 ''"  # no secret; -I; stdin is /dev/null
    uid, argv = lines[3].split(" ", 1)
    assert argv == "['a', 'b c']"
    if ROOT:  # a free uid of the range (which one depends on other graders of this machine)
        first, last = uids.DEFAULT_UID_RANGE
        assert first <= int(uid) <= last and int(uid) != os.getuid()
    else:
        assert int(uid) == os.getuid()
    assert res.describe() == "exited with status 0"
    assert res.isolation == sandbox.default_isolation()


def test_student_processes_are_the_first_the_kernel_kills(job):
    res = run(job, """
        import os
        pid = os.fork()
        if pid == 0:
            os._exit(int(open("/proc/self/oom_score_adj").read()) == 1000)
        print(open("/proc/self/oom_score_adj").read().strip(), os.waitpid(pid, 0)[1] >> 8)
    """)
    assert res.ok, res.stderr_tail
    assert res.stdout_tail == "1000 1\n"  # the child and what it forks, in every mode


def test_exit_status_and_stderr_come_back(job):
    res = run(job, "import sys\nprint('oops', file=sys.stderr)\nsys.exit(3)\n")
    assert res.returncode == 3 and not res.ok
    assert res.stderr_tail == "oops\n"
    assert res.describe() == "exited with status 3"


def test_only_the_tail_of_a_flood_is_kept(job):
    res = run(job, """
        import sys
        for i in range(200_000):
            print(i)
        sys.stderr.write("e" * 100_000 + "END")
    """)
    assert res.ok
    assert len(res.stdout_tail) == sandbox.TAIL_BYTES
    assert res.stdout_tail.endswith("199999\n")
    assert len(res.stderr_tail) == sandbox.TAIL_BYTES and res.stderr_tail.endswith("eEND")


def test_the_wall_clock_limit_kills_the_child(job):
    t0 = time.monotonic()
    source = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: pass\n"
    res = run(job, source, limits=Limits(wall_seconds=1.5, cpu_seconds=10))
    assert res.timed_out and res.signal == signal.SIGKILL and res.returncode == -9
    # the child never ends by itself: any bound shows the kill; a loose one survives a busy machine
    assert 1.5 <= res.seconds < 12 and time.monotonic() - t0 < 15
    assert res.describe() == "stopped after the 1.5 s time limit"


def test_the_cpu_limit_stops_a_busy_child(job):
    res = run(job, "while True: pass\n", limits=Limits(wall_seconds=10, cpu_seconds=1))
    assert res.signal == signal.SIGXCPU and not res.timed_out
    assert res.describe() == "killed by SIGXCPU: CPU time limit of 1 s"


def test_ignoring_sigxcpu_ends_at_the_hard_cpu_limit(job):
    res = run(job, """
        import signal
        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
        while True:
            pass
    """, limits=Limits(wall_seconds=10, cpu_seconds=1))
    assert res.signal == signal.SIGKILL and not res.timed_out
    assert res.cpu_seconds >= 1
    assert res.describe() == "killed by SIGKILL: CPU time limit of 1 s"


def test_the_memory_limit_gives_memory_error(job):
    res = run(job, "x = bytearray(2 * 2**30)\n")
    assert res.returncode == 1
    assert res.describe() == "ran out of memory (MemoryError)"


def test_file_size_and_open_file_limits(job):
    res = run(job, """
        import os
        try:
            with open("big", "wb") as f:
                f.write(b"x" * (2 * 2**20))
        except OSError as e:
            print("write:", e.strerror)
        files = []
        try:
            for i in range(100):
                files.append(open(f"f{i}", "w"))
        except OSError as e:
            print("open:", e.strerror, len(files) < 32)
    """, limits=Limits(wall_seconds=5, max_file_bytes=2**20, max_open_files=32))
    assert res.ok, res.stderr_tail
    assert res.stdout_tail.splitlines() == ["write: File too large",
                                            "open: Too many open files True"]


def test_background_children_are_killed_after_a_normal_exit(job):
    res = run(job, """
        import os, time
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        print(pid, flush=True)
    """)
    assert res.ok
    pid = int(res.stdout_tail)
    time.sleep(0.1)
    assert not alive(pid)


@needs_namespaces
def test_a_setsid_escape_is_killed_too(job):
    res = run(job, """
        import os, time
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.setsid()
            if os.fork() == 0:
                os.write(w, str(os.getpid()).encode())
                os.close(1)
                os.close(2)
                time.sleep(60)
            os._exit(0)
        os.close(w)
        print(os.read(r, 100).decode(), flush=True)
    """)
    assert res.ok
    pid = int(res.stdout_tail)
    time.sleep(0.1)
    assert not alive(pid)


def test_an_unknown_isolation_is_refused(job):
    with pytest.raises(ValueError, match="isolation"):
        run(job, "pass\n", isolation="docker")


# ----------------------------------------------------------------------------------------------
# Root: uid drop; namespaces


@needs_root
def test_the_child_runs_under_the_configured_uid(job, monkeypatch):
    monkeypatch.setenv("NORMLAB_SANDBOX_UID", "54321")
    res = run(job, """
        import os
        open("written", "w").write("ok")
        print(os.getuid(), os.getgid(), os.getgroups())
    """)
    assert res.ok, res.stderr_tail
    assert res.stdout_tail == "54321 54321 []\n"
    assert (job / "work").stat().st_uid == 54321
    with pytest.raises(SandboxError, match="must not be 0"):
        monkeypatch.setenv("NORMLAB_SANDBOX_UID", "0")
        run(job, "pass\n")


@needs_root
def test_a_uid_range_gives_parallel_children_their_own_uids(job, monkeypatch):
    monkeypatch.setenv("NORMLAB_SANDBOX_UID", "70000-70099")
    other = Path(tempfile.mkdtemp(prefix="normlab-sandbox-test-"))
    os.chmod(other, 0o755)
    (other / "work").mkdir()
    results = {}

    def victim():
        results["victim"] = run(other, "import os, time\ntime.sleep(1.5)\nprint(os.getuid())\n")

    thread = threading.Thread(target=victim)
    thread.start()
    try:
        time.sleep(0.5)
        # kill(-1) signals every process of the caller's uid: with a shared uid, the victim too
        attacker = run(job, """
            import os, signal
            print(os.getuid(), flush=True)
            os.kill(-1, signal.SIGKILL)
        """)
    finally:
        thread.join()
        shutil.rmtree(other, ignore_errors=True)
    victim_result = results["victim"]
    assert attacker.ok  # (Linux spares the caller of kill(-1))
    assert victim_result.ok, victim_result.describe()
    seen = {int(attacker.stdout_tail), int(victim_result.stdout_tail)}
    assert len(seen) == 2 and all(70000 <= u <= 70099 for u in seen)
    assert uids._uids_in_use == set()  # handed back


@needs_root
def test_rlimits_mode_as_root_needs_a_python_the_sandbox_uid_can_reach(job):
    uid, _gid = uids.sandbox_ids()
    source = "import os\nprint(os.getuid())\n"
    if _python_reachable_by_sandbox_uid():
        res = run(job, source, isolation="rlimits")
        assert res.stdout_tail == f"{uid}\n"
    else:
        with pytest.raises(SandboxError, match="isolation='namespaces'"):
            run(job, source, isolation="rlimits")


@needs_namespaces
def test_namespaces_hide_the_repository_scratch_dirs_and_the_network(job):
    hidden = Path(tempfile.mkdtemp(prefix="normlab-hidden-", dir="/var/tmp"))
    try:
        (hidden / "secret.txt").write_text("answer")
        os.chmod(hidden, 0o755)
        os.chmod(hidden / "secret.txt", 0o644)
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        res = run(job, f"""
            import os, socket
            print(sorted(os.listdir("/tmp")), os.listdir("/var/tmp"), os.listdir("/dev/shm"))
            print(os.path.exists({str(REPO_ROOT / "solutions")!r}),
                  os.path.exists({str(hidden / "secret.txt")!r}))
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=1)
                print("connected")
            except OSError as e:
                print("no network:", e.strerror)
            try:
                open("/tmp/x", "w")
            except OSError as e:
                print("tmp:", e.strerror)
            print(os.getcwd(), open(os.path.join(os.getcwd(), "..", "script.py")).read(6))
        """, isolation="namespaces", hide=[REPO_ROOT])
        server.close()
    finally:
        shutil.rmtree(hidden)
    assert res.ok, res.stderr_tail
    lines = res.stdout_tail.splitlines()
    # Only this job is visible in /tmp -- plus the top folder of the Python installation when the
    # checkout (and so its .venv) lives under /tmp, as in a fresh clone there: that folder is a
    # bare mount point holding only the interpreter, checked by the solutions/ line below.
    python_dirs = {Path(p).relative_to("/tmp").parts[0]
                   for p in (sys.prefix, os.path.realpath(sys.prefix)) if p.startswith("/tmp/")}
    assert lines[0] == f"{sorted({job.name} | python_dirs)} [] []"
    assert lines[1] == "False False"
    assert lines[2] == "no network: Network is unreachable"
    assert lines[3] in ("tmp: Read-only file system", "tmp: Permission denied")
    assert lines[4] == f"{job / 'work'} import"


@needs_namespaces
def test_hiding_a_system_directory_is_refused(job):
    with pytest.raises(SandboxError, match="refusing to hide /usr"):
        run(job, "pass\n", isolation="namespaces", hide=[Path("/usr")])


# ----------------------------------------------------------------------------------------------
# bubblewrap (opt-in, only where installed)


def _python_reachable_by_sandbox_uid() -> bool:
    uid, gid = uids.sandbox_ids()
    return all(confine.first_blocked_dir(p, uid, gid) is None for p in confine.python_paths())


@pytest.mark.skipif(not bubblewrap_available(), reason="bwrap is not installed")
def test_bubblewrap_isolation(job):
    if ROOT and not _python_reachable_by_sandbox_uid():
        with pytest.raises(SandboxError, match="isolation='namespaces'"):
            run(job, "pass\n", isolation="bwrap")
        return
    res = run(job, """
        import os, socket
        print(os.listdir("/tmp"))
        try:
            socket.create_connection(("1.1.1.1", 80), timeout=1)
            print("connected")
        except OSError:
            print("no network")
        print(os.path.exists(os.path.expanduser("~")), os.getcwd())
    """, isolation="bwrap")
    assert res.ok, res.stderr_tail
    lines = res.stdout_tail.splitlines()
    assert lines[0] == str([job.name])  # a private /tmp with only this job in it
    assert lines[1] == "no network"
    assert lines[2] == f"True {job / 'work'}"

