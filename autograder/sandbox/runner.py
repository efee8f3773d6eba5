"""Call probe functions on a student's package in sandboxed children; get plain arrays back.

``run_probes(package_dir, calls, limits, probes_file)`` makes a fresh job directory::

    job/                 root-owned, read-only for the child
      bin/child.py       the script the child runs (autograder/sandbox/inside/child.py)
      bin/inside/        the probes (``probes_file``: an assignment's inside/probes.py, as
                         probes.py) and the modules beside it, imported as one package
      pkg/assignment/    the student's package: intake's copy, placed as it is
      in/<key>.npz       the inputs of each call (keys are 0000, 0001, ... not the call ids)
      calls<n>.json      which calls launch n runs
      run<n>/            launch n's cwd/HOME, owned by the child: progress, <key>.npz, <key>.json

and runs ``child.py`` under `sandbox.run_python`. A call's outcome is read back only from its
``.json`` status and ``.npz`` arrays (`autograder.sandbox.readback`). When the child dies in a call
(crash, ``os._exit``, time, memory), the progress log names the call: it gets status ``"crashed"``
or ``"timeout"``, and a new child runs the calls after it, so one bad call costs only itself. A
call that ran out of time after other calls of the same child had used part of it is retried once
in a fresh child before it is blamed. When a first import of a student module hung or crashed,
later children fail that import at once instead of paying the time limit again; when a call ran out
of time, the child's stack samples (``run<n>/stacks``) name the student function it was stuck in,
and later children fail every call of that function at once (`hang_site`). After
``MAX_FAILURES_IN_A_ROW`` crashes/timeouts of one probe in a row its remaining calls are not run,
and after ``MAX_FAILED_LAUNCHES`` failed children in one job, or once failed children used
``MAX_FAILED_WALL_LIMITS`` time limits, nothing more is run (so a job takes at most about
``MAX_FAILED_WALL_LIMITS + 2`` time limits, while a function that crashes quickly in many checks
does not cost the checks that never call it).

Trust. The child runs student code, so everything it writes (progress, statuses, arrays) may be
forged: student code can import this script's modules, rewrite ``OUT/<key>.json``, or write an
``.npz`` for any call. That is acceptable because the grade is decided by the *values* of the
arrays, which the trusted parent compares with references it computes or loads itself, on inputs
the child only sees when asked: forging a passing output means computing the right values, which
is the assignment. What the parent must never do is let a forged file make it read something
else. So outputs are opened with ``O_NOFOLLOW`` inside a directory the child cannot replace,
must be regular files with a single link (no symlink or hard link to a reference file), are
size-capped, must be uncompressed ``.npz`` of numeric dtypes whose header agrees with their size,
and are read with ``allow_pickle=False``. The child sees neither the repository (solutions,
references) nor other jobs when the sandbox has namespaces (root); see `autograder.sandbox.spawn`.
Messages in `ProbeOutcome` are for students: no paths or grader internals.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder.config import REPO_ROOT, Limits
from autograder.sandbox import containment
from autograder.sandbox.confine import SYSTEM_DIRS
from autograder.sandbox.containment import size_text
from autograder.sandbox.errors import SandboxError
from autograder.sandbox.readback import (
    NUMERIC_KINDS,
    STATUSES,
    ChildFiles,
    ProbeOutcome,
    hang_site,
)
from autograder.sandbox.spawn import SandboxResult, run_python

__all__ = ["STATUSES", "ProbeCall", "ProbeOutcome", "RunnerError", "SandboxError", "run_probes"]

log = logging.getLogger(__name__)

CHILD_SCRIPT = Path(__file__).resolve().parent / "inside" / "child.py"

MAX_FAILURES_IN_A_ROW = 3  # crashes/timeouts of one probe in a row, then skip its calls
MAX_FAILED_LAUNCHES = 30  # children that died, per job, before nothing more is run ...
MAX_FAILED_WALL_LIMITS = 10  # ... or once the children that died used this many time limits


@dataclass(frozen=True)
class ProbeCall:
    """One call of a probe on the student's package."""

    id: str  # unique in the job, e.g. "batchnorm_forward.train.fixed0"
    probe: str  # name of a function in probes.PROBES
    inputs: dict[str, np.ndarray]  # plain numeric arrays only


