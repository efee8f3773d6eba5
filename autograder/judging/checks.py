"""What a graded check is: `Check`, its cases (`CaseSpec`, made concrete as `Case`) and the
scored `Part`s its judge returns.

Everything here runs in the trusted parent. A `Check` has a stable ``id``
(``"batchnorm_forward.float32"``: the key of ``[points]`` in release.toml, of a plan's cases and of
the probe calls' ids, and the column of grades.csv), a ``title`` for people (``"batchnorm_forward:
float32 preserved"``: what the feedback shows), the nbgrader cell it credits (``grade_id``), its
default points and the release tasks it belongs to; it is graded only when one of those tasks is
selected, and its ``task`` is the code that release key names. Its fresh random inputs are seeded
from its ``seed_key`` (by default the id).

Each check has cases, each one probe call on inputs that are either hidden and fixed (stored
with the reference outputs in the assignment's ``references.npz``, see
`autograder.judging.references`) or fresh (drawn on every run by a `Maker`, the reference
outputs computed by running the same probe in-process on ``solutions``); and a judge that turns
the student's outcomes into scored parts. The checks of an assignment are in
``autograder/assignments/<name>/catalogue.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from autograder.authoring.regions import split_key
from autograder.judging.compare import F64_RTOL
from autograder.sandbox.runner import ProbeCall

#: A check id: lower-case snake_case words joined by dots, at least two of them.
ID_PATTERN = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")

Inputs = dict[str, np.ndarray]
Maker = Callable[[np.random.Generator], Inputs]


@dataclass(frozen=True)
class CaseSpec:
    """One probe call of a check: fresh inputs from ``make`` or the hidden case ``hidden``."""

    label: str
    probe: str
    make: Maker | None = None
    hidden: str | None = None


@dataclass
class Case:
    """A case made concrete for one grading run: the call and the reference outputs.

    For a numerical-gradient call (input ``h``) ``reference`` holds the analytic outputs only;
    `full_reference` adds the reference's own perturbed projections, computed when first needed.
    """

    label: str
    call: ProbeCall
    reference: dict[str, np.ndarray]
    _full: dict[str, np.ndarray] | None = field(default=None, repr=False)
    #: The assignment's ``reference.run`` (probe, inputs) -> outputs, for `full_reference`.
    _run: Callable[[str, Inputs], dict[str, np.ndarray]] | None = field(default=None, repr=False)

    def full_reference(self) -> dict[str, np.ndarray]:
        if self._full is None:
            self._full = self._run(self.call.probe, self.call.inputs)
        return self._full


@dataclass
class Part:
    """One scored piece of a check (an output, a statistic); ``weight`` shares its points."""

    name: str
    passed: bool
    message: str = ""
    weight: float = 1.0
    #: Failed on its value only: an array of the right shape, finite, just not the expected one.
    value_only: bool = False


Judge = Callable[[list[tuple[Case, object]]], list[Part]]


@dataclass(frozen=True)
class Check:
    """A graded check; see the module docstring."""

    id: str
    title: str
    grade_id: str
    points: float
    release_keys: tuple[str, ...]
    cases: tuple[CaseSpec, ...]
    judge: Judge
    looks_at: tuple[str, ...] = ("*",)  # outputs a recognised mistake must show in
    rtol: float = F64_RTOL
    #: Upstream functions answered by trusted stand-ins in the child (`autograder.assignments.
    #: normalization.inside.standins`), so that their mistakes are not charged here:
    #: ``"layers.batchnorm_forward"``, ...
    stand_ins: tuple[str, ...] = ()
    #: Upstream tasks whose own code this check must run (a backward needs the cache of the
    #: student's forward): when they fail, a failure here says so (`CheckResult.blocked_by`).
    after: tuple[str, ...] = ()
    #: Outputs that keep their own expectation when an ``after`` task fails (a backward's
    #: dgamma and dbeta follow from its forward's output); the others are then not charged.
    still_judged: tuple[str, ...] = ()
    #: What seeds this check's fresh inputs (with the release seed and the student); empty means
    #: the id. Frozen once students have been graded: changing it changes every student's inputs.
    seed_key: str = ""

    def __post_init__(self):
        if not ID_PATTERN.fullmatch(self.id):
            raise ValueError(f"check id {self.id!r} is not snake_case words joined by dots")
        if not self.seed_key:
            object.__setattr__(self, "seed_key", self.id)
        try:
            tasks = {split_key(key)[1] for key in self.release_keys}
        except ValueError as exc:
            raise ValueError(f"check {self.id}: {exc}") from None
        if len(tasks) != 1:
            raise ValueError(f"check {self.id}: its release keys {self.release_keys} must name "
                             "one graded function or method")

    @property
    def task(self) -> str:
        """The graded code this check belongs to, as students name it (``"batchnorm_forward"``,
        ``"FullyConnectedNet.loss"``): the release key without its module and variant
        (``"fc_net.FullyConnectedNet.loss:normalization"``), never the translatable title."""
        return split_key(self.release_keys[0])[1]

    @property
    def upstream(self) -> list[str]:
        """The graded tasks this check builds on, by task name (``"batchnorm_forward"``)."""
        tasks = [*self.after, *(target.split(".", 1)[1] for target in self.stand_ins)]
        return list(dict.fromkeys(t for t in tasks if t != self.task))
