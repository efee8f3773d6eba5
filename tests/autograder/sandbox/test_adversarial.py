"""The adversarial corpus (issue 5): hostile and broken submissions, graded by the real CLI.

Every case of ``tests/autograder/sandbox/adversarial/submissions/`` (see
``tests/autograder/sandbox/adversarial/corpus.py`` for the format) is built on a copy of the release
and graded in ONE run of ``python -m autograder grade``, started as a subprocess from a temporary
copy of the repository (so that an attack that got through could only damage copies), with small
limits (`LIMITS`). Then, per case: a row in grades.csv, results.json and feedback.html exist, no
check earns more than the case allows and every check the attack does not touch keeps its points,
and the feedback says what happened in words. And for the run as a whole: the grader finished (and
within its time budget), no file outside the job directories changed (sentinels in OUT, the course,
another student's folder and the repository copy), the gradebook rows of a student graded earlier
are unchanged, no process of the sandbox uids is left, no job cgroup, job mount or job folder is
left, nothing of the sandbox uids in the scratch directories, the test's loopback server got no
connection, and no module a submission planted ever ran.

Cases marked ``needs = "uid-drop"`` / ``"namespaces"`` attack the machine or other students; they
are built and graded only when the grader runs as root (as a normal user, student code runs as
that user: see docs/security.md). ``needs = "containment"``: the case is stopped only by a total
per job (the job's memory cgroup, the tmpfs of its folder), so it runs only where those are in
force (`containment.support`), with totals far below the machine's (`LIMITS`).
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from autograder.authoring import stubgen
from autograder.config import REPO_ROOT
from autograder.recording.render import fmt
from autograder.sandbox import cgroups, confine, containment, reap, uids
from autograder.sandbox import spawn as sandbox
from tests.autograder.sandbox.adversarial import corpus
from tests.autograder.sandbox.adversarial.corpus import Case, Context

ROOT = os.geteuid() == 0
ISOLATION = os.environ.get("NORMLAB_SANDBOX_ISOLATION", "auto")
if ISOLATION == "auto":
    ISOLATION = sandbox.default_isolation()

#: The limits of the corpus run (the [limits] table of the copied release.toml).
LIMITS = {
    "wall_seconds": 6.0,
    "cpu_seconds": 3,
    "memory_bytes": 1 * 2**30,
    "max_processes": 32,
    "max_file_bytes": 16 * 2**20,
    "max_open_files": 128,
    # per job: two workers take at most 768 MiB together, whatever a submission does
    "job_memory_bytes": 384 * 2**20,
    "job_disk_bytes": 64 * 2**20,
    "job_max_files": 2000,
    "job_output_bytes": 8 * 2**20,
}
#: Sandbox uids of this test run only: a block of `UID_BLOCK` out of `UID_POOL`, so that
#: leftovers are recognisable. Each pytest process holds its block with a lock file while it
#: lives: another test run on the machine at the same time (whose grading children are alive
#: while this run looks for leftovers of its own) gets another block.
UID_POOL = (64200, 64299)
UID_BLOCK = 20


def _claim_uid_block() -> tuple[int, int]:
    for first in range(UID_POOL[0], UID_POOL[1] + 1, UID_BLOCK):
        path = f"/tmp/normlab-adversarial-uids-{first}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _uid_block_fds.append(fd)  # held (open) until this process exits
        return first, first + UID_BLOCK - 1
    raise RuntimeError(f"every block of {UID_BLOCK} uids in {UID_POOL[0]}-{UID_POOL[1]} is "
                       f"held by another test run on this machine")


_uid_block_fds: list[int] = []
TEST_UIDS = _claim_uid_block()
#: Where the run's job cgroups go (NORMLAB_CGROUP, below the test's own cgroup): this run only.
TEST_CGROUP = f"normlab-adversarial-{os.getpid()}"
#: The whole corpus must be graded within this (the run is killed after it).
GRADE_TIMEOUT = 280
#: Two local workers: both cores, and every attack runs while another student's job does
#: (NORMLAB_ADVERSARIAL_WORKERS=1 grades one submission at a time).
WORKERS = ("--workers", os.environ.get("NORMLAB_ADVERSARIAL_WORKERS", "2"))
#: A case whose code hangs costs about one time limit, not one per check (the grade run's
#: --job-timeout: a job that takes longer is killed and the run reports it).
MAX_SECONDS_PER_SUBMISSION = 3 * LIMITS["wall_seconds"] + 5

#: What the issue lists; the corpus must keep a case for each.
REQUIRED_CASES = {
    "loop_at_import", "loop_in_function", "loop_ignoring_signals", "alloc_20gb", "fork_bomb",
    "sys_exit", "os_exit", "raise_systemexit", "eq_always_true", "lying_ndarray", "nan_result",
    "wrong_shape", "wrong_dtype", "list_result", "read_secrets", "write_everywhere",
    "gradebook_rewrite", "patch_numpy_in_init", "fake_modules", "shadow_folders",
    "fake_passing_output", "network", "zip_slip", "zip_absolute", "zip_symlink", "zip_bomb",
    "notebook_not_json", "notebook_stripped", "notebook_missing", "layers_missing",
    "syntax_error", "source_non_utf8", "notebook_non_utf8", "folder_symlink", "kill_others",
    "daemon_escape", "forge_results", "string_dtype", "reference",
    # totals per job (issue 15)
    "memory_30_processes", "disk_fill", "million_files", "stdout_100mb", "shm_fill",
    "daemon_survivor",
}

CASES = corpus.load_cases()
COPIED = ("autograder", "solutions", "assignment", "notebooks", "datasets")
COPIED_FILES = ("README.md", "requirements.txt", "pyproject.toml", "Makefile", "CONTRIBUTING.md")


#: For working on a few cases: NORMLAB_ADVERSARIAL_CASES=loop_in_function,network pytest ...
ONLY = {n for n in os.environ.get("NORMLAB_ADVERSARIAL_CASES", "").split(",") if n}


def _runnable(case: Case) -> str | None:
    """Why the case cannot run here, or None."""
    if ONLY and case.name not in ONLY:
        return "not selected in NORMLAB_ADVERSARIAL_CASES"
    if case.needs is None:
        return None
    if case.needs == "uid-drop":
        return None if ROOT else "student code runs as the grader's own user (not root)"
    if case.needs == "namespaces":
        return None if ROOT and ISOLATION == "namespaces" else "needs the namespaces sandbox"
    if case.needs == "containment":
        found = containment.support()
        missing = [what for what, ok in (("a memory cgroup", found.memory),
                                         ("a pids cgroup", found.pids),
                                         ("a tmpfs job folder", found.tmpfs)) if not ok]
        return f"no {', no '.join(missing)} here" if missing else None
    raise ValueError(f"{case.name}: unknown needs {case.needs!r}")


# ----------------------------------------------------------------------------------------------
# The run


@dataclass
class Server:
    """A TCP (and UDP) server on 127.0.0.1 that records every connection or datagram."""

    seen: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.udp.bind(("127.0.0.1", self.port))
        except OSError:
            self.udp.close()
            self.udp = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.tcp.settimeout(0.1)
        if self.udp is not None:
            self.udp.settimeout(0.01)
        while not self.stop.is_set():
            try:
                conn, peer = self.tcp.accept()
                self.seen.append(f"tcp connection from {peer}")
                conn.close()
            except OSError:
                pass
            if self.udp is not None:
                try:
                    _data, peer = self.udp.recvfrom(100)
                    self.seen.append(f"udp datagram from {peer}")
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.thread.join()
        self.tcp.close()
        if self.udp is not None:
            self.udp.close()


@dataclass
class CorpusRun:
    ctx: Context
    base: Path
    built: dict[str, Path]  # case -> what was submitted
    skipped: dict[str, str]  # case -> why not run here
    proc: subprocess.CompletedProcess
    seconds: float
    rows: dict[str, dict[str, str]]  # grades.csv
    snapshots_before: dict[str, dict]
    snapshots_after: dict[str, dict]
    bystander_before: dict
    bystander_after: dict
    out_entries_before: set[str]
    scratch_before: dict[str, set[str]]
    leftovers: list[str]
    left_in_the_kernel: list[str]  # job cgroups, mounts and folders left after the run
    connections: list[str]
    markers: Path
    tokens: dict[str, str]

    def results(self, student: str) -> dict:
        return json.loads((self.ctx.out / student / "results.json").read_text(encoding="utf-8"))

    def feedback(self, student: str) -> str:
        return corpus.feedback_text(self.ctx.out / student / "feedback.html")


def _env(tmp: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["NORMLAB_SANDBOX_UID"] = f"{TEST_UIDS[0]}-{TEST_UIDS[1]}"
    env[cgroups.CGROUP_ENV] = TEST_CGROUP
    if tmp is not None:  # the job folders of the run, and nothing else
        env["TMPDIR"] = str(tmp)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    env.pop("PYTHONPATH", None)
    return env


def _cli(repo: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=repo,
                          env=_env(repo.parent / "tmp"), capture_output=True, text=True,
                          timeout=timeout)


def _copy_repo(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "cifar-10-batches-py",
                                    "synthetic-cifar-10-batches-py", "*.tar.gz")
    dest.mkdir()
    for name in COPIED:
        shutil.copytree(REPO_ROOT / name, dest / name, ignore=ignore)
    for name in COPIED_FILES:
        if (REPO_ROOT / name).is_file():
            shutil.copyfile(REPO_ROOT / name, dest / name)


def _gradebook_rows(course: Path, student: str) -> list[tuple]:
    con = sqlite3.connect(f"file:{course / 'gradebook.db'}?mode=ro", uri=True)
    try:
        grades = con.execute(
            "SELECT c.name, g.auto_score, g.manual_score, g.extra_credit, g.needs_manual_grade "
            "FROM grade g JOIN submitted_notebook n ON g.notebook_id = n.id "
            "JOIN submitted_assignment a ON n.assignment_id = a.id "
            "JOIN base_cell c ON g.cell_id = c.id WHERE a.student_id = ? ORDER BY c.name",
            (student,)).fetchall()
        comments = con.execute(
            "SELECT c.name, m.auto_comment, m.manual_comment FROM comment m "
            "JOIN submitted_notebook n ON m.notebook_id = n.id "
            "JOIN submitted_assignment a ON n.assignment_id = a.id "
            "JOIN base_cell c ON m.cell_id = c.id WHERE a.student_id = ? ORDER BY c.name",
            (student,)).fetchall()
    finally:
        con.close()
    return grades + comments


def _read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def _bystander_state(ctx: Context) -> dict:
    return {
        "gradebook": _gradebook_rows(ctx.course, "bystander"),
        "csv": _read_csv(ctx.out / "grades.csv").get("bystander"),
        "out": corpus.tree_digest(ctx.out / "bystander"),
        "submitted": corpus.tree_digest(ctx.course / "submitted" / "bystander"),
        "autograded": corpus.tree_digest(ctx.course / "autograded" / "bystander"),
    }


SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")


def _scratch_listing() -> dict[str, set[str]]:
    out = {}
    for d in SCRATCH:
        try:
            out[d] = set(os.listdir(d))
        except OSError:
            out[d] = set()
    return out


def _processes_still_there_after(uids: tuple[int, int], seconds: float) -> list[str]:
    """Processes of ``uids`` that are still alive ``seconds`` after grading ended. A child the
    grader has just SIGKILLed can linger in the process table for a moment on a loaded machine;
    a process that escaped the cleanup (a daemon) is still there after the wait. Clean means
    five empty looks in a row: one look at /proc can miss a process that moves to a new pid
    every few milliseconds (listed under its old pid, gone when read; the new one not listed)."""
    deadline = time.monotonic() + seconds
    empty = 0
    while True:
        found = _processes_of(uids)
        empty = 0 if found else empty + 1
        if empty == 5 or time.monotonic() >= deadline:
            return found
        time.sleep(0.1)


def _left_in_the_kernel(tmp: Path) -> list[str]:
    """Job cgroups (under TEST_CGROUP), job mounts and job folders (in the run's TMPDIR)."""
    left = []
    _version, parents, _why = cgroups.find(TEST_CGROUP)
    for parent in parents.values():
        if parent.is_dir():
            left += [f"cgroup {p}" for p in parent.iterdir() if p.is_dir()] or [f"cgroup {parent}"]
    left += [f"mount {point}" for _root, point, _type, _opts in cgroups.mountinfo()
             if point.startswith(f"{tmp}/")]
    left += [f"folder {p}" for p in tmp.glob(f"{containment.JOB_DIR_PREFIX}*")]
    return left


def _processes_of(uids: tuple[int, int]) -> list[str]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            status = Path(f"/proc/{name}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uid = int(fields["Uid"].split()[0])
        if uids[0] <= uid <= uids[1] and not fields["State"].strip().startswith("Z"):
            found.append(f"pid {name} uid {uid} {fields['Name'].strip()}")
    return found


def _plant(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{token}\n", encoding="utf-8")


@pytest.fixture(scope="session")
def corpus_run(tmp_path_factory) -> CorpusRun:
    base = tmp_path_factory.mktemp("adversarial")
    os.chmod(base, 0o755)
    (base / "tmp").mkdir(mode=0o755)
    repo = base / "repo"
    _copy_repo(repo)
    config = repo / "autograder" / "release.toml"
    text = config.read_text(encoding="utf-8")
    text += "\n[limits]\n" + "".join(f"{k} = {v!r}\n" for k, v in LIMITS.items())
    config.write_text(text, encoding="utf-8")

    release = _cli(repo, "release", "--out", str(base / "release"), timeout=300)
    assert release.returncode == 0, release.stdout + release.stderr
    release_tree = next(p for p in (base / "release").iterdir() if p.is_dir())
    solution_package = base / "solution" / "assignment"
    stubgen.generate(repo / "solutions", solution_package, tasks=set())

    markers = base / "markers"
    markers.mkdir()
    ctx = Context(repo=repo, release_tree=release_tree, solution_package=solution_package,
                  submissions=base / "submissions", out=base / "out", course=base / "course")

    # A student graded before: the corpus run must leave their rows alone.
    pre = base / "pre"
    pre.mkdir()
    shutil.copytree(release_tree, pre / "bystander")
    shutil.rmtree(pre / "bystander" / "assignment")
    shutil.copytree(solution_package, pre / "bystander" / "assignment")
    first = _cli(repo, "grade", str(pre), "--out", str(ctx.out), "--no-progress", timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr

    # Secrets and sentinels (each with its own token: none may show up in any feedback).
    tokens = {}
    for where in ("out", "course", "repo", "submission"):
        tokens[where] = f"SENTINEL-{where}-{os.urandom(6).hex()}"
    _plant(ctx.out / "SENTINEL.txt", tokens["out"])
    _plant(ctx.course / "SENTINEL.txt", tokens["course"])
    _plant(ctx.course / "source" / "SENTINEL.txt", tokens["course"])
    _plant(repo / "solutions" / "SENTINEL.txt", tokens["repo"])
    catalogue = repo / "autograder" / "assignments" / "normalization" / "catalogue.py"
    for secret in (repo / "solutions" / "layers.py", catalogue):
        with secret.open("a", encoding="utf-8") as fh:
            fh.write(f"\n# {tokens['repo']}\n")

    server = Server()
    ctx.template.update({
        "PORT": str(server.port), "REPO": str(repo), "REAL_REPO": str(REPO_ROOT),
        "OUT": str(ctx.out), "COURSE": str(ctx.course), "SUBMISSIONS": str(ctx.submissions),
        "MARKERS": str(markers),
    })
    ctx.submissions.mkdir()
    built, skipped = {}, {}
    for case in CASES:
        why = _runnable(case)
        if why is not None:
            skipped[case.name] = why
            continue
        built[case.name] = corpus.build_submission(case, ctx)
    if (ctx.submissions / "reference").is_dir():
        _plant(ctx.submissions / "reference" / "SENTINEL.txt", tokens["submission"])

    watched = {"repo": repo, "submissions": ctx.submissions, "release": base / "release",
               "pre": pre, "markers": markers}
    snapshots_before = {k: corpus.tree_digest(p) for k, p in watched.items()}
    snapshots_before["sentinels"] = {
        str(p): p.read_text() for p in (ctx.out / "SENTINEL.txt", ctx.course / "SENTINEL.txt",
                                        ctx.course / "source" / "SENTINEL.txt")}
    bystander_before = _bystander_state(ctx)
    out_entries_before = set(os.listdir(ctx.out))
    scratch_before = _scratch_listing()

    started = time.monotonic()
    try:
        # A job over MAX_SECONDS_PER_SUBMISSION is killed and reported (nothing recorded, ERROR
        # on stderr): results.json carries no timing (the same submission, the same bytes).
        proc = _cli(repo, "grade", str(ctx.submissions), "--out", str(ctx.out), "--no-progress",
                    *WORKERS, "--job-timeout", str(MAX_SECONDS_PER_SUBMISSION),
                    timeout=GRADE_TIMEOUT)
    finally:
        seconds = time.monotonic() - started
        leftovers = _processes_still_there_after(TEST_UIDS, seconds=30.0)
        left_in_the_kernel = _left_in_the_kernel(base / "tmp")
        server.close()
    print(f"\nadversarial corpus: {len(built)} submissions graded in {seconds:.1f} s "
          f"(isolation {ISOLATION})")

    snapshots_after = {k: corpus.tree_digest(p) for k, p in watched.items()}
    snapshots_after["sentinels"] = {
        p: Path(p).read_text() if Path(p).exists() else None for p in snapshots_before["sentinels"]}
    rows = _read_csv(ctx.out / "grades.csv") if (ctx.out / "grades.csv").is_file() else {}
    return CorpusRun(
        ctx=ctx, base=base, built=built, skipped=skipped, proc=proc, seconds=seconds, rows=rows,
        snapshots_before=snapshots_before, snapshots_after=snapshots_after,
        bystander_before=bystander_before, bystander_after=_bystander_state(ctx),
        out_entries_before=out_entries_before, scratch_before=scratch_before,
        leftovers=leftovers, left_in_the_kernel=left_in_the_kernel,
        connections=list(server.seen), markers=markers, tokens=tokens,
    )


# ----------------------------------------------------------------------------------------------
# Per case


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_earns_only_what_it_deserves_and_says_why(corpus_run, case):
    if case.name in corpus_run.skipped:
        pytest.skip(corpus_run.skipped[case.name])
    assert case.name in corpus_run.rows, f"no row in grades.csv for {case.name}"
    results = corpus_run.results(case.name)
    checks = results["tests"]
    assert checks, "results.json lists no checks"
    wrong = []
    for check in checks:
        least, most = case.cap(check["name"], check["max_score"])
        if not least - 1e-9 <= check["score"] <= most + 1e-9:
            first_line = check["output"].splitlines()[-1] if check["output"] else ""
            wrong.append(f"{check['name']}: {check['score']} (allowed {least}..{most}) "
                         f"{first_line[:200]}")
    if case.known_issue is None:
        assert not wrong, f"{case.name} ({case.summary}):\n" + "\n".join(wrong)
    else:
        assert wrong, (f"{case.name} now earns what it should: the known issue is fixed, drop "
                       f"known_issue from its expected.toml")

    row = corpus_run.rows[case.name]
    assert float(row["total"]) == pytest.approx(results["score"], abs=0.01)
    max_total = sum(c["max_score"] for c in checks)
    assert float(row["max_total"]) == pytest.approx(max_total, abs=0.01)

    text = corpus_run.feedback(case.name)
    raw = (corpus_run.ctx.out / case.name / "feedback.html").read_text(encoding="utf-8")
    for wanted in case.contains:
        wanted = wanted.replace("@@MAX@@", fmt(max_total))
        assert wanted in text, f"{case.name}: the feedback does not say {wanted!r}"
    for unwanted in case.absent:
        assert unwanted not in text, f"{case.name}: the feedback says {unwanted!r}"
    for unwanted in case.absent_raw:
        assert unwanted not in raw, f"{case.name}: feedback.html holds {unwanted!r} unescaped"
    for token in corpus_run.tokens.values():
        assert token not in raw and token not in json.dumps(results), f"leaked {token}"
    if case.known_issue is not None:
        pytest.xfail(f"known issue: {case.known_issue}\n" + "\n".join(wrong))


# ----------------------------------------------------------------------------------------------
# The run as a whole


def test_the_corpus_covers_the_issue():
    names = {c.name for c in CASES}
    assert names >= REQUIRED_CASES, f"missing cases: {sorted(REQUIRED_CASES - names)}"


def test_the_grader_finished_in_time_with_a_row_per_submission(corpus_run):
    proc = corpus_run.proc
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "ERROR" not in proc.stderr
    assert set(corpus_run.built) <= set(corpus_run.rows)
    assert corpus_run.seconds < GRADE_TIMEOUT


def test_no_file_outside_the_job_directories_changed(corpus_run):
    before, after = corpus_run.snapshots_before, corpus_run.snapshots_after
    for key in before:
        changed = sorted(set(before[key].items()) ^ set(after[key].items()))
        assert not changed, f"{key}: {changed[:10]}"
    new_out = set(os.listdir(corpus_run.ctx.out)) - corpus_run.out_entries_before
    assert new_out <= set(corpus_run.built), f"unexpected files in OUT: {new_out}"
    course = corpus_run.ctx.course
    for folder in (course, corpus_run.ctx.out, corpus_run.base):
        pwned = [str(p) for p in folder.rglob("*pwned*")]
        assert not pwned, pwned
    for d, names in _scratch_listing().items():
        new = {n for n in names - corpus_run.scratch_before[d] if "pwned" in n}
        assert not new, f"{d}: {new}"
        theirs = set()
        for name in names - corpus_run.scratch_before[d]:
            try:
                uid = os.lstat(os.path.join(d, name)).st_uid
            except OSError:
                continue
            if TEST_UIDS[0] <= uid <= TEST_UIDS[1]:
                theirs.add(name)
        assert not theirs, f"{d}: left by the sandbox: {theirs}"
    assert not list(corpus_run.markers.iterdir()), "a planted module ran in the grader"


def test_other_students_rows_are_unchanged(corpus_run):
    assert corpus_run.bystander_after == corpus_run.bystander_before
    assert corpus_run.bystander_before["gradebook"], "the bystander has no gradebook rows"


def test_the_gradebook_agrees_with_the_results(corpus_run):
    """No attack wrote its own gradebook rows: a case that earns nothing has no auto score and
    no manual score or comment anywhere."""
    for name in corpus_run.built:
        case = next(c for c in CASES if c.name == name)
        rows = _gradebook_rows(corpus_run.ctx.course, name)
        assert rows, f"{name}: no gradebook rows"
        if case.others == "zero" and not case.max_points and case.known_issue is None:
            grades = [r for r in rows if len(r) == 5]
            assert all(r[1] in (None, 0) and r[2] is None and r[3] is None for r in grades), (
                name, grades)
            comments = [r for r in rows if len(r) == 3]
            assert all(r[2] is None for r in comments), (name, comments)


def test_no_process_of_the_sandbox_is_left(corpus_run):
    assert corpus_run.leftovers == []
    assert _processes_of(TEST_UIDS) == []


def test_no_job_cgroup_mount_or_folder_is_left(corpus_run):
    assert corpus_run.left_in_the_kernel == []


def test_the_grader_said_which_isolation_and_totals_were_in_force(corpus_run):
    err = corpus_run.proc.stderr
    assert f"sandbox: isolation {ISOLATION}" in err, err[-3000:]
    assert "sandbox: per job, all its processes together:" in err
    assert "output 8 MiB" in err
    found = containment.support()
    if found.memory:
        assert f"memory 384 MiB (cgroup {found.cgroup})" in err
    else:
        assert "NOT capped per job: memory" in err
    if found.tmpfs:
        assert "disk 64 MiB and 2000 files (tmpfs)" in err


def test_the_job_memory_limit_stopped_the_thirty_processes(corpus_run):
    if "memory_30_processes" not in corpus_run.built:
        pytest.skip(corpus_run.skipped.get("memory_30_processes", "not run"))
    text = corpus_run.feedback("memory_30_processes")
    found = re.findall(r"memory-hog: 30 processes, fork failed (\d+), touched 1 GiB (\d+), "
                       r"killed (\d+), MemoryError (\d+), safety valve (\d+), other exit "
                       r"(\d+)", text)
    assert found, text[:2000]
    for failed, touched, killed, _memory_error, valve, other in found:
        assert int(failed) == 0, found  # thirty at once: the process limit let them all start
        assert int(killed) >= 1 and int(touched) == 0 and int(other) == 0, found
        assert int(valve) == 0, f"the test's safety valve stopped it, not the job limit: {found}"


def test_the_network_attempt_failed_or_did_not_matter(corpus_run):
    if "network" not in corpus_run.built:
        pytest.skip("the network case did not run")
    results = corpus_run.results("network")
    assert results["score"] == sum(c["max_score"] for c in results["tests"])
    # Full marks: no check ran into the time limit waiting for a connection.
    assert not any("time limit" in c["output"] for c in results["tests"])
    if ISOLATION in ("namespaces", "bwrap"):
        assert corpus_run.connections == []


def test_the_process_limit_stopped_the_fork_bomb(corpus_run):
    text = corpus_run.feedback("fork_bomb")
    counts = [int(n) for n in re.findall(r"fork bomb: made (\d+) processes", text)]
    assert counts, text[:2000]
    assert max(counts) < LIMITS["max_processes"]


# ----------------------------------------------------------------------------------------------
# The sandbox hardening the corpus relies on, tested directly (small and fast)

needs_root = pytest.mark.skipif(not ROOT, reason="uid drop needs root")
needs_namespaces = pytest.mark.skipif(not (ROOT and sandbox.namespaces_available()),
                                      reason="needs root and mount/network namespaces")


def _sample(*frames: tuple[str, int, str]) -> str:
    return "\n".join(f"{file}\t{line}\t{func}" for file, line, func in frames)


def test_a_timeout_is_blamed_on_the_function_stuck_in_every_sample():
    from autograder.sandbox.runner import hang_site

    pkg = Path("/job/pkg")
    probe = ("/job/bin/probes.py", 10, "probe_x")
    child = ("/job/bin/child.py", 300, "<module>")
    loop = (str(pkg / "assignment/layers.py"), 120, "batchnorm_forward")
    helper = (str(pkg / "assignment/layers.py"), 30, "_helper")
    # the loop keeps calling a quick helper: the helper shows up in some samples only
    text = "\n--\n".join([_sample(helper, loop, probe, child), _sample(loop, probe, child),
                          _sample(helper, loop, probe, child), _sample(loop, probe, child)])
    assert hang_site(text, pkg) == ("assignment/layers.py", "batchnorm_forward", 120)
    # stuck in the helper itself: the deepest common frame is the helper
    text = "\n--\n".join([_sample(helper, loop, probe, child)] * 4)
    assert hang_site(text, pkg) == ("assignment/layers.py", "_helper", 30)
    # stuck in a comprehension: the function around it
    comprehension = (str(pkg / "assignment/layers.py"), 121, "<listcomp>")
    text = "\n--\n".join([_sample(comprehension, loop, probe, child)] * 4)
    assert hang_site(text, pkg) == ("assignment/layers.py", "batchnorm_forward", 120)
    # stuck outside the student's code, one sample only, garbage: no blame
    assert hang_site("\n--\n".join([_sample(probe, child)] * 4), pkg) is None
    assert hang_site(_sample(loop, probe, child), pkg) is None
    assert hang_site("\x00garbage\n--\nmore\tgarbage", pkg) is None
    evil = (str(pkg / "assignment/../../bin/child.py"), 1, "main")
    assert hang_site("\n--\n".join([_sample(evil)] * 4), pkg) is None


HANGING = '''
def helper(x):
    return x + 1


def forever(x):
    n = 0
    while True:  # mostly its own work, so that the stack samples land here, not in helper
        for _ in range(1000):
            n += 1
        n = helper(n)


def quick(x):
    return x * 2
'''
USER = "from .mod import forever as renamed\n\n\ndef g(x):\n    return renamed(x)\n"
PROBES_SOURCE = '''
import numpy as np


def _out(value):
    return {"out": np.asarray(value, dtype=np.float64)}


PROBES = {
    "forever": lambda pkg, inputs: _out(pkg.mod.forever(inputs["x"])),
    "quick": lambda pkg, inputs: _out(pkg.mod.quick(inputs["x"])),
    "via_alias": lambda pkg, inputs: _out(pkg.user.g(inputs["x"])),
    "slow_import": lambda pkg, inputs: _out(pkg.slow.value),
    "imports_slow": lambda pkg, inputs: _out(pkg.uses_slow.value),
}
'''


def test_one_endless_loop_costs_one_time_limit_not_one_per_caller(tmp_path):
    import numpy as np

    from autograder.config import Limits
    from autograder.sandbox.runner import ProbeCall, run_probes

    package = tmp_path / "sub" / "assignment"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(HANGING)
    (package / "user.py").write_text(USER)
    (package / "slow.py").write_text("while True:\n    pass\n")
    (package / "uses_slow.py").write_text("from .slow import *  # noqa\nvalue = 1.0\n")
    probes = tmp_path / "probes.py"
    probes.write_text(PROBES_SOURCE)
    x = {"x": np.ones(3)}
    calls = [ProbeCall("forever", "forever", x), ProbeCall("alias", "via_alias", x),
             ProbeCall("again", "forever", x), ProbeCall("quick", "quick", x),
             ProbeCall("slow", "slow_import", x), ProbeCall("uses", "imports_slow", x),
             ProbeCall("quick2", "quick", x)]
    wall = 2.0
    started = time.monotonic()
    out = run_probes(tmp_path / "sub", calls, Limits(wall_seconds=wall, cpu_seconds=10),
                     probes_file=probes)
    seconds = time.monotonic() - started
    assert out["forever"].status == "timeout"
    assert "in forever (mod.py line" in out["forever"].message
    for key in ("alias", "again"):  # reached through another module's alias too
        assert out[key].status == "error", out[key].message
        assert "forever (mod.py line" in out[key].message
        assert "did not finish in an earlier call" in out[key].message
    assert out["quick"].status == out["quick2"].status == "ok"
    assert out["slow"].status == "timeout" and "importing assignment.slow" in out["slow"].message
    # a module that imports the module that hung fails at once, whatever the import path
    assert out["uses"].status == "error", out["uses"].message
    assert "assignment.slow did not finish earlier" in out["uses"].message
    # two time limits (the loop, the import), the second perhaps retried once in a fresh child
    assert seconds < 4 * wall + 3, seconds


def test_two_test_runs_at_once_get_uid_blocks_of_their_own():
    # flock locks belong to an open file, so a second claim of this process behaves like
    # another run's: the block this run holds is busy for it
    other = _claim_uid_block()
    try:
        assert other != TEST_UIDS and (other[0] > TEST_UIDS[1] or other[1] < TEST_UIDS[0])
        assert other[1] - other[0] + 1 == UID_BLOCK and UID_POOL[0] <= other[0] <= UID_POOL[1]
    finally:
        os.close(_uid_block_fds.pop())


@needs_root
def test_the_default_uids_have_no_owner_and_are_held_machine_wide(monkeypatch):
    import grp
    import pwd

    monkeypatch.delenv("NORMLAB_SANDBOX_UID", raising=False)
    monkeypatch.delenv("NORMLAB_SANDBOX_GID", raising=False)
    uid, gid = uids.sandbox_ids()  # only looks
    first, last = uids.DEFAULT_UID_RANGE
    assert first <= uid <= last and gid == uid
    with pytest.raises(KeyError):
        pwd.getpwuid(uid)
    with pytest.raises(KeyError):
        grp.getgrgid(gid)

    # Claimed uids are held machine-wide: another process (a worker, another grader) does not
    # get them. Two uids of the test's own range, which nothing else on the machine uses.
    pair = (TEST_UIDS[1] - 1, TEST_UIDS[1])
    monkeypatch.setenv("NORMLAB_SANDBOX_UID", f"{pair[0]}-{pair[1]}")
    mine, _ = uids.sandbox_ids(claim=True)
    try:
        assert mine == pair[0] and mine in uids._uids_in_use

        def other(spec: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [sys.executable, "-c", "from autograder.sandbox import uids; "
                 "print(uids.sandbox_ids(claim=True)[0])"],
                cwd=REPO_ROOT, env={**_env(), "NORMLAB_SANDBOX_UID": spec},
                capture_output=True, text=True, timeout=60)

        second = other(f"{pair[0]}-{pair[1]}")
        assert second.returncode == 0 and int(second.stdout) == pair[1], second.stderr
        alone = other(f"{mine}-{mine}")
        assert alone.returncode != 0 and "no free uid left" in alone.stderr
    finally:
        uids.release_ids(mine)
    assert mine not in uids._uids_in_use
    again = subprocess.run(
        [sys.executable, "-c", "from autograder.sandbox import uids; "
         "print(uids.sandbox_ids(claim=True)[0])"],
        cwd=REPO_ROOT, env={**_env(), "NORMLAB_SANDBOX_UID": f"{mine}-{mine}"},
        capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and int(again.stdout) == mine, again.stderr


@needs_root
def test_whatever_runs_as_a_childs_own_uid_is_killed(tmp_path):
    uid = TEST_UIDS[1] - 2
    survivor = subprocess.Popen(["/bin/sleep", "60"], user=uid, group=uid,
                                start_new_session=True)
    try:
        time.sleep(0.1)
        assert _processes_of((uid, uid))
        reap.kill_uid(uid)
        survivor.wait(timeout=5)
        assert survivor.returncode == -9
    finally:
        if survivor.poll() is None:
            survivor.kill()
            survivor.wait()


@needs_namespaces
def test_the_child_sees_the_system_its_job_and_python_only(tmp_path):
    from autograder.config import Limits

    job = Path(tempfile.mkdtemp(prefix="normlab-adversarial-"))
    try:
        os.chmod(job, 0o755)
        (job / "work").mkdir()
        script = job / "script.py"
        script.write_text(textwrap.dedent(f"""
            import os, sys
            checks = {{
                "repo": os.path.exists({str(REPO_ROOT / "solutions")!r}),
                "grader cmdline": os.access("/proc/{os.getpid()}/cmdline", os.R_OK),
                "init environ": os.access("/proc/1/environ", os.R_OK),
                "own status": os.access("/proc/self/status", os.R_OK),
                "numpy": __import__("numpy") is not None,
                "cwd": os.getcwd() == {str(job / "work")!r},
            }}
            tops = {{}}
            for name in os.listdir("/"):
                path = "/" + name
                if os.path.isdir(path) and not os.path.islink(path):
                    tops[path] = sorted(os.listdir(path)) if os.access(path, os.R_OK) else "closed"
                elif os.path.isfile(path) and os.access(path, os.R_OK):
                    tops[path] = os.path.getsize(path)
            print(repr((checks, tops)))
        """))
        os.chmod(script, 0o644)
        res = sandbox.run_python(script, [], job / "work", Limits(wall_seconds=10),
                                 isolation="namespaces")
        assert res.ok, res.stderr_tail
        checks, tops = eval(res.stdout_tail)  # noqa: S307 - our own script's repr
    finally:
        shutil.rmtree(job, ignore_errors=True)
    assert checks == {"repo": False, "grader cmdline": False, "init environ": False,
                      "own status": True, "numpy": True, "cwd": True}
    python = {os.path.realpath(p) for p in confine.python_paths()}
    for path, content in tops.items():
        if path in confine.SYSTEM_DIRS:
            continue
        if isinstance(content, int):
            assert content == 0, f"{path} is readable in the sandbox"
            continue
        # what is left of any other top-level directory: the way to the Python installation,
        # the job, or an empty scratch directory
        for entry in content:
            inside = f"{path}/{entry}"
            assert inside in ("/tmp/" + job.name, "/var/tmp", "/run/lock") or any(
                p.startswith(inside) for p in python), f"{inside} is visible in the sandbox"
