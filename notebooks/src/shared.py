# The cells several notebooks share (setup, data, submission), included by them with
# `# %% <id> include="shared"`.
# jupytext py:percent: a cell is `# %% <cell id>` (`[markdown]` for text), its metadata in the
# header. Edit here, then run `python notebooks/build.py`, which says what it adds.

# %% setup-md [markdown]
# ## Setup
#
# Run the next cell first; it is safe to run it again.
#
# * **On your own machine or on JupyterHub** it finds the kit folder (the folder you unpacked:
#   it holds `assignment/`, `datasets/` and the notebooks) by looking in the current folder
#   and its parents, puts it on Python's path and turns on automatic reloading of your edited
#   modules.
# * **In Google Colab** upload the kit folder to your Google Drive and set `DRIVE_FOLDER` to its
#   path inside "My Drive", e.g. `"@@DRIVE_EXAMPLE@@"`. The cell mounts your Drive, moves into the
#   kit folder, installs whatever the kit needs that Colab lacks and downloads CIFAR-10 with
#   `datasets/get_datasets.sh` (once). If the folder is not there, it says what your Drive
#   holds instead.

# %% setup
# Setup: works in Google Colab and on your own machine; running it twice does no harm.
import os
import subprocess
import sys
from pathlib import Path

# Google Colab only: the kit's folder inside "My Drive" (the folder with assignment/).
DRIVE_FOLDER = None  # e.g. "@@DRIVE_EXAMPLE@@"

# FAST mode: NORMLAB_FAST=1 in the environment (or FAST = True here) shrinks every experiment.
FAST = os.environ.get("NORMLAB_FAST", "0") not in ("", "0")

IN_COLAB = "google.colab" in sys.modules
KIT_DESCRIPTION = "the folder you unpacked, with assignment/, datasets/ and the notebooks"


def find_kit_root(start):
    """The nearest folder at or above `start` that holds assignment/__init__.py, or None."""
    for folder in (start, *start.parents):
        if (folder / "assignment" / "__init__.py").is_file():
            return folder
    return None


def listing(folder, limit=12):
    """What `folder` holds, for a message: its names, folders with a trailing /."""
    try:
        names = sorted(p.name + "/" * p.is_dir() for p in folder.iterdir()
                       if not p.name.startswith("."))
    except OSError:
        return "nothing that can be read"
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more if names else "nothing"


def drive_folder_problem(my_drive, folder):
    """Why "My Drive/<folder>" is not the kit folder, naming what the Drive holds instead."""
    def shown(path):
        return "/".join(["My Drive", *path.relative_to(my_drive).parts])

    target = my_drive / folder
    existing = target
    while not existing.is_dir() and existing != my_drive:
        existing = existing.parent
    if existing == target:
        problem = f"{shown(target)} holds no assignment/ folder; it holds {listing(target)}."
    else:
        problem = (f"{shown(target)} does not exist; {shown(existing)} holds "
                   f"{listing(existing)}.")
    kits = sorted(p.parent.parent for pattern in ("*/assignment/__init__.py",
                                                  "*/*/assignment/__init__.py")
                  for p in existing.glob(pattern))
    if kits:
        found = kits[0].relative_to(my_drive).as_posix()
        problem += (f" The kit folder is {shown(kits[0])}: set DRIVE_FOLDER = {found!r} and "
                    "run this cell again.")
    elif any(existing.glob("*.zip")):
        problem += (" Drive does not unzip: unzip the kit on your computer and upload the "
                    "folder.")
    return problem