class RunnerError(RuntimeError):
    """The grading machinery failed (not the student's code): the job should be retried."""


def run_probes(package_dir: Path, calls: list[ProbeCall], limits: Limits,
               probes_file: Path, *, isolation: str | None = None,
               hide: Sequence[Path] | None = None) -> dict[str, ProbeOutcome]:
    """Run every call on the student's package; return ``{call.id: ProbeOutcome}`` in call order.

    - package_dir: the directory holding the student's ``assignment/`` package (or that package
      itself): intake's copy (`autograder.grading.intake.copy_package`), placed into the job
      folder as it is; nothing is imported in this process.
    - limits: for each child; a child that dies is replaced by a fresh one with full limits.
    - probes_file: the module defining ``PROBES`` (an assignment's ``inside/probes.py``, from
      `autograder.judging.assignment.probes_file`); it and its siblings run in the child, so
      they may import only the standard library, numpy and each other.
    - isolation: see `sandbox.run_python` (default: env ``NORMLAB_SANDBOX_ISOLATION`` or "auto").
    - hide: directories the child must not see (default: the autograder repository and the
      directory around the submission).

    Raises `RunnerError` (or `SandboxError`) only for failures of the grading machine itself.
    """
    package_dir = Path(package_dir)
    probes_file = Path(probes_file)
    isolation = isolation or os.environ.get("NORMLAB_SANDBOX_ISOLATION", "auto")
    ids = [c.id for c in calls]
    if len(set(ids)) != len(ids):
        raise ValueError("ProbeCall ids must be unique in a job")
    if not calls:
        return {}
    source = _find_package(package_dir)
    if source is None:
        return {c.id: ProbeOutcome("error", message="the submission has no assignment/ package")
                for c in calls}
    if hide is None:
        hide = _default_hide(package_dir)

    try:
        contained = containment.Job(limits)
    except OSError as e:  # a cgroup or a mount the machine said it could make
        raise RunnerError(f"cannot set up the job's totals (memory, processes, disk): {e}") \
            from e
    with contained:
        jobdir = contained.path
        _place_package(source, jobdir / "pkg" / "assignment")
        bindir = jobdir / "bin"
        bindir.mkdir(mode=0o755)
        shutil.copyfile(CHILD_SCRIPT, bindir / "child.py")
        inside = bindir / "inside"  # the probes module and its siblings, imported as a package
        inside.mkdir(mode=0o755)
        for module in sorted(probes_file.parent.glob("*.py")):
            if module != probes_file:
                shutil.copyfile(module, inside / module.name)
        shutil.copyfile(probes_file, inside / "probes.py")
        (jobdir / "in").mkdir(mode=0o755)
        keys = {}
        for i, call in enumerate(calls):
            keys[call.id] = key = f"{i:04d}"
            _save_inputs(jobdir / "in" / f"{key}.npz", call)
        if os.geteuid() == 0:  # the child runs under another uid and must read all this
            _make_world_readable(jobdir)
        job = _Job(jobdir, calls, keys, limits, isolation, list(hide), contained)
        outcomes = job.run()
    return {c.id: outcomes[c.id] for c in calls}


# ----------------------------------------------------------------------------------------------


