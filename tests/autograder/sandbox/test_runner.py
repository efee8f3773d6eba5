"""run_probes: student code in sandboxed children, one outcome per call, a bad call costs itself.

Student packages are written into tmp_path; the probes come from
tests/autograder/sandbox/runner_fixtures/probes.py.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from autograder.config import REPO_ROOT, Limits
from autograder.sandbox import containment, readback, runner
from autograder.sandbox.runner import ProbeCall, ProbeOutcome, RunnerError, run_probes
from autograder.sandbox.spawn import namespaces_available

PROBES = Path(__file__).parent / "runner_fixtures" / "probes.py"
LIMITS = Limits(wall_seconds=3, cpu_seconds=10)
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="uid drop needs root")
needs_namespaces = pytest.mark.skipif(not namespaces_available(),
                                      reason="needs root and mount/network namespaces")

MOD = '''
import ctypes
import os
import signal
import sys
import time

import numpy as np


def ok_add(x, y):
    return x + y


def forward(x):
    mean = x.mean(axis=0)
    if x.ndim == 1:
        return x - mean, {"mean": mean}, None
    return x - mean, {"mean": mean}


def raise_value(x):
    raise ValueError(f"bad shape {x.shape}")


def not_implemented(x):
    raise NotImplementedError("batchnorm_forward: implement the training-mode forward pass")


def call_sys_exit(x):
    sys.exit(0)


def raise_system_exit(x):
    raise SystemExit(3)


def hard_exit(x):
    os._exit(0)


def forever(x):
    while True:
        pass


def forever_ignoring_signals(x):
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGXCPU, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    while True:
        pass


def big_alloc(x):
    return np.ones(20 * 2**30 // 8)


def return_list(x):
    return [1.0, 2.0, 3.0]


def return_ragged(x):
    return [[1.0, 2.0], [3.0]]


def return_object(x):
    return np.array([object(), 1], dtype=object)


def return_none(x):
    return None


def return_str(x):
    return "hello"


def print_flood(x):
    for i in range(50_000):
        print("spam " * 20, i)
    sys.stderr.write("more spam\\n" * 1000)
    os.write(1, b"raw spam\\n" * 10000)
    return x * 2


def segfault(x):
    ctypes.string_at(0)


def sleep(x):
    time.sleep(float(x))
    return x


def forge_other(x):
    """Try to make a later call (that raises) look as if it passed."""
    key = f"{int(x):04d}"
    np.savez(f"{key}.npz", out=np.array([42.0]))
    with open(f"{key}.json", "w") as f:
        f.write('{"status": "ok"}')
    with open("progress", "a") as f:
        f.write(f"start {key}\\ndone {key}\\n")
    return x


def forge_symlink(x, target):
    """Make its own result a symlink to a file of the grader (a reference), then die."""
    lines = open("progress").read().splitlines()
    key = [line.split()[1] for line in lines if line.startswith("start ")][-1]
    os.symlink(bytes(target.astype(np.uint8)).decode(), f"{key}.npz")
    with open(f"{key}.json", "w") as f:
        f.write('{"status": "ok"}')
    with open("progress", "a") as f:
        f.write(f"done {key}\\n")
    os._exit(0)


def probe_env(x):
    flags = ["NORMLAB_FAKE_SECRET" in os.environ]
    try:
        open(f"/proc/{os.getppid()}/environ", "rb").read()
        flags.append(True)
    except OSError:
        flags.append(False)
    for name in ("autograder", "solutions"):
        try:
            __import__(name)
            flags.append(True)
        except ImportError:
            flags.append(False)
    return np.array(flags)


def probe_files(paths):
    """0 = read it, 1 = PermissionError, 2 = FileNotFoundError, 3 = another OSError."""
    codes = []
    for path in bytes(paths.astype(np.uint8)).decode().split("\\0"):
        try:
            open(path, "rb").read(1)
            codes.append(0)
        except PermissionError:
            codes.append(1)
        except FileNotFoundError:
            codes.append(2)
        except OSError:
            codes.append(3)
    return np.array(codes)


def probe_network(port):
    try:
        socket_module = __import__("socket")
        socket_module.create_connection(("127.0.0.1", int(port)), timeout=1).close()
        return np.array(0)
    except OSError:
        return np.array(1)


def fork_bomb(x):
    pids = []
    for _ in range(1000):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        pids.append(pid)
    return np.array(pids, dtype=np.int64)


def _inner(x):
    return x.reshape(7, 7)


def deep_error(x):
    return _inner(x) + 1


def kill_pipes(x):
    os.closerange(0, 3)
    return x + 1


def keyboard_interrupt(x):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(1)


def huge_output(x):
    return np.zeros(10 * 2**20)  # 80 MiB, above the 64 MiB output limit
'''


def make_package(root: Path, **modules: str) -> Path:
    pkg = root / "submission" / "assignment"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""The student package."""\n')
    for name, source in modules.items():
        (pkg / f"{name}.py").write_text(textwrap.dedent(source))
    return pkg.parent


