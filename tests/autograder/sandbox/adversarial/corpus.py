"""The adversarial corpus: load the cases, build their submissions, read back what the grader said.

Each case is a folder ``tests/autograder/sandbox/adversarial/submissions/<case>/`` holding
``expected.toml`` and the differences from a base submission:

``expected.toml``
    ``summary``   one line: what the submission does;
    ``base``      ``"solution"`` (the release folder with the complete solution package as
                  ``assignment/``) or ``"release"`` (the release folder as handed out: stubs);
    ``needs``     optional, ``"uid-drop"``: the case attacks the machine or other students and is
                  only run when the grader runs as root (student code under another uid); as a
                  normal user student code *is* that user, see docs/security.md;
    ``others``    what the checks not matched by ``[max_points]`` must earn: ``"full"`` (every
                  point: nothing else is lost), ``"zero"`` or ``"any"``;
    ``[max_points]``  check-name glob (fnmatch, as in grades.csv) -> the most each matching
                  check may earn, or ``"any"`` (the first matching glob applies); a key
                  ``"@group"`` stands for the globs of `GROUPS` (the checks that run a given
                  function), so that a new task family is added in one place;
    ``known_issue``   optional: a grader bug this case shows and that is not fixed yet (the case
                  is an expected failure, strict: it fails once the bug is fixed, as a reminder
                  to drop the key);
    ``[feedback]``    ``contains`` / ``absent``: substrings of the student's feedback
                  (feedback.html as text: markup removed, entities decoded, whitespace collapsed;
                  ``@@MAX@@`` is the maximum score); ``absent_raw``: substrings the raw HTML
                  must not hold (unescaped markup);
    ``[build]``       ``delete``: paths of the base submission to remove before the overlay;
                  ``zip``: submit ``<case>.zip`` of the folder instead of the folder.
``files/``
    an overlay on the base submission: ``<path>.append`` is appended to the base file at
    ``<path>``; ``<path>.new`` becomes ``<path>`` (created or replaced). The suffixes keep ruff and
    pytest away from attack code. ``@@NAME@@`` is replaced by the value of ``Context.template``
    (the port of the test server, the paths of OUT, the course, the submissions folder, ...).
``build.py``
    optional: ``build(folder: Path, ctx: Context) -> Path`` runs after the overlay and returns
    what to submit (the folder, or a zip it wrote beside it): zips with hostile entries, bytes
    that are not UTF-8, symbolic links.
"""

from __future__ import annotations

import fnmatch
import hashlib
import html
import importlib.util
import os
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE / "submissions"
BASES = ("solution", "release")
OTHERS = ("full", "zero", "any")

#: Which checks may run which student code (through the solution's own calls: spatial batch
#: norm, the sandwich layers, FullyConnectedNet and the nn.py objects call the functional layers;
#: their checks answer those calls with trusted stand-ins, but a call the stand-in cannot answer
#: still goes to the student's code).
GROUPS = {
    # every check whose code imports assignment/layers.py
    "@layers": ("batchnorm_*", "layernorm_*", "spatial_*", "affine_norm_relu_*",
                "FullyConnectedNet.*", "BatchNorm.*", "LayerNorm.*", "Model.*"),
    # checks that run batchnorm_forward / batchnorm_backward_alt
    "@batchnorm": ("batchnorm_*", "spatial_batchnorm_*", "affine_norm_relu_*(batchnorm*",
                   "FullyConnectedNet.*(batchnorm)*", "BatchNorm.*", "Model.*"),
    # checks that run layernorm_forward / layernorm_backward
    "@layernorm": ("layernorm_*", "affine_norm_relu_*layernorm)*",
                   "FullyConnectedNet.*(layernorm)*", "LayerNorm.*", "Model.*"),
}


@dataclass(frozen=True)
class Case:
    name: str
    folder: Path
    summary: str
    base: str
    others: str
    max_points: tuple[tuple[str, float | None], ...]  # None: any
    contains: tuple[str, ...]
    absent: tuple[str, ...]
    absent_raw: tuple[str, ...]
    delete: tuple[str, ...]
    zip: bool
    needs: str | None
    known_issue: str | None = None

    def cap(self, check: str, max_score: float) -> tuple[float, float]:
        """(least, most) points the check may earn in this case."""
        for pattern, most in self.max_points:
            if fnmatch.fnmatchcase(check, pattern):
                return 0.0, max_score if most is None else min(most, max_score)
        if self.others == "full":
            return max_score, max_score
        if self.others == "zero":
            return 0.0, 0.0
        return 0.0, max_score


