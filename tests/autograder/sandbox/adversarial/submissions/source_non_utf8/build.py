"""A string literal in Latin-1: Python refuses the whole file. (A Latin-1 byte in a comment
is accepted by the import system, so it would prove nothing.)"""


def build(folder, ctx):
    path = folder / "assignment" / "layers.py"
    path.write_bytes(path.read_bytes() + b'\n_GREETING = "caf\xe9 cr\xe8me"\n')
    return folder
