"""Run one untrusted Python script in a child process, with limits; the parent never runs its code.

``run_python(script, args, workdir, limits)`` starts
``[sys.executable, "-I", "-B", script, *args]`` with ``cwd=workdir``, stdin from /dev/null, a
clean environment (``PATH=/usr/bin:/bin``, ``HOME=workdir``, one BLAS/OpenMP thread,
``MPLBACKEND=Agg``, ``LANG=C.UTF-8``; nothing of the parent's environment, so no tokens or
passwords), in a new session, and returns a `SandboxResult` (exit status, signal, time, the last
8 KiB of stdout and stderr). ``-I`` means: no ``PYTHONPATH``, no user site, no script directory
on ``sys.path``; it also makes Python ignore ``PYTHON*`` variables, so ``PYTHONHASHSEED`` and
``PYTHONDONTWRITEBYTECODE`` in the environment are informational (``-B`` does the latter).

This module starts, supervises and reads the child; beside it, `autograder.sandbox.uids` picks
and claims the child's uid, `autograder.sandbox.confine` plans the masks and sets limits, uid and
namespaces between fork and exec, `autograder.sandbox.reap` kills what a child leaves behind.

Isolation levels (``isolation=``), from weakest to strongest:

``"rlimits"`` (the only one available to a normal user)
    * ``RLIMIT_CPU`` (soft = ``cpu_seconds``: SIGXCPU; hard = +1 s: SIGKILL) bounds CPU time of
      each process; ``RLIMIT_AS`` bounds each process's address space (numpy raises MemoryError;
      it does *not* bound the sum over forked processes, nor tmpfs/shared memory);
      ``RLIMIT_FSIZE`` bounds the size of each written file (not their number, so not disk use);
      ``RLIMIT_NOFILE`` bounds open descriptors; ``RLIMIT_CORE=0``; ``RLIMIT_NPROC`` bounds the
      processes *of the real uid*, which means nothing for root and, for a normal user, counts
      that user's other processes too.
    * The wall-clock limit kills the whole process group (SIGKILL); after a normal exit the group
      is killed too, so background children die. A process that calls ``setsid()`` leaves the
      group and escapes this kill (it stays bound by its own CPU limit).
    * Run as a normal user, the child *is* that user: it can read everything the grader can
      (solutions, references, other submissions), use the network, signal the grader. This mode
      guards against accidents (infinite loops, huge arrays, crashes), not against cheating.
    * Run as root, the child drops to an unprivileged uid/gid (no supplementary groups,
      ``PR_SET_NO_NEW_PRIVS``): it cannot read root-only files (0600/0700), signal the grader,
      or write outside its workdir and world-writable directories; ``RLIMIT_NPROC`` now bounds
      fork bombs. The interpreter must be readable by that uid; if it is not (a Python under
      ``/root``), this mode refuses to run and ``"namespaces"`` is needed. Network is still
      open, and everything world-readable (a course repository under a 0755 home, say) is
      readable by the child.
    * Which uid: by default each child gets a uid of its own from `DEFAULT_UID_RANGE`
      (``NORMLAB_SANDBOX_UID=first-last`` for another range): one that no account, no group and
      no running process has, held with a lock file in `UID_LOCK_DIR` while the child runs, so
      no other child on the machine (another worker, another grader) gets it. Children then
      cannot signal each other, ``RLIMIT_NPROC`` is per child, and when the child ends every
      process still running as its uid is killed (a ``setsid()`` escape included).
      ``NORMLAB_SANDBOX_UID=<one uid>`` (65534 "nobody", say) makes all children share it:
      one student's ``os.kill(-1, SIGKILL)`` then kills every child running at that moment,
      they share the ``RLIMIT_NPROC`` budget, and escapes are not found by uid. (``child.py``
      also makes itself non-dumpable, so same-uid processes cannot ptrace it or read its /proc
      files.)

``"namespaces"`` (root only; the default for root when the kernel allows it)
    Everything of the root ``"rlimits"`` mode, plus private mount, network, IPC and UTS
    namespaces, set up before the uid drop:
    * network: only a loopback interface that is down, so no connection anywhere (not even to
      services of the grading machine on localhost);
    * filesystem: an empty read-only tmpfs over every top-level directory but the system's
      (``/usr``, ``/lib*``, ``/bin``, ``/sbin``, ``/etc``, ``/proc``, ``/sys``, ``/dev``):
      ``/home``, ``/root``, ``/tmp``, ``/var``, ``/run``, ``/opt``, ``/srv``, ``/mnt``, ... and
      ``/dev/shm``, over every ``hide=`` directory (the runner hides the autograder repository)
      and over directories the uid cannot traverse, with only the needed paths bound back in
      (the workdir, the ``readable=`` paths, the Python installation and numpy); regular files
      directly under ``/`` read as empty. So the solutions, reference outputs, the course,
      gradebook, OUT, other submissions and other checkouts of the repository are not there at
      all, wherever they live; no shared scratch space either (``/tmp``, ``/var/tmp``,
      ``/run/lock`` are empty and read-only). ``/usr``, ``/etc``, ``/sys`` stay visible,
      protected by permissions only;
    * ``/proc`` is a new instance mounted with ``hidepid=1``: the child cannot read other
      users' ``/proc/<pid>`` files (command lines, statuses, environments), though it sees
      their pids; the machine's load and memory figures stay visible;
    * leftovers: after the child ends, every process still in its mount namespace is killed
      (the parent holds the namespace open meanwhile, so its number cannot be given to another
      grader's child), so a ``setsid()`` escape does not survive either.

``"bwrap"`` (opt-in, needs ``bwrap`` on PATH; see `bubblewrap_available`)
    Runs the child inside bubblewrap with all namespaces unshared (network, pid, ipc, uts,
    user when possible), only ``/usr`` (+ ``/lib*``, ``/bin``), the Python installation and the
    ``readable=`` paths bound read-only, the workdir read-write, a private ``/proc``, ``/dev`` and
    ``/tmp``, ``--die-with-parent``; all processes die with its pid namespace. Meant for graders
    that do not run as root. Under root the uid drop happens before bwrap starts, so the
    interpreter must be reachable by the sandbox uid (as in ``"rlimits"``).

Totals per job (``job=``, a `containment.Job`): as root, every process of the child joins the
job's cgroup (memory and pids of all of them together) before exec, the job folder is a tmpfs of
limited size and inodes, and what the child writes to stdout/stderr counts against the job's
output budget (the child is killed once it is used up: ``job_limit == "output"``). Every child,
in every mode, gets ``oom_score_adj`` 1000: student code dies first when memory runs out. See
``containment.py`` for what is available where.

What none of them does: seccomp syscall filtering. The parent must treat every file in the
workdir as hostile: it is written by student code.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from autograder.config import Limits
from autograder.sandbox import containment, linux
from autograder.sandbox.confine import (
    NAMESPACES,
    first_blocked_dir,
    make_preexec,
    mask_plan,
    outermost,
    python_paths,
    unreadable,
)
from autograder.sandbox.containment import size_text as _size
from autograder.sandbox.errors import SandboxError
from autograder.sandbox.reap import hold_namespace, kill_namespace, kill_process_group, kill_uid
from autograder.sandbox.uids import holds, release_ids, sandbox_ids

__all__ = [
    "ISOLATIONS",
    "SandboxError",
    "SandboxResult",
    "bubblewrap_available",
    "default_isolation",
    "namespaces_available",
    "run_python",
]

ISOLATIONS = ("auto", "rlimits", "namespaces", "bwrap")
TAIL_BYTES = 8 * 1024

@dataclass
class SandboxResult:
    """What happened to one child process."""

    returncode: int | None  # negative: killed by that signal (as in subprocess)
    timed_out: bool  # the wall-clock limit ran out and the process group was killed
    signal: int | None  # the signal that ended the child, if any
    seconds: float  # wall-clock time
    stdout_tail: str  # the last TAIL_BYTES of stdout
    stderr_tail: str
    limits: Limits = dataclasses.field(default_factory=Limits)
    cpu_seconds: float | None = None  # user + system CPU time of the child (and reaped children)
    isolation: str = "rlimits"
    output_bytes: int = 0  # what the child wrote to stdout + stderr, in all
    job_limit: str | None = None  # a total of the job stopped it: "memory" or "output"

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def describe(self) -> str:
        """A short sentence for a human: why the child stopped."""
        lim = self.limits
        if self.job_limit == "output":
            return (f"stopped: wrote more than {_size(lim.job_output_bytes)} to stdout/stderr "
                    f"(the output limit of a submission)")
        if self.timed_out:
            return f"stopped after the {lim.wall_seconds:g} s time limit"
        if self.job_limit == "memory" and self.signal == signal.SIGKILL:
            return (f"killed: its processes together used the memory limit of a submission "
                    f"({_size(lim.job_memory_bytes)})")
        if "MemoryError" in self.stderr_tail:
            return "ran out of memory (MemoryError)"
        sig = self.signal
        cpu_exhausted = self.cpu_seconds is not None and self.cpu_seconds >= lim.cpu_seconds - 0.05
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_exhausted):
            return f"killed by {_signame(sig)}: CPU time limit of {lim.cpu_seconds} s"
        if sig == signal.SIGKILL:
            return "killed by SIGKILL (likely the memory limit)"
        if sig == signal.SIGXFSZ:
            return f"killed by SIGXFSZ: wrote a file larger than {_size(lim.max_file_bytes)}"
        if sig == signal.SIGSEGV:
            return "crashed with SIGSEGV (segmentation fault)"
        if sig == signal.SIGABRT:
            return "aborted (SIGABRT)"
        if sig is not None:
            return f"killed by {_signame(sig)}"
        return f"exited with status {self.returncode}"


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


# ----------------------------------------------------------------------------------------------
# What is available here


def bubblewrap_available() -> bool:
    """True when a ``bwrap`` executable is on PATH (it may still fail without user namespaces)."""
    return shutil.which("bwrap") is not None


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """True when running as root and the kernel lets us create mount+network namespaces."""
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return False
    libc = linux.libc()

    def probe():
        if libc.unshare(NAMESPACES) != 0:
            os._exit(3)

    try:
        rc = subprocess.run(["/bin/true"], preexec_fn=probe, timeout=10).returncode
    except (OSError, subprocess.SubprocessError):
        return False
    return rc == 0


def default_isolation() -> str:
    """What ``isolation="auto"`` picks: "namespaces" as root when possible, else "rlimits"."""
    return "namespaces" if namespaces_available() else "rlimits"


def isolation_summary() -> str:
    """One line for the grader's output: the isolation every child gets here, and what it means
    (``NORMLAB_SANDBOX_ISOLATION`` or, unset, `default_isolation`)."""
    isolation = os.environ.get("NORMLAB_SANDBOX_ISOLATION", "auto")
    if isolation == "auto":
        isolation = default_isolation()
    return f"sandbox: isolation {isolation}" + {
        "namespaces": " (a uid of its own per child; private mount, network, IPC and UTS "
                      "namespaces)",
        "rlimits": " (a uid of its own per child)" if os.geteuid() == 0 else
                   " as the grader's own user: guards against accidents, not cheating",
        "bwrap": " (bubblewrap)"}.get(isolation, "")


# ----------------------------------------------------------------------------------------------
# The parent side


def _clean_env(workdir: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NUMEXPR_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


def _bwrap_command(command: list[str], workdir: str, keeps: list[str], env: dict[str, str]
                   ) -> list[str]:
    bw = shutil.which("bwrap")
    if bw is None:
        raise SandboxError("isolation='bwrap' but no bwrap executable on PATH")
    cmd = [bw, "--die-with-parent", "--new-session", "--unshare-all", "--cap-drop", "ALL",
           "--clearenv", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for d in ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin"):
        if os.path.lexists(d):
            if os.path.islink(d):
                cmd += ["--symlink", os.readlink(d), d]
            else:
                cmd += ["--ro-bind", d, d]
    cmd += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    for k in outermost([k for k in keeps if k != workdir]):
        cmd += ["--ro-bind", k, k]
    cmd += ["--bind", workdir, workdir, "--chdir", workdir]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return [*cmd, "--", *command]


class _Tail:
    def __init__(self) -> None:
        self.data = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > 2 * TAIL_BYTES:
            del self.data[:-TAIL_BYTES]

    def text(self) -> str:
        return bytes(self.data[-TAIL_BYTES:]).decode("utf-8", errors="replace")


def run_python(script: Path, args: list[str], workdir: Path, limits: Limits, *,
               isolation: str = "auto", readable: Sequence[Path] = (),
               hide: Sequence[Path] = (), job: containment.Job | None = None) -> SandboxResult:
    """Run ``python -I -B script *args`` in ``workdir`` under ``limits``; never raises for
    anything the script does (crash, timeout, exit status); raises `SandboxError` when the
    sandbox itself cannot be set up.

    - workdir: the child's cwd and HOME; under root it is chowned to the sandbox uid (mode 0700).
      Everything in it is hostile afterwards.
    - readable: other paths the child must read (they must be readable by the sandbox uid).
    - hide: directories the child must not see (``"namespaces"`` mode; ignored otherwise).
    - isolation: one of ``ISOLATIONS``; ``"auto"`` = `default_isolation`.
    - job: the `containment.Job` the child belongs to (its cgroup, its output budget), if any.
    """
    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation must be one of {ISOLATIONS}, got {isolation!r}")
    if isolation == "auto":
        isolation = default_isolation()
    root = os.geteuid() == 0
    if isolation == "namespaces" and not namespaces_available():
        raise SandboxError("isolation='namespaces' needs root and mount/network namespaces")
    if isolation == "bwrap" and not bubblewrap_available():
        raise SandboxError("isolation='bwrap' but no bwrap executable on PATH")

    workdir = Path(os.path.abspath(workdir))
    script = Path(os.path.abspath(script))
    env = _clean_env(workdir)
    command = [sys.executable, "-I", "-B", str(script), *map(str, args)]
    keeps = outermost([str(workdir), str(script.parent), *map(os.path.abspath, readable),
                        *python_paths()])

    drop = sandbox_ids(claim=True) if root else None
    try:
        return _run(command, workdir, env, keeps, limits, isolation, drop, hide, job)
    finally:
        if drop is not None:
            if holds(drop[0]):  # a uid of its own: whatever still runs as it is its
                kill_uid(drop[0])
                if isolation != "namespaces":  # there scratch space is masked anyway
                    containment.remove_scratch_files(drop[0])
            release_ids(drop[0])


def _run(command: list[str], workdir: Path, env: dict[str, str], keeps: list[str],
         limits: Limits, isolation: str, drop: tuple[int, int] | None, hide: Sequence[Path],
         job: containment.Job | None) -> SandboxResult:
    plan = None
    if drop is not None:
        uid, gid = drop
        os.chown(workdir, uid, gid)
        os.chmod(workdir, 0o700)
        cannot_read = [k for k in keeps if unreadable(k, uid, gid)]
        if cannot_read:
            raise SandboxError(f"uid {uid} cannot read {', '.join(cannot_read)}")
        if isolation == "namespaces":
            plan = mask_plan(keeps, [os.path.abspath(h) for h in hide], uid, gid)
        else:
            blocked = {k: first_blocked_dir(k, uid, gid) for k in keeps}
            blocked = {k: b for k, b in blocked.items() if b is not None}
            if blocked:
                k, b = next(iter(blocked.items()))
                raise SandboxError(
                    f"uid {uid} cannot reach {k} ({b} is closed to it): install Python where "
                    f"that user can read it, or use isolation='namespaces'")
    if isolation == "bwrap":
        command = _bwrap_command(command, str(workdir), keeps, env)

    err_r, err_w = os.pipe()
    preexec = make_preexec(limits, drop, plan, err_w, job.join_fds() if job else ())
    oom_before = job.oom_kills() if job else 0
    budget = job.output_budget() if job else None
    start = time.monotonic()
    try:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, preexec_fn=preexec)
    except OSError as e:
        os.close(err_r)
        os.close(err_w)
        raise SandboxError(f"cannot start the sandboxed child: {e}") from e
    os.close(err_w)
    # The write end closed at exec (or at the child's exit if the setup failed): no blocking.
    setup = b""
    while chunk := os.read(err_r, 4096):
        setup += chunk
    os.close(err_r)
    setup_text = setup.decode(errors="replace")
    ns = ns_fd = None
    if setup_text.startswith("ns "):
        dev, ino = setup_text.split("\n", 1)[0].split()[1:3]
        ns = (int(dev), int(ino))
        ns_fd = hold_namespace(proc.pid, ns)
    def kill_all(settle: bool = False) -> None:
        kill_process_group(proc.pid)
        if job is not None:
            job.kill_processes(settle)

    try:
        timed_out, status, rusage, flooded = _supervise(
            proc, limits.wall_seconds, start, out := _Tail(), err := _Tail(), budget, kill_all)
    finally:
        kill_all(settle=proc.returncode is not None)  # the child is reaped: wait for the rest
        if ns_fd is not None:
            kill_namespace(ns)
            os.close(ns_fd)
        if proc.returncode is None:  # only when _supervise itself failed
            proc.kill()
            proc.wait()
    seconds = time.monotonic() - start
    _drain(proc, out, err)
    if "error " in setup_text:
        raise SandboxError(f"sandbox setup failed in the child: "
                           f"{setup_text.split('error ', 1)[1]}")
    if plan is not None and ns is None:
        raise SandboxError(f"the sandboxed child did not report its mount namespace (it said "
                           f"{setup_text[:200]!r}; status {status}, stderr "
                           f"{err.text()[-500:]!r})")

    rc = os.waitstatus_to_exitcode(status)
    written = out.total + err.total
    if job is not None:
        job.add_output(written)
    job_limit = "output" if flooded else None
    if job is not None and not flooded and job.oom_kills() > oom_before:
        job_limit = "memory"
    return SandboxResult(
        returncode=rc,
        timed_out=timed_out,
        signal=-rc if rc < 0 else None,
        seconds=seconds,
        stdout_tail=out.text(),
        stderr_tail=err.text(),
        limits=limits,
        cpu_seconds=rusage.ru_utime + rusage.ru_stime,
        isolation=isolation,
        output_bytes=written,
        job_limit=job_limit,
    )


def _supervise(proc: subprocess.Popen, wall: float, start: float, out: _Tail, err: _Tail,
               output_limit: int | None = None, kill_all=None):
    """Read stdout/stderr until the child exits or the wall time runs out; reap it. Once more
    than ``output_limit`` bytes came on both together, ``kill_all()`` (flooded: True)."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is not None:
        sel.register(pidfd, selectors.EVENT_READ, None)
    deadline = start + wall
    timed_out = flooded = False
    try:
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                kill_process_group(proc.pid)
                _pid, status, rusage = os.wait4(proc.pid, 0)
                break
            for key, _ in sel.select(timeout=min(remaining, 0.05 if pidfd is None else 1.0)):
                if key.data is None:
                    continue
                chunk = os.read(key.fd, 65536)
                if chunk:
                    key.data.add(chunk)
                    if output_limit is not None and not flooded and \
                            out.total + err.total > output_limit:
                        flooded = True
                        (kill_all or (lambda: kill_process_group(proc.pid)))()
                else:
                    sel.unregister(key.fileobj)
    finally:
        sel.close()
        if pidfd is not None:
            os.close(pidfd)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return timed_out, status, rusage, flooded


def _drain(proc: subprocess.Popen, out: _Tail, err: _Tail) -> None:
    """Read what is left in the pipes; give up after a moment if an escaped process holds them."""
    deadline = time.monotonic() + 0.5
    for pipe, tail in ((proc.stdout, out), (proc.stderr, err)):
        fd = pipe.fileno()
        os.set_blocking(fd, False)
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            except OSError as e:
                if e.errno == errno.EINTR:
                    continue
                break
            if not chunk:
                break
            tail.add(chunk)
        pipe.close()
