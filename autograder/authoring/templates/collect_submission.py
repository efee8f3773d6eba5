"""Zip your work for submission: run `python collect_submission.py` in this folder.

Writes <assignment>_<your id>.zip with the notebooks, the Python files of assignment/ (not the
data, not caches) and a small normlab-submission.json that says whose work it is, and lists
what it included. Your id is what your course uses to know you (your university login, for
instance): give it with --student ID, or it is taken from JupyterHub ($JUPYTERHUB_USER,
$NB_USER), or asked once and remembered in .normlab-student beside this script.

From a notebook (Google Colab has no terminal):

    from collect_submission import collect
    collect(student="your-id", dest="/content/drive/MyDrive/...")
"""

import argparse
import json
import os
import re
import sys
import zipfile
from pathlib import Path

ASSIGNMENT = "@@ASSIGNMENT@@"
NOTEBOOKS = ["@@NOTEBOOKS@@"]
HERE = Path(__file__).resolve().parent
SKIP = {"__pycache__", ".ipynb_checkpoints", "datasets", ".git"}
IDENTITY = "normlab-submission.json"
REMEMBERED = HERE / ".normlab-student"
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$")


def notebook_warning(path):
    """A warning about a notebook that the grader may not read well, or None."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return f"{path.name} is not a readable notebook file; save it again from Jupyter"
    if not any("nbgrader" in cell.get("metadata", {}) for cell in cells):
        return (
            f"{path.name} has lost its nbgrader cell metadata (Colab can do this when it "
            "saves). The grader will try to find your answers by position; to be safe, copy "
            "your answers into a fresh copy of the released notebook and submit that"
        )
    return None


def student_id(given=None, ask=input):
    """The student's id: ``given``, JupyterHub's user, the remembered one, or asked once."""
    for candidate, where in ((given, "--student"),
                             (os.environ.get("JUPYTERHUB_USER"), "$JUPYTERHUB_USER"),
                             (os.environ.get("NB_USER"), "$NB_USER")):
        if candidate:
            if not ID_RE.match(candidate):
                raise SystemExit(f"ERROR: {candidate!r} (from {where}) is not an id: letters, "
                                 "digits and _.@+- only")
            return candidate
    if REMEMBERED.is_file():
        remembered = REMEMBERED.read_text(encoding="utf-8").strip()
        if ID_RE.match(remembered):
            return remembered
    while True:
        answer = ask("Your student id (as your course knows you, e.g. your login): ").strip()
        if ID_RE.match(answer):
            REMEMBERED.write_text(answer + "\n", encoding="utf-8")
            return answer
        print("  letters, digits and _.@+- only, please")


def files_to_submit():
    files = []
    for name in NOTEBOOKS:
        path = HERE / name
        if path.is_file():
            files.append(path)
            warning = notebook_warning(path)
            if warning:
                print("WARNING:", warning)
        else:
            print(f"WARNING: {name} is missing; it will not be in the submission")
    package = HERE / "assignment"
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(HERE)
        if not SKIP.intersection(rel.parts) and path.is_file() and not path.is_symlink():
            files.append(path)
    if not any(p.parent == package for p in files):
        raise SystemExit(f"ERROR: no assignment/*.py found in {HERE}; run this in your "
                         "assignment folder (the one with the notebooks)")
    return files


def collect(student=None, dest=None, ask=input):
    """Write the submission zip into ``dest`` (default: this folder); return its path."""
    student = student_id(student, ask)
    files = files_to_submit()
    dest = Path(dest) if dest else HERE
    if not dest.is_dir():
        raise SystemExit(f"ERROR: {dest} is not a folder (for Colab: is Google Drive mounted, "
                         "and is the folder name right?)")
    out = dest / f"{ASSIGNMENT}_{student}.zip"
    partial = out.with_name(out.name + ".partial")
    identity = {"student": student, "assignment": ASSIGNMENT}
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(IDENTITY, json.dumps(identity, sort_keys=True) + "\n")
        for path in files:
            archive.write(path, path.relative_to(HERE).as_posix())
    os.replace(partial, out)
    print(f"Wrote {out} for student {student}, with {len(files)} files:")
    for path in files:
        print(f"  {path.relative_to(HERE).as_posix()}  ({path.stat().st_size} bytes)")
    print(f"Upload {out.name} where your course says.")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description="Zip your work for submission.")
    parser.add_argument("--student", help="your student id (default: asked once)")
    parser.add_argument("--dest", help="folder to write the zip into (default: here)")
    args = parser.parse_args(argv)
    collect(args.student, args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
