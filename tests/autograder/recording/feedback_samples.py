"""The sample submissions of `make demo`, graded in this process for the feedback tests.

``classic_mistake`` is the solution with the demo's one planted bug (the unbiased variance in
``batchnorm_forward``, `autograder.demo.MISTAKE_*`), ``untouched`` the stubs as handed out,
``no_assignment`` a submission without its ``assignment/`` folder (a zip of the notebooks only).
Each is graded by the real job (sandboxed children), so the pages show what students get today.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from autograder import demo
from autograder.authoring import stubgen
from autograder.config import REPO_ROOT, load_config
from autograder.grading import job
from autograder.results import SubmissionResult

SAMPLES = ("classic_mistake", "untouched", "no_assignment")


def build(root: Path, name: str) -> Path:
    """The sample submission folder ``root/name`` (holding ``assignment/``)."""
    target = Path(root) / name
    if name == "untouched":
        shutil.copytree(REPO_ROOT / "assignment", target / "assignment",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return target
    if name == "no_assignment":
        target.mkdir(parents=True)
        (target / "BatchNormalization.ipynb").write_text("{}", encoding="utf-8")
        return target
    if name != "classic_mistake":
        raise ValueError(name)
    stubgen.generate(REPO_ROOT / "solutions", target / "assignment", tasks=set())  # all solved
    layers = target / "assignment" / demo.MISTAKE_FILE
    text = layers.read_text(encoding="utf-8")
    assert text.count(demo.MISTAKE_FROM) == 1, "the demo's mistake can no longer be planted"
    layers.write_text(text.replace(demo.MISTAKE_FROM, demo.MISTAKE_TO), encoding="utf-8")
    return target


def graded(root: Path) -> dict[str, SubmissionResult]:
    """{name: result} of every sample, graded under the default release config."""
    config = load_config()
    return {name: job.grade_submission(name, build(root, name), config) for name in SAMPLES}
