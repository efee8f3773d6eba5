"""Notebooks of our own, in the style of each course lineage, with the courses' import lines
(README, "Porting a course"): `tests/solutions/test_lineages.py` rewrites those lines with the
README's table and runs every cell in a Jupyter kernel, after the cell of `preamble.py` (what
they share, none of it a course's import). Cells start at ``# %%`` lines."""
