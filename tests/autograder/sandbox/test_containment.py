"""containment / cgroups: totals per job (memory, processes, disk, output), stale state, reports.

The tests that need root and the machine's cgroups, mounts or both say so (``needs_*``); their
limits are tiny (a few MiB, a few processes), so they are safe on any machine. The path logic
of both cgroup layouts and the fallbacks run everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from autograder.config import REPO_ROOT, Limits, load_config
from autograder.grading import scheduler
from autograder.sandbox import cgroups, containment
from autograder.sandbox.spawn import run_python
from tests.support.processes import alive

ROOT = os.geteuid() == 0
FOUND = containment.support()
needs_cgroups = pytest.mark.skipif(not (FOUND.memory and FOUND.pids),
                                   reason=f"no memory+pids cgroup here ({FOUND.cgroup_why})")
needs_tmpfs = pytest.mark.skipif(not FOUND.tmpfs, reason=f"no tmpfs here ({FOUND.tmpfs_why})")
SMALL = Limits(wall_seconds=10, cpu_seconds=10, memory_bytes=1 * 2**30, max_processes=16,
               job_memory_bytes=96 * 2**20, job_disk_bytes=4 * 2**20, job_max_files=64,
               job_output_bytes=2**20)


@pytest.fixture
def fresh_support(monkeypatch):
    """support() probed again under the test's environment (and again after it)."""
    containment.support.cache_clear()
    yield monkeypatch
    containment.support.cache_clear()


def child(job: containment.Job, source: str, limits: Limits = SMALL, **kwargs):
    """Run ``source`` as a sandboxed child of ``job`` (in a fresh run folder of the job)."""
    os.chmod(job.path, 0o755)
    n = len(list(job.path.glob("run*")))
    work = job.path / f"run{n}"
    work.mkdir()
    script = job.path / f"script{n}.py"
    script.write_text(textwrap.dedent(source).lstrip())
    os.chmod(script, 0o644)
    return run_python(script, [], work, limits, job=job, **kwargs)


def leftovers(job_path: Path, group: cgroups.Cgroup | None) -> list[str]:
    left = [f"folder {job_path}"] if job_path.exists() else []
    left += [f"mount {p}" for _r, p, _t, _o in cgroups.mountinfo() if p == str(job_path)]
    if group is not None:
        left += [f"cgroup {d}" for d in group.dirs.values() if d.exists()]
    return left


# ----------------------------------------------------------------------------------------------
# Configuration


def test_limits_presets_and_their_checks(tmp_path):
    path = tmp_path / "release.toml"
    path.write_text('[limits]\npreset = "gradescope"\nwall_seconds = 10\n')
    limits = load_config(path).limits
    assert limits.job_memory_bytes == 384 * 2**20 and limits.wall_seconds == 10
    path.write_text('[limits]\npreset = "huge"\n')
    with pytest.raises(ValueError, match="preset must be one of"):
        load_config(path)
    path.write_text("[limits]\njob_disk_bytes = 0\n")
    with pytest.raises(ValueError, match="job_disk_bytes must be a positive number"):
        load_config(path)


def test_the_defaults_fit_two_workers_and_the_gradescope_preset_fits_768_mb(tmp_path):
    machine = 24 * 2**30
    assert 2 * Limits().job_memory_bytes <= machine / 2  # two jobs take at most half
    path = tmp_path / "release.toml"
    path.write_text('[limits]\npreset = "gradescope"\n')
    gradescope = load_config(path).limits
    grader = 256 * 2**20  # a worker's peak RSS in benchmarks/bench_grading.py: 251 MiB
    assert grader + gradescope.job_memory_bytes <= 0.9 * 768 * 10**6
    assert gradescope.job_disk_bytes < gradescope.job_memory_bytes  # its pages count there
    assert gradescope.max_file_bytes < gradescope.job_disk_bytes


# ----------------------------------------------------------------------------------------------
# Where the cgroups go (fake mount tables: both layouts, on any machine)


