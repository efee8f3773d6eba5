"""Plain-data results of grading: one `CheckResult` per check, one `SubmissionResult` per student.

They hold only strings and numbers, so a worker process or a Dask task can return them as JSON
and the trusted recorder writes them out.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

STATUSES = ("passed", "failed", "error", "timeout")


@dataclass
class CheckResult:
    """The outcome of one graded check.

    - name: the check's title for people; it starts with the function or class it grades,
      e.g. ``"batchnorm_forward: train-mode mean/std"``.
    - task: the graded function (``"batchnorm_forward"``).
    - grade_id: the nbgrader grade cell this check credits.
    - status: one of ``STATUSES``.
    - output: what the student reads: what failed, for which output, the worst element, the likely
      mistake when one is recognised. Never hidden inputs or reference code.
    - mistake: short name of a recognised classic mistake, or None.
    - hint: what to do about that mistake, in one sentence (empty when none is recognised).
    - upstream: the graded tasks this check's task builds on (``"batchnorm_forward"`` for
      ``batchnorm_backward``), in assignment order. Where the grader can, it grades the check
      with trusted stand-ins for them, so a mistake there is not charged here again.
    - blocked_by: the upstream tasks that failed and that the grader could NOT separate from
      this check (a backward reads the cache of the student's own forward): this check may be
      failing because of them, and the message says so. Fix those first.
    """

    name: str
    task: str
    grade_id: str
    score: float
    max_score: float
    status: str
    output: str = ""
    mistake: str | None = None
    hint: str = ""
    upstream: list[str] = field(default_factory=list)
    blocked_by: list[str] = field(default_factory=list)
    id: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if not 0 <= self.score <= self.max_score:
            raise ValueError(f"{self.name}: score {self.score} outside [0, {self.max_score}]")


@dataclass
class SubmissionResult:
    """Every check of one student's submission, plus submission-level problems in words."""

    student: str
    checks: list[CheckResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.checks)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SubmissionResult:
        data = json.loads(text)
        data["checks"] = [CheckResult(**c) for c in data["checks"]]
        return cls(**data)
