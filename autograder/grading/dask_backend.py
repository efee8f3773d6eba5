"""``grade --dask-scheduler ADDRESS``: the grading jobs as tasks on a ``dask.distributed`` cluster.

`DaskBackend` sends each job, `scheduler.run_job`, to an existing cluster. Workers need not share
a file system with the parent: the prepared ``assignment/`` (the only part the job reads:
intake's one copy of the student's package) travels inside the task as a zip in memory
(`scheduler.pack_submission`, at most ``MAX_PAYLOAD_BYTES`` uncompressed) and is unpacked into a
temporary folder on the worker: transport, not a second selection of the student's files. Dask
workers whose grader code differs from the parent's (`scheduler.worker_fingerprint`) are refused
at the start, and so are the results of one that changes later.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from autograder.config import GradingConfig
from autograder.grading.scheduler import (
    Done,
    SchedulerError,
    done_from_reply,
    isolation_report,
    pack_submission,
    run_job,
    shared_uid_warning,
    worker_fingerprint,
)


class DaskBackend:
    """Jobs as tasks on an existing dask.distributed cluster (the scheduler at ``address``)."""

    name = "dask"

    def __init__(self, address: str, job_timeout: float | None = None,
                 job: Callable | None = None, connect_timeout: float = 30.0,
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
        self.job = job
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
        future = self.client.submit(run_job, student, payload, config, self.job,
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
                done = done_from_reply(ticket, student, reply, now - started)
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
