"""What the grader uses of Linux directly: libc's mount, umount2, unshare and prctl, their flags,
and the directories every user may write to. Used by `sandbox` (namespaces, masks) and
`containment` (the job's tmpfs); standard library only.
"""

from __future__ import annotations

import ctypes
import functools
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_NO_NEW_PRIVS = 38

#: Directories every user may write to: masked in the sandbox's "namespaces" mode, and where a
#: child's uid may leave files in "rlimits" mode (removed after it, `containment`).
SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


@functools.lru_cache(maxsize=1)
def libc():
    """The C library, with the argument types of the calls used here (errno kept)."""
    lib = ctypes.CDLL(None, use_errno=True)
    lib.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                          ctypes.c_char_p]
    lib.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    lib.unshare.argtypes = [ctypes.c_int]
    lib.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                          ctypes.c_ulong]
    return lib


def check(rc: int, what: str) -> None:
    """Raise OSError (errno, ``"<what>: <strerror>"``) when a libc call returned non-zero."""
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
