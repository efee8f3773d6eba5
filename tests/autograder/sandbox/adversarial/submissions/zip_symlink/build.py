"""Symbolic-link entries: unpacked naively they would hand the grader the model solution."""

import stat
import zipfile

from tests.autograder.sandbox.adversarial.corpus import zip_folder


def _link(archive, name, target):
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix, so that external_attr carries the file type
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive.writestr(info, target)


def build(folder, ctx):
    zip_path = zip_folder(folder, ctx.submissions / "zip_symlink.zip")
    with zipfile.ZipFile(zip_path, "a") as archive:
        _link(archive, "normalization/assignment/layers.py", f"{ctx.repo}/solutions/layers.py")
        _link(archive, "normalization/assignment/extra.py", "../../../../../../etc/passwd")
    return zip_path
