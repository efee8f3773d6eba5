"""Four files of 80 MiB of zeros each: under the per-file cap, over the total cap."""

import zipfile

from tests.autograder.sandbox.adversarial.corpus import zip_folder

CHUNK = bytes(1 << 20)


def build(folder, ctx):
    zip_path = zip_folder(folder, ctx.submissions / "zip_bomb.zip")
    with zipfile.ZipFile(zip_path, "a", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=1) as archive:
        for i in range(4):
            with archive.open(f"normalization/bomb{i}.npy", "w", force_zip64=True) as fh:
                for _ in range(80):
                    fh.write(CHUNK)
    return zip_path
