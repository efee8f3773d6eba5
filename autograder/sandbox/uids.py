"""The uids of sandboxed children: one of its own per child, claimed across the machine.

As root each child drops to a uid that no account, no group and no running process has and that
no other child of this machine's graders holds (a lock file per uid in `UID_LOCK_DIR`), so the
children of parallel jobs cannot signal or trace each other and ``RLIMIT_NPROC`` is per child.
Used by `autograder.sandbox.spawn`.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import os
import pwd
import stat
import threading

from autograder.sandbox.errors import SandboxError

__all__ = ["DEFAULT_UID_RANGE", "UID_LOCK_DIR", "holds", "release_ids", "sandbox_ids"]

#: Default uids of the children (``NORMLAB_SANDBOX_UID`` unset): a range that no account uses
#: on common systems (systemd reserves 60578-61183 for nothing; Debian's regular users end at
#: 59999; 16-bit, so it exists inside containers that map 65536 uids). A uid of it with an
#: account, a group of the same number or a running process is skipped.
DEFAULT_UID_RANGE = (60578, 61183)
#: Where the grader records which uid of the range a child holds (one lock file per uid), so
#: that worker processes of the same machine never hand out the same uid twice.
UID_LOCK_DIR = "/run/normlab-sandbox-uids"


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


def holds(uid: int) -> bool:
    """Whether ``uid`` is claimed by ``sandbox_ids(claim=True)`` in this process and not handed
    back yet: a uid of one child's own, so whatever runs as it belongs to that child."""
    with _uids_lock:
        return uid in _uids_in_use


def release_ids(uid: int) -> None:
    """Hand back a uid claimed by ``sandbox_ids(claim=True)`` (a no-op for others)."""
    with _uids_lock:
        _uids_in_use.discard(uid)
        _release_lock(uid)
