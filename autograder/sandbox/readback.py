"""What a sandboxed child leaves in its run folder, read back without trusting any of it.

A call's outcome (`ProbeOutcome`) comes only from its ``<key>.json`` status and ``<key>.npz``
arrays, each read with a size cap, through a directory descriptor that follows no links; the
arrays are checked header by header (numeric dtypes, sizes that match) before NumPy reads them,
never unpickled. Also the progress log and the stack samples a stuck child wrote, from which
`hang_site` names the student's function that hung. Used by `autograder.sandbox.runner`.
"""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["STATUSES", "ProbeOutcome"]

log = logging.getLogger(__name__)

STATUSES = ("ok", "error", "crashed", "timeout", "bad-output")
_MAX_JSON_BYTES = 256 * 1024
_MAX_PROGRESS_BYTES = 4 * 2**20
_MAX_STACKS_BYTES = 512 * 1024  # the tail of run<n>/stacks that is read
_STACK_SAMPLES = 4  # a function is blamed for a hang when it is in each of the last 4 samples
_MAX_MESSAGE_CHARS = 2000
_MAX_TRACEBACK_CHARS = 4000
NUMERIC_KINDS = "biufc"


@dataclass
class ProbeOutcome:
    """What came back from one call."""

    status: str  # one of STATUSES
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # empty unless status == "ok"
    message: str = ""  # for the student, e.g. "NotImplementedError: batchnorm_forward: ..."
    traceback: str = ""  # the student's frames only, paths relative to the package's parent
    seconds: float = 0.0  # time of the call inside the child, when known

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")


def hang_site(text: str, package_root: Path) -> tuple[str, str, int] | None:
    """Where a call that ran out of time was stuck: ``(file, function, line)`` of the deepest
    student frame that is in each of the last `_STACK_SAMPLES` stack samples the child wrote
    (child.py's ``_StackSampler``; a frame seen in some samples only is a call the stuck
    function keeps making, not the stuck one). ``file`` is relative to ``package_root``
    (``assignment/layers.py``). None when the samples do not say (too few, the student's code
    stopped the sampler or held the GIL in C code, or it was stuck outside its own code).

    The samples are written by the student's process, so this is a hint for attributing time,
    never an input to a score: a forged sample can only make the student's own code skip calls.
    """
    prefix = str(package_root).rstrip("/") + "/"
    samples = []
    for sample in text.split("\n--\n"):
        frames = []
        for line in sample.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[0].startswith(prefix) and parts[0].endswith(".py") \
                    and parts[1].isdigit():
                frames.append((parts[0][len(prefix):], parts[2], int(parts[1])))
        samples.append(frames)
    recent = samples[-_STACK_SAMPLES:]
    if len(recent) < 2:
        return None
    common = set.intersection(*({(f, func) for f, func, _ in s} for s in recent))
    for file, function, line in recent[-1]:  # innermost first: the deepest first
        if (file, function) not in common or ".." in file.split("/"):
            continue
        if function.startswith("<") and function != "<module>":
            continue  # a comprehension or lambda: blame the function around it
        return file, function, line
    return None


class ChildFiles:
    """Reads the files a child wrote into its run directory, trusting nothing about them."""

    def __init__(self, rundir: Path, max_bytes: int):
        self.dir_fd = os.open(rundir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        self.max_bytes = max_bytes

    def close(self) -> None:
        os.close(self.dir_fd)

    def read(self, name: str, max_bytes: int) -> bytes | None:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=self.dir_fd)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_size > max_bytes:
                return None
            chunks, size = [], 0
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    return None
            return b"".join(chunks)
        finally:
            os.close(fd)

    def tail(self, name: str, max_bytes: int) -> bytes:
        """The last ``max_bytes`` of a regular file of the run directory (b"" if unusable)."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=self.dir_fd)
        except OSError:
            return b""
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                return b""
            os.lseek(fd, max(0, st.st_size - max_bytes), os.SEEK_SET)
            chunks, size = [], 0
            while size < max_bytes and (chunk := os.read(fd, min(1 << 20, max_bytes - size))):
                chunks.append(chunk)
                size += len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def stacks(self) -> str:
        return self.tail("stacks", _MAX_STACKS_BYTES).decode("utf-8", errors="replace")

    def progress(self) -> list[str]:
        data = self.read("progress", _MAX_PROGRESS_BYTES) or b""
        return data.decode("utf-8", errors="replace").splitlines()

    def outcome(self, key: str) -> ProbeOutcome:
        unreadable = ProbeOutcome("bad-output", message=(
            "the result of this call could not be read back (missing or damaged; does the "
            "code write files into its working directory?)"))
        raw = self.read(f"{key}.json", _MAX_JSON_BYTES)
        try:
            status = json.loads(raw) if raw is not None else None
        except ValueError:
            status = None
        if not isinstance(status, dict) or status.get("status") not in ("ok", "error",
                                                                         "bad-output"):
            return unreadable
        seconds = status.get("seconds")
        seconds = float(seconds) if isinstance(seconds, int | float) else 0.0
        message = str(status.get("message", ""))[:_MAX_MESSAGE_CHARS]
        if status["status"] != "ok":
            return ProbeOutcome(status["status"], message=message, seconds=seconds,
                                traceback=str(status.get("traceback", ""))[:_MAX_TRACEBACK_CHARS])
        data = self.read(f"{key}.npz", self.max_bytes)
        if data is None:
            return unreadable
        try:
            arrays = _load_npz(data)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            log.info("unreadable npz for %s: %s", key, e)
            return unreadable
        return ProbeOutcome("ok", arrays=arrays, seconds=seconds)


def _load_npz(data: bytes) -> dict[str, np.ndarray]:
    """Numeric arrays from an uncompressed .npz, checking each header against its size first."""
    arrays = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
                raise ValueError(f"unexpected member {info.filename!r}")
            raw = zf.read(info)
            f = io.BytesIO(raw)
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy version {version}")
            if dtype.kind not in NUMERIC_KINDS or dtype.hasobject:
                raise ValueError(f"non-numeric dtype {dtype}")
            if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != len(raw) - f.tell():
                raise ValueError("array header does not match the data size")
            f.seek(0)
            arrays[info.filename[:-4]] = np.lib.format.read_array(f, allow_pickle=False)
    return arrays