def text_array(s: str) -> np.ndarray:
    return np.frombuffer(s.encode(), dtype=np.uint8).copy()


X = np.arange(6.0).reshape(2, 3)

# (id, probe, inputs) of the big job; order matters (see the comments).
BIG_JOB = [
    ("ok", "ok_add", {"x": np.array([1.0, 2.0]), "y": np.array([3.0, 4.0])}),
    ("two", "two_outputs", {"x": X}),
    ("value", "raise_value", {"x": X}),
    ("notimpl", "not_implemented", {"x": X}),
    ("sysexit", "call_sys_exit", {"x": X}),
    ("systemexit", "raise_system_exit", {"x": X}),
    ("list", "return_list", {"x": X}),
    ("ragged", "return_ragged", {"x": X}),
    ("object", "return_object", {"x": X}),
    ("none", "return_none", {"x": X}),
    ("str", "return_str", {"x": X}),
    ("raw_list", "raw:return_list", {"x": X}),
    ("flood", "print_flood", {"x": X}),
    ("bigalloc", "big_alloc", {"x": X}),
    ("after_alloc", "ok_add", {"x": X, "y": X}),
    ("deep", "deep_error", {"x": X}),
    ("syntax", "other:g", {"x": X}),
    ("after_syntax", "ok_add", {"x": X, "y": X}),
    ("forge", "forge_other", {"x": np.array(19)}),  # 19 = index of "forged"
    ("forged", "raise_value", {"x": X}),
    ("kill_pipes", "kill_pipes", {"x": X}),
    ("hardexit", "hard_exit", {"x": X}),  # the first child dies here...
    ("forever", "forever", {"x": X}),  # ...so this is first in its child: blamed at once
    ("after_forever", "ok_add", {"x": X, "y": X}),
    ("segv", "segfault", {"x": X}),
    ("ignoring", "forever_ignoring_signals", {"x": X}),
    ("after_ignoring", "ok_add", {"x": X, "y": X}),
    ("symlink", "forge_symlink", {"x": X}),  # "target" is added by the fixture
    ("last", "ok_add", {"x": X, "y": X}),
    ("kbint", "keyboard_interrupt", {"x": X}),
    ("huge", "huge_output", {"x": X}),
    ("probe_error", "two_outputs", {"x": X[0]}),  # forward returns a 3-tuple for 1-d input
]


@pytest.fixture(scope="module")
def big_job(tmp_path_factory):
    root = tmp_path_factory.mktemp("big")
    package_dir = make_package(root, mod=MOD, other="def g(x):\n    return x +\n")
    reference = root / "reference.npz"
    np.savez(reference, out=np.array([42.0]))
    calls = []
    for cid, probe, inputs in BIG_JOB:
        if cid == "symlink":
            inputs = {**inputs, "target": text_array(str(reference))}
        calls.append(ProbeCall(cid, probe, inputs))
    t0 = time.monotonic()
    outcomes = run_probes(package_dir, calls, LIMITS, probes_file=PROBES)
    return outcomes, time.monotonic() - t0


