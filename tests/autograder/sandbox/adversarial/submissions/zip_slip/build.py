"""The solution zipped as collect_submission.py does, plus ``../`` entries (zip slip)."""

import zipfile

from tests.autograder.sandbox.adversarial.corpus import zip_folder


def build(folder, ctx):
    zip_path = zip_folder(folder, ctx.submissions / "zip_slip.zip")
    with zipfile.ZipFile(zip_path, "a") as archive:
        archive.writestr("normalization/../../zip-slip-pwned.txt", "pwned\n")
        archive.writestr("../../../../../../tmp/normlab-zip-slip-pwned.txt", "pwned\n")
        archive.writestr("normalization/assignment/..\\..\\..\\zip-slip-pwned.py", "pwned\n")
    return zip_path
