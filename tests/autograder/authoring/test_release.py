"""The student release: what it contains, what it must never contain, and the refusal path.

One real release is built per module (nbgrader generate_assignment included, about 10 s); the
refusal tests replace nbgrader's step with a plain copy (as if nbgrader had silently failed to
strip the solutions) or plant leaks in a copy of the built release.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.authoring import release
from autograder.authoring.course import Course, grade_cells
from autograder.authoring.leaks import Secrets, scan_release
from autograder.authoring.release import (
    ReleaseError,
    build_release,
    configured_points,
    load_source_notebooks,
)
from autograder.config import REPO_ROOT, load_config
from autograder.grading.layouts import IDENTITY_FILE, recorded_id
from autograder.judging import plan as planning

CONFIG = load_config()
NB = CONFIG.notebooks[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("release")
    return build_release(CONFIG, base / "release", base / "course", log=lambda *a: None)


def _all_texts(result) -> dict[str, bytes]:
    """Every file of the folder and every member of the zip."""
    files = {f"dir:{p.relative_to(result.tree).as_posix()}": p.read_bytes()
             for p in result.tree.rglob("*") if p.is_file()}
    with zipfile.ZipFile(result.zip_path) as archive:
        files.update({f"zip:{n}": archive.read(n) for n in archive.namelist()})
    return files


def test_release_has_the_student_files(built):
    names = sorted(p.relative_to(built.tree).as_posix() for p in built.tree.rglob("*")
                   if p.is_file())
    solutions = REPO_ROOT / "solutions"
    stubs = sorted(f"assignment/{p.relative_to(solutions).as_posix()}"
                   for p in solutions.rglob("*.py") if "__pycache__" not in p.parts)
    assert names == sorted([*CONFIG.notebooks, "README.md", "collect_submission.py",
                            "requirements.txt", "datasets/get_datasets.sh", *stubs])
    assert (built.tree / "datasets" / "get_datasets.sh").stat().st_mode & 0o111
    readme = (built.tree / "README.md").read_text()
    assert "collect_submission.py" in readme and "Colab" in readme
    for key in CONFIG.tasks:
        assert key.split(".", 1)[1].split(":")[0] in readme
    layers = (built.tree / "assignment" / "layers.py").read_text()
    assert 'raise NotImplementedError("batchnorm_forward:' in layers


def test_zip_matches_the_folder(built):
    with zipfile.ZipFile(built.zip_path) as archive:
        members = {n: archive.read(n) for n in archive.namelist() if not n.endswith("/")}
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
    folder = {f"{CONFIG.assignment}/{p.relative_to(built.tree).as_posix()}": p.read_bytes()
              for p in built.tree.rglob("*") if p.is_file()}
    assert members == folder
    assert modes[f"{CONFIG.assignment}/datasets/get_datasets.sh"] & 0o111


def test_release_contains_no_solutions_hidden_tests_or_references(built):
    """An independent scan (not the one the release uses) of every file and zip member."""
    source = json.loads((REPO_ROOT / "notebooks" / NB).read_text())
    model_answers = [
        line.strip() for cell in source["cells"]
        if cell["metadata"].get("nbgrader", {}).get("solution")
        for line in "".join(cell["source"]).split("### BEGIN SOLUTION")[1].splitlines()[1:]
        if len(line.strip()) > 30 and "END SOLUTION" not in line
    ]
    hidden = [
        line.strip() for cell in source["cells"]
        if "### BEGIN HIDDEN TESTS" in "".join(cell["source"])
        for line in "".join(cell["source"]).split("### BEGIN HIDDEN TESTS")[1].splitlines()
        if len(line.strip()) > 30 and "END HIDDEN" not in line
    ]
    assert model_answers and hidden
    solution_statements = [
        "inv_std = 1.0 / np.sqrt(var + eps)",  # layers.batchnorm_forward
        "dx = (gamma * inv_std / N) * (N * dout - dbeta - x_hat * dgamma)",  # backward_alt
    ]
    secret_digests = {
        hashlib.sha256(p.read_bytes()).hexdigest(): p
        for folder in ("solutions", "autograder") for p in (REPO_ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    references = list((REPO_ROOT / "autograder").rglob("references*.npz"))
    for name, data in _all_texts(built).items():
        text = data.decode("utf-8", errors="replace")
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, name
        assert "BEGIN HIDDEN TESTS" not in text, name
        for line in model_answers + hidden + solution_statements:
            assert line not in text, (name, line)
        assert hashlib.sha256(data).hexdigest() not in secret_digests, name
        parts = name.split(":", 1)[1].split("/")
        assert not {"solutions", "autograder", "references"} & set(parts), name
        assert not name.endswith((".npz", ".pyc")), name
    released_nb = (built.tree / NB).read_text()
    assert "YOUR ANSWER HERE" in released_nb
    assert references, "no reference files to look for"


def test_points_in_released_notebook_match_the_configured_checks(built):
    expected: dict[str, float] = {}
    for check in planning.select_checks(CONFIG):
        expected[check.grade_id] = expected.get(check.grade_id, 0.0) + check.points
    nb = json.loads((built.tree / NB).read_text())
    autograded = {c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"]["points"]
                  for c in nb["cells"]
                  if c["metadata"].get("nbgrader", {}).get("grade")
                  and not c["metadata"]["nbgrader"].get("solution")}
    assert autograded, "no autograded cells"
    for grade_id, points in autograded.items():
        assert points == pytest.approx(expected[grade_id]), grade_id
    # Every notebook of the release: its autograded cells carry the points of their checks.
    everywhere = {}
    for name in CONFIG.notebooks:
        other = json.loads((built.tree / name).read_text())
        for c in other["cells"]:
            meta = c["metadata"].get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                assert meta["points"] == pytest.approx(expected[meta["grade_id"]]), name
                everywhere[meta["grade_id"]] = meta["points"]
    assert built.points == pytest.approx(everywhere)
    # The gradebook has the same cells with the same points, and the inline questions.
    cells = grade_cells(built.course.db_url, CONFIG.assignment)[Path(NB).stem]
    for grade_id, points in autograded.items():
        assert cells[grade_id] == {"max_score": points, "cell_type": "code", "manual": False}
    manual = sorted(k for k, v in cells.items() if v["manual"])
    assert manual == [f"inline_question_{i}" for i in range(1, 5)]
    # Checks whose grade cell is in no notebook are reported, not silently dropped.
    for grade_id in sorted(set(expected) - set(everywhere)):
        assert any(repr(grade_id) in w for w in built.warnings), grade_id


def test_course_keeps_source_and_release_for_grading(built):
    course = built.course
    source = json.loads((course.source_dir / NB).read_text())
    assert any("### BEGIN SOLUTION" in "".join(c["source"]) for c in source["cells"])
    assert (course.release_dir / NB).read_bytes() == (built.tree / NB).read_bytes()
    config = (course.root / "nbgrader_config.py").read_text()
    assert course.db_url in config and "?timeout=30" in course.db_url


def _collect(folder, *args, env=None, stdin=None):
    return subprocess.run([sys.executable, "collect_submission.py", *args], cwd=folder,
                          capture_output=True, text=True, check=True, input=stdin,
                          env={k: v for k, v in {**os.environ, **(env or {})}.items()
                               if k not in ("JUPYTERHUB_USER", "NB_USER") or k in (env or {})})


def test_collect_submission_zips_notebook_package_and_identity_only(built, tmp_path):
    student = tmp_path / "student"
    shutil.copytree(built.tree, student)
    (student / "datasets" / "cifar-10-batches-py").mkdir()
    (student / "datasets" / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"\0" * 100)
    (student / "assignment" / "__pycache__").mkdir()
    (student / "assignment" / "__pycache__" / "layers.cpython-311.pyc").write_bytes(b"\0")
    proc = _collect(student, "--student", "ada.lovelace")
    zip_path = student / f"{CONFIG.assignment}_ada.lovelace.zip"
    with zipfile.ZipFile(zip_path) as archive:
        names = sorted(archive.namelist())
        identity = json.loads(archive.read(IDENTITY_FILE))
    stubs = sorted(p.relative_to(built.tree).as_posix()
                   for p in (built.tree / "assignment").rglob("*.py"))
    assert names == sorted([*CONFIG.notebooks, *stubs, IDENTITY_FILE])
    assert identity == {"student": "ada.lovelace", "assignment": CONFIG.assignment}
    assert recorded_id(zip_path) == "ada.lovelace"  # what the grader reads back
    assert "assignment/layers.py" in proc.stdout and "WARNING" not in proc.stdout
    # A notebook that lost its nbgrader metadata is flagged before it is submitted.
    nb = json.loads((student / NB).read_text())
    for cell in nb["cells"]:
        cell["metadata"].pop("nbgrader", None)
    (student / NB).write_text(json.dumps(nb))
    proc = _collect(student, "--student", "ada.lovelace")
    assert "lost its nbgrader cell metadata" in proc.stdout


def test_collect_submission_takes_the_id_from_jupyterhub_or_asks_once(built, tmp_path):
    student = tmp_path / "student"
    shutil.copytree(built.tree, student)
    _collect(student, env={"JUPYTERHUB_USER": "hubuser"})
    assert (student / f"{CONFIG.assignment}_hubuser.zip").is_file()
    proc = _collect(student, stdin="not an id!\nbob\n")  # asked: the bad answer is refused
    assert "letters, digits" in proc.stdout
    assert (student / f"{CONFIG.assignment}_bob.zip").is_file()
    _collect(student)  # ... and remembered: not asked again (no input to give)
    assert recorded_id(student / f"{CONFIG.assignment}_bob.zip") == "bob"
    dest = tmp_path / "drive"
    dest.mkdir()
    _collect(student, "--dest", str(dest))
    assert (dest / f"{CONFIG.assignment}_bob.zip").is_file()


def test_student_self_check_runs_in_the_release(built):
    from autograder.cli import main

    proc = subprocess.run([sys.executable, "-m", "assignment.checks", "batchnorm_forward"],
                          cwd=built.tree, capture_output=True, text=True)
    assert proc.returncode == 1 and "not implemented yet" in proc.stdout
    assert main(["check", str(built.tree), "batchnorm_forward"]) == 1


def _secrets(points=None) -> Secrets:
    sources = load_source_notebooks(CONFIG, REPO_ROOT / "notebooks")
    return Secrets.collect(sources, CONFIG.tasks, points)


def test_scan_finds_every_kind_of_leak(built, tmp_path):
    tree = tmp_path / CONFIG.assignment
    shutil.copytree(built.tree, tree)
    assert scan_release(tree, None, _secrets()) == []

    layers = tree / "assignment" / "layers.py"
    text = layers.read_text()
    layers.write_text(text.replace(
        'raise NotImplementedError("batchnorm_backward_alt:',
        "dx = (gamma * inv_std / N) * (N * dout - dbeta - x_hat * dgamma)\n"
        '    raise NotImplementedError("batchnorm_backward_alt:', 1))
    (tree / "assignment" / "extra.py").write_text("from solutions import layers\n")
    shutil.copyfile(REPO_ROOT / "solutions" / "fc_net.py", tree / "fc_net_copy.py")
    (tree / "autograder").mkdir()
    (tree / "autograder" / "notes.txt").write_text("x")
    reference = next((REPO_ROOT / "autograder").rglob("references*.npz"))
    shutil.copyfile(reference, tree / "data.bin")
    nb = json.loads((tree / NB).read_text())
    # A line of a hidden test cell of the source notebook (each is one call of the checks' helper)
    nb["cells"][0]["source"] = ("### BEGIN HIDDEN TESTS\n"
                                'print(assert_passes("batchnorm_forward", extra=True).summary())\n')
    (tree / NB).write_text(json.dumps(nb))

    problems = "\n".join(scan_release(tree, None, _secrets()))
    assert "a line of solutions/layers.py" in problems and "batchnorm_backward_alt" in problems
    assert "imports the instructors' solutions package" in problems
    assert "fc_net_copy.py: is a copy of solutions/fc_net.py" in problems
    assert "fc_net_copy.py: contains the marker 'BEGIN SOLUTION'" in problems
    assert "autograder/notes.txt: lies in a autograder/ folder" in problems
    assert f"data.bin: is a copy of {reference.relative_to(REPO_ROOT).as_posix()}" in problems
    assert f"{NB}: contains the marker 'BEGIN HIDDEN TESTS'" in problems
    assert "(hidden test)" in problems


def test_scan_checks_the_zip_and_the_points(built, tmp_path):
    tree = tmp_path / CONFIG.assignment
    shutil.copytree(built.tree, tree)
    zip_path = tmp_path / "z.zip"
    release.write_zip(tree, zip_path)
    assert scan_release(tree, zip_path, _secrets(built.points)) == []
    with zipfile.ZipFile(zip_path, "a") as archive:
        archive.writestr(f"{CONFIG.assignment}/solutions/layers.py",
                         (REPO_ROOT / "solutions" / "layers.py").read_bytes())
    wrong = {**built.points, "batchnorm_forward": built.points["batchnorm_forward"] + 1}
    problems = "\n".join(scan_release(tree, zip_path, _secrets(wrong)))
    assert "z.zip: solutions/layers.py: lies in a solutions/ folder" in problems
    assert "z.zip differs from the folder: only in the zip ['solutions/layers.py']" in problems
    assert "grade cell batchnorm_forward is worth" in problems


def test_release_is_refused_when_nbgrader_leaves_solutions_in(tmp_path, monkeypatch):
    """nbgrader can fail quietly (exit 0); the scan after writing must still refuse."""

    def copy_instead(self, log_tail=40):
        self.release_dir.mkdir(parents=True, exist_ok=True)
        for path in self.source_dir.glob("*.ipynb"):
            shutil.copyfile(path, self.release_dir / path.name)
        return ""

    monkeypatch.setattr(Course, "generate_assignment", copy_instead)
    monkeypatch.setattr(Course, "write_config", lambda self: None)
    out = tmp_path / "release"
    with pytest.raises(ReleaseError, match="release REFUSED") as error:
        build_release(CONFIG, out, tmp_path / "course", log=lambda *a: None)
    assert "contains the marker 'BEGIN SOLUTION'" in str(error.value)
    assert not (out / f"{CONFIG.assignment}.zip").exists()
    assert not (out / CONFIG.assignment).exists()
    assert (out / f"{CONFIG.assignment}.REFUSED").is_dir()


def test_release_is_refused_when_the_stubs_hold_answers(tmp_path, monkeypatch):
    from autograder.authoring import stubgen

    real_generate = stubgen.generate
    monkeypatch.setattr(stubgen, "generate",
                        lambda solutions, out, tasks: real_generate(solutions, out, set()))
    monkeypatch.setattr(Course, "generate_assignment", lambda self, log_tail=40: "")
    monkeypatch.setattr(Course, "write_config", lambda self: None)
    course = Course.at(tmp_path / "course", CONFIG.assignment)
    course.release_dir.mkdir(parents=True)
    for name in CONFIG.notebooks:  # notebooks without graded cells: only the stubs can leak
        nb = json.loads((REPO_ROOT / "notebooks" / name).read_text())
        nb["cells"] = [c for c in nb["cells"] if "nbgrader" not in c["metadata"]]
        (course.release_dir / name).write_text(json.dumps(nb))
    with pytest.raises(ReleaseError, match="release REFUSED") as error:
        build_release(CONFIG, tmp_path / "release", course.root, log=lambda *a: None)
    assert "a line of solutions/layers.py" in str(error.value)


def test_configured_points_sum_the_checks_per_grade_id():
    points = configured_points(CONFIG)
    total = sum(c.points for c in planning.select_checks(CONFIG))
    assert sum(points.values()) == pytest.approx(total)


def test_release_refuses_to_overwrite_a_foreign_folder(tmp_path):
    out = tmp_path / "out"
    (out / CONFIG.assignment).mkdir(parents=True)
    (out / CONFIG.assignment / "precious.txt").write_text("keep me")
    with pytest.raises(ReleaseError, match="not written by a release"):
        build_release(CONFIG, out, tmp_path / "course", log=lambda *a: None)
    assert (out / CONFIG.assignment / "precious.txt").read_text() == "keep me"
