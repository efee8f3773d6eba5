"""The solution zipped, then cut to half its size."""

from tests.autograder.sandbox.adversarial.corpus import zip_folder


def build(folder, ctx):
    zip_path = zip_folder(folder, ctx.submissions / "zip_truncated.zip")
    data = zip_path.read_bytes()
    zip_path.write_bytes(data[: len(data) // 2])
    return zip_path
