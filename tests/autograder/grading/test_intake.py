"""Intake of submissions: safe unzip, finding the work, notebook validation and recovery.

Nothing here runs student code; the submissions are small folders and zips written by the tests,
and the "released" notebook is a small one in nbgrader's release format.
"""

from __future__ import annotations

import copy
import json
import stat
import zipfile
from pathlib import Path

import pytest

from autograder.grading.intake import (
    MAX_SOURCE_BYTES,
    IntakeError,
    IntakeLimits,
    copy_package,
    discover,
    extract_zip,
    prepare,
)
from autograder.grading.notebooks import match_cells, read_notebook, restore_notebook
from tests.support.released_notebook import (
    NB,
    answered,
    markdown_cell,
    released_notebook,
    stripped,
    write_submission,
)

MAX_NOTEBOOK_BYTES = IntakeLimits().max_file_bytes


def zip_folder(folder: Path, zip_path: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + path.relative_to(folder).as_posix())
    return zip_path


# --------------------------------------------------------------------------------------------------
# Zips
# --------------------------------------------------------------------------------------------------


def _zip_with(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return path


def test_zip_slip_entries_are_skipped_and_reported(tmp_path):
    zip_path = _zip_with(tmp_path / "s.zip", [
        ("../evil.py", b"print('escaped')"),
        ("ok/../../evil2.py", b"x"),
        ("assignment/layers.py", b"x = 1\n"),
    ])
    dest = tmp_path / "dest"
    dest.mkdir()
    problems = extract_zip(zip_path, dest, IntakeLimits())
    assert not (tmp_path / "evil.py").exists() and not (tmp_path / "evil2.py").exists()
    assert (dest / "assignment" / "layers.py").read_text() == "x = 1\n"
    assert sum("climbs out of the folder" in p for p in problems) == 2, problems


def test_absolute_paths_are_skipped(tmp_path):
    target = tmp_path / "abs_evil.py"
    zip_path = _zip_with(tmp_path / "a.zip", [
        (str(target), b"x"), ("C:/Windows/evil.py", b"x"), ("assignment/layers.py", b"x"),
    ])
    dest = tmp_path / "dest"
    dest.mkdir()
    problems = extract_zip(zip_path, dest, IntakeLimits())
    assert not target.exists()
    assert sum("absolute path" in p for p in problems) == 2, problems
    assert [p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()] == [
        "assignment/layers.py"]


def test_symlink_entries_are_not_created(tmp_path):
    link = zipfile.ZipInfo("assignment/layers.py")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    zip_path = _zip_with(tmp_path / "l.zip", [(link, b"/etc/passwd")])
    dest = tmp_path / "dest"
    dest.mkdir()
    problems = extract_zip(zip_path, dest, IntakeLimits())
    assert not (dest / "assignment" / "layers.py").exists()
    assert any("symbolic links are not accepted" in p for p in problems)


def test_zip_bomb_is_refused_on_the_declared_total(tmp_path):
    zeros = b"\0" * (4 * 2**20)  # compresses to a few KiB
    zip_path = _zip_with(tmp_path / "bomb.zip", [(f"assignment/f{i}.py", zeros) for i in range(8)])
    assert zip_path.stat().st_size < 200_000
    dest = tmp_path / "dest"
    dest.mkdir()
    limits = IntakeLimits(max_total_bytes=10 * 2**20, max_file_bytes=8 * 2**20)
    problems = extract_zip(zip_path, dest, limits)
    assert any("zip bomb" in p and "not used" in p for p in problems), problems
    assert sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) == 0


