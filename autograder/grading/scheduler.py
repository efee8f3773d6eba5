"""Where grading jobs run: in this process, in local worker processes, or on a Dask cluster.

Every backend runs the same job, `run_job` (a thin wrapper of `job.grade_submission`, which runs
the student's code in sandboxed children), and hands back plain data: a `Done` holding the
`SubmissionResult` (carried as JSON) or the reason the job failed. Backends never write grades;
the parent (`cli.grade_all`) is the single recorder and writes each result as it arrives.

``SerialBackend``
    One job at a time, in this process (``grade`` without ``--workers``).
``ProcessBackend``
    ``--workers N``: N long-lived worker processes on this machine (``multiprocessing``, spawn),
    one job each at a time. The submission is passed as the path of its prepared folder. A job
    that outlives ``job_timeout`` (a grader bug: the sandbox bounds student code on its own) or a
    worker that dies costs that one job: the worker is killed and replaced, the others go on.
``DaskBackend``
    ``--dask-scheduler ADDRESS``: each job is a task on an existing ``dask.distributed`` cluster.
    Workers need not share a file system with the parent: the prepared ``assignment/`` (the only
    part the job reads) travels inside the task as a zip in memory (`pack_submission`, at most
    ``MAX_PAYLOAD_BYTES`` uncompressed) and is unpacked into a temporary folder on the worker.

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

import contextlib
import io
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait as mp_wait
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
# The job (runs in a worker: local process or Dask)
# ------------------------------------------------------------------------------------------------


def _maxrss_bytes(who: int) -> int:
    scale = 1 if sys.platform == "darwin" else 1024  # Linux reports KiB
    return int(resource.getrusage(who).ru_maxrss) * scale


def run_job(student: str, payload: str | bytes, config: GradingConfig) -> dict:
    """Grade one prepared submission; return plain data (never raises).

    - payload: the prepared folder's path (same machine) or `pack_submission` bytes (unpacked
      into a temporary folder here, removed afterwards).

    Returns ``{"result": SubmissionResult JSON}`` or ``{"error": text}``, plus ``"worker"``,
    ``"peak_rss"`` and ``"peak_rss_children"`` (bytes).
    """
    reply: dict = {"worker": f"{socket.gethostname()}:{os.getpid()}"}
    scratch = None
    try:
        from autograder.grading import job

        if isinstance(payload, bytes | bytearray):
            scratch = Path(tempfile.mkdtemp(prefix=f"normlab-dask-{student}-"))
            unpack_submission(bytes(payload), scratch)
            folder = scratch
        else:
            folder = Path(payload)
        result = job.grade_submission(student, folder, config)
        reply["result"] = result.to_json()
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


def _done_from_reply(ticket: int, student: str, reply: dict, seconds: float) -> Done:
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
# Backends
# ------------------------------------------------------------------------------------------------


class SerialBackend:
    """One job at a time, in this process: ``grader(student, workdir, config, problems)``."""

    capacity = 1
    name = "serial"

    def __init__(self, grader: Callable):
        self.grader = grader
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
        try:
            result = self.grader(student, workdir, config, None)
            done = Done(ticket, student, result, None)
        except Exception as exc:  # noqa: BLE001 - GradingFailure and grader bugs alike
            done = Done(ticket, student, None, str(exc) or type(exc).__name__)
        done.seconds = time.perf_counter() - started
        done.worker = "this process"
        done.peak_rss = _maxrss_bytes(resource.RUSAGE_SELF)
        done.peak_rss_children = _maxrss_bytes(resource.RUSAGE_CHILDREN)
        self.peaks[done.worker] = (done.peak_rss, done.peak_rss_children)
        return [done]

    def close(self, kill: bool = False) -> None:
        self.queue.clear()


def _worker_main(conn, job_fn: Callable) -> None:
    """A local worker process: run jobs received on ``conn`` until told to stop (or EOF)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if job_fn is run_job:
        from autograder.grading import job  # noqa: F401 - imported while the parent prepares the first jobs
    try:
        conn.send(("ready", os.getpid()))
    except (OSError, ValueError):
        return
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        ticket, args = message
        try:
            reply = job_fn(*args)
        except BaseException as exc:  # noqa: BLE001 - a job function must not kill the worker
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        try:
            conn.send((ticket, reply))
        except (OSError, ValueError):
            return  # the parent is gone


@dataclass
class _Worker:
    index: int
    process: multiprocessing.process.BaseProcess
    conn: object
    job: tuple | None = None  # (ticket, student, started)
    peak: tuple[int, int] = (0, 0)
    ready: bool = False  # it said so: it started (imports, main-module guard) fine


