"""Run one untrusted Python script in a child process, with limits; the parent never runs its code.

``run_python(script, args, workdir, limits)`` starts
``[sys.executable, "-I", "-B", script, *args]`` with ``cwd=workdir``, stdin from /dev/null, a
clean environment (``PATH=/usr/bin:/bin``, ``HOME=workdir``, one BLAS/OpenMP thread,
``MPLBACKEND=Agg``, ``LANG=C.UTF-8``; nothing of the parent's environment, so no tokens or
passwords), in a new session, and returns a `SandboxResult` (exit status, signal, time, the last
8 KiB of stdout and stderr). ``-I`` means: no ``PYTHONPATH``, no user site, no script directory
on ``sys.path``; it also makes Python ignore ``PYTHON*`` variables, so ``PYTHONHASHSEED`` and
``PYTHONDONTWRITEBYTECODE`` in the environment are informational (``-B`` does the latter).

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

import contextlib
import dataclasses
import errno
import fcntl
import functools
import grp
import os
import pwd
import resource
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from autograder.config import Limits
from autograder.sandbox import containment, linux
from autograder.sandbox.containment import size_text as _size
from autograder.sandbox.linux import check

__all__ = [
    "ISOLATIONS",
    "SandboxError",
    "SandboxResult",
    "bubblewrap_available",
    "default_isolation",
    "namespaces_available",
    "release_ids",
    "run_python",
    "sandbox_ids",
]

ISOLATIONS = ("auto", "rlimits", "namespaces", "bwrap")
TAIL_BYTES = 8 * 1024
#: Default uids of the children (``NORMLAB_SANDBOX_UID`` unset): a range that no account uses
#: on common systems (systemd reserves 60578-61183 for nothing; Debian's regular users end at
#: 59999; 16-bit, so it exists inside containers that map 65536 uids). A uid of it with an
#: account, a group of the same number or a running process is skipped.
DEFAULT_UID_RANGE = (60578, 61183)
#: Where the grader records which uid of the range a child holds (one lock file per uid), so
#: that worker processes of the same machine never hand out the same uid twice.
UID_LOCK_DIR = "/run/normlab-sandbox-uids"

# Never covered by a mask: the child needs them to run at all.
SYSTEM_DIRS = ("/", "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc",
               "/proc", "/sys", "/dev")
# In "namespaces" mode every other top-level directory (/home, /root, /srv, /opt, /var, /run,
# /mnt, /media, /tmp, /work, ...) is covered too: the child sees the system, its job and the
# Python installation, not where the grader keeps solutions, courses, gradebooks or other
# repositories (a second checkout of the course repository, say).

# The namespaces a child gets of its own in "namespaces" mode: mounts, network, IPC, hostname.
_NAMESPACES = linux.CLONE_NEWNS | linux.CLONE_NEWNET | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS
# Mount option of the child's own /proc: the /proc/<pid> directories of other uids' processes
# (the grader, other jobs) are closed to the child, command lines and statuses included.
_PROC_OPTIONS = (b"hidepid=1",)


class SandboxError(RuntimeError):
    """The sandbox could not be set up. A problem of the grading machine, never of the student."""


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


def sandbox_ids(claim: bool = False) -> tuple[int, int]:
    """The uid and gid the next child drops to when the grader runs as root.

    ``NORMLAB_SANDBOX_UID`` is one uid or a range ``first-last`` of uids that no account uses;
    unset, it is the range `DEFAULT_UID_RANGE`. From a range each child gets a uid that no
    account, no group (when the gid follows the uid) and no running process has, and that no
    other child of this machine's graders holds (a lock file per uid in `UID_LOCK_DIR`): children
    of parallel jobs cannot signal or trace each other, and ``RLIMIT_NPROC`` is per child.
    ``NORMLAB_SANDBOX_GID`` defaults to the uid's number.

    This only looks (the lowest such uid); `run_python` claims one for each child with
    ``claim=True`` and hands it back with `release_ids` when the child is gone.
    """
    spec = os.environ.get("NORMLAB_SANDBOX_UID", "").strip()
    gid_spec = os.environ.get("NORMLAB_SANDBOX_GID", "").strip()
    try:
        if not spec:
            first, last = DEFAULT_UID_RANGE
        elif "-" in spec:
            first, last = (int(x) for x in spec.split("-"))
        else:
            first = last = int(spec)
        gid = int(gid_spec) if gid_spec else None
    except ValueError:
        raise SandboxError(f"NORMLAB_SANDBOX_UID/GID must be numbers, got {spec!r}") from None
    if first <= 0 or last < first or (gid is not None and gid <= 0):
        raise SandboxError("NORMLAB_SANDBOX_UID/GID must not be 0 (root)")
    if spec and "-" not in spec:
        uid = first  # one uid given: shared by all children, as configured
    else:
        uid = _pick_free_uid(first, last, check_group=gid is None, claim=claim)
    return uid, uid if gid is None else gid


_uids_lock = threading.Lock()
_uids_in_use: set[int] = set()
_uid_lock_fds: dict[int, int] = {}


def _uids_of_processes() -> set[int]:
    used = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError), \
                    open(f"/proc/{name}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        used.update(int(u) for u in line.split()[1:])
                        break
    return used


def _has_owner(uid: int, check_group: bool) -> bool:
    """An account (local or from a directory service) has this uid, or a group this gid."""
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        pass
    if check_group:
        try:
            grp.getgrgid(uid)
            return True
        except KeyError:
            pass
    return False


def _uid_lock_dir() -> str | None:
    """The lock directory, created root-only; None if it cannot be trusted or made."""
    with contextlib.suppress(FileExistsError):
        try:
            os.mkdir(UID_LOCK_DIR, 0o700)
        except FileExistsError:
            raise
        except OSError:
            return None
    try:
        st = os.lstat(UID_LOCK_DIR)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return None
    return UID_LOCK_DIR


def _claim(uid: int) -> bool:
    """Take the machine-wide lock of ``uid`` (held until `release_ids`); False if taken."""
    directory = _uid_lock_dir()
    if directory is None:
        return True  # no coordination between processes possible; the /proc check remains
    try:
        fd = os.open(os.path.join(directory, str(uid)),
                     os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _uid_lock_fds[uid] = fd
    return True


def _pick_free_uid(first: int, last: int, check_group: bool = True, claim: bool = True) -> int:
    """The lowest uid of [first, last] that nobody uses (see `sandbox_ids`); with ``claim``,
    claimed for a child until `release_ids`."""
    used = _uids_of_processes()
    with _uids_lock:
        free = [u for u in range(first, last + 1) if u not in used and u not in _uids_in_use]
        for uid in free[:200]:  # the lowest free one: the same uid again when grading serially
            if _has_owner(uid, check_group) or not _claim(uid):
                continue
            if not claim:
                _release_lock(uid)
                return uid
            if uid in _uids_of_processes():  # started after the first look
                _release_lock(uid)
                continue
            _uids_in_use.add(uid)
            return uid
    raise SandboxError(f"no free uid left in {first}-{last} (NORMLAB_SANDBOX_UID); give a "
                       f"range of uids no account uses")


def _release_lock(uid: int) -> None:
    fd = _uid_lock_fds.pop(uid, None)
    if fd is not None:
        os.close(fd)


def release_ids(uid: int) -> None:
    """Hand back a uid claimed by ``sandbox_ids(claim=True)`` (a no-op for others)."""
    with _uids_lock:
        _uids_in_use.discard(uid)
        _release_lock(uid)



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
        if libc.unshare(_NAMESPACES) != 0:
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
# Which paths the child needs, and which directories to cover


def _python_paths() -> list[str]:
    """The Python installation and numpy, as absolute paths (unresolved and resolved)."""
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  os.path.dirname(sys.executable)]
    try:
        import importlib.util

        spec = importlib.util.find_spec("numpy")
        if spec is not None and spec.origin:
            candidates.append(os.path.dirname(os.path.dirname(spec.origin)))
    except (ImportError, ValueError):
        pass
    out = []
    for p in candidates:
        out += [os.path.abspath(p), os.path.realpath(p)]
    return out


def _is_within(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _outermost(paths: Sequence[str]) -> list[str]:
    """Drop paths inside another path of the list (and duplicates)."""
    out: list[str] = []
    for p in sorted(set(paths), key=lambda q: (q.count("/"), q)):
        if not any(_is_within(p, q) for q in out):
            out.append(p)
    return out


def _may(st: os.stat_result, uid: int, gid: int, want: int) -> bool:
    if st.st_uid == uid:
        bits = st.st_mode >> 6
    elif st.st_gid == gid:
        bits = st.st_mode >> 3
    else:
        bits = st.st_mode
    return bits & want == want


def _first_blocked_dir(path: str, uid: int, gid: int) -> str | None:
    """The topmost directory on the way to ``path`` that uid/gid may not traverse, if any."""
    parts = Path(path).parts
    for i in range(1, len(parts)):
        d = os.path.join(*parts[:i])
        try:
            st = os.stat(d)
        except OSError:
            return None
        if not _may(st, uid, gid, 1):
            return d
    return None


def _unreadable(path: str, uid: int, gid: int) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return True
    return not _may(st, uid, gid, 5 if stat.S_ISDIR(st.st_mode) else 4)


def _top_level_dirs() -> list[str]:
    """Every directory directly under / that the child does not need (see SYSTEM_DIRS)."""
    out = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/"):
            path = "/" + entry.name
            if path not in SYSTEM_DIRS and entry.is_dir(follow_symlinks=False):
                out.append(path)
    return sorted(out)


def _top_level_files() -> list[str]:
    """Regular files directly under / (covered with an empty file in "namespaces" mode)."""
    out = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/"):
            if entry.is_file(follow_symlinks=False):
                out.append("/" + entry.name)
    return sorted(out)


def _mask_plan(keeps: list[str], hide: Sequence[str], uid: int, gid: int
               ) -> list[tuple[str, list[str], list[str]]]:
    """(directory to cover with an empty tmpfs, needed paths inside it to bind back, covered
    directories inside it to keep as empty directories), by depth."""
    masks = set()
    for k in keeps:
        blocked = _first_blocked_dir(k, uid, gid)
        if blocked is not None:
            masks.add(blocked)
    for h in [*hide, *linux.SCRATCH_DIRS, *_top_level_dirs()]:
        h = os.path.abspath(h)
        if os.path.isdir(h) and not os.path.islink(h):
            masks.add(h)
    for m in masks:
        if any(_is_within(s, m) for s in SYSTEM_DIRS):
            raise SandboxError(f"refusing to hide {m}: the child needs what is inside it")
    plan = []
    for m in sorted(masks, key=lambda p: (p.count("/"), p)):
        if m in keeps:
            continue
        inner = _outermost([k for k in keeps if _is_within(k, m) and k != m])
        # scratch directories inside this one stay, empty (/var/tmp inside /var, say); other
        # covered directories inside it just vanish with it
        nested = sorted(n for n in masks if n in linux.SCRATCH_DIRS and _is_within(n, m) and n != m
                        and not any(_is_within(n, k) for k in inner))
        plan.append((m, inner, nested))
    return plan


# ----------------------------------------------------------------------------------------------
# The child side of the fork (runs between fork and exec: syscalls only, no imports, no locks)


def _set_limit(which: int, value: int) -> None:
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _make_preexec(limits: Limits, drop: tuple[int, int] | None,
                  plan: list[tuple[str, list[str]]] | None, errfd: int,
                  join_fds: Sequence[int] = ()):
    libc = linux.libc()
    cpu_soft = max(1, int(limits.cpu_seconds))
    top_files = _top_level_files() if plan is not None else []

    def setup_namespaces() -> None:
        check(libc.unshare(_NAMESPACES), "unshare")
        check(libc.mount(None, b"/", None, linux.MS_REC | linux.MS_PRIVATE, None), "make / private")
        tmpfs_flags = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
        for target, inner, nested in plan:
            if not os.path.isdir(target):
                continue  # already hidden by an outer mask
            fds = []
            for k in inner:
                with contextlib.suppress(OSError):
                    fds.append((k, os.open(k, os.O_PATH | os.O_CLOEXEC)))
            check(libc.mount(b"tmpfs", target.encode(), b"tmpfs", tmpfs_flags,
                             b"mode=0755,size=64k,nr_inodes=4096"), f"tmpfs on {target}")
            for n in nested:
                d = target
                for part in n[len(target) + 1:].split("/"):
                    d = f"{d}/{part}"
                    if not os.path.isdir(d):
                        os.mkdir(d, 0o755)
                        os.chmod(d, 0o755)
            for k, fd in fds:
                d = target
                for part in k[len(target) + 1:].split("/")[:-1]:
                    d = f"{d}/{part}"
                    if not os.path.isdir(d):
                        os.mkdir(d, 0o755)
                        os.chmod(d, 0o755)
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    os.mkdir(k, 0o755)
                else:
                    os.close(os.open(k, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
                check(libc.mount(f"/proc/self/fd/{fd}".encode(), k.encode(), None,
                                 linux.MS_BIND | linux.MS_REC, None), f"bind {k}")
                os.close(fd)
            check(libc.mount(None, target.encode(), None,
                             linux.MS_REMOUNT | linux.MS_RDONLY | tmpfs_flags, None),
                  f"read-only {target}")
        for path in top_files:  # a stray file at the top (a key, a note): empty for the child
            check(libc.mount(b"/dev/null", path.encode(), None, linux.MS_BIND, None),
                  f"cover {path}")
            libc.mount(None, path.encode(), None,
                       linux.MS_REMOUNT | linux.MS_BIND | linux.MS_RDONLY, None)
        # A /proc of its own where other users' processes (the grader, other jobs) show no
        # command line or status. Best effort: without it /proc still closes other uids'
        # environ, cwd, fd and mem files to the child.
        for options in _PROC_OPTIONS:
            if libc.mount(b"proc", b"/proc", b"proc", tmpfs_flags, options) == 0:
                break

    adj = str(containment.OOM_SCORE_ADJ).encode()

    def preexec() -> None:
        try:
            with contextlib.suppress(OSError):  # raising it needs no privilege
                fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, adj)
                finally:
                    os.close(fd)
            pid = str(os.getpid()).encode()
            for fd in join_fds:  # the job's cgroup, before anything of the child runs
                os.write(fd, pid)
            if plan is not None:
                setup_namespaces()
                st = os.stat("/proc/self/ns/mnt")
                os.write(errfd, f"ns {st.st_dev} {st.st_ino}\n".encode())
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_soft, cpu_soft + 1))
            _set_limit(resource.RLIMIT_AS, int(limits.memory_bytes))
            _set_limit(resource.RLIMIT_FSIZE, int(limits.max_file_bytes))
            _set_limit(resource.RLIMIT_NOFILE, int(limits.max_open_files))
            _set_limit(resource.RLIMIT_NPROC, int(limits.max_processes))
            check(libc.prctl(linux.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
            if drop is not None:
                uid, gid = drop
                os.setgroups([])
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
        except BaseException as e:
            try:
                os.write(errfd, f"error {type(e).__name__}: {e}".encode()[:2000])
            finally:
                os._exit(127)

    return preexec


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
    for k in _outermost([k for k in keeps if k != workdir]):
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


def _ns_id(pid: int) -> tuple[int, int] | None:
    try:
        st = os.stat(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _hold_namespace(pid: int, ns: tuple[int, int]) -> int | None:
    """A descriptor of the child's mount namespace ``ns`` (None if the child is gone already).

    Holding it keeps the namespace, and so its inode number, alive: without it, a namespace
    that just lost its last process can see its number given to a new namespace (another
    grader's child, starting at that moment), and the scan of `_kill_namespace` would kill that
    child instead.
    """
    try:
        fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != ns:
        os.close(fd)
        return None
    return fd


def _kill_uid(uid: int) -> None:
    """SIGKILL every process running as ``uid`` until none is left (only for a uid that this
    child had to itself: see `sandbox_ids`)."""
    for _ in range(200):
        found = False
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/status") as f:
                    fields = dict(line.split(":", 1) for line in f if ":" in line)
                uids = {int(u) for u in fields["Uid"].split()}
                zombie = fields["State"].split()[0] in ("Z", "X")
            except (OSError, KeyError, ValueError, IndexError):
                continue
            if uid in uids and not zombie:
                found = True
                with contextlib.suppress(OSError):
                    os.kill(int(name), signal.SIGKILL)
        if not found:
            return
        time.sleep(0.005)


def _kill_namespace(ns: tuple[int, int]) -> None:
    """SIGKILL every process in the mount namespace ``ns`` until none is left (call it only
    while holding the namespace, see `_hold_namespace`)."""
    if ns == _ns_id(os.getpid()):
        return  # never: that would be every process of the machine
    for _ in range(200):
        found = False
        for name in os.listdir("/proc"):
            if name.isdigit() and _ns_id(int(name)) == ns:
                found = True
                with contextlib.suppress(OSError):
                    os.kill(int(name), signal.SIGKILL)
        if not found:
            return
        time.sleep(0.005)


def _killpg(pgid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)


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
    keeps = _outermost([str(workdir), str(script.parent), *map(os.path.abspath, readable),
                        *_python_paths()])

    drop = sandbox_ids(claim=True) if root else None
    try:
        return _run(command, workdir, env, keeps, limits, isolation, drop, hide, job)
    finally:
        if drop is not None:
            if drop[0] in _uids_in_use:  # a uid of its own: whatever still runs as it is its
                _kill_uid(drop[0])
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
        unreadable = [k for k in keeps if _unreadable(k, uid, gid)]
        if unreadable:
            raise SandboxError(f"uid {uid} cannot read {', '.join(unreadable)}")
        if isolation == "namespaces":
            plan = _mask_plan(keeps, [os.path.abspath(h) for h in hide], uid, gid)
        else:
            blocked = {k: _first_blocked_dir(k, uid, gid) for k in keeps}
            blocked = {k: b for k, b in blocked.items() if b is not None}
            if blocked:
                k, b = next(iter(blocked.items()))
                raise SandboxError(
                    f"uid {uid} cannot reach {k} ({b} is closed to it): install Python where "
                    f"that user can read it, or use isolation='namespaces'")
    if isolation == "bwrap":
        command = _bwrap_command(command, str(workdir), keeps, env)

    err_r, err_w = os.pipe()
    preexec = _make_preexec(limits, drop, plan, err_w, job.join_fds() if job else ())
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
        ns_fd = _hold_namespace(proc.pid, ns)
    def kill_all(settle: bool = False) -> None:
        _killpg(proc.pid)
        if job is not None:
            job.kill_processes(settle)

    try:
        timed_out, status, rusage, flooded = _supervise(
            proc, limits.wall_seconds, start, out := _Tail(), err := _Tail(), budget, kill_all)
    finally:
        kill_all(settle=proc.returncode is not None)  # the child is reaped: wait for the rest
        if ns_fd is not None:
            _kill_namespace(ns)
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
                _killpg(proc.pid)
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
                        (kill_all or (lambda: _killpg(proc.pid)))()
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
