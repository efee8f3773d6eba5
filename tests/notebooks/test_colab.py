"""The student's whole path in Google Colab and on JupyterHub, without Colab or a network.

The setup and submission cells of a real release (``build_release``, nbgrader included) are
EXECUTED in a fresh kernel (nbclient), as a student runs them:

* **Colab**: a stand-in ``google.colab`` package is on the kernel's path and imported at kernel
  start (an IPython startup file), as Colab does. Its ``drive.mount(path)`` makes
  ``<path>/MyDrive`` a link to a temporary "Drive" that holds a copy of the release folder
  under the README's DRIVE_FOLDER example. The only change to the cells is the mount point
  (``/content/drive`` becomes a temporary folder) and the two variables a student sets,
  ``DRIVE_FOLDER`` and ``STUDENT_ID``. The submission zip must land in the Drive folder with
  the notebooks, ``assignment/*.py`` and the identity the grader reads; a wrong DRIVE_FOLDER
  must fail with a message that names what the Drive holds.
* **Jupyter / JupyterHub**: the submission cell prints a command; running that exact command in
  a shell writes the zip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.authoring.release import build_release
from autograder.config import load_config
from autograder.grading.layouts import IDENTITY_FILE, recorded_id
from tests.support.notebooks import errors_of, text_of

CONFIG = load_config()
#: The DRIVE_FOLDER of the README's and the notebooks' example: the release folder's name.
FOLDER = f"cs231n/{CONFIG.assignment}"
STUDENT = "s1234567"
MOUNT = 'Path("/content/drive")'  # the one place the setup cell names Colab's mount point
CELL_TIMEOUT = 120

GOOGLE_COLAB_DRIVE = '''"""Stand-in for google.colab.drive: mount() links <mountpoint>/MyDrive to
$NORMLAB_TEST_DRIVE, a folder the test filled."""
import os
from pathlib import Path


def mount(mountpoint, force_remount=False, timeout_ms=120000, readonly=False):
    link = Path(mountpoint) / "MyDrive"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(os.environ["NORMLAB_TEST_DRIVE"], target_is_directory=True)
    print(f"Mounted at {mountpoint}")
'''


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    base = tmp_path_factory.mktemp("release")
    return build_release(CONFIG, base / "release", base / "course", log=lambda *a: None).tree


@pytest.fixture(scope="module")
def fake_colab(tmp_path_factory):
    """(the folder to put on PYTHONPATH, an IPYTHONDIR whose startup imports google.colab)."""
    base = tmp_path_factory.mktemp("colab")
    package = base / "path" / "google" / "colab"  # google/ stays a namespace package
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Stand-in for Google Colab\'s package."""\n')
    (package / "drive.py").write_text(GOOGLE_COLAB_DRIVE)
    startup = base / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text("import google.colab  # as Colab's kernel does\n")
    return base / "path", base / "ipython"


def released_cells(release, *cell_ids):
    nb = nbformat.read(release / CONFIG.notebooks[0], as_version=4)
    by_id = {c.id: c for c in nb.cells}
    return [by_id[cell_id] for cell_id in cell_ids]


def run_cells(cells, cwd, monkeypatch, **replace):
    """Execute ``cells`` in a fresh kernel started in ``cwd``; ``replace`` maps a text of the
    cells to what it becomes (what a student types). Returns the executed cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                  "language": "python"}}
    for cell in cells:
        source = cell.source
        for old, new in replace.items():
            if old in source:
                assert source.count(old) == 1, old
                source = source.replace(old, new)
        nb.cells.append(nbformat.v4.new_code_cell(source))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb.cells


def colab(tmp_path, monkeypatch, fake_colab, drive):
    """Start the kernel like Colab's: google.colab imported, working folder /content."""
    path, ipython_dir = fake_colab
    monkeypatch.setenv("PYTHONPATH", str(path))
    monkeypatch.setenv("IPYTHONDIR", str(ipython_dir))
    monkeypatch.setenv("NORMLAB_TEST_DRIVE", str(drive))
    for name in ("JUPYTERHUB_USER", "NB_USER"):
        monkeypatch.delenv(name, raising=False)
    content = tmp_path / "content"
    (content / "sample_data").mkdir(parents=True)
    return content


