"""Cgroups for grading jobs: where they go, making them, their limits, killing what is in them.

Used by `autograder.sandbox.containment` (read its docstring first). Two layouts:

``v1``
    one hierarchy per controller (``/sys/fs/cgroup/memory``, ``/sys/fs/cgroup/pids``): a job
    is a directory in each; ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes`` where
    swap is accounted), ``pids.max``; OOM kills counted in ``memory.oom_control``.
``v2``
    one unified hierarchy: a job is one directory; ``memory.max``, ``memory.swap.max = 0``,
    ``pids.max``, ``cgroup.kill`` (Linux 5.14+); the controllers must be enabled in
    ``cgroup.subtree_control`` of every level above the jobs, which a cgroup holding processes
    cannot do: so by default the jobs go to ``/normlab`` at the root of the hierarchy.

A machine that mounts both (systemd's "hybrid" layout) gets v2 when its hierarchy has the
controllers, v1 otherwise. Everything here raises `OSError` when the kernel says no; the caller
decides what that means.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.config import Limits

CGROUP_ENV = "NORMLAB_CGROUP"
DEFAULT_CGROUP = "normlab"
DEFAULT_CGROUP_V2 = "/normlab"
CONTROLLERS = ("memory", "pids")


def mountinfo() -> list[tuple[str, str, str, str]]:
    """(root, mount point, fstype, super options) of each mount of this mount namespace."""
    out = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rest = left.split(), right.split()
            if len(fields) >= 5 and len(rest) >= 3:
                out.append((_unescape(fields[3]), _unescape(fields[4]), rest[0], rest[2]))
    return out


def _unescape(path: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def _own_cgroups() -> dict[str, str]:
    """Controller (or "" for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    out = {}
    with contextlib.suppress(OSError), open("/proc/self/cgroup") as f:
        for line in f:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) == 3:
                for c in parts[1].split(",") if parts[1] else [""]:
                    out[c] = parts[2]
    return out


def _location(mount: str, mount_root: str, own: str, setting: str) -> Path:
    if setting.startswith("/"):
        return Path(mount) / setting.strip("/")
    rel = own[len(mount_root):] if own.startswith(mount_root) and mount_root != "/" else own
    return Path(mount) / rel.strip("/") / setting


def find(setting: str | None = None) -> tuple[str | None, dict[str, Path], str]:
    """(version, controller -> parent directory of the job cgroups, why not / what is missing).

    ``setting``: where the job cgroups go (default: ``NORMLAB_CGROUP``, see the module)."""
    mounts = mountinfo()
    own = _own_cgroups()
    if setting is None:
        setting = os.environ.get(CGROUP_ENV, "")
    setting = setting.strip()
    for root, point, fstype, _opts in mounts:
        if fstype != "cgroup2":
            continue
        try:
            available = (Path(point) / "cgroup.controllers").read_text().split()
        except OSError:
            continue
        found = [c for c in CONTROLLERS if c in available]
        if found:
            where = _location(point, root, own.get("", "/"), setting or DEFAULT_CGROUP_V2)
            return "v2", {c: where for c in found}, _missing(found)
    parents = {}
    for root, point, fstype, opts in mounts:
        if fstype == "cgroup":
            for c in CONTROLLERS:
                if c in opts.split(",") and c not in parents:
                    parents[c] = _location(point, root, own.get(c, "/"), setting or DEFAULT_CGROUP)
    if parents:
        return "v1", parents, _missing(list(parents))
    return None, {}, "no cgroup memory or pids controller is mounted"


def _missing(found: list[str]) -> str:
    missing = [c for c in CONTROLLERS if c not in found]
    return f"no {' or '.join(missing)} controller" if missing else ""


# ----------------------------------------------------------------------------------------------
# Cgroups


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read_int(path: Path, key: str | None = None) -> int | None:
    """An integer file, or the value of ``key`` in a "key value" file; None if unreadable."""
    try:
        text = path.read_text()
    except OSError:
        return None
    if key is None:
        return int(text) if text.strip().isdigit() else None
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if k == key and v.strip().isdigit():
            return int(v)
    return None