def test_v1_job_cgroups_go_below_the_graders_own(monkeypatch):
    monkeypatch.setattr(cgroups, "mountinfo", lambda: [
        ("/", "/sys/fs/cgroup/memory", "cgroup", "rw,memory"),
        ("/docker/abc", "/sys/fs/cgroup/pids", "cgroup", "rw,pids"),
        ("/", "/sys/fs/cgroup/unified", "cgroup2", "rw"),  # hybrid: no controllers there
    ])
    monkeypatch.setattr(cgroups, "_own_cgroups", lambda: {
        "memory": "/grading.service", "pids": "/docker/abc/inner", "": "/"})
    version, parents, why = cgroups.find("")
    assert version == "v1" and why == ""
    assert parents == {"memory": Path("/sys/fs/cgroup/memory/grading.service/normlab"),
                       "pids": Path("/sys/fs/cgroup/pids/inner/normlab")}
    _v, parents, _w = cgroups.find("/jobs.slice")
    assert parents["memory"] == Path("/sys/fs/cgroup/memory/jobs.slice")
    monkeypatch.setattr(cgroups, "mountinfo", lambda: [
        ("/", "/sys/fs/cgroup/memory", "cgroup", "rw,memory")])
    assert cgroups.find("")[2] == "no pids controller"
    monkeypatch.setattr(cgroups, "mountinfo", lambda: [])
    assert cgroups.find("") == (None, {}, "no cgroup memory or pids controller is mounted")


def test_v2_job_cgroups_enable_their_controllers_on_the_way_down(tmp_path, monkeypatch):
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (root / "cgroup.subtree_control").write_text("cpu\n")
    monkeypatch.setattr(cgroups, "mountinfo", lambda: [("/", str(root), "cgroup2", "rw")])
    monkeypatch.setattr(cgroups, "_own_cgroups", lambda: {"": "/user.slice/session-1.scope"})
    version, parents, why = cgroups.find("")
    assert version == "v2" and why == "" and parents == {"memory": root / "normlab",
                                                          "pids": root / "normlab"}
    assert cgroups.find("mine")[1]["pids"] == root / "user.slice/session-1.scope/mine"

    written = {}

    def write(path: Path, value: str) -> None:  # the kernel's side of a cgroupfs, faked
        written[str(path.relative_to(root))] = value
        path.write_text(value)

    real_mkdir = os.mkdir

    def mkdir(path, *args):
        real_mkdir(path, *args)
        for name in ("cgroup.controllers", "cgroup.subtree_control", "cgroup.procs"):
            Path(path, name).write_text("memory pids\n" if name == "cgroup.controllers" else "")

    monkeypatch.setattr(cgroups, "_write", write)
    monkeypatch.setattr(cgroups.os, "mkdir", mkdir)
    monkeypatch.setattr(cgroups.os, "makedirs", lambda path, exist_ok: mkdir(path))
    group = cgroups.Cgroup.create("v2", parents, "1-2-abc",
                                  Limits(job_memory_bytes=123456, max_processes=7))
    assert written == {"cgroup.subtree_control": "+memory +pids",
                       "normlab/cgroup.subtree_control": "+memory +pids",
                       "normlab/1-2-abc/memory.max": "123456",
                       "normlab/1-2-abc/pids.max": "7"}
    assert group.procs_files() == [root / "normlab/1-2-abc/cgroup.procs"]
    (root / "normlab/1-2-abc/memory.events").write_text("low 0\noom 2\noom_kill 2\n")
    assert group.oom_kills() == 2


def test_names_carry_their_owner_and_only_dead_owners_are_stale():
    me = containment.owner()
    assert me == f"{os.getpid()}-{containment._start_time(os.getpid())}"
    assert not containment._stale(f"{me}-abc123")
    proc = subprocess.Popen(["/bin/true"])
    proc.wait()
    assert containment._stale(f"{proc.pid}-1-abc123")  # gone
    pid1 = f"1-{containment._start_time(1)}"
    assert not containment._stale(f"{pid1}-x") and containment._stale("1-2-x")  # pid reused
    assert not containment._stale("not-ours") and not containment._stale("probe")


# ----------------------------------------------------------------------------------------------
# Fallbacks


def test_without_containment_a_job_is_a_plain_folder_and_the_report_says_so(fresh_support):
    fresh_support.setenv(containment.ENV, "off")
    found = containment.support()
    assert found.cgroup is None and not found.tmpfs
    assert found.cgroup_why == "NORMLAB_CONTAINMENT=off"
    lines = containment.report(SMALL)
    text = "\n".join(lines)
    assert "sandbox: per job, all its processes together: output 1 MiB" in text
    assert "NOT capped per job: memory (per process only: 1 GiB of address space each" in text
    assert "processes (per uid only: 16" in text and "disk (per file only: 64 MiB" in text
    with containment.Job(SMALL) as job:
        assert not job.mounted and job.cgroup is None and job.join_fds() == []
        res = child(job, "print(open('/proc/self/oom_score_adj').read())")
        assert res.ok, res.stderr_tail
        assert res.stdout_tail.strip() == "1000"  # the kernel's highest: killed first
        path = job.path
    assert not path.exists()


