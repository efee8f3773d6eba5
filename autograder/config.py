"""The release/grading configuration (``autograder/release.toml``) as typed Python objects.

Sections read here: ``[assignment]`` (name), ``[stubs]`` (tasks, see ``stubgen``), ``[release]``
(notebooks), ``[points]`` (points of a check, by check name), ``[limits]`` (sandbox limits for
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
    """Resource limits of one sandboxed child process running student code."""

    wall_seconds: float = 30.0  # whole child; its process group is killed after this
    cpu_seconds: int = 30  # RLIMIT_CPU
    memory_bytes: int = 4 * 2**30  # RLIMIT_AS
    max_processes: int = 64  # RLIMIT_NPROC (effective only under a non-root uid)
    max_file_bytes: int = 64 * 2**20  # RLIMIT_FSIZE
    max_open_files: int = 256  # RLIMIT_NOFILE


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


def load_config(path: Path | str | None = None) -> GradingConfig:
    """Read a release config; ``None`` means the default ``autograder/release.toml``.

    Raises ``ValueError`` naming the file and the key when a value has the wrong type or an
    unknown limit is given.
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    with path.open("rb") as f:
        data = tomllib.load(f)

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
    limits_table = data.get("limits", {})
    unknown = set(limits_table) - known
    if unknown:
        raise fail(f"[limits] unknown key(s) {sorted(unknown)}; known: {sorted(known)}")

    seed = data.get("grading", {}).get("seed")
    return GradingConfig(
        assignment=assignment,
        tasks=frozenset(tasks),
        notebooks=tuple(notebooks),
        points={k: float(v) for k, v in points.items()},
        limits=Limits(**limits_table),
        seed=seed,
        path=path,
    )
