"""Killing what a sandboxed child leaves behind: its process group, every process of its uid,
every process in its mount namespace (held open by a descriptor so that its id cannot be reused
while the scan runs). Used by `autograder.sandbox.spawn` once a child is done or over a limit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time


def _ns_id(pid: int) -> tuple[int, int] | None:
    try:
        st = os.stat(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None
    return st.st_dev, st.st_ino


def hold_namespace(pid: int, ns: tuple[int, int]) -> int | None:
    """A descriptor of the child's mount namespace ``ns`` (None if the child is gone already).

    Holding it keeps the namespace, and so its inode number, alive: without it, a namespace
    that just lost its last process can see its number given to a new namespace (another
    grader's child, starting at that moment), and the scan of `kill_namespace` would kill that
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


def _kill_all(matches) -> None:
    """SIGKILL every process whose pid ``matches`` (a predicate) until a scan of /proc finds
    none (200 scans at most, 5 ms apart)."""
    for _ in range(200):
        found = False
        for name in os.listdir("/proc"):
            if name.isdigit() and matches(int(name)):
                found = True
                with contextlib.suppress(OSError):
                    os.kill(int(name), signal.SIGKILL)
        if not found:
            return
        time.sleep(0.005)


def _runs_as(uid: int, pid: int) -> bool:
    """Whether process ``pid`` has ``uid`` among its uids and is not a zombie (False if gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        uids = {int(u) for u in fields["Uid"].split()}
        zombie = fields["State"].split()[0] in ("Z", "X")
    except (OSError, KeyError, ValueError, IndexError):
        return False
    return uid in uids and not zombie


def kill_uid(uid: int) -> None:
    """SIGKILL every process running as ``uid`` until none is left (only for a uid that this
    child had to itself: see `sandbox_ids`)."""
    _kill_all(lambda pid: _runs_as(uid, pid))


def kill_namespace(ns: tuple[int, int]) -> None:
    """SIGKILL every process in the mount namespace ``ns`` until none is left (call it only
    while holding the namespace, see `hold_namespace`)."""
    if ns == _ns_id(os.getpid()):
        return  # never: that would be every process of the machine
    _kill_all(lambda pid: _ns_id(pid) == ns)


def kill_process_group(pgid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)