def install_missing(requirements):
    """pip-install the lines of requirements.txt whose package is not installed at all."""
    from importlib.metadata import PackageNotFoundError, version

    missing = []
    for line in requirements.read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if not spec:
            continue
        name = spec.split(";")[0].split("[")[0]
        for sep in "<>=!~ ":
            name = name.split(sep)[0]
        try:
            version(name)
        except PackageNotFoundError:
            missing.append(spec)
    if missing:
        print("Installing:", ", ".join(missing))
        pip = [sys.executable, "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, *missing], check=True)


KIT_IN_DRIVE = None  # "My Drive/<folder>" when the kit is on Google Drive
if IN_COLAB and DRIVE_FOLDER is not None:
    from google.colab import drive

    mount = Path("/content/drive")
    drive.mount(str(mount))
    my_drive = mount / "MyDrive"
    folder = DRIVE_FOLDER.strip("/")
    for prefix in ("content/drive/", "MyDrive/", "My Drive/"):
        folder = folder[len(prefix):] if folder.startswith(prefix) else folder
    kit_root = my_drive / folder
    if not (kit_root / "assignment" / "__init__.py").is_file():
        raise FileNotFoundError(
            f"DRIVE_FOLDER = {DRIVE_FOLDER!r} is not the kit folder ({KIT_DESCRIPTION}): "
            + drive_folder_problem(my_drive, folder))
    KIT_IN_DRIVE = "/".join(["My Drive", *Path(folder).parts])
else:
    if IN_COLAB:
        print("DRIVE_FOLDER is not set, so nothing you change will be kept after this session. "
              "Upload the kit folder to your Google Drive, set DRIVE_FOLDER above to its path "
              "inside My Drive and run this cell again. For now the kit is looked for in "
              f"the Colab working folder, {os.getcwd()}.")
    kit_root = find_kit_root(Path.cwd())
    if kit_root is None:
        raise FileNotFoundError(
            f"The kit folder ({KIT_DESCRIPTION}) is not {Path.cwd()} or a folder above it; "
            f"{Path.cwd()} holds {listing(Path.cwd())}. "
            + ("Set DRIVE_FOLDER above to the kit's folder inside My Drive." if IN_COLAB else
               "Start Jupyter in the kit folder, or open the notebook that is in it.")
        )

KIT_ROOT = kit_root.resolve()
if str(KIT_ROOT) not in sys.path:
    sys.path.insert(0, str(KIT_ROOT))

if IN_COLAB:
    os.chdir(KIT_ROOT)
    install_missing(KIT_ROOT / "requirements.txt")
    if not (KIT_ROOT / "datasets" / "cifar-10-batches-py" / "batches.meta").is_file():
        download = subprocess.run(["bash", "datasets/get_datasets.sh"], check=False)
        if download.returncode != 0:
            print("The CIFAR-10 download failed; the notebook will use the synthetic set.")

# Reload edited modules in assignment/ automatically before each cell runs.
ipython = get_ipython()
if not any(name.endswith("autoreload") for name in ipython.extension_manager.loaded):
    ipython.run_line_magic("load_ext", "autoreload")
ipython.run_line_magic("autoreload", "2")

print(f"Kit folder: {KIT_IN_DRIVE or KIT_ROOT}" + (" (Google Colab)" if IN_COLAB else ""))
print(f"FAST mode: {'on: experiments are shrunk' if FAST else 'off'}")

# %% data-md [markdown]
# ## The data
#
# The experiments use CIFAR-10: 32x32 colour images of ten classes. If you ran
# `bash datasets/get_datasets.sh`, the real data set is used. If not, a small **synthetic**
# stand-in in the same format is written and used instead, and the next cell says so: the
# code runs the same way, but accuracies on the synthetic set tell you nothing about CIFAR-10,
# so get the real data before you answer the questions.

# %% data
# CIFAR-10 split into training, validation and test images (fewer in FAST mode and with the
# synthetic stand-in): load_data of assignment/experiments.py, which says what it loaded.
from assignment.experiments import load_data

data = load_data("CIFAR-10", fast=FAST)

# %% submit-md [markdown]
# ## Submitting
#
# When you are done with all the notebooks, save them (File → Save) and run the next cell.
# In whichever notebook you run it, it makes the one zip of your work,
# `@@ASSIGNMENT@@_<your id>.zip`, with every notebook of the assignment and your
# `assignment/*.py`:
#
# * **In Google Colab** it writes the zip into your Drive folder (the one `DRIVE_FOLDER` names)
#   and says where. Set `STUDENT_ID` to your id first, or type it when you are asked.
# * **On your own machine or on JupyterHub** it prints the command to run in a terminal in the
#   kit folder, `python collect_submission.py --student YOUR_ID` (on JupyterHub your id is
#   taken from the hub).
#
# Then upload the zip where your course says.

# %% submit
# Submitting: save your notebooks first. Your id as your course knows you (e.g. your login);
# left empty, you are asked for it once.
STUDENT_ID = ""

if not (KIT_ROOT / "collect_submission.py").is_file():
    print(f"{KIT_ROOT} has no collect_submission.py: it is not a student's copy of the "
          "assignment, so there is nothing to submit from here.")
elif IN_COLAB:
    from collect_submission import collect

    submission = collect(student=STUDENT_ID or None, dest=KIT_ROOT)
    if KIT_IN_DRIVE:
        print(f"Your submission is in your Google Drive: {KIT_IN_DRIVE}/{submission.name}")
    else:
        print(f"{submission} is NOT on your Google Drive (DRIVE_FOLDER is not set) and is "
              "deleted when this session ends: download it now from the Files panel.")
else:
    import shlex

    if os.name == "nt":
        command = f'cd /d "{KIT_ROOT}" && python collect_submission.py'
    else:
        command = f"cd {shlex.quote(str(KIT_ROOT))} && python collect_submission.py"
    if STUDENT_ID:
        command += f" --student {shlex.quote(STUDENT_ID)}"
    print("To submit, run this in a terminal (on JupyterHub: File > New > Terminal):")
    print(f"    {command}")
    print("It writes @@ASSIGNMENT@@_<your id>.zip into the kit folder and lists what is in it.")