@dataclass
class Cgroup:
    """One job's cgroup: a directory per controller (v1) or one directory (v2)."""

    version: str
    dirs: dict[str, Path]  # controller -> directory
    max_processes: int = 0
    removable_parent: bool = True  # ours (not a cgroup the administrator set up): remove it

    @classmethod
    def create(cls, version: str, parents: dict[str, Path], name: str, limits: Limits,
               removable_parent: bool = True) -> Cgroup:
        """Make the cgroup ``name`` under each parent (controller -> directory) with the job
        limits of ``limits`` set; nothing is left behind when that fails."""
        group = cls(version, {}, int(limits.max_processes), removable_parent)
        try:
            for controller, parent in parents.items():
                path = parent / name
                if path not in group.dirs.values():
                    for attempt in range(3):  # another grader may just remove an empty parent
                        _ensure_parent(version, parent)
                        try:
                            os.mkdir(path)
                            break
                        except FileNotFoundError:
                            if attempt == 2:
                                raise
                group.dirs[controller] = path
            group._set_limits(limits)
        except OSError:
            group.remove()
            raise
        return group

    def _set_limits(self, limits: Limits) -> None:
        memory, pids = self.dirs.get("memory"), self.dirs.get("pids")
        if memory is not None:
            if self.version == "v1":
                _write(memory / "memory.limit_in_bytes", str(int(limits.job_memory_bytes)))
                if (memory / "memory.memsw.limit_in_bytes").exists():  # swap accounting on
                    _write(memory / "memory.memsw.limit_in_bytes",
                           str(int(limits.job_memory_bytes)))
            else:
                _write(memory / "memory.max", str(int(limits.job_memory_bytes)))
                if (memory / "memory.swap.max").exists():
                    _write(memory / "memory.swap.max", "0")
        if pids is not None:
            _write(pids / "pids.max", str(self.max_processes))

    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in dict.fromkeys(self.dirs.values())]

    def pids(self) -> set[int]:
        out = set()
        for path in self.procs_files():
            with contextlib.suppress(OSError, ValueError):
                out.update(int(p) for p in path.read_text().split())
        return out

    def oom_kills(self) -> int:
        memory = self.dirs.get("memory")
        if memory is None:
            return 0
        if self.version == "v1":
            return _read_int(memory / "memory.oom_control", "oom_kill") or 0
        return _read_int(memory / "memory.events", "oom_kill") or 0

    def peak_memory(self) -> int | None:
        memory = self.dirs.get("memory")
        if memory is None:
            return None
        name = "memory.max_usage_in_bytes" if self.version == "v1" else "memory.peak"
        return _read_int(memory / name)

    def kill(self, settle: bool = False) -> None:
        """SIGKILL every process of the cgroup, until none is left (or about 2 s passed).

        New processes are stopped first (``pids.max = 0``; v2: ``cgroup.kill``), so that a
        process that keeps forking and exiting cannot stay ahead of the kills. With ``settle``,
        then wait (at most 2 s) until the killed ones are reaped too: an orphan stays charged
        to ``pids.current`` until init reaps it, which some inits do lazily, and the next child
        of the job would find its process limit used up by the dead."""
        found = self.pids()
        try:
            if found:
                self._kill(found)
        finally:
            if settle:  # also for processes killed otherwise (their process group, say)
                self._settle()

    def _settle(self) -> None:
        pids_dir = self.dirs.get("pids")
        if pids_dir is None:
            return
        for _ in range(200):
            if not _read_int(pids_dir / "pids.current"):
                return
            time.sleep(0.01)

    def _kill(self, found: set[int]) -> None:
        first = next(iter(self.dirs.values()))
        if self.version == "v2" and (first / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                _write(first / "cgroup.kill", "1")
        pids_dir = self.dirs.get("pids")
        frozen = False
        if pids_dir is not None:
            with contextlib.suppress(OSError):
                _write(pids_dir / "pids.max", "0")
                frozen = True
        try:
            for _ in range(400):
                for pid in found:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.005)
                found = self.pids()
                if not found:
                    return
        finally:
            if frozen:
                with contextlib.suppress(OSError):
                    _write(pids_dir / "pids.max", str(self.max_processes))

    def remove(self) -> bool:
        """Kill what is left and remove the directories; False if one could not be removed."""
        if self.pids():
            self.kill()
        ok = True
        for path in dict.fromkeys(self.dirs.values()):
            for i in range(100):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY or i == 99:
                        ok = False
                        break
                    self.kill()
                    time.sleep(0.01)
        if self.removable_parent:
            for path in dict.fromkeys(self.dirs.values()):  # the parent too, once it is empty
                with contextlib.suppress(OSError):
                    os.rmdir(path.parent)
        return ok


def _ensure_parent(version: str, parent: Path) -> None:
    """Make the parent of the job cgroups; under v2 with the controllers enabled for its
    children, on every level from the root of the hierarchy down."""
    if version == "v1":
        os.makedirs(parent, exist_ok=True)
        return
    with contextlib.suppress(OSError):
        if set(CONTROLLERS) <= set((parent / "cgroup.subtree_control").read_text().split()):
            return
    os.makedirs(parent, exist_ok=True)
    chain = [parent]
    while chain[-1] != chain[-1].parent and (chain[-1].parent / "cgroup.controllers").exists():
        chain.append(chain[-1].parent)
    for d in reversed(chain):
        enabled = (d / "cgroup.subtree_control").read_text().split()
        available = (d / "cgroup.controllers").read_text().split()
        wanted = [f"+{c}" for c in CONTROLLERS if c in available and c not in enabled]
        if wanted:
            _write(d / "cgroup.subtree_control", " ".join(wanted))