def drive_with_the_release(tmp_path, release):
    """A Drive that holds the release folder as My Drive/<FOLDER> (data already downloaded)."""
    drive = tmp_path / "drive"
    kit = drive / FOLDER
    shutil.copytree(release, kit)
    cifar = kit / "datasets" / "cifar-10-batches-py"
    cifar.mkdir()
    (cifar / "batches.meta").write_bytes(b"")  # as if downloaded: the setup cell downloads nothing
    return drive, kit


@pytest.mark.slow
def test_in_colab_the_last_cell_writes_the_zip_into_the_drive_folder(tmp_path, monkeypatch,
                                                                     release, fake_colab):
    drive, kit = drive_with_the_release(tmp_path, release)
    content = colab(tmp_path, monkeypatch, fake_colab, drive)
    setup, submit = run_cells(
        released_cells(release, "setup", "submit"), content, monkeypatch,
        **{MOUNT: f"Path({str(tmp_path / 'mnt' / 'drive')!r})",
           "DRIVE_FOLDER = None": f"DRIVE_FOLDER = {FOLDER!r}",
           'STUDENT_ID = ""': f"STUDENT_ID = {STUDENT!r}"})
    assert not errors_of(setup), errors_of(setup)
    assert f"Kit folder: My Drive/{FOLDER} (Google Colab)" in text_of(setup)
    assert not errors_of(submit), errors_of(submit)

    zip_name = f"{CONFIG.assignment}_{STUDENT}.zip"
    assert f"Your submission is in your Google Drive: My Drive/{FOLDER}/{zip_name}" in text_of(
        submit)
    assert [p.name for p in kit.glob("*.zip")] == [zip_name]  # on the Drive, nowhere else
    assert not list(content.rglob("*.zip"))
    with zipfile.ZipFile(kit / zip_name) as archive:
        names = sorted(archive.namelist())
        identity = json.loads(archive.read(IDENTITY_FILE))
    stubs = sorted(p.relative_to(release).as_posix()
                   for p in (release / "assignment").rglob("*.py"))
    assert names == sorted([*CONFIG.notebooks, *stubs, IDENTITY_FILE])
    assert identity == {"student": STUDENT, "assignment": CONFIG.assignment}
    assert recorded_id(kit / zip_name) == STUDENT  # what the grader reads back
    assert "WARNING" not in text_of(submit)


@pytest.mark.slow
def test_in_colab_a_wrong_drive_folder_names_what_the_drive_holds(tmp_path, monkeypatch, release,
                                                                   fake_colab):
    drive, kit = drive_with_the_release(tmp_path, release)
    (drive / "cs231n" / "old-homework").mkdir()
    (drive / "uploads").mkdir()
    shutil.make_archive(str(drive / "uploads" / CONFIG.assignment), "zip", release.parent,
                        release.name)
    content = colab(tmp_path, monkeypatch, fake_colab, drive)
    mount = {MOUNT: f"Path({str(tmp_path / 'mnt' / 'drive')!r})"}
    [setup] = released_cells(release, "setup")
    cases = {
        # A folder that does not exist: the nearest one that does, what it holds, the fix.
        "cs231n/normlab": (f"My Drive/cs231n/normlab does not exist; My Drive/cs231n holds "
                           f"{CONFIG.assignment}/, old-homework/. The kit folder is "
                           f"My Drive/{FOLDER}: set DRIVE_FOLDER = {FOLDER!r}"),
        # The folder above the kit.
        "cs231n": (f"My Drive/cs231n holds no assignment/ folder; it holds {CONFIG.assignment}/, "
                   f"old-homework/. The kit folder is My Drive/{FOLDER}"),
        # The zip uploaded instead of the folder.
        f"uploads/{CONFIG.assignment}": (
            f"My Drive/uploads/{CONFIG.assignment} does not exist; My Drive/uploads holds "
            f"{CONFIG.assignment}.zip. Drive does not unzip"),
    }
    for folder, expected in cases.items():
        [cell] = run_cells([setup], content, monkeypatch,
                           **mount, **{"DRIVE_FOLDER = None": f"DRIVE_FOLDER = {folder!r}"})
        [error] = errors_of(cell)
        assert error.ename == "FileNotFoundError", error
        assert error.evalue.startswith(f"DRIVE_FOLDER = {folder!r} is not the kit folder ("), (
            error.evalue)
        assert expected in error.evalue, error.evalue
        assert "notebooks/" not in error.evalue
    # The path pasted from Colab's file browser works as well as the path inside My Drive.
    pasted = f"/content/drive/MyDrive/{FOLDER}"
    [cell] = run_cells([setup], content, monkeypatch, **mount,
                       **{"DRIVE_FOLDER = None": f"DRIVE_FOLDER = {pasted!r}"})
    assert not errors_of(cell) and f"Kit folder: My Drive/{FOLDER}" in text_of(cell)
    # Without DRIVE_FOLDER the kit is looked for in Colab's working folder: the error says
    # what that folder holds and what to set.
    [cell] = run_cells([setup], content, monkeypatch, **mount)
    [error] = errors_of(cell)
    assert f"{content} holds sample_data/." in error.evalue
    assert "Set DRIVE_FOLDER above" in error.evalue and "notebooks/" not in error.evalue


