"""Where grading jobs run, and the one entry every backend calls: `run_job`.

`run_job` (in a worker: this process, a local worker process or a Dask worker) runs ONE grading
function on one prepared submission and hands back plain data, never raising: ``{"result":
SubmissionResult JSON}`` or ``{"error": why}``, plus the worker's name and peak memory. The
grading function is `job.grade_submission` (which runs the student's code in sandboxed children)
unless the caller gives another one with the same signature, ``job(student, folder, config) ->
SubmissionResult``, raising on failure: tests pass stand-ins through the ``job`` parameter of
`autograder.grading.pipeline.grade_all` (top-level functions, so that worker processes and Dask
can pickle them). Every backend turns the reply into a `Done` (`done_from_reply`). Backends never
write grades; the parent (`autograder.grading.pipeline`) is the single recorder and writes each
result as it arrives.

The backends: `SerialBackend` (here: one job at a time, in this process, ``grade`` without
``--workers``), `autograder.grading.workers.ProcessBackend` (``--workers N`` local processes) and
`autograder.grading.dask_backend.DaskBackend` (``--dask-scheduler ADDRESS``). Each has
``capacity``, ``in_flight()``, ``submit(ticket, student, workdir, config)``, ``wait(timeout)``
(the `Done` jobs) and ``close(kill)``.

Sandbox uids. When the grader runs as root, each sandboxed child drops to an unprivileged uid
of its own, which `sandbox.run_python` claims with a machine-wide lock while the child runs:
children of parallel workers (or of two graders, or of several Dask workers on one node) never
share a uid, so one student's ``kill(-1, SIGKILL)`` cannot reach another student's child. The
backends need nothing more; `shared_uid_warning` warns when ``NORMLAB_SANDBOX_UID`` names one
uid for all children.

Isolation report. Before its first job each backend says on stderr which isolation and which
per-job totals the jobs get (`announce_isolation`, from `containment.report`: per job memory,
processes, disk and output, and what is not available here and why); the Dask backend asks each
worker, since the jobs run there.
"""

from __future__ import annotations

import io
import os
import resource
import shutil
import socket
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autograder.config import GradingConfig
from autograder.results import SubmissionResult

#: Largest uncompressed size of the prepared assignment/ sent to a Dask worker.
MAX_PAYLOAD_BYTES = 64 * 2**20
_MAX_PAYLOAD_ENTRIES = 2000


class SchedulerError(Exception):
    """A backend cannot be set up (no Dask scheduler at the address, workers that cannot
    start, ...)."""


@dataclass
class Done:
    """One finished job, as the parent sees it."""

    ticket: int
    student: str
    result: SubmissionResult | None  # None when the job failed
    error: str | None = None  # why it failed (a grader problem, never the student's)
    seconds: float = 0.0  # wall time from dispatch to the result, in the parent
    worker: str = ""
    peak_rss: int = 0  # bytes: the worker process's peak resident set so far
    peak_rss_children: int = 0  # bytes: the largest sandboxed child of that worker so far


# ------------------------------------------------------------------------------------------------
# The job entry (runs in a worker: this process, a local process or Dask)
# ------------------------------------------------------------------------------------------------


def _maxrss_bytes(who: int) -> int:
    scale = 1 if sys.platform == "darwin" else 1024  # Linux reports KiB
    return int(resource.getrusage(who).ru_maxrss) * scale


def run_job(student: str, payload: str | bytes, config: GradingConfig,
            job: Callable | None = None) -> dict:
    """Grade one prepared submission; return plain data (never raises).

    - payload: the prepared folder's path (same machine) or `pack_submission` bytes
      (unpacked into a temporary folder here, removed afterwards).
    - job: ``job(student, folder, config) -> SubmissionResult``, raising on failure (default:
      `autograder.grading.job.grade_submission`).

    Returns ``{"result": SubmissionResult JSON}`` or ``{"error": text}``, plus ``"worker"``,
    ``"peak_rss"``, ``"peak_rss_children"`` (bytes) and ``"grader"`` (`worker_fingerprint`).
    """
    reply: dict = {"worker": f"{socket.gethostname()}:{os.getpid()}"}
    scratch = None
    try:
        if job is None:
            from autograder.grading.job import grade_submission as job
        if isinstance(payload, bytes | bytearray):
            scratch = Path(tempfile.mkdtemp(prefix=f"normlab-dask-{student}-"))
            unpack_submission(bytes(payload), scratch)
            folder = scratch
        else:
            folder = Path(payload)
        reply["result"] = job(student, folder, config).to_json()
    except Exception as exc:  # noqa: BLE001 - returned to the parent, reported per student
        where = traceback.extract_tb(exc.__traceback__)[-1:]
        at = f" (at {Path(where[0].filename).name}:{where[0].lineno})" if where else ""
        reply["error"] = f"{type(exc).__name__}: {exc}{at}"
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    reply["peak_rss"] = _maxrss_bytes(resource.RUSAGE_SELF)
    reply["peak_rss_children"] = _maxrss_bytes(resource.RUSAGE_CHILDREN)
    reply["grader"] = worker_fingerprint()
    return reply


def worker_fingerprint() -> str:
    """The grader code this process grades with (`journal.code_fingerprint`): a Dask worker
    whose checkout differs from the parent's would give other grades, so the parent refuses
    its results."""
    from autograder.recording.journal import code_fingerprint

    return code_fingerprint()