def load_case(folder: Path) -> Case:
    with (folder / "expected.toml").open("rb") as fh:
        data = tomllib.load(fh)
    known = {"summary", "base", "others", "needs", "max_points", "feedback", "build",
             "known_issue"}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{folder.name}/expected.toml: unknown keys {sorted(unknown)}")
    base = data.get("base", "solution")
    others = data.get("others", "full")
    if base not in BASES or others not in OTHERS:
        raise ValueError(f"{folder.name}: base must be one of {BASES}, others one of {OTHERS}")
    if not data.get("summary"):
        raise ValueError(f"{folder.name}: a summary is required")
    feedback = data.get("feedback", {})
    build = data.get("build", {})
    if not feedback.get("contains"):
        raise ValueError(f"{folder.name}: [feedback] contains is required (a readable message)")
    return Case(
        name=folder.name,
        folder=folder,
        summary=data["summary"],
        base=base,
        others=others,
        max_points=tuple((glob, None if v == "any" else float(v))
                         for k, v in data.get("max_points", {}).items()
                         for glob in (GROUPS[k] if k.startswith("@") else (k,))),
        contains=tuple(feedback.get("contains", ())),
        absent=tuple(feedback.get("absent", ())),
        absent_raw=tuple(feedback.get("absent_raw", ())),
        delete=tuple(build.get("delete", ())),
        zip=bool(build.get("zip", False)),
        needs=data.get("needs"),
        known_issue=data.get("known_issue"),
    )


def load_cases() -> list[Case]:
    return [load_case(p) for p in sorted(CASES_DIR.iterdir()) if (p / "expected.toml").is_file()]


@dataclass
class Context:
    """What builders and templates may use. Paths are those of the test's temporary copies."""

    repo: Path  # the copy of the repository the grader runs from
    release_tree: Path  # the student release folder
    solution_package: Path  # assignment/ with every task solved
    submissions: Path
    out: Path
    course: Path
    template: dict[str, str] = field(default_factory=dict)

    def render(self, text: str) -> str:
        def sub(m: re.Match) -> str:
            key = m.group(1)
            if key not in self.template:
                raise KeyError(f"unknown template key @@{key}@@")
            return self.template[key]

        return re.sub(r"@@([A-Z_]+)@@", sub, text)


def build_submission(case: Case, ctx: Context) -> Path:
    """Write the case's submission into ``ctx.submissions``; return the submitted path."""
    folder = ctx.submissions / case.name
    shutil.copytree(ctx.release_tree, folder, symlinks=True)
    if case.base == "solution":
        shutil.rmtree(folder / "assignment")
        shutil.copytree(ctx.solution_package, folder / "assignment")
    for rel in case.delete:
        target = folder / rel
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
    overlay = case.folder / "files"
    if overlay.is_dir():
        for src in sorted(p for p in overlay.rglob("*") if p.is_file()):
            rel = src.relative_to(overlay)
            text = ctx.render(src.read_text(encoding="utf-8"))
            if rel.suffix == ".append":
                target = folder / rel.with_suffix("")
                with target.open("a", encoding="utf-8") as fh:
                    fh.write("\n\n" + text)
            elif rel.suffix == ".new":
                target = folder / rel.with_suffix("")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            else:
                raise ValueError(f"{case.name}: overlay files end in .append or .new: {rel}")
    submitted: Path = folder
    builder = case.folder / "build.py"
    if builder.is_file():
        spec = importlib.util.spec_from_file_location(f"adversarial_build_{case.name}", builder)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        submitted = Path(module.build(folder, ctx))
    if case.zip:
        submitted = zip_folder(folder, ctx.submissions / f"{case.name}.zip")
    if submitted != folder and folder.exists():
        shutil.rmtree(folder)
    return submitted


def zip_folder(folder: Path, zip_path: Path, top: str = "normalization") -> Path:
    """The folder zipped inside one top-level folder, as collect_submission.py does."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                archive.write(path, f"{top}/{path.relative_to(folder).as_posix()}")
    return zip_path


# ----------------------------------------------------------------------------------------------
# Reading back


def feedback_text(path: Path) -> str:
    """feedback.html as plain text: markup removed, entities decoded, whitespace collapsed."""
    raw = path.read_text(encoding="utf-8")
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", raw)).split())


def tree_digest(root: Path) -> dict[str, str]:
    """relative path -> sha256 (or "dir"/"link -> target") of everything under root."""
    out = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