class _Job:
    def __init__(self, jobdir: Path, calls: list[ProbeCall], keys: dict[str, str], limits: Limits,
                 isolation: str, hide: list[Path], contained: containment.Job | None = None):
        self.jobdir = jobdir
        self.contained = contained
        self.calls = calls
        self.keys = keys
        self.limits = limits
        self.isolation = isolation
        self.hide = hide
        self.outcomes: dict[str, ProbeOutcome] = {}
        self.broken: dict[str, str] = {}  # module -> why its import must fail at once
        self.hung: dict[tuple[str, str], dict] = {}  # (file, function) -> what the child needs
        self.in_a_row: dict[str, int] = {}  # probe -> crashes/timeouts in a row
        self.failed_launches = 0
        self.failed_seconds = 0.0
        self.retried: set[str] = set()
        self.launches = 0
        self.last_failure: ProbeOutcome | None = None

    def pending(self) -> list[ProbeCall]:
        return [c for c in self.calls if c.id not in self.outcomes]

    def run(self) -> dict[str, ProbeOutcome]:
        while pending := self.pending():
            if self.failed_launches >= MAX_FAILED_LAUNCHES or \
                    self.failed_seconds >= MAX_FAILED_WALL_LIMITS * self.limits.wall_seconds:
                last = self.last_failure or ProbeOutcome("crashed")
                for c in pending:
                    self.outcomes[c.id] = ProbeOutcome(
                        last.status, message=f"not run: the code crashed or ran out of time "
                        f"{self.failed_launches} times in this submission, so the rest was skipped")
                break
            self.launch(pending)
        return self.outcomes

    def launch(self, pending: list[ProbeCall]) -> None:
        self.launches += 1
        n = self.launches
        rundir = self.jobdir / f"run{n}"
        rundir.mkdir(mode=0o700)
        calls_file = self.jobdir / f"calls{n}.json"
        calls_file.write_text(json.dumps({
            "calls": [{"key": self.keys[c.id], "id": c.id, "probe": c.probe} for c in pending],
            "broken": self.broken,
            "hung": list(self.hung.values()),
            "max_output_bytes": self.limits.max_file_bytes,
        }))
        os.chmod(calls_file, 0o644)
        bindir = self.jobdir / "bin"
        args = ["--package-dir", self.jobdir / "pkg", "--probes", bindir / "inside" / "probes.py",
                "--calls", calls_file, "--inputs-dir", self.jobdir / "in", "--out-dir", rundir]
        result = run_python(bindir / "child.py", [str(a) for a in args], rundir, self.limits,
                            isolation=self.isolation, readable=[self.jobdir], hide=self.hide,
                            job=self.contained)
        disk_full = self.contained is not None and self.contained.disk_full()
        reader = ChildFiles(rundir, self.limits.max_file_bytes)
        try:
            self.collect(pending, result, reader, disk_full)
        finally:
            reader.close()
            # Read: its space (the job's disk, its memory for a tmpfs) is the next child's.
            containment.remove_tree(rundir)
            calls_file.unlink(missing_ok=True)

    def collect(self, pending: list[ProbeCall], result: SandboxResult, reader: ChildFiles,
                disk_full: bool = False) -> None:
        events = reader.progress()
        if "ready" not in events:
            raise RunnerError(f"the grading child did not start ({result.describe()}): "
                              f"{result.stderr_tail[-2000:]}")
        by_key = {self.keys[c.id]: c for c in pending}
        done = 0
        current = None
        importing = None
        for event in events:
            word, _, arg = event.partition(" ")
            if word == "start" and arg in by_key:
                current, importing = by_key[arg], None
            elif word == "import":
                importing = arg
            elif word == "imported":
                importing = None
            elif word == "done" and arg in by_key and by_key[arg].id not in self.outcomes:
                call = by_key[arg]
                self.outcomes[call.id] = reader.outcome(arg)
                self.in_a_row[call.probe] = 0
                done += 1
                current = importing = None
        if not self.pending():
            return
        # The child ended before finishing its calls.
        if current is None:
            self.failed_launches += 1
            self.failed_seconds += result.seconds
            if done == 0:
                raise RunnerError(f"the grading child stopped before its first call "
                                  f"({result.describe()})")
            log.info("child died between calls (%s); starting another", result.describe())
            return
        timeout = result.timed_out or _cpu_limited(result)
        if (timeout and done > 0 or disk_full) and current.id not in self.retried:
            # Its time was partly used by earlier calls, or an earlier call filled the job's
            # disk so that this one could not write its results: run it again, in a fresh child
            # (with the space of the last one freed). A call that fills the disk itself fails
            # again there and is blamed then.
            self.retried.add(current.id)
            return
        self.failed_launches += 1
        self.failed_seconds += result.seconds
        description = result.describe()
        site = hang_site(reader.stacks(), self.jobdir / "pkg") if timeout else None
        if site is not None and site[1] == "<module>":
            module = site[0][:-3].replace("/", ".").removesuffix(".__init__")
            self.broken[module] = f"importing {module} did not finish earlier ({description})"
        if importing is not None:
            verb = "did not finish" if timeout else "crashed"
            self.broken[importing] = f"importing {importing} {verb} earlier ({description})"
            message = f"importing {importing} {verb}: {description}"
        elif timeout and site is not None:
            file, function, line = site
            where = f"{function} ({file.rsplit('/', 1)[-1]} line {line})"
            message = f"{description} in {where} (an endless loop, or much too slow?)"
            self.hung[(file, function)] = {
                "file": file, "function": function, "line": line,
                "message": f"{where} did not finish in an earlier call ({description}), so it "
                           f"is not run again"}
        elif timeout:
            message = f"{description} (an endless loop, or much too slow?)"
        else:
            message = f"the Python process running this call died: {description}"
            if disk_full:
                lim = self.limits
                message += (f"; the submission's files had filled its disk space "
                            f"({size_text(lim.job_disk_bytes)}, {lim.job_max_files} files), "
                            f"so not even the results could be written")
            elif result.signal is None and "Traceback" not in result.stderr_tail:
                message += " (does the code call os._exit()?)"
        outcome = ProbeOutcome("timeout" if timeout else "crashed", message=message,
                               seconds=result.seconds)
        self.outcomes[current.id] = outcome
        self.last_failure = outcome
        self.in_a_row[current.probe] = count = self.in_a_row.get(current.probe, 0) + 1
        if count >= MAX_FAILURES_IN_A_ROW:
            for c in self.pending():
                if c.probe == current.probe:
                    self.outcomes[c.id] = ProbeOutcome(outcome.status, message=(
                        f"not run: {count} calls of the same function in a row crashed or ran "
                        f"out of time (last: {description})"))


