"""assignment/layers.py -> <repo>/solutions/layers.py: a grader that follows it grades the model
solution."""

import os


def build(folder, ctx):
    os.symlink(ctx.repo / "solutions" / "layers.py", folder / "assignment" / "layers.py")
    return folder
