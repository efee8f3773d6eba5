"""Totals per grading job: memory, processes, disk and output of all of a job's processes.

`autograder.sandbox.spawn`'s limits are per process (``RLIMIT_AS``, ``RLIMIT_NPROC``,
``RLIMIT_FSIZE``): one child may fork ``max_processes`` processes of ``memory_bytes`` each, write as
many files below ``max_file_bytes`` as it likes and print without end. A `Job` (one
`runner.run_probes` call: one submission, its sandboxed children one after the other) adds totals,
with what Linux gives a root grader:

* **a cgroup of its own** (v2, or v1 where the ``memory`` and ``pids`` controllers are mounted
  there): every sandboxed process of the job joins it before it runs anything
  (`join_fds`, written in the child between fork and exec), and its descendants cannot leave.
  ``memory`` (limit ``job_memory_bytes``, swap included) bounds all of them together, the tmpfs
  pages they write included: when it runs out, the kernel kills a process of *this* job, never
  another job's or the grader's. ``pids`` (``max_processes``) bounds processes and threads
  together. After each child every process left in the cgroup is killed (`kill_processes`: new
  forks are stopped first by ``pids.max = 0``, so a process that keeps re-forking cannot run
  ahead), and the cgroup goes with the job.
* **a tmpfs on the job folder** (``job_disk_bytes``, ``job_max_files`` inodes): the disk of the
  job, files of the grader (inputs) and of the child alike; unmounted with the job, so nothing
  of it stays behind. (The runner removes each child's run folder once it has read it, and runs
  a call again in a fresh child when the disk was full as it failed: `Job.disk_full`.)
* **output**: the parent counts stdout + stderr of the job's children; a child is killed when
  the job's total passes ``job_output_bytes`` (later children still get `OUTPUT_GRACE`, so that
  a warning line does not cost an innocent call).
* every sandboxed process gets ``oom_score_adj`` `OOM_SCORE_ADJ` (`autograder.sandbox.confine`, in
every mode,
  root or not): when the whole machine runs short, the kernel kills student code first.

Where a mechanism is not available (not root, no writable cgroup controllers, mounting not
allowed, ``NORMLAB_CONTAINMENT=off``) the job runs without it, as before: per-process limits
only. `report` says at start-up which are in force and why the others are not.

Where the cgroups go: ``NORMLAB_CGROUP`` (default ``normlab``), relative to the grader's own
cgroup (v1: hierarchical, so the grader's own limits cover its jobs), or absolute from the root
of the hierarchy. Under v2 a cgroup with processes cannot have children with controllers, so
there the default is ``/normlab`` at the root.

Stale state: a grader killed by SIGKILL cannot clean up. Every name holds its owner's pid and
start time (``<pid>-<start>-<random>``: the job's cgroup, and ``normlab-job-<pid>-<start>-<random>``
its folder), so a grader finds what a dead one left, and never what a live one is using:
`sweep_stale` (once per process, before its first job, and at start-up) kills what still runs
in such a cgroup, removes it, unmounts and removes such a folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import re
import shutil
import stat
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from autograder.config import Limits
from autograder.sandbox import cgroups, linux

__all__ = ["ENV", "OOM_SCORE_ADJ", "Job", "Support", "remove_scratch_files", "remove_tree",
           "report", "size_text", "support", "sweep_stale"]

ENV = "NORMLAB_CONTAINMENT"  # "auto" (default) or "off"
JOB_DIR_PREFIX = "normlab-job-"
OOM_SCORE_ADJ = 1000
OUTPUT_GRACE = 64 * 1024  # what a child may still print once the job's output is used up
_NAME = re.compile(r"(\d+)-(\d+)-[0-9A-Za-z_]+")


# ----------------------------------------------------------------------------------------------
# Owners: which grader process a cgroup or folder belongs to


def _start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


@functools.lru_cache(maxsize=4)
def _owner(pid: int) -> str:
    return f"{pid}-{_start_time(pid) or 0}"


def owner() -> str:
    """``<pid>-<start time>`` of this process (per process: spawned workers have their own)."""
    return _owner(os.getpid())


def _stale(name: str) -> bool:
    """True for a name of ours whose owner process is gone (pid reused: another start time)."""
    m = _NAME.fullmatch(name)
    if m is None:
        return False
    pid, start = int(m.group(1)), int(m.group(2))
    return _start_time(pid) != start


# ----------------------------------------------------------------------------------------------
# What this machine offers


@dataclass(frozen=True)
class Support:
    """The per-job mechanisms available to this process, and why the others are not."""

    cgroup: str | None = None  # "v1" or "v2"
    parents: dict[str, Path] = field(default_factory=dict)  # controller -> where jobs go
    cgroup_why: str = ""  # why no cgroup (or which controller is missing)
    tmpfs: bool = False
    tmpfs_why: str = ""
    removable_parent: bool = True  # the parent is ours (not an absolute NORMLAB_CGROUP)

    @property
    def memory(self) -> bool:
        return "memory" in self.parents

    @property
    def pids(self) -> bool:
        return "pids" in self.parents


def _mode() -> str:
    mode = os.environ.get(ENV, "auto").strip() or "auto"
    if mode not in ("auto", "off"):
        raise ValueError(f"{ENV} must be 'auto' or 'off', got {mode!r}")
    return mode


@functools.lru_cache(maxsize=1)
def support() -> Support:
    """What a job of this process gets; probed once (a cgroup and a tmpfs made and removed)."""
    if _mode() == "off":
        why = f"{ENV}=off"
        return Support(cgroup_why=why, tmpfs_why=why)
    if os.geteuid() != 0 or not os.path.exists("/proc/self/mountinfo"):
        why = "the grader does not run as root" if os.geteuid() != 0 else "not Linux"
        return Support(cgroup_why=why, tmpfs_why=why)
    version, parents, why = cgroups.find()
    ours = not os.environ.get(cgroups.CGROUP_ENV, "").strip().startswith("/")
    if version is not None:
        parents, failed = _usable_controllers(version, parents, ours)
        why = "; ".join(w for w in (why, failed) if w)
        if not parents:
            version = None
    tmpfs_why = ""
    try:
        probe_dir = tempfile.mkdtemp(prefix=f"{JOB_DIR_PREFIX}{owner()}-")
        try:
            _mount_tmpfs(probe_dir, 2**20, 16)
            _unmount(probe_dir)
        finally:
            os.rmdir(probe_dir)
    except OSError as e:
        tmpfs_why = f"cannot mount a tmpfs ({e.strerror or e})"
    return Support(version, parents, why, not tmpfs_why, tmpfs_why, ours)


def _usable_controllers(version: str, parents: dict[str, Path], ours: bool
                        ) -> tuple[dict[str, Path], str]:
    """The controllers of ``parents`` that job cgroups can be made in (a probe cgroup made and
    removed), and why not the others. Under v1 each controller is a hierarchy of its own, so
    one that refuses (mounted read-only, say) does not cost the others."""
    def refusal(subset: dict[str, Path]) -> str:
        try:
            cgroups.Cgroup.create(version, subset, f"{owner()}-probe", Limits(), ours).remove()
        except OSError as e:
            return e.strerror or str(e)
        return ""

    error = refusal(parents)
    if not error:
        return parents, ""
    if version != "v1" or len(parents) == 1:
        return {}, f"cannot make a cgroup ({error})"
    usable, why = {}, []
    for controller, parent in parents.items():
        error = refusal({controller: parent})
        if error:
            why.append(f"cannot make a {controller} cgroup ({error})")
        else:
            usable[controller] = parent
    return usable, "; ".join(why)


# ----------------------------------------------------------------------------------------------
# The job folder


def _mount_tmpfs(path: str, size: int, inodes: int) -> None:
    options = f"size={int(size)},nr_inodes={int(inodes)},mode=0700,uid=0,gid=0"
    if linux.libc().mount(b"tmpfs", path.encode(), b"tmpfs", linux.MS_NOSUID | linux.MS_NODEV,
                          options.encode()) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)


def _unmount(path: str) -> None:
    if linux.libc().umount2(path.encode(), linux.MNT_DETACH) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)


def remove_tree(root: Path) -> None:
    """Delete a job folder, also where a child of the same uid took permissions away.

    Root needs no permissions, and must not chmod anything there: a path may be a symlink the
    child planted. A normal user can only chmod what it owns anyway.
    """
    if os.geteuid() != 0:
        for dirpath, dirnames, _filenames in os.walk(root):
            for name in dirnames:
                path = os.path.join(dirpath, name)
                with contextlib.suppress(OSError):
                    if stat.S_ISDIR(os.lstat(path).st_mode):
                        os.chmod(path, 0o700)
    shutil.rmtree(root, ignore_errors=True)


def remove_scratch_files(uid: int) -> None:
    """Remove what ``uid`` left at the top of the world-writable scratch directories (for a
    uid a child had to itself, after its processes are gone; "rlimits" mode as root)."""
    for directory in linux.SCRATCH_DIRS:
        with contextlib.suppress(OSError), os.scandir(directory) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    st = entry.stat(follow_symlinks=False)
                    if st.st_uid != uid:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)


# ----------------------------------------------------------------------------------------------
# A job


class Job:
    """The totals of one grading job: its folder (`path`), its cgroup, its output budget.

    Use as a context manager; `close` kills whatever is left, removes the cgroup, unmounts and
    deletes the folder. The folder is made with `tempfile.mkdtemp` (mode 0700, owned by the
    grader) whether or not a tmpfs can be mounted on it.
    """

    def __init__(self, limits: Limits):
        self.limits = limits
        _sweep_once()
        found = support()
        self.path = Path(tempfile.mkdtemp(prefix=f"{JOB_DIR_PREFIX}{owner()}-"))
        self.name = self.path.name[len(JOB_DIR_PREFIX):]
        self.mounted = False
        self.cgroup: cgroups.Cgroup | None = None
        self.output_used = 0
        self._fds: list[int] = []
        try:
            if found.tmpfs:
                _mount_tmpfs(str(self.path), limits.job_disk_bytes, limits.job_max_files)
                self.mounted = True
            if found.cgroup is not None:
                self.cgroup = cgroups.Cgroup.create(found.cgroup, found.parents, self.name, limits,
                                             found.removable_parent)
                self._fds = [os.open(p, os.O_WRONLY | os.O_CLOEXEC)
                             for p in self.cgroup.procs_files()]
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Job:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def join_fds(self) -> list[int]:
        """Descriptors of the cgroup's ``cgroup.procs``: a child writes its pid to each before
        exec (close-on-exec, so the student's code never holds them)."""
        return list(self._fds)

    def oom_kills(self) -> int:
        return self.cgroup.oom_kills() if self.cgroup is not None else 0

    def peak_memory(self) -> int | None:
        return self.cgroup.peak_memory() if self.cgroup is not None else None

    def kill_processes(self, settle: bool = False) -> None:
        """Kill every process of the job (its cgroup); ``settle``: and wait until they are
        reaped (call it when the child itself is reaped already: `cgroups.Cgroup.kill`)."""
        if self.cgroup is not None:
            self.cgroup.kill(settle)

    def disk_full(self) -> bool:
        """The job folder has (almost) no space or no inode left."""
        try:
            st = os.statvfs(self.path)
        except OSError:
            return False
        return st.f_bavail * st.f_frsize < 256 * 1024 or (st.f_files > 0 and st.f_favail < 16)

    def output_budget(self) -> int:
        """Bytes the next child may write to stdout + stderr together before it is killed."""
        return max(int(self.limits.job_output_bytes) - self.output_used, OUTPUT_GRACE)

    def add_output(self, n: int) -> None:
        self.output_used += int(n)

    def close(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
        if self.cgroup is not None:
            if not self.cgroup.remove():
                with _leftover_lock:
                    _leftover_cgroups.append(self.cgroup)
            self.cgroup = None
        with _leftover_lock:  # earlier jobs' cgroups that were still busy then
            retry, _leftover_cgroups[:] = list(_leftover_cgroups), []
        for group in retry:
            if not group.remove():
                with _leftover_lock:
                    _leftover_cgroups.append(group)
        if self.mounted:
            with contextlib.suppress(OSError):
                _unmount(str(self.path))
            self.mounted = False
        remove_tree(self.path)


_leftover_cgroups: list[cgroups.Cgroup] = []  # not removable at the end of their job (busy)
_leftover_lock = threading.Lock()  # jobs may run in threads (a Dask worker's)


# ----------------------------------------------------------------------------------------------
# Stale state of graders that were killed


@functools.lru_cache(maxsize=4)
def _swept(pid: int) -> list[str]:
    return sweep_stale()


def _sweep_once() -> list[str]:
    return _swept(os.getpid())


def sweep_stale() -> list[str]:
    """Remove the job cgroups and folders of grader processes that are gone; say what went."""
    removed = []
    found = support()
    names: dict[str, dict[str, Path]] = {}
    for controller, parent in found.parents.items():
        with contextlib.suppress(OSError), os.scandir(parent) as entries:
            for e in entries:
                if e.is_dir(follow_symlinks=False) and _stale(e.name):
                    names.setdefault(e.name, {})[controller] = Path(e.path)
    for name, dirs in sorted(names.items()):
        if cgroups.Cgroup(found.cgroup or "v1", dirs, 0, found.removable_parent).remove():
            removed.append(f"cgroup {name}")
    for _root, point, _fstype, _opts in cgroups.mountinfo():
        base = os.path.basename(point)
        if base.startswith(JOB_DIR_PREFIX) and _stale(base[len(JOB_DIR_PREFIX):]):
            with contextlib.suppress(OSError):
                _unmount(point)
                removed.append(f"mount {point}")
    stale = []
    with contextlib.suppress(OSError), os.scandir(tempfile.gettempdir()) as entries:
        stale = [e.path for e in entries if e.name.startswith(JOB_DIR_PREFIX)
                 and _stale(e.name[len(JOB_DIR_PREFIX):])
                 and e.stat(follow_symlinks=False).st_uid == os.geteuid()]
    for path in stale:
        remove_tree(Path(path))
        removed.append(f"folder {path}")
    return removed


# ----------------------------------------------------------------------------------------------
# What is in force


def size_text(n: int) -> str:
    """``4 GiB``, ``512 MiB``, ``64 KiB``, ``100 bytes``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


def report(limits: Limits) -> list[str]:
    """Lines for the grader's output: what is capped per job and by which mechanism, what is
    not and why (also removes what killed graders left, and says so). The isolation of each
    child is `sandbox.isolation_summary`'s line."""
    found = support()
    removed = _sweep_once()
    lines = []
    caps, missing = [], []
    where = f"cgroup {found.cgroup}" if found.cgroup else ""
    if found.memory:
        caps.append(f"memory {size_text(limits.job_memory_bytes)} ({where})")
    else:
        missing.append(f"memory (per process only: {size_text(limits.memory_bytes)} of address "
                       f"space each; {found.cgroup_why})")
    if found.pids:
        caps.append(f"{limits.max_processes} processes ({where})")
    else:
        missing.append(f"processes (per uid only: {limits.max_processes}; {found.cgroup_why})")
    if found.tmpfs:
        caps.append(f"disk {size_text(limits.job_disk_bytes)} and {limits.job_max_files} files "
                    f"(tmpfs)")
    else:
        missing.append(f"disk (per file only: {size_text(limits.max_file_bytes)}; "
                       f"{found.tmpfs_why})")
    caps.append(f"output {size_text(limits.job_output_bytes)}")
    lines.append("sandbox: per job, all its processes together: " + ", ".join(caps))
    if missing:
        lines.append("sandbox: NOT capped per job: " + "; ".join(missing))
    if found.parents:
        places = sorted({str(p) for p in found.parents.values()})
        lines.append(f"sandbox: job cgroups under {', '.join(places)}; student processes "
                     f"have oom_score_adj {OOM_SCORE_ADJ} (killed first when memory runs out)")
    else:
        lines.append(f"sandbox: student processes have oom_score_adj {OOM_SCORE_ADJ} (killed "
                     f"first when the machine runs out of memory)")
    if removed:
        lines.append(f"sandbox: removed what killed graders left: {', '.join(removed)}")
    return lines
