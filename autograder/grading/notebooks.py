"""The submitted notebooks, in the trusted parent: read, validated, matched to the release.

Nothing here executes a notebook. `read_notebook` checks that a submitted file is a notebook
(UTF-8 JSON with a list of cells), finds its inline answers (`Answer`: the release's manual grade
cells) and returns a `NotebookIntake`: for the course, the notebook with nbgrader's cell metadata
restored from the released notebook and only plain outputs kept (`restore_notebook`), the
answers, and a message for the student when something was lost.

Notebooks whose cells lost their nbgrader metadata (Google Colab can do this when it saves) are
detected: nbgrader itself would silently score them 0. Their cells are matched against the
released notebook by metadata, content and position (`match_cells`), so the inline answers are
usually still found.
"""

from __future__ import annotations

import copy
import difflib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

#: Output types kept in the notebook copy the TAs see (no HTML/JavaScript from student files).
_SAFE_OUTPUT_TYPES = ("text/plain", "image/png", "image/jpeg", "text/latex", "text/markdown")


@dataclass
class Answer:
    """An inline answer (manual grade cell) of the released notebook, as found in the submission."""

    grade_id: str
    found: str  # "metadata" | "position" | "missing"
    text: str = ""
    answered: bool = False  # differs from the released placeholder


@dataclass
class NotebookIntake:
    name: str
    status: str  # "ok" | "missing" | "invalid" | "stripped"
    message: str = ""
    path: Path | None = None  # in the working folder
    notebook: dict | None = None  # for the course: metadata restored, unsafe outputs dropped
    answers: dict[str, Answer] = field(default_factory=dict)


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _nbmeta(cell: dict) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    value = meta.get("nbgrader") if isinstance(meta, dict) else None
    return value if isinstance(value, dict) else {}


def _is_manual(meta: dict) -> bool:
    return bool(meta.get("grade")) and bool(meta.get("solution")) or bool(meta.get("task"))


def _key(cell: dict) -> tuple[str, str]:
    return cell.get("cell_type", ""), " ".join(_source(cell).split())


def match_cells(release: dict, student: dict) -> dict[int, tuple[int, str]]:
    """Map each release cell that has nbgrader metadata to a student cell.

    ``{release index: (student index, how)}`` with ``how`` "metadata" (same grade_id, the first
    cell of the student's with it), "content" (identical text) or "position" (the cell of the
    same type between the same matched neighbours).
    """
    rcells, scells = release["cells"], student["cells"]
    pairs: dict[int, tuple[int, str]] = {}
    used: set[int] = set()
    by_id: dict[str, int] = {}
    for j, cell in enumerate(scells):
        grade_id = _nbmeta(cell).get("grade_id")
        if grade_id and grade_id not in by_id:
            by_id[grade_id] = j
    for i, cell in enumerate(rcells):
        grade_id = _nbmeta(cell).get("grade_id")
        j = by_id.get(grade_id) if grade_id else None
        if j is not None and scells[j].get("cell_type") == cell.get("cell_type"):
            pairs[i] = (j, "metadata")
            used.add(j)

    # Anchors: identical cells in the same order (questions, given code, untouched answers).
    matcher = difflib.SequenceMatcher(
        None, [_key(c) for c in rcells], [_key(c) for c in scells], autojunk=False
    )
    anchors: dict[int, int] = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            i, j = block.a + k, block.b + k
            if j in used and pairs.get(i, (None,))[0] != j:
                continue
            anchors[i] = j
            if _nbmeta(rcells[i]) and i not in pairs:
                pairs[i] = (j, "content")
                used.add(j)
    for i, (j, _) in pairs.items():
        anchors.setdefault(i, j)

    # Position: an unmatched cell between two anchors takes the student cell of its type there.
    ordered = sorted(anchors.items())
    for i, cell in enumerate(rcells):
        if i in pairs or not _nbmeta(cell):
            continue
        before = [(a, b) for a, b in ordered if a < i]
        after = [(a, b) for a, b in ordered if a > i]
        lo_r, lo_s = before[-1] if before else (-1, -1)
        hi_r, hi_s = after[0] if after else (len(rcells), len(scells))
        if hi_s <= lo_s:
            continue
        waiting = [k for k in range(lo_r + 1, hi_r) if _nbmeta(rcells[k]) and k not in pairs]
        candidates = [
            j for j in range(lo_s + 1, hi_s)
            if j not in used and scells[j].get("cell_type") == cell.get("cell_type")
            and not _nbmeta(scells[j]).get("grade_id")
        ]
        if not candidates:
            continue
        if len(waiting) == len(candidates):
            j = candidates[waiting.index(i)]
        elif len(waiting) == 1:
            first = _source(cell).strip().splitlines()[:1]
            same_start = [j for j in candidates
                          if first and _source(scells[j]).strip().startswith(first[0])]
            j = (same_start or candidates)[0]
        else:
            continue
        pairs[i] = (j, "position")
        used.add(j)
    return pairs


def _safe_outputs(cell: dict) -> None:
    """Keep only plain outputs (text, images) in the copy the TAs open in their browser."""
    if cell.get("cell_type") != "code":
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
        return
    kept = []
    for output in cell.get("outputs", []) or []:
        if not isinstance(output, dict):
            continue
        kind = output.get("output_type")
        if kind in ("stream", "error"):
            kept.append(output)
        elif kind in ("display_data", "execute_result"):
            data = {k: v for k, v in (output.get("data") or {}).items() if k in _SAFE_OUTPUT_TYPES}
            if data:
                kept.append({**output, "data": data})
    cell["outputs"] = kept