@dataclass
class ProcessBackend:
    """``workers`` local processes, each running ``job_fn(student, str(workdir), config)``."""

    workers: int
    job_timeout: float | None = None
    job_fn: Callable = run_job
    name: str = "local processes"
    peaks: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self):
        if self.workers < 1:
            raise SchedulerError("--workers must be at least 1")
        self._ctx = multiprocessing.get_context("spawn")
        self._pool: list[_Worker] = [self._start(i) for i in range(self.workers)]
        self._results: list[Done] = []

    @property
    def capacity(self) -> int:
        return self.workers

    def _start(self, index: int) -> _Worker:
        parent_end, child_end = self._ctx.Pipe()
        process = self._ctx.Process(target=_worker_main, args=(child_end, self.job_fn),
                                    name=f"normlab-grader-{index}", daemon=True)
        process.start()
        child_end.close()
        return _Worker(index, process, parent_end)

    def _replace(self, worker: _Worker) -> None:
        with contextlib.suppress(OSError):
            worker.process.kill()
        worker.process.join(5)
        with contextlib.suppress(OSError):
            worker.conn.close()
        self._pool[worker.index] = self._start(worker.index)

    def in_flight(self) -> int:
        return sum(w.job is not None for w in self._pool)

    def submit(self, ticket: int, student: str, workdir: Path, config: GradingConfig) -> None:
        announce_isolation(config)
        idle = [w for w in self._pool if w.job is None]
        if not idle:
            raise SchedulerError("submit() without a free worker")
        worker = idle[0]
        if not worker.process.is_alive():  # died while idle (the OOM killer, say)
            with contextlib.suppress(EOFError, OSError):
                while worker.conn.poll():
                    if worker.conn.recv()[0] == "ready":
                        worker.ready = True
            if not worker.ready:
                self._died(worker)  # never started: raises
            self._replace(worker)
            worker = self._pool[worker.index]
        worker.job = (ticket, student, time.perf_counter())
        try:
            worker.conn.send((ticket, (student, str(workdir), config)))
        except (OSError, ValueError) as exc:
            self._fail(worker, f"the worker process could not take the job ({exc})")

    def _fail(self, worker: _Worker, why: str) -> None:
        ticket, student, started = worker.job
        self._results.append(Done(ticket, student, None, why, time.perf_counter() - started,
                                  worker.process.name))
        worker.job = None
        self._replace(worker)

    def wait(self, timeout: float | None = None) -> list[Done]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._results:
            busy = [w for w in self._pool if w.job is not None]
            if not busy:
                break
            wait_for = None if deadline is None else deadline - time.monotonic()
            if self.job_timeout is not None:
                now = time.perf_counter()
                first_due = min(w.job[2] + self.job_timeout - now for w in busy)
                wait_for = first_due if wait_for is None else min(wait_for, first_due)
            ready = mp_wait([w.conn for w in busy] + [w.process.sentinel for w in busy],
                            None if wait_for is None else max(wait_for, 0.0))
            for worker in busy:
                if worker.conn in ready:
                    try:
                        ticket, reply = worker.conn.recv()
                    except (EOFError, OSError):
                        self._died(worker)
                        continue
                    if ticket == "ready":
                        worker.ready = True
                        continue
                    _, student, started = worker.job
                    done = _done_from_reply(ticket, student, reply,
                                            time.perf_counter() - started)
                    done.worker = worker.process.name
                    worker.peak = (max(worker.peak[0], done.peak_rss),
                                   max(worker.peak[1], done.peak_rss_children))
                    self.peaks[f"worker {worker.index}"] = worker.peak
                    worker.job = None
                    self._results.append(done)
                elif worker.process.sentinel in ready:
                    self._died(worker)
                elif (self.job_timeout is not None
                      and time.perf_counter() - worker.job[2] > self.job_timeout):
                    self._fail(worker, f"the job ran longer than the job timeout "
                                       f"({self.job_timeout:.0f} s); its worker was killed")
            if deadline is not None and time.monotonic() >= deadline:
                break
        done, self._results = self._results, []
        return done

    def _died(self, worker: _Worker) -> None:
        why = self._death(worker)
        if not worker.ready:
            self.close(kill=True)
            raise SchedulerError(
                f"a grading worker process could not start ({why.split('(')[-1].rstrip(')')}"
                "). When grading from a script of your own, put the call under "
                "`if __name__ == '__main__':` (worker processes are started with 'spawn')")
        self._fail(worker, why)

    @staticmethod
    def _death(worker: _Worker) -> str:
        worker.process.join(1)
        code = worker.process.exitcode
        if code is not None and code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exited with status {code}"
        return f"the grading worker process died ({how}) while grading"

    def close(self, kill: bool = False) -> None:
        for worker in self._pool:
            if kill or worker.job is not None:
                with contextlib.suppress(OSError):
                    worker.process.kill()
            else:
                with contextlib.suppress(OSError, ValueError):
                    worker.conn.send(None)
        for worker in self._pool:
            worker.process.join(10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(5)
            with contextlib.suppress(OSError):
                worker.conn.close()
        self._pool = []


class DaskBackend:
    """Jobs as tasks on an existing dask.distributed cluster (the scheduler at ``address``)."""

    name = "dask"

    def __init__(self, address: str, job_timeout: float | None = None,
                 job_fn: Callable = run_job, connect_timeout: float = 30.0,
                 echo: Callable = print):
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - distributed is in requirements-dev
            raise SchedulerError(f"--dask-scheduler needs dask.distributed ({exc}); "
                                 "pip install distributed") from exc
        try:
            self.client = Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise SchedulerError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
        self.job_timeout = job_timeout
        self.job_fn = job_fn
        self.echo = echo
        self._announced = False
        self.peaks: dict[str, tuple[int, int]] = {}
        self._futures: dict = {}  # future -> (ticket, student, started)
        self._early: list[Done] = []  # jobs that failed before reaching the cluster
        self._checked = time.monotonic()
        self._capacity = 0
        try:
            self.client.wait_for_workers(1, timeout=connect_timeout)
        except (OSError, TimeoutError) as exc:
            self.client.close()
            raise SchedulerError(f"the Dask cluster at {address} has no worker "
                                 f"({exc}); start workers first") from exc
        self.fingerprint = worker_fingerprint()
        try:
            found = self.client.run(worker_fingerprint)
        except Exception as exc:  # noqa: BLE001 - e.g. autograder not importable there
            self.client.close()
            raise SchedulerError(f"the Dask workers cannot run the grader ({type(exc).__name__}:"
                                 f" {exc}); install this normlab checkout on them") from exc
        other = sorted(addr for addr, fp in found.items() if fp != self.fingerprint)
        if other:
            self.client.close()
            raise SchedulerError(
                f"Dask worker(s) {', '.join(other)} run another version of the grader (code, "
                "references or solutions differ from this checkout); give every worker the "
                "same checkout")
        self._capacity = sum(self.client.nthreads().values())
        with contextlib.suppress(Exception):
            for address, warning in sorted(self.client.run(shared_uid_warning).items()):
                if warning:
                    echo(f"warning: Dask worker {address}: {warning}")

    @property
    def capacity(self) -> int:
        now = time.monotonic()
        if now - self._checked > 2.0:
            self._checked = now
            with contextlib.suppress(Exception):
                self._capacity = sum(self.client.nthreads().values())
        return max(self._capacity, 1)

    def in_flight(self) -> int:
        return len(self._futures)

    def submit(self, ticket: int, student: str, workdir: Path, config: GradingConfig) -> None:
        if not self._announced:
            self._announced = True
            with contextlib.suppress(Exception):  # the jobs run on the workers: ask them
                for address, lines in sorted(self.client.run(isolation_report, config).items()):
                    for line in lines:
                        self.echo(f"Dask worker {address}: {line}")
        started = time.perf_counter()
        try:
            payload = pack_submission(workdir)
        except (SchedulerError, OSError) as exc:
            self._early.append(Done(ticket, student, None, str(exc)))
            return
        future = self.client.submit(self.job_fn, student, payload, config,
                                    key=f"normlab-grade-{student}-{uuid.uuid4().hex[:8]}",
                                    pure=False)
        self._futures[future] = (ticket, student, started)

    def wait(self, timeout: float | None = None) -> list[Done]:
        from distributed import wait as dask_wait

        done_list, self._early = self._early, []
        if done_list or not self._futures:
            return done_list
        wait_for = timeout
        if self.job_timeout is not None:
            now = time.perf_counter()
            due = min(s + self.job_timeout - now for (_, _, s) in self._futures.values())
            wait_for = max(0.0, due if wait_for is None else min(wait_for, due))
        with contextlib.suppress(TimeoutError), self.client.as_current():
            dask_wait(list(self._futures), timeout=wait_for, return_when="FIRST_COMPLETED")
        now = time.perf_counter()
        for future in list(self._futures):
            ticket, student, started = self._futures[future]
            if future.status == "finished":
                reply = future.result()
                done = _done_from_reply(ticket, student, reply, now - started)
                if done.result is not None and reply.get("grader") != self.fingerprint:
                    done.result, done.error = None, (
                        f"worker {done.worker} runs another version of the grader; its "
                        "result was not used")
                self.peaks[done.worker] = (max(self.peaks.get(done.worker, (0, 0))[0],
                                               done.peak_rss),
                                           max(self.peaks.get(done.worker, (0, 0))[1],
                                               done.peak_rss_children))
            elif future.status in ("error", "cancelled", "lost"):
                try:
                    exc = future.exception(timeout=5)
                    why = f"{type(exc).__name__}: {exc}"
                except Exception as other:  # noqa: BLE001 - cancelled futures raise here
                    why = f"{type(other).__name__}: {other}"
                done = Done(ticket, student, None, f"the Dask task failed ({why})",
                            now - started)
            elif self.job_timeout is not None and now - started > self.job_timeout:
                future.cancel()
                done = Done(ticket, student, None, f"the job ran longer than the job timeout "
                                                   f"({self.job_timeout:.0f} s) on the cluster; "
                                                   "cancelled", now - started)
            else:
                continue
            del self._futures[future]
            done_list.append(done)
        return done_list

    def close(self, kill: bool = False) -> None:
        with contextlib.suppress(Exception):
            if self._futures:
                self.client.cancel(list(self._futures))
        self._futures.clear()
        with contextlib.suppress(Exception):
            self.client.close()