def outcome(outcomes, cid, status, message=None, *, starts=None, contains=None) -> ProbeOutcome:
    """``outcomes[cid]``, once its status is ``status`` and its message is ``message`` (or
    starts with ``starts``, or contains ``contains``); a failure shows the whole outcome."""
    found = outcomes[cid]
    assert found.status == status, (cid, found)
    if message is not None:
        assert found.message == message, (cid, found)
    if starts is not None:
        assert found.message.startswith(starts), (cid, found)
    if contains is not None:
        assert contains in found.message, (cid, found)
    return found


def test_outcomes_come_back_for_every_call_in_order(big_job):
    outcomes, seconds = big_job
    assert list(outcomes) == [cid for cid, _, _ in BIG_JOB]
    assert all(isinstance(o, ProbeOutcome) for o in outcomes.values())
    # two timeouts of 3 s, a handful of restarts; nothing paid the time limit twice
    assert seconds < 2 * LIMITS.wall_seconds + 8


def test_a_normal_call_returns_its_arrays(big_job):
    outcomes, _ = big_job
    np.testing.assert_array_equal(outcome(outcomes, "ok", "ok").arrays["out"], [4.0, 6.0])
    two = outcome(outcomes, "two", "ok")
    np.testing.assert_allclose(two.arrays["out"], X - X.mean(axis=0))
    np.testing.assert_allclose(two.arrays["mean"], X.mean(axis=0))
    assert two.arrays["out"].dtype == np.float64


def test_a_probe_error_message_is_passed_on_as_written(big_job):
    outcome(big_job[0], "probe_error", "error", "forward should return a tuple (out, cache)")


def test_an_exception_is_an_error_with_its_message(big_job):
    outcomes, _ = big_job
    assert outcome(outcomes, "value", "error", "ValueError: bad shape (2, 3)").arrays == {}
    outcome(outcomes, "notimpl", "error",
            "NotImplementedError: batchnorm_forward: implement the training-mode forward pass")


def test_the_traceback_shows_only_student_frames_without_grader_paths(big_job):
    deep = outcome(big_job[0], "deep", "error", starts="ValueError: cannot reshape array of size 6")
    assert "assignment/mod.py" in deep.traceback
    assert "in _inner" in deep.traceback and "in deep_error" in deep.traceback
    for secret in ("normlab-job", "/tmp", "child.py", "probes.py"):
        assert secret not in deep.traceback
        assert secret not in deep.message


def test_sys_exit_in_a_function_is_reported_and_the_run_goes_on(big_job):
    outcomes, _ = big_job
    outcome(outcomes, "sysexit", "error", "the code called sys.exit(0)")
    outcome(outcomes, "systemexit", "error", "the code called sys.exit(3)")
    outcome(outcomes, "list", "ok")  # the next call still ran in the same child


def test_os_exit_crashes_only_its_call(big_job):
    crash = outcome(big_job[0], "hardexit", "crashed", contains="exited with status 0")
    assert "os._exit()" in crash.message
    assert "/tmp" not in crash.message


def test_an_endless_loop_times_out_and_the_next_call_still_runs(big_job):
    outcomes, _ = big_job
    for loop, after in (("forever", "after_forever"), ("ignoring", "after_ignoring")):
        outcome(outcomes, loop, "timeout", starts="stopped after the 3 s time limit")
        outcome(outcomes, after, "ok")


def test_a_segfault_crashes_only_its_call(big_job):
    outcome(big_job[0], "segv", "crashed", contains="SIGSEGV")


def test_a_huge_allocation_is_a_memory_error_and_the_next_call_is_fine(big_job):
    outcomes, _ = big_job
    outcome(outcomes, "bigalloc", "error", starts="MemoryError")
    np.testing.assert_array_equal(outcome(outcomes, "after_alloc", "ok").arrays["out"], 2 * X)


