"""tools/snapshot_outputs.py --compare: finds changed, added and removed files (the grading run
itself is covered by tests/autograder/judging/test_determinism.py and the demo tests)."""

import hashlib

from tools.snapshot_outputs import MANIFEST, compare


def _snapshot(folder, files):
    lines = []
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        lines.append(f"{hashlib.sha256(text.encode()).hexdigest()}  {name}")
    (folder / MANIFEST).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_identical_snapshots_compare_equal(tmp_path, capsys):
    files = {"demo/grades.csv": "student,total\na,1\n", "demo/a/feedback.html": "<p>ok</p>\n"}
    assert compare(_snapshot(tmp_path / "x", files), _snapshot(tmp_path / "y", files)) == []
    assert "0 of 2 files differ" in capsys.readouterr().out


def test_a_changed_line_and_a_file_on_one_side_are_reported(tmp_path, capsys):
    before = _snapshot(tmp_path / "x", {"demo/grades.csv": "student,total\na,1\n",
                                        "demo/old.json": "{}\n"})
    after = _snapshot(tmp_path / "y", {"demo/grades.csv": "student,total\na,2\n",
                                       "demo/new.json": "{}\n"})
    assert compare(before, after) == ["demo/grades.csv", "demo/new.json", "demo/old.json"]
    out = capsys.readouterr().out
    assert "-a,1" in out and "+a,2" in out
    assert "demo/new.json: only in after" in out and "demo/old.json: only in before" in out
