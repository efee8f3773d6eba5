"""The release/grading configuration (``autograder/release.toml``) as typed Python objects.

Sections read here: ``[assignment]`` (name), ``[stubs]`` (tasks, see ``stubgen``), ``[release]``
(notebooks), ``[points]`` (points of a check, by check id), ``[limits]`` (sandbox limits for
student code). Sections this module does not know are ignored.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "autograder" / "release.toml"


@dataclass(frozen=True)
class Limits:
    """Resource limits of student code: per sandboxed child process, and per job (all the
    processes of one submission's grading together; `autograder.sandbox.containment`).

    The defaults let two workers grade safely on a 2-core, 24 GiB machine (2 x 4 GiB of jobs
    at most); `LIMIT_PRESETS` has smaller sets (``preset = "gradescope"`` in ``[limits]``).
    """

    wall_seconds: float = 30.0  # whole child; its process group is killed after this
    cpu_seconds: int = 30  # RLIMIT_CPU
    memory_bytes: int = 4 * 2**30  # RLIMIT_AS, per process
    max_processes: int = 64  # RLIMIT_NPROC (per child uid, as root), and the job's pids cgroup
    max_file_bytes: int = 64 * 2**20  # RLIMIT_FSIZE
    max_open_files: int = 256  # RLIMIT_NOFILE
    job_memory_bytes: int = 4 * 2**30  # the job's memory cgroup (all processes, tmpfs pages)
    job_disk_bytes: int = 512 * 2**20  # the tmpfs on the job folder (inputs included)
    job_max_files: int = 20_000  # inodes of that tmpfs: files and folders
    job_output_bytes: int = 16 * 2**20  # stdout + stderr of all the job's children


#: Named sets of limits for ``[limits] preset = "..."`` (keys given beside it override them).
LIMIT_PRESETS: dict[str, dict[str, int | float]] = {
    "default": {},
    # Gradescope's default container: 768 MB of memory for everything, one job at a time. The
    # grader itself takes about 250 MiB (a worker's peak in benchmarks/bench_grading.py); an
    # honest job about 50 MiB (its child) and 4 MB of disk.
    "gradescope": {
        "memory_bytes": 1 * 2**30,
        "max_processes": 32,
        "max_file_bytes": 32 * 2**20,
        "job_memory_bytes": 384 * 2**20,
        "job_disk_bytes": 64 * 2**20,
        "job_max_files": 5000,
        "job_output_bytes": 4 * 2**20,
    },
}


@dataclass(frozen=True)
class GradingConfig:
    """Everything the release and the grader need to know about one assignment."""

    assignment: str = "normalization"
    tasks: frozenset[str] = frozenset()
    notebooks: tuple[str, ...] = ("BatchNormalization.ipynb",)
    points: dict[str, float] = field(default_factory=dict)
    limits: Limits = Limits()
    seed: int | None = None  # [grading] seed of the fresh inputs; None: derived from the release
    path: Path | None = None  # the file this was read from, if any


class ConfigError(ValueError):
    """A release config that cannot be read at all; the message starts with the file's path."""


def read_toml(path: Path | str) -> dict:
    """The release config at ``path`` as plain TOML data: the one reader of ``release.toml``
    (`load_config` and `autograder.authoring.stubgen.load_tasks` interpret it)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: release config not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def load_config(path: Path | str | None = None) -> GradingConfig:
    """Read a release config; ``None`` means the default ``autograder/release.toml``.

    Raises ``ValueError`` naming the file and the key when a value has the wrong type or an
    unknown limit is given (`ConfigError` when the file is missing or not TOML).
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    data = read_toml(path)

    def fail(what: str) -> ValueError:
        return ValueError(f"{path}: {what}")

    assignment = data.get("assignment", {}).get("name", GradingConfig.assignment)
    if not isinstance(assignment, str) or not assignment.isidentifier():
        raise fail(f"[assignment] name must be a simple identifier, got {assignment!r}")

    tasks = data.get("stubs", {}).get("tasks", [])
    if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
        raise fail("[stubs] tasks must be a list of strings")

    notebooks = data.get("release", {}).get("notebooks", list(GradingConfig.notebooks))
    if not isinstance(notebooks, list) or not all(isinstance(n, str) for n in notebooks):
        raise fail("[release] notebooks must be a list of notebook file names")

    points = data.get("points", {})
    for name, value in points.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise fail(f"[points] {name!r} must be a non-negative number, got {value!r}")

    known = {f.name for f in dataclasses.fields(Limits)}
    limits_table = dict(data.get("limits", {}))
    preset = limits_table.pop("preset", "default")
    if preset not in LIMIT_PRESETS:
        raise fail(f"[limits] preset must be one of {sorted(LIMIT_PRESETS)}, got {preset!r}")
    unknown = set(limits_table) - known
    if unknown:
        raise fail(f"[limits] unknown key(s) {sorted(unknown)}; known: {sorted(known)} and "
                   f"preset")
    for name, value in limits_table.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise fail(f"[limits] {name} must be a positive number, got {value!r}")

    seed = data.get("grading", {}).get("seed")
    return GradingConfig(
        assignment=assignment,
        tasks=frozenset(tasks),
        notebooks=tuple(notebooks),
        points={k: float(v) for k, v in points.items()},
        limits=Limits(**{**LIMIT_PRESETS[preset], **limits_table}),
        seed=seed,
        path=path,
    )