def _cpu_limited(result: SandboxResult) -> bool:
    return result.describe().startswith(("killed by SIGXCPU", "killed by SIGKILL: CPU"))


# ----------------------------------------------------------------------------------------------
# Preparing the job directory


def _find_package(package_dir: Path) -> Path | None:
    for candidate in (package_dir / "assignment", package_dir):
        try:
            st = os.lstat(candidate)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and candidate.name == "assignment":
            return candidate
    return None


def _default_hide(package_dir: Path) -> list[Path]:
    hide = [REPO_ROOT]
    around = Path(os.path.abspath(package_dir)).parent
    if around.parts[1:] and not any(str(around) == s or s.startswith(str(around) + "/")
                                    for s in SYSTEM_DIRS):
        hide.append(around)
    return hide


def _place_package(source: Path, dest: Path) -> None:
    """Place intake's copy of the package (`autograder.grading.intake.copy_package`: the files
    the child gets, already selected and size-capped there) into the job folder as it is:
    folders and regular files, links never followed."""
    dest.mkdir(mode=0o755, parents=True)
    for folder, dirs, files in os.walk(source):
        here = dest / Path(folder).relative_to(source)
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(folder, d)))
        for name in dirs:
            (here / name).mkdir(mode=0o755)
        for name in sorted(files):
            try:
                fd = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                             | os.O_CLOEXEC)
            except OSError:
                continue
            with os.fdopen(fd, "rb") as src:
                if stat.S_ISREG(os.fstat(src.fileno()).st_mode):
                    with (here / name).open("wb") as dst:
                        shutil.copyfileobj(src, dst)


def _save_inputs(path: Path, call: ProbeCall) -> None:
    arrays = {}
    for name, value in call.inputs.items():
        arr = np.asarray(value)
        if arr.dtype.kind not in NUMERIC_KINDS:
            raise ValueError(f"{call.id}: input {name!r} has dtype {arr.dtype}; only numbers")
        arrays[name] = arr
    np.savez(path, **arrays)


def _make_world_readable(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
        dirnames[:] = [d for d in dirnames if not d.startswith("run")]

