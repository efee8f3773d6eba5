"""Which file is whose (autograder/grading/layouts.py): the layouts courses download submissions in,
built here as the tools write them (plain folders and zips, nbgrader's submitted/ tree, Canvas's
and Moodle's bulk downloads), with duplicates and ids that disagree."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from autograder.grading.layouts import IDENTITY_FILE, LayoutError, read_roster, recorded_id

A = "normalization"


def _zip(path: Path, student: str | None = None, top: str = A) -> Path:
    """A submission zip like collect_submission.py's, recording ``student`` if given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{top}/assignment/layers.py", "# work\n")
        if student is not None:
            zf.writestr(f"{top}/{IDENTITY_FILE}", json.dumps({"student": student,
                                                              "assignment": A}))
    return path


def _folder(path: Path) -> Path:
    (path / "assignment").mkdir(parents=True)
    (path / "assignment" / "layers.py").write_text("# work\n")
    return path


def test_plain_folders_and_zips_named_after_the_student(tmp_path):
    _folder(tmp_path / "ada")
    _zip(tmp_path / "bob.zip")
    _zip(tmp_path / f"{A}_cy.zip", student="cy")  # collect_submission.py's name
    roster = read_roster(tmp_path, A)
    assert roster.layout == "plain"
    assert [(f.student, f.path.name) for f in roster.found] == [
        ("ada", "ada"), ("bob", "bob.zip"), ("cy", f"{A}_cy.zip")]
    assert roster.notes == []


def test_the_id_inside_the_zip_is_read_and_a_disagreement_reported(tmp_path):
    _zip(tmp_path / f"{A}_ada.zip", student="bob")  # renamed, or somebody else's work
    roster = read_roster(tmp_path, A)
    assert recorded_id(tmp_path / f"{A}_ada.zip") == "bob"
    assert [f.student for f in roster.found] == ["ada"]
    assert any("says it is bob's work" in n for n in roster.notes), roster.notes


def test_a_student_twice_is_reported_and_not_merged(tmp_path):
    _folder(tmp_path / "ada")
    _zip(tmp_path / "ada.zip")
    _zip(tmp_path / "bob.zip")
    roster = read_roster(tmp_path, A)
    assert [f.student for f in roster.found] == ["bob"]
    assert any("ada" in n and "none of them was graded" in n for n in roster.notes)


def test_nbgrader_submitted_tree(tmp_path):
    for student in ("ada", "bob"):
        _folder(tmp_path / "submitted" / student / A)
    for given in (tmp_path, tmp_path / "submitted"):
        roster = read_roster(given, A)
        assert roster.layout == "nbgrader"
        assert [(f.student, f.path) for f in roster.found] == [
            (s, tmp_path / "submitted" / s / A) for s in ("ada", "bob")]


def test_canvas_bulk_download(tmp_path):
    _zip(tmp_path / f"lovelaceada_1201_9001_{A}_ada.zip", student="ada")
    _zip(tmp_path / f"babbagecharles_LATE_1202_9002_{A}_cb.zip", student="cb")
    # a resubmission: Canvas keeps both, the newer has the higher submission id
    _zip(tmp_path / f"hopper_1203_9003_{A}_gh.zip", student="gh")
    _zip(tmp_path / f"hopper_1203_9010_{A}_gh-1.zip", student="gh")
    roster = read_roster(tmp_path, A)
    assert roster.layout == "canvas"
    by = {f.student: f for f in roster.found}
    assert sorted(by) == ["1201", "1202", "1203"]
    assert by["1202"].late and not by["1201"].late
    assert by["1203"].path.name.endswith("gh-1.zip")
    assert any("graded the newest" in n for n in roster.notes)


def test_canvas_two_students_handing_in_one_students_zip(tmp_path):
    _zip(tmp_path / f"lovelaceada_1201_9001_{A}_ada.zip", student="ada")
    _zip(tmp_path / f"babbagecharles_1202_9002_{A}_ada.zip", student="ada")
    roster = read_roster(tmp_path, A)
    assert [f.student for f in roster.found] == ["1201", "1202"]  # both graded, and reported
    assert any("all say they are ada's work" in n for n in roster.notes)


def test_moodle_folders_and_flat_files(tmp_path):
    folders = tmp_path / "folders"
    _zip(folders / "Ada Lovelace_301_assignsubmission_file_" / f"{A}_ada.zip", student="ada")
    _zip(folders / "Charles Babbage_302_assignsubmission_file_" / f"{A}_cb.zip", student="cb")
    roster = read_roster(folders, A)
    assert roster.layout == "moodle"
    assert [(f.student, f.name) for f in roster.found] == [("301", "Ada Lovelace"),
                                                            ("302", "Charles Babbage")]
    flat = tmp_path / "flat"
    _zip(flat / f"Ada Lovelace_301_assignsubmission_file_{A}_ada.zip", student="ada")
    (flat / "Ada Lovelace_301_assignsubmission_onlinetext_onlinetext.html").write_text("hi")
    roster = read_roster(flat, A)
    assert [(f.student, f.name) for f in roster.found] == [("301", "Ada Lovelace")]
    assert any("not a zip" in n for n in roster.notes)


def test_nothing_usable_is_an_error_that_says_why(tmp_path):
    _folder(tmp_path / "not an id!")
    with pytest.raises(LayoutError, match="not a student id"):
        read_roster(tmp_path, A)
    with pytest.raises(LayoutError, match="no such folder"):
        read_roster(tmp_path / "nope", A)