def restore_notebook(release: dict, student: dict, pairs: dict[int, tuple[int, str]]) -> dict:
    """The student's notebook with nbgrader metadata of the release cells restored.

    Matched cells get the release cell's nbgrader metadata (and lock flags); locked cells that
    are not answers get the release text back (as nbgrader's OverwriteCells does); nbgrader
    metadata on unmatched student cells is removed; release cells with metadata that have no
    match are inserted after their matched predecessor, so formgrader can show every grade cell.
    """
    out = copy.deepcopy(student)
    rcells = release["cells"]
    cells = out["cells"]
    by_student = {j: i for i, (j, _) in pairs.items()}
    for j, cell in enumerate(cells):
        if not isinstance(cell, dict):
            cells[j] = {"cell_type": "raw", "metadata": {}, "source": ""}
            cell = cells[j]
        cell.setdefault("metadata", {})
        if not isinstance(cell["metadata"], dict):
            cell["metadata"] = {}
        cell["metadata"].pop("nbgrader", None)
        if j in by_student:
            source_cell = rcells[by_student[j]]
            meta = copy.deepcopy(_nbmeta(source_cell))
            cell["metadata"]["nbgrader"] = meta
            for flag in ("deletable", "editable"):
                if flag in source_cell.get("metadata", {}):
                    cell["metadata"][flag] = source_cell["metadata"][flag]
            if meta.get("locked") and not meta.get("solution"):
                cell["source"] = source_cell.get("source", "")
        _safe_outputs(cell)
    # Insert the release cells that are missing, after the cell matched to their predecessor.
    inserts: dict[int, list[dict]] = {}
    last = -1
    for i, rcell in enumerate(rcells):
        if i in pairs:
            last = pairs[i][0]
            continue
        if not _nbmeta(rcell):
            continue
        missing = copy.deepcopy(rcell)
        missing["id"] = uuid.uuid4().hex[:8]
        if _is_manual(_nbmeta(rcell)):
            missing["source"] = "*(This answer cell was not found in the submission.)*"
        _safe_outputs(missing)
        inserts.setdefault(last, []).append(missing)
    result = list(inserts.get(-1, []))
    for j, cell in enumerate(cells):
        result.append(cell)
        result.extend(inserts.get(j, []))
    seen: set[str] = set()
    for cell in result:
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not cell_id or cell_id in seen:
            cell["id"] = uuid.uuid4().hex[:8]
        seen.add(cell["id"])
    out["cells"] = result
    out.setdefault("metadata", {})
    out.setdefault("nbformat", 4)
    out["nbformat_minor"] = max(int(out.get("nbformat_minor", 5) or 5), 5)
    return out


def read_notebook(path: Path, name: str, release: dict | None, max_bytes: int) -> NotebookIntake:
    """Validate a submitted notebook without executing it, and find its inline answers
    (``release``: the released notebook, None when there is none to match against)."""
    size = path.stat().st_size
    if size > max_bytes:
        return NotebookIntake(name, "invalid", f"{name} is {size} bytes, more than allowed", path)
    raw = path.read_bytes()
    try:
        nb = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return NotebookIntake(name, "invalid", f"{name} is not a text file (not UTF-8), so not "
                              "a notebook; save it again from Jupyter and resubmit", path)
    except json.JSONDecodeError as exc:
        return NotebookIntake(
            name, "invalid",
            f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}), so it "
            "is not a notebook Jupyter can open; was it saved completely? Your inline answers "
            "could not be read.", path,
        )
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return NotebookIntake(name, "invalid", f"{name} is JSON but not a Jupyter notebook (no "
                              "list of cells); your inline answers could not be read.", path)
    nb["cells"] = [c for c in nb["cells"] if isinstance(c, dict)]
    if release is None:
        return NotebookIntake(name, "ok", "", path, nb)

    rcells = release["cells"]
    pairs = match_cells(release, nb)
    manual = {i: _nbmeta(c)["grade_id"] for i, c in enumerate(rcells)
              if _nbmeta(c).get("grade_id") and _is_manual(_nbmeta(c))}
    graded_ids = {_nbmeta(c).get("grade_id") for c in rcells if _nbmeta(c).get("grade")}
    kept_ids = {_nbmeta(c).get("grade_id") for c in nb["cells"]} & graded_ids
    answers = {}
    for i, grade_id in manual.items():
        if i in pairs:
            j, how = pairs[i]
            text = _source(nb["cells"][j])
            answered = " ".join(text.split()) != " ".join(_source(rcells[i]).split())
            answers[grade_id] = Answer(grade_id, "metadata" if how == "metadata" else "position",
                                       text, answered)
        else:
            answers[grade_id] = Answer(grade_id, "missing")

    status, message = "ok", ""
    lost = [a.grade_id for a in answers.values() if a.found == "missing"]
    if graded_ids and not kept_ids:
        status = "stripped"
        if not manual:
            outcome = "there were no inline answers to match"
        elif not lost:
            outcome = "your inline answers were matched by position"
        elif len(lost) == len(manual):
            outcome = "your inline answers could not be matched"
        else:
            outcome = (f"your inline answers were matched by position, except "
                       f"{', '.join(lost)}, which could not be matched")
        message = (
            f"{name}: your notebook lost its nbgrader cell metadata (Colab can do this when it "
            f"saves); {outcome}. Your code in assignment/ is graded as usual. Next time, copy "
            "your answers into a fresh copy of the released notebook before submitting."
        )
    elif lost:
        message = (f"{name}: the answer cell(s) {', '.join(lost)} are missing (deleted or "
                   "re-created?), so those inline answers could not be found")
    restored = restore_notebook(release, nb, pairs)
    return NotebookIntake(name, status, message, path, restored, answers)
