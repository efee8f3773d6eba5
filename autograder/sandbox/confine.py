"""What a sandboxed child may see and is held to: the masks over the file system, its own
namespaces and /proc, its limits and its uid, set between fork and exec.

The parent plans (`mask_plan`: which directories to cover, and which paths the child needs
readable); `make_preexec` returns the function the child runs after fork (syscalls only, no
imports, no locks). Used by `autograder.sandbox.spawn`.
"""

from __future__ import annotations

import contextlib
import os
import resource
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from autograder.config import Limits
from autograder.sandbox import containment, linux
from autograder.sandbox.errors import SandboxError
from autograder.sandbox.linux import check

# Never covered by a mask: the child needs them to run at all.
SYSTEM_DIRS = ("/", "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc",
               "/proc", "/sys", "/dev")
# In "namespaces" mode every other top-level directory (/home, /root, /srv, /opt, /var, /run,
# /mnt, /media, /tmp, /work, ...) is covered too: the child sees the system, its job and the
# Python installation, not where the grader keeps solutions, courses, gradebooks or other
# repositories (a second checkout of the course repository, say).

# The namespaces a child gets of its own in "namespaces" mode: mounts, network, IPC, hostname.
NAMESPACES = linux.CLONE_NEWNS | linux.CLONE_NEWNET | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS
# Mount option of the child's own /proc: the /proc/<pid> directories of other uids' processes
# (the grader, other jobs) are closed to the child, command lines and statuses included.
_PROC_OPTIONS = (b"hidepid=1",)


# ----------------------------------------------------------------------------------------------
# Which paths the child needs, and which directories to cover


def python_paths() -> list[str]:
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


def outermost(paths: Sequence[str]) -> list[str]:
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


def first_blocked_dir(path: str, uid: int, gid: int) -> str | None:
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


def unreadable(path: str, uid: int, gid: int) -> bool:
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


def mask_plan(keeps: list[str], hide: Sequence[str], uid: int, gid: int
               ) -> list[tuple[str, list[str], list[str]]]:
    """(directory to cover with an empty tmpfs, needed paths inside it to bind back, covered
    directories inside it to keep as empty directories), by depth."""
    masks = set()
    for k in keeps:
        blocked = first_blocked_dir(k, uid, gid)
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
        inner = outermost([k for k in keeps if _is_within(k, m) and k != m])
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


def make_preexec(limits: Limits, drop: tuple[int, int] | None,
                  plan: list[tuple[str, list[str]]] | None, errfd: int,
                  join_fds: Sequence[int] = ()):
    libc = linux.libc()
    cpu_soft = max(1, int(limits.cpu_seconds))
    top_files = _top_level_files() if plan is not None else []

    def setup_namespaces() -> None:
        check(libc.unshare(NAMESPACES), "unshare")
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