def test_a_grader_that_is_not_root_gets_per_process_limits_only(fresh_support):
    fresh_support.setattr(containment.os, "geteuid", lambda: 1000)
    found = containment.support()
    assert (found.cgroup, found.parents, found.tmpfs) == (None, {}, False)
    assert found.cgroup_why == found.tmpfs_why == "the grader does not run as root"
    text = "\n".join(containment.report(SMALL))
    assert "NOT capped per job: memory (per process only: 1 GiB of address space each; the " \
           "grader does not run as root)" in text
    assert "disk (per file only: 64 MiB; the grader does not run as root)" in text


V1_PIDS = [p for _r, p, t, o in cgroups.mountinfo() if t == "cgroup" and "pids" in o.split(",")]


@needs_cgroups
@pytest.mark.skipif(FOUND.cgroup != "v1" or not V1_PIDS or not shutil.which("unshare"),
                    reason="needs cgroup v1 pids and unshare")
def test_a_v1_controller_that_refuses_costs_only_its_own_cap():
    """pids mounted read-only (in a mount namespace of the test's own): the jobs keep their
    memory cgroup, and the report names the one that is missing and why."""
    script = ("from autograder.config import Limits\n"
              "from autograder.sandbox import containment\n"
              f"SMALL = {SMALL!r}\n"
              "print(*containment.report(SMALL), sep='\\n')\n"
              "with containment.Job(SMALL) as job:\n    print('dirs', *sorted(job.cgroup.dirs))\n")
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", f'mount -o remount,bind,ro {V1_PIDS[0]} && '
         f'exec "{sys.executable}" -c "$0"', script],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "per job, all its processes together: memory 96 MiB (cgroup v1), disk" in proc.stdout
    assert ("NOT capped per job: processes (per uid only: 16; cannot make a pids cgroup "
            "(Read-only file system))") in proc.stdout
    assert "dirs memory\n" in proc.stdout


def test_an_unknown_mode_is_refused(fresh_support):
    fresh_support.setenv(containment.ENV, "docker")
    with pytest.raises(ValueError, match="NORMLAB_CONTAINMENT"):
        containment.support()


def test_the_backends_announce_the_isolation_once_per_process(monkeypatch):
    monkeypatch.setattr(scheduler, "_announced", set())
    said = []
    config = load_config()
    scheduler.announce_isolation(config, said.append)
    scheduler.announce_isolation(config, said.append)
    assert said == scheduler.isolation_report(config)
    assert said[1:] == containment.report(config.limits)
    assert said[0].startswith("sandbox: isolation ")
    assert any(line.startswith("sandbox: per job, all its processes together:") for line in said)


# ----------------------------------------------------------------------------------------------
# The totals, for real (root, this machine's cgroups and mounts)


@needs_cgroups
@needs_tmpfs
def test_a_job_gets_its_cgroup_and_tmpfs_and_leaves_nothing():
    with containment.Job(SMALL) as job:
        group = job.cgroup
        assert job.mounted and group is not None
        st = os.statvfs(job.path)
        assert st.f_blocks * st.f_frsize == SMALL.job_disk_bytes and st.f_files == 64
        if FOUND.cgroup == "v1":
            assert int((group.dirs["memory"] / "memory.limit_in_bytes").read_text()) == \
                SMALL.job_memory_bytes
        assert (group.dirs["pids"] / "pids.max").read_text().strip() == "16"
        res = child(job, """
            print(open("/proc/self/cgroup").read())
            print("adj", open("/proc/self/oom_score_adj").read())
        """)
        assert res.ok, res.stderr_tail
        joined = {line.split(":", 2)[2] for line in res.stdout_tail.splitlines()
                  if line.count(":") >= 2 and job.name in line}
        assert len(joined) == len(set(group.dirs.values())), res.stdout_tail
        assert "adj 1000" in res.stdout_tail
        path = job.path
    assert leftovers(path, group) == []


@needs_cgroups
def test_the_memory_of_all_processes_together_is_capped():
    source = """
        import os
        kids = []
        for i in range(4):
            pid = os.fork()
            if pid == 0:
                chunks = [bytearray(b"x" * 2**20) for _ in range(64)]  # 64 MiB, touched
                os._exit(0)
            kids.append(pid)
        codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in kids]
        print(sorted(codes))
    """
    with containment.Job(SMALL) as job:  # 4 x 64 MiB > 96 MiB for the whole job
        res = child(job, source)
        assert res.ok, res.stderr_tail
        codes = eval(res.stdout_tail)  # noqa: S307 - our own script's repr
        assert -9 in codes, codes  # the kernel killed some of them ...
        assert job.oom_kills() >= 1 and job.peak_memory() <= SMALL.job_memory_bytes
        assert res.job_limit == "memory"  # (the child itself lived on and said so)
        res = child(job, "x = bytearray(b'x' * (200 * 2**20))\n")  # ... or the child itself
        assert res.signal == signal.SIGKILL and res.job_limit == "memory"
        assert res.describe() == ("killed: its processes together used the memory limit of a "
                                  "submission (96 MiB)")