def test_one_huge_file_and_too_many_entries_are_refused(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    big = _zip_with(tmp_path / "big.zip", [("assignment/layers.py", b"\0" * 2**20)])
    problems = extract_zip(big, dest, IntakeLimits(max_file_bytes=2**19))
    assert any("allowed for one file" in p for p in problems)
    many = _zip_with(tmp_path / "many.zip", [(f"f{i}.txt", b"x") for i in range(30)])
    problems = extract_zip(many, dest, IntakeLimits(max_entries=20))
    assert any("30 entries" in p for p in problems)
    assert not any(dest.iterdir())


@pytest.mark.parametrize("content", [b"this is not a zip at all", b"PK\x03\x04broken"])
def test_corrupt_zip_gives_a_message(tmp_path, content):
    zip_path = tmp_path / "alice.zip"
    zip_path.write_bytes(content)
    sub = prepare("alice", zip_path, (NB,), {NB: released_notebook()})
    try:
        assert any("not a readable zip file" in p and "collect_submission.py" in p
                   for p in sub.problems), sub.problems
        assert not sub.has_package
        assert sub.notebooks[NB].status == "missing"
        assert len(sub.problems) == 1  # one clear message, not one per missing file
    finally:
        sub.cleanup()


def test_truncated_zip_is_reported_not_raised(tmp_path):
    folder = write_submission(tmp_path / "src", released_notebook())
    whole = zip_folder(folder, tmp_path / "whole.zip").read_bytes()
    cut = tmp_path / "bob.zip"
    cut.write_bytes(whole[: len(whole) // 2])
    sub = prepare("bob", cut, (NB,), {NB: released_notebook()})
    try:
        assert any("not a readable zip file" in p for p in sub.problems), sub.problems
    finally:
        sub.cleanup()


def test_single_top_level_folder_is_stripped_and_litter_ignored(tmp_path):
    nb = answered(released_notebook(), {"inline_question_1": "Because."})
    folder = write_submission(tmp_path / "src", nb)
    (folder / "datasets").mkdir()
    (folder / "datasets" / "data_batch_1").write_bytes(b"\0" * 1000)
    (folder / "assignment" / "__pycache__").mkdir()
    (folder / "assignment" / "__pycache__" / "layers.cpython-311.pyc").write_bytes(b"\0")
    zip_path = zip_folder(folder, tmp_path / "carol.zip", prefix="normalization/")
    with zipfile.ZipFile(zip_path, "a") as archive:
        archive.writestr("__MACOSX/normalization/._layers.py", b"\0")
    sub = prepare("carol", zip_path, (NB,), {NB: released_notebook()})
    try:
        assert sub.has_package
        assert sorted(p.name for p in (sub.workdir / "assignment").iterdir()) == [
            "__init__.py", "layers.py"]
        assert (sub.workdir / NB).is_file()
        assert sub.notebooks[NB].status == "ok"
        assert sub.notebooks[NB].answers["inline_question_1"].text.endswith("Because.")
        assert not any("zip" in p for p in sub.problems if "data file" not in p), sub.problems
    finally:
        sub.cleanup()
    assert not sub.workdir.exists()


# --------------------------------------------------------------------------------------------------
# Folders and discovery
# --------------------------------------------------------------------------------------------------


def test_discover_folders_and_zips(tmp_path):
    write_submission(tmp_path / "alice", released_notebook())
    zip_folder(write_submission(tmp_path / "x" / "bob", released_notebook()), tmp_path / "bob.zip")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / ".hidden").mkdir()
    found = discover(tmp_path).pairs()
    assert [(s, p.name) for s, p in found] == [("alice", "alice"), ("bob", "bob.zip"),
                                                ("x", "x")]


def test_discover_reports_duplicates_and_bad_ids_and_grades_the_others(tmp_path):
    write_submission(tmp_path / "alice", None)
    (tmp_path / "alice.zip").write_bytes(b"")
    write_submission(tmp_path / "bob", None)
    (tmp_path / "bad name").mkdir()
    roster = discover(tmp_path)
    assert [s for s, _ in roster.pairs()] == ["bob"]
    assert any("alice" in n and "none of them was graded" in n for n in roster.notes)
    assert any("not a student id" in n for n in roster.notes)
    (tmp_path / "bob").rename(tmp_path / "also bad")
    with pytest.raises(IntakeError, match="told apart"):
        discover(tmp_path)
    with pytest.raises(IntakeError, match="no such folder"):
        discover(tmp_path / "nope")


def test_folder_symlinks_are_not_followed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("instructor secret")
    folder = write_submission(tmp_path / "subs" / "dave", released_notebook())
    (folder / "assignment" / "layers.py").unlink()
    (folder / "assignment" / "layers.py").symlink_to(secret)
    (folder / "linked").symlink_to(tmp_path, target_is_directory=True)
    sub = prepare("dave", folder, (NB,), {NB: released_notebook()})
    try:
        copied = [p.read_text() for p in sub.workdir.rglob("*") if p.is_file()
                  and p.suffix != ".ipynb"]
        assert "instructor secret" not in copied
        assert any("layers.py: symbolic links" in p for p in sub.problems), sub.problems
    finally:
        sub.cleanup()


def test_a_source_file_too_big_to_grade_is_said_at_intake(tmp_path):
    """1.5 MiB: above the per-file limit of the package the child gets (1 MiB)."""
    folder = write_submission(tmp_path / "subs" / "fay", released_notebook())
    (folder / "assignment" / "layers.py").write_text("#" * (3 * 2**19), encoding="utf-8")
    sub = prepare("fay", folder, (NB,), {NB: released_notebook()})
    try:
        assert any(p.startswith("assignment/layers.py is larger than") and "not graded" in p
                   for p in sub.problems), sub.problems
        assert not (sub.workdir / "assignment" / "layers.py").exists()
    finally:
        sub.cleanup()


def test_the_package_copy_is_what_the_child_can_import(tmp_path):
    """Regular .py files in folders that are Python identifiers, at most 4 deep; no links, no
    caches, no hidden files; the runner places this copy as it is."""
    src = tmp_path / "assignment"
    (src / "sub" / "a" / "b" / "c" / "d").mkdir(parents=True)
    (src / "__pycache__").mkdir()
    (src / "not a module").mkdir()
    (src / "layers.py").write_text("x = 1\n")
    (src / "sub" / "deep.py").write_text("y = 2\n")
    (src / "sub" / "a" / "b" / "c" / "four.py").write_text("")
    (src / "sub" / "a" / "b" / "c" / "d" / "five.py").write_text("")
    (src / "not a module" / "x.py").write_text("")
    (src / ".hidden.py").write_text("")
    (src / "data.npy").write_bytes(b"not code")
    (src / "__pycache__" / "layers.cpython-311.pyc").write_bytes(b"\0")
    (src / "big.py").write_text("#" * (MAX_SOURCE_BYTES + 1))
    (src / "link.py").symlink_to("/etc/passwd")
    (src / "linkdir").symlink_to(tmp_path)
    dest = tmp_path / "copy" / "assignment"
    dest.parent.mkdir()
    problems = copy_package(src, dest, IntakeLimits())
    copied = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.py"))
    assert copied == ["layers.py", "sub/a/b/c/four.py", "sub/deep.py"]
    assert problems == ["assignment/big.py is larger than 1 MiB and was not graded"]
    few = tmp_path / "few" / "assignment"
    few.parent.mkdir()
    copy_package(src, few, IntakeLimits(max_package_files=2))
    assert sorted(p.name for p in few.rglob("*.py")) == ["four.py", "layers.py"]


# --------------------------------------------------------------------------------------------------
# Notebooks
# --------------------------------------------------------------------------------------------------


def test_not_json_notebook_gives_a_message(tmp_path):
    folder = write_submission(tmp_path / "erin", '{"cells": [ {"cell_type": "markdown", ')
    sub = prepare("erin", folder, (NB,), {NB: released_notebook()})
    try:
        nb = sub.notebooks[NB]
        assert nb.status == "invalid" and nb.notebook is None
        assert "not valid JSON" in nb.message and "line 1" in nb.message
        assert nb.message in sub.problems
        assert sub.has_package  # the package is still graded
    finally:
        sub.cleanup()


def test_json_that_is_not_a_notebook(tmp_path):
    path = tmp_path / NB
    path.write_text('["a list"]')
    result = read_notebook(path, NB, released_notebook(), MAX_NOTEBOOK_BYTES)
    assert result.status == "invalid" and "not a Jupyter notebook" in result.message


def test_missing_notebook_still_grades_the_package(tmp_path):
    folder = write_submission(tmp_path / "frank", None)
    sub = prepare("frank", folder, (NB,), {NB: released_notebook()})
    try:
        assert sub.has_package
        assert sub.notebooks[NB].status == "missing"
        assert any(f"{NB} is missing" in p and "graded as usual" in p for p in sub.problems)
    finally:
        sub.cleanup()


def test_renamed_copy_of_the_notebook_is_used_with_a_note(tmp_path):
    folder = write_submission(tmp_path / "gina", None)
    (folder / f"Copy of {NB}").write_text(json.dumps(released_notebook()))
    sub = prepare("gina", folder, (NB,), {NB: released_notebook()})
    try:
        assert sub.notebooks[NB].status == "ok"
        assert any("used Copy of" in p for p in sub.problems)
    finally:
        sub.cleanup()


def test_stripped_metadata_is_detected_and_answers_matched_by_position(tmp_path):
    release = released_notebook()
    nb = stripped(answered(release, {"inline_question_1": "Scale.", "inline_question_2": "CNN."}))
    nb["cells"].insert(7, markdown_cell("my own notes"))  # an extra cell between the questions
    nb["cells"][3]["source"] = "check_batchnorm_forward(verbose=True)"  # an edited cell
    path = tmp_path / NB
    path.write_text(json.dumps(nb))
    result = read_notebook(path, NB, release, MAX_NOTEBOOK_BYTES)
    assert result.status == "stripped"
    assert "lost its nbgrader cell metadata (Colab can do this" in result.message
    assert "your inline answers were matched by position" in result.message
    assert {k: (a.found, a.text.split("\n")[-1], a.answered) for k, a in result.answers.items()} \
        == {"inline_question_1": ("position", "Scale.", True),
            "inline_question_2": ("position", "CNN.", True)}
    # The notebook for the course has the release's metadata back on the matched cells.
    ids = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"])
           for c in result.notebook["cells"] if "nbgrader" in c["metadata"]}
    assert ids["inline_question_1"].endswith("Scale.")
    assert ids["inline_question_2"].endswith("CNN.")
    assert ids["batchnorm_forward"].startswith("# Autograded test")


def test_stripped_metadata_with_a_deleted_answer_cell(tmp_path):
    release = released_notebook()
    nb = stripped(answered(release, {"inline_question_1": "Scale."}))
    del nb["cells"][9]  # the second answer cell
    path = tmp_path / NB
    path.write_text(json.dumps(nb))
    result = read_notebook(path, NB, release, MAX_NOTEBOOK_BYTES)
    assert result.status == "stripped"
    assert "except inline_question_2, which could not be matched" in result.message
    assert result.answers["inline_question_2"].found == "missing"
    # formgrader still gets a cell for every grade_id, marked as not found
    cells = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"])
             for c in result.notebook["cells"] if "nbgrader" in c["metadata"]}
    assert "not found in the submission" in cells["inline_question_2"]


