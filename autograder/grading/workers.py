"""``grade --workers N``: the grading jobs in N long-lived local worker processes.

`ProcessBackend` starts N processes on this machine (``multiprocessing``, spawn), one job each at
a time; each runs `scheduler.run_job` on the path of the prepared folder. A job that outlives
``job_timeout`` (a grader bug: the sandbox bounds student code on its own) or a worker that dies
costs that one job: the worker is killed and replaced, the others go on. A worker that cannot
even start (no main-module guard in a script that grades) is a `SchedulerError`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait as mp_wait
from pathlib import Path

from autograder.config import GradingConfig
from autograder.grading.scheduler import (
    Done,
    SchedulerError,
    announce_isolation,
    done_from_reply,
    run_job,
)


def _worker_main(conn, job: Callable | None) -> None:
    """A local worker process: `run_job` on the jobs received on ``conn`` until told to stop
    (or EOF)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if job is None:  # imported while the parent prepares the first jobs
        import autograder.grading.job  # noqa: F401
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
            reply = run_job(*args, job)
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
    """``workers`` local processes, each running ``run_job(student, str(workdir), config, job)``."""

    workers: int
    job_timeout: float | None = None
    job: Callable | None = None
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
        process = self._ctx.Process(target=_worker_main, args=(child_end, self.job),
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
                    done = done_from_reply(ticket, student, reply,
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
