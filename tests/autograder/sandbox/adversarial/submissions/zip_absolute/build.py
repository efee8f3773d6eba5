"""The solution zipped, plus entries with absolute names (zipfile would strip the slash; a
hand-made ZipInfo keeps it)."""

import zipfile

from tests.autograder.sandbox.adversarial.corpus import zip_folder


def build(folder, ctx):
    zip_path = zip_folder(folder, ctx.submissions / "zip_absolute.zip")
    with zipfile.ZipFile(zip_path, "a") as archive:
        for name in ("/tmp/normlab-zip-absolute-pwned.txt", f"{ctx.out}/pwned-zip-absolute.txt",
                     "C:/normlab-zip-absolute-pwned.txt"):
            info = zipfile.ZipInfo("placeholder")
            info.filename = name  # ZipInfo(name) would drop the leading slash
            archive.writestr(info, "pwned\n")
    return zip_path