def test_all_answers_lost_says_could_not_be_matched(tmp_path):
    release = released_notebook()
    nb = stripped(release)
    nb["cells"] = [c for c in nb["cells"] if c["cell_type"] == "code"]
    path = tmp_path / NB
    path.write_text(json.dumps(nb))
    result = read_notebook(path, NB, release, MAX_NOTEBOOK_BYTES)
    assert result.status == "stripped"
    assert "your inline answers could not be matched" in result.message


def test_intact_notebook_matches_by_metadata_and_untouched_answers_are_unanswered(tmp_path):
    release = released_notebook()
    nb = answered(release, {"inline_question_2": "Small layers."})
    path = tmp_path / NB
    path.write_text(json.dumps(nb))
    result = read_notebook(path, NB, release, MAX_NOTEBOOK_BYTES)
    assert result.status == "ok" and result.message == ""
    assert result.answers["inline_question_1"].found == "metadata"
    assert not result.answers["inline_question_1"].answered
    assert result.answers["inline_question_2"].answered


def test_restore_overwrites_forged_metadata_and_drops_active_outputs():
    release = released_notebook()
    nb = answered(release, {"inline_question_1": "x"})
    # A student copies the autograded cell, forges points, and saves HTML/JS outputs.
    forged = copy.deepcopy(nb["cells"][4])
    forged["metadata"]["nbgrader"]["points"] = 1000
    forged["source"] = "pass"
    nb["cells"][4]["metadata"]["nbgrader"]["points"] = 1000
    nb["cells"][4]["source"] = "assert True"
    nb["cells"].append(forged)
    nb["cells"][3]["outputs"] = [
        {"output_type": "display_data", "metadata": {},
         "data": {"text/html": "<script>alert(1)</script>", "text/plain": "ok"}},
        {"output_type": "display_data", "metadata": {},
         "data": {"application/javascript": "alert(2)"}},
    ]
    pairs = match_cells(release, nb)
    restored = restore_notebook(release, nb, pairs)
    graded = [c for c in restored["cells"] if "nbgrader" in c["metadata"]]
    assert [c["metadata"]["nbgrader"]["grade_id"] for c in graded] == [
        "batchnorm_forward", "inline_question_1", "inline_question_2"]
    assert graded[0]["metadata"]["nbgrader"]["points"] == 3
    assert graded[0]["source"] == release["cells"][4]["source"]  # locked cell: release text
    assert restored["cells"][3]["outputs"] == [
        {"output_type": "display_data", "metadata": {}, "data": {"text/plain": "ok"}}]
    ids = [c["id"] for c in restored["cells"]]
    assert len(ids) == len(set(ids))