def test_returned_values_are_checked(big_job):
    outcomes, _ = big_job
    # a list of numbers is converted to an array (values are what is graded)
    np.testing.assert_array_equal(outcome(outcomes, "list", "ok").arrays["out"], [1.0, 2.0, 3.0])
    outcome(outcomes, "ragged", "bad-output",
            starts="output 'out' is list and cannot be turned into")
    outcome(outcomes, "object", "bad-output",
            "output 'out' is an array of dtype object, expected numbers")
    outcome(outcomes, "none", "bad-output", "output 'out' is None, expected a numpy array")
    outcome(outcomes, "str", "bad-output", "output 'out' is str, expected a numpy array")
    outcome(outcomes, "raw_list", "bad-output",
            "the probe returned list, expected a dict of arrays")


def test_keyboard_interrupt_and_oversized_outputs_are_reported(big_job):
    outcomes, _ = big_job
    outcome(outcomes, "kbint", "error", starts="KeyboardInterrupt")
    outcome(outcomes, "huge", "bad-output", "the outputs take 80 MiB, more than the 64 MiB limit")


@pytest.fixture
def sigint_ignored():
    """SIGINT ignored in this process during the test, as in a grader started in the background
    of a script (``grade ... &`` without job control ignores SIGINT and SIGQUIT) or in a
    ``--workers`` process (autograder/grading/workers.py). Fork and exec pass that on to the
    sandboxed child."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGINT, before)


def test_a_keyboard_interrupt_is_reported_even_when_the_grader_ignores_sigint(tmp_path,
                                                                              sigint_ignored):
    package_dir = make_package(tmp_path, mod=MOD)
    outcomes = run_probes(package_dir, [ProbeCall("kbint", "keyboard_interrupt", {"x": X})],
                          LIMITS, probes_file=PROBES)
    outcome(outcomes, "kbint", "error", starts="KeyboardInterrupt")


def test_a_print_flood_and_closed_descriptors_break_nothing(big_job):
    outcomes, _ = big_job
    np.testing.assert_array_equal(outcome(outcomes, "flood", "ok").arrays["out"], 2 * X)
    np.testing.assert_array_equal(outcome(outcomes, "kill_pipes", "ok").arrays["out"], X + 1)


def test_a_syntax_error_fails_only_the_probes_of_that_module(big_job):
    outcomes, _ = big_job
    syntax = outcome(outcomes, "syntax", "error", starts="SyntaxError")
    assert "other.py" in syntax.traceback and "/tmp" not in syntax.traceback
    outcome(outcomes, "after_syntax", "ok")


def test_forged_results_do_not_turn_a_failing_call_into_a_pass(big_job):
    outcomes, _ = big_job
    outcome(outcomes, "forge", "ok")
    outcome(outcomes, "forged", "error", "ValueError: bad shape (2, 3)")


def test_a_symlink_to_a_grader_file_is_not_followed(big_job):
    outcomes, _ = big_job
    symlink = outcome(outcomes, "symlink", "bad-output", contains="could not be read back")
    assert symlink.arrays == {}
    outcome(outcomes, "last", "ok")


# ----------------------------------------------------------------------------------------------
# Smaller jobs


def test_an_import_time_loop_costs_the_time_limit_once(tmp_path):
    package_dir = make_package(tmp_path, mod=MOD,
                               slow="while True:\n    pass\n\ndef f(x):\n    return x\n")
    calls = [ProbeCall("slow1", "slow:f", {"x": X}), ProbeCall("slow2", "slow:f", {"x": X}),
             ProbeCall("fine", "ok_add", {"x": X, "y": X})]
    t0 = time.monotonic()
    outcomes = run_probes(package_dir, calls, LIMITS, probes_file=PROBES)
    assert time.monotonic() - t0 < LIMITS.wall_seconds + 3
    outcome(outcomes, "slow1", "timeout",
            "importing assignment.slow did not finish: stopped after the 3 s time limit")
    outcome(outcomes, "slow2", "error", "ImportError: importing assignment.slow did not finish "
            "earlier (stopped after the 3 s time limit)")
    outcome(outcomes, "fine", "ok")


def test_a_call_is_not_blamed_for_time_used_by_earlier_calls(tmp_path):
    package_dir = make_package(tmp_path, mod=MOD)
    calls = [ProbeCall("a", "sleep", {"x": np.array(1.6)}),
             ProbeCall("b", "sleep", {"x": np.array(1.6)})]
    outcomes = run_probes(package_dir, calls, LIMITS, probes_file=PROBES)
    assert [o.status for o in outcomes.values()] == ["ok", "ok"]
    assert outcomes["b"].seconds == pytest.approx(1.6, abs=0.3)


def test_repeated_crashes_of_one_function_skip_its_other_calls(tmp_path):
    package_dir = make_package(tmp_path, mod=MOD)
    calls = [ProbeCall(f"exit{i}", "hard_exit", {"x": X}) for i in range(5)]
    calls.append(ProbeCall("fine", "ok_add", {"x": X, "y": X}))
    outcomes = run_probes(package_dir, calls, LIMITS, probes_file=PROBES)
    assert [outcomes[f"exit{i}"].status for i in range(5)] == ["crashed"] * 5
    outcome(outcomes, "exit3", "crashed", starts="not run: 3 calls of the same function in a row")
    outcome(outcomes, "fine", "ok")


def test_too_many_failed_children_stop_the_job(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "MAX_FAILED_LAUNCHES", 2)
    package_dir = make_package(tmp_path, mod=MOD)
    calls = [ProbeCall("a", "hard_exit", {"x": X}), ProbeCall("b", "segfault", {"x": X}),
             ProbeCall("c", "ok_add", {"x": X, "y": X})]
    outcomes = run_probes(package_dir, calls, LIMITS, probes_file=PROBES)
    assert [o.status for o in outcomes.values()] == ["crashed", "crashed", "crashed"]
    assert outcomes["c"].message.startswith("not run: the code crashed or ran out of time 2 times")


def test_a_submission_without_the_package(tmp_path):
    outcomes = run_probes(tmp_path, [ProbeCall("a", "ok_add", {"x": X, "y": X})], LIMITS,
                          probes_file=PROBES)
    outcome(outcomes, "a", "error", "the submission has no assignment/ package")


def test_a_broken_probes_file_is_a_grader_error(tmp_path):
    package_dir = make_package(tmp_path, mod=MOD)
    probes = tmp_path / "bad_probes.py"
    probes.write_text("PROBES = {\n")
    with pytest.raises(RunnerError, match="did not start"):
        run_probes(package_dir, [ProbeCall("a", "ok_add", {"x": X, "y": X})], LIMITS,
                   probes_file=probes)


def test_the_job_directory_is_removed_even_when_the_child_locks_it(tmp_path, monkeypatch):
    made = []
    mkdtemp = containment.tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):
        made.append(Path(mkdtemp(*args, **kwargs)))
        return str(made[-1])

    monkeypatch.setattr(containment.tempfile, "mkdtemp", recording_mkdtemp)
    lock = "import os\ndef lock(x):\n    os.makedirs('a/b')\n    os.chmod('a', 0)\n    " \
           "os.chmod('.', 0o500)\n    return x\n"
    package_dir = make_package(tmp_path, mod=lock)
    outcomes = run_probes(package_dir, [ProbeCall("lock", "lock", {"x": X})], LIMITS,
                          probes_file=PROBES)
    assert outcomes["lock"].status == "crashed"  # it took away its own right to write results
    assert len(made) == 1 and not made[0].exists()


def test_call_ids_must_be_unique(tmp_path):
    with pytest.raises(ValueError, match="unique"):
        run_probes(tmp_path, [ProbeCall("a", "p", {}), ProbeCall("a", "p", {})], LIMITS, PROBES)


# ----------------------------------------------------------------------------------------------
# What the child can see


def test_the_child_sees_no_secrets_of_the_grader(tmp_path, monkeypatch):
    monkeypatch.setenv("NORMLAB_FAKE_SECRET", "hunter2")
    package_dir = make_package(tmp_path, mod=MOD)
    outcomes = run_probes(package_dir, [ProbeCall("env", "probe_env", {"x": X})], LIMITS,
                          probes_file=PROBES)
    in_env, parent_environ, autograder, solutions = outcome(outcomes, "env", "ok").arrays["out"]
    assert not in_env
    assert not autograder  # the autograder package cannot be imported
    if ROOT:
        assert not parent_environ  # another uid: /proc/<grader>/environ is closed
    if namespaces_available():
        assert not solutions  # the repository is hidden


@needs_root
def test_instructor_only_files_are_closed_to_the_child(tmp_path):
    secret = tmp_path / "instructor_only.npz"
    np.savez(secret, out=np.array([1.0]))
    os.chmod(secret, 0o600)
    solution = REPO_ROOT / "solutions" / "layers.py"
    paths = "\0".join([str(secret), "/etc/shadow", str(solution), "/proc/1/environ"])
    package_dir = make_package(tmp_path, mod=MOD)
    outcomes = run_probes(package_dir, [ProbeCall("f", "probe_files",
                                                  {"paths": text_array(paths)})],
                          LIMITS, probes_file=PROBES)
    secret_code, shadow, solution_code, init_environ = outcome(outcomes, "f", "ok").arrays["out"]
    assert secret_code in (1, 2)  # PermissionError (uid drop) or not even visible (namespaces)
    assert shadow == 1  # PermissionError: root could read it, the sandbox uid cannot
    assert init_environ == 1
    if namespaces_available():
        assert secret_code == 2 and solution_code == 2  # hidden from the child
    else:
        assert secret_code == 1


@needs_namespaces
def test_the_child_has_no_network(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        port = server.getsockname()[1]
        package_dir = make_package(tmp_path, mod=MOD)
        outcomes = run_probes(package_dir, [ProbeCall("net", "probe_network",
                                                      {"port": np.array(port)})],
                              LIMITS, probes_file=PROBES)
    finally:
        server.close()
    assert outcome(outcomes, "net", "ok").arrays["out"] == 1  # could not connect, even to localhost


@needs_root
def test_a_fork_bomb_is_bounded_and_cleaned_up(tmp_path):
    limits = Limits(wall_seconds=5, cpu_seconds=10, max_processes=32)
    package_dir = make_package(tmp_path, mod=MOD)
    outcomes = run_probes(package_dir, [ProbeCall("bomb", "fork_bomb", {"x": X})], limits,
                          probes_file=PROBES)
    pids = outcome(outcomes, "bomb", "ok").arrays["out"]
    assert 0 < len(pids) < 32  # the child itself counts too
    time.sleep(0.2)
    alive = [int(p) for p in pids if _alive_sandbox_process(int(p))]
    assert alive == []


def _alive_sandbox_process(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return fields["State"].strip()[0] != "Z" and fields["Uid"].split()[0] == "65534"


# ----------------------------------------------------------------------------------------------
# Parent-side helpers (no child involved)


def _npz_bytes(compress=False, **arrays):
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    return buf.getvalue()


def test_npz_loading_accepts_plain_numeric_arrays():
    arrays = readback._load_npz(_npz_bytes(a=np.arange(3.0), b=np.array(True), c=np.eye(2) * 1j))
    np.testing.assert_array_equal(arrays["a"], np.arange(3.0))
    assert arrays["b"].dtype == bool and arrays["c"].dtype == np.complex128


@pytest.mark.parametrize("data", [
    _npz_bytes(compress=True, a=np.zeros(10)),
    _npz_bytes(a=np.array(["text"])),
    b"not a zip file",
])
def test_npz_loading_rejects_anything_else(data):
    with pytest.raises((ValueError, zipfile.BadZipFile)):
        readback._load_npz(data)


def test_npz_loading_rejects_a_header_that_lies_about_the_size():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f8", "fortran_order": False, "shape": (10**9,)})
        zf.writestr("a.npy", header.getvalue() + b"\0" * 80)
    with pytest.raises(ValueError, match="does not match"):
        readback._load_npz(buf.getvalue())
