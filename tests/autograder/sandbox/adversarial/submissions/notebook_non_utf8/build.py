"""A Latin-1 'é' and a stray 0xff byte in the notebook."""


def build(folder, ctx):
    path = folder / "BatchNormalization.ipynb"
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"cells"', b'"cells\xe9\xff"', 1))
    return folder