@needs_cgroups
def test_the_processes_of_a_job_are_capped_together_and_killed_after_each_child():
    source = """
        import json, os, time
        made = []
        try:
            for _ in range(100):
                pid = os.fork()
                if pid == 0:
                    os.setsid()  # out of the process group: only the cgroup still has it
                    time.sleep(60)
                    os._exit(0)
                made.append(pid)
        except OSError as e:
            print(json.dumps([len(made), made, e.strerror]))
    """
    with containment.Job(SMALL) as job:
        res = child(job, source)
        assert res.ok, res.stderr_tail
        count, pids, _why = json.loads(res.stdout_tail)
        assert 0 < count < SMALL.max_processes
        assert job.cgroup.pids() == set()
        assert not any(alive(p) for p in pids)


@needs_cgroups
def test_the_next_child_gets_the_whole_process_limit_after_orphans_were_killed():
    """Killed orphans stay charged to the job's pids until init reaps them (lazily, on some
    machines): the grader waits for that, so the next child does not pay for the last one's."""
    orphans = """
        import os, time
        for _ in range(12):
            if os.fork() == 0:
                if os.fork() == 0:
                    time.sleep(60)  # a child of init from here on
                os._exit(0)
            os.wait()
    """
    forks = """
        import os, time
        made = 0
        try:
            for _ in range(20):
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                made += 1
        except OSError:
            pass
        print(made)
    """
    with containment.Job(SMALL) as job:
        assert child(job, orphans).ok
        res = child(job, forks)
        assert res.ok, res.stderr_tail
        assert int(res.stdout_tail) == SMALL.max_processes - 1  # all but the child itself


@needs_cgroups
def test_a_process_that_keeps_moving_to_new_pids_is_killed_too():
    """Fork, parent exits, again and again: a list of pids is out of date at once; the cgroup
    stops new processes before it kills."""
    runner = textwrap.dedent("""
        import os, signal, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            try:
                if os.fork() != 0:
                    os._exit(0)
            except OSError:  # the pids limit, until init has reaped the last ones
                time.sleep(0.001)
    """)
    with containment.Job(SMALL) as job:
        fds = job.join_fds()

        def join():
            for fd in fds:
                os.write(fd, str(os.getpid()).encode())

        proc = subprocess.Popen([sys.executable, "-c", runner], preexec_fn=join,
                                start_new_session=True)
        proc.wait()
        time.sleep(0.3)
        assert job.cgroup.pids(), "the runner is not running"
        job.kill_processes()
        assert job.cgroup.pids() == set()
        assert (job.cgroup.dirs["pids"] / "pids.max").read_text().strip() == "16"  # restored


#: Make things in the child's folder until it fails; print how many, and why.
FILL = """
import os
n = 0
try:
    for i in range({count}):
        {make}
        n += 1
except OSError as e:
    print(n, e.strerror)
"""


@needs_tmpfs
def test_the_disk_and_the_number_of_files_of_a_job_are_capped():
    with containment.Job(SMALL) as job:  # 4 MiB, 64 files
        res = child(job, FILL.format(
            count=100, make='with open(f"f{i}", "wb") as fh: fh.write(b"x" * 2**20)'))
        assert res.ok, res.stderr_tail
        written, why = res.stdout_tail.split(" ", 1)
        assert int(written) <= 4 and why.strip() == "No space left on device"  # not 100
        assert job.disk_full()
        containment.remove_tree(job.path / "run0")
        assert not job.disk_full()
        res = child(job, FILL.format(
            count=1000, make='os.close(os.open(f"e{i}", os.O_CREAT | os.O_WRONLY))'))
        assert res.ok, res.stderr_tail
        made, why = res.stdout_tail.split(" ", 1)
        assert int(made) < 64 and why.strip() == "No space left on device"