def done_from_reply(ticket: int, student: str, reply: dict, seconds: float) -> Done:
    """The `Done` of a `run_job` reply (a reply that cannot be read is a failed job)."""
    result = None
    error = reply.get("error")
    if error is None:
        try:
            result = SubmissionResult.from_json(reply["result"])
            if result.student != student:
                raise ValueError(f"the job returned the result of {result.student!r}")
        except (KeyError, TypeError, ValueError) as exc:
            error = f"the job returned an unreadable result ({exc})"
    return Done(ticket, student, result, error, seconds, str(reply.get("worker", "")),
                int(reply.get("peak_rss", 0)), int(reply.get("peak_rss_children", 0)))


# ------------------------------------------------------------------------------------------------
# Shipping a prepared submission to a worker without a shared file system
# ------------------------------------------------------------------------------------------------


def pack_submission(workdir: Path, max_bytes: int = MAX_PAYLOAD_BYTES) -> bytes:
    """The prepared ``assignment/`` of ``workdir`` as zip bytes (the job reads nothing else).

    Regular files only (intake never makes links). Raises `SchedulerError` above ``max_bytes``
    uncompressed, or when there is no ``assignment/`` folder the job could read (the job then
    gets an empty payload and reports the missing package itself).
    """
    workdir = Path(workdir)
    buffer = io.BytesIO()
    total = count = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        package = workdir / "assignment"
        if package.is_dir() and not package.is_symlink():
            archive.writestr("assignment/", b"")  # the folder exists even when it is empty
            for folder, dirs, files in os.walk(package):
                dirs.sort()
                for name in sorted(files):
                    path = Path(folder) / name
                    if path.is_symlink() or not path.is_file():
                        continue
                    total += path.stat().st_size
                    count += 1
                    if total > max_bytes or count > _MAX_PAYLOAD_ENTRIES:
                        raise SchedulerError(
                            f"the submission's assignment/ is larger than {max_bytes} bytes or "
                            f"{_MAX_PAYLOAD_ENTRIES} files; not sent to the cluster")
                    archive.write(path, path.relative_to(workdir).as_posix())
    return buffer.getvalue()


def unpack_submission(data: bytes, dest: Path, max_bytes: int = MAX_PAYLOAD_BYTES) -> None:
    """Unpack `pack_submission` bytes into ``dest`` (refusing unsafe names and oversize)."""
    dest = Path(dest)
    total = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        if len(infos) > _MAX_PAYLOAD_ENTRIES + 1:
            raise SchedulerError("the submission payload has too many entries")
        for info in infos:
            parts = PurePosixPath(info.filename).parts
            if (not parts or info.filename.startswith("/") or ".." in parts
                    or "\\" in info.filename or parts[0] != "assignment"):
                raise SchedulerError(f"unsafe name in the submission payload: {info.filename!r}")
            target = dest.joinpath(*parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            total += info.file_size
            if total > max_bytes:
                raise SchedulerError("the submission payload unpacks to more than allowed")
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink)



# ------------------------------------------------------------------------------------------------
# Sandbox uids
# ------------------------------------------------------------------------------------------------


def shared_uid_warning(env: dict | None = None) -> str | None:
    """A warning when parallel jobs' children would share one sandbox uid, else None."""
    env = os.environ if env is None else env
    spec = env.get("NORMLAB_SANDBOX_UID", "").strip()
    if spec and "-" not in spec:
        return (f"NORMLAB_SANDBOX_UID={spec} is one uid: the sandboxed children of parallel "
                "jobs share it and can signal each other; unset it (each child then gets a uid "
                "of its own) or give a range first-last of unused uids")
    return None


def isolation_report(config: GradingConfig) -> list[str]:
    """The isolation of the children and the totals per job in force for this process (a Dask
    worker runs this too): `sandbox.isolation_summary` and `containment.report`."""
    from autograder.sandbox import containment
    from autograder.sandbox import spawn as sandbox

    try:
        return [sandbox.isolation_summary(), *containment.report(config.limits)]
    except Exception as exc:  # noqa: BLE001 - a report must not stop the grading
        return [f"sandbox: cannot tell the isolation in force ({type(exc).__name__}: {exc})"]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def announce_isolation(config: GradingConfig, echo: Callable = _stderr) -> None:
    """`isolation_report`, once per process: at the start of the first job it hands out."""
    if os.getpid() in _announced:
        return
    _announced.add(os.getpid())
    for line in isolation_report(config):
        echo(line)


_announced: set[int] = set()


# ------------------------------------------------------------------------------------------------
# In this process
# ------------------------------------------------------------------------------------------------


class SerialBackend:
    """One job at a time, in this process: `run_job` on the prepared folder."""

    capacity = 1
    name = "serial"

    def __init__(self, job: Callable | None = None):
        self.job = job
        self.queue: list[tuple[int, str, Path, GradingConfig]] = []
        self.peaks: dict[str, tuple[int, int]] = {}

    def submit(self, ticket: int, student: str, workdir: Path, config: GradingConfig) -> None:
        announce_isolation(config)
        self.queue.append((ticket, student, workdir, config))

    def in_flight(self) -> int:
        return len(self.queue)

    def wait(self, timeout: float | None = None) -> list[Done]:
        if not self.queue:
            return []
        ticket, student, workdir, config = self.queue.pop(0)
        started = time.perf_counter()
        reply = run_job(student, str(workdir), config, self.job)
        done = done_from_reply(ticket, student, reply, time.perf_counter() - started)
        done.worker = "this process"
        self.peaks[done.worker] = (done.peak_rss, done.peak_rss_children)
        return [done]

    def close(self, kill: bool = False) -> None:
        self.queue.clear()