@pytest.mark.slow
def test_on_jupyter_the_last_cell_prints_the_command_that_writes_the_zip(tmp_path, monkeypatch,
                                                                         release):
    kit = tmp_path / "home" / CONFIG.assignment
    shutil.copytree(release, kit)
    for name in ("JUPYTERHUB_USER", "NB_USER"):
        monkeypatch.delenv(name, raising=False)
    cells = released_cells(release, "setup", "submit")
    setup, submit = run_cells(cells, kit, monkeypatch,
                              **{'STUDENT_ID = ""': f"STUDENT_ID = {STUDENT!r}"})
    assert not errors_of(setup) and not errors_of(submit), errors_of(setup) + errors_of(submit)
    assert f"Kit folder: {kit.resolve()}" in text_of(setup)
    [command] = [line.strip() for line in text_of(submit).splitlines()
                 if "collect_submission.py" in line]
    assert command == f"cd {kit.resolve()} && python collect_submission.py --student {STUDENT}"
    assert not list(kit.glob("*.zip"))  # the cell itself writes nothing
    bin_dir = tmp_path / "bin"  # a terminal whose `python` is this Python
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert recorded_id(kit / f"{CONFIG.assignment}_{STUDENT}.zip") == STUDENT

    # On JupyterHub (STUDENT_ID left empty) the command takes the id from the hub.
    monkeypatch.setenv("JUPYTERHUB_USER", "jdoe")
    [submit] = run_cells([cells[0], cells[1]], kit, monkeypatch)[1:]
    [command] = [line.strip() for line in text_of(submit).splitlines()
                 if "collect_submission.py" in line]
    assert command == f"cd {kit.resolve()} && python collect_submission.py"
    proc = subprocess.run(["bash", "-c", command], env={**env, "JUPYTERHUB_USER": "jdoe"},
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert recorded_id(kit / f"{CONFIG.assignment}_jdoe.zip") == "jdoe"


@pytest.mark.slow
def test_outside_the_kit_the_setup_error_names_what_is_there(tmp_path, monkeypatch, release):
    elsewhere = tmp_path / "Downloads"
    (elsewhere / f"{CONFIG.assignment}.zip").parent.mkdir()
    (elsewhere / f"{CONFIG.assignment}.zip").write_bytes(b"")
    [cell] = run_cells(released_cells(release, "setup"), elsewhere, monkeypatch)
    [error] = errors_of(cell)
    assert error.ename == "FileNotFoundError"
    assert f"is not {elsewhere} or a folder above it; {elsewhere} holds " \
           f"{CONFIG.assignment}.zip. Start Jupyter in the kit folder" in error.evalue
    assert "notebooks/" not in error.evalue