def test_the_output_of_a_job_is_capped_in_all():
    with containment.Job(SMALL) as job:
        res = child(job, "import os\nfor _ in range(50):\n    os.write(1, b'x' * 2**20)\n")
        assert res.job_limit == "output" and res.signal == signal.SIGKILL
        assert SMALL.job_output_bytes < res.output_bytes < 10 * 2**20
        assert res.describe() == ("stopped: wrote more than 1 MiB to stdout/stderr (the output "
                                  "limit of a submission)")
        assert job.output_budget() == containment.OUTPUT_GRACE
        res = child(job, "print('a warning line')\n")  # later children: a little still
        assert res.ok and res.stdout_tail == "a warning line\n" and res.job_limit is None
        res = child(job, "import os\nos.write(1, b'x' * 2 * containment_grace)\n".replace(
            "containment_grace", str(containment.OUTPUT_GRACE)))
        assert res.job_limit == "output"


@needs_cgroups
@needs_tmpfs
def test_what_a_killed_grader_left_is_removed_by_the_next(fresh_support, tmp_path):
    name = f"normlab-test-stale-{os.getpid()}"
    fresh_support.setenv(cgroups.CGROUP_ENV, name)
    grader = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import os, subprocess, sys, time
        from autograder.sandbox import containment
        from autograder.config import Limits
        job = containment.Job(Limits(max_processes=8))
        fds = job.join_fds()
        def join():
            for fd in fds:
                os.write(fd, str(os.getpid()).encode())
        sleeper = subprocess.Popen(["/bin/sleep", "300"], preexec_fn=join,
                                   start_new_session=True)
        print(job.path, sleeper.pid, *job.cgroup.dirs.values(), flush=True)
        time.sleep(300)
    """)], cwd=REPO_ROOT, env={**os.environ, cgroups.CGROUP_ENV: name},
        stdout=subprocess.PIPE, text=True)
    try:
        path, sleeper, *dirs = grader.stdout.readline().split()
    finally:
        grader.kill()  # SIGKILL: no clean-up of its own
        grader.wait()
    path, dirs = Path(path), [Path(d) for d in dirs]
    assert path.is_dir() and all(d.is_dir() for d in dirs)
    assert any(p == str(path) for _r, p, _t, _o in cgroups.mountinfo())
    assert Path(f"/proc/{sleeper}").exists()  # the student's process outlived its grader
    removed = containment.sweep_stale()
    assert any(path.name in r for r in removed), removed
    assert not path.exists() and not any(d.exists() for d in dirs)
    assert not any(p == str(path) for _r, p, _t, _o in cgroups.mountinfo())
    deadline = time.monotonic() + 30  # a bound only: init may reap lazily under load
    while Path(f"/proc/{sleeper}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # killed; reaped by init
    assert not Path(f"/proc/{sleeper}").exists()
    assert not any(d.parent.exists() for d in dirs)  # the empty parent went too


SYSTEM_PYTHON = "/usr/bin/python3"
SCRATCH_DRIVER = '''
import os, sys, textwrap
sys.path.insert(0, sys.argv[1])
from autograder.sandbox import containment
from autograder.config import Limits
from autograder.sandbox.spawn import run_python
token = sys.argv[2]
with containment.Job(Limits(wall_seconds=10)) as job:
    os.chmod(job.path, 0o755)
    (job.path / "run").mkdir()
    script = job.path / "script.py"
    script.write_text(
        "import os\\n"
        "for d in ('/tmp', '/var/tmp', '/dev/shm'):\\n"
        f"    open(d + '/{token}', 'w').write('left behind')\\n"
        f"os.makedirs('/tmp/{token}-dir/inner')\\n"
        "print('written', os.getuid())\\n")
    os.chmod(script, 0o644)
    res = run_python(script, [], job.path / "run", Limits(wall_seconds=10),
                     isolation="rlimits", job=job)
    print(res.stdout_tail.strip(), "|", res.stderr_tail[-500:])
'''


@pytest.mark.skipif(not ROOT, reason="uid drop needs root")
@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason="no /usr/bin/python3")
def test_rlimits_mode_as_root_removes_what_the_uid_left_in_scratch_space():
    """rlimits mode needs a Python the sandbox uid can reach: the system's (the venv's may live
    under /root). The child writes to every scratch directory; the grader removes it all."""
    token = f"normlab-test-scratch-{os.getpid()}"
    proc = subprocess.run([SYSTEM_PYTHON, "-I", "-c", SCRATCH_DRIVER, str(REPO_ROOT), token],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("written "), proc.stdout
    for d in ("/tmp", "/var/tmp", "/dev/shm"):
        assert not os.path.lexists(f"{d}/{token}")
    assert not os.path.lexists(f"/tmp/{token}-dir")
