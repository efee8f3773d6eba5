# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/ift780/layers/__init__.py by `make stubs`; edit the solution.
"""IFT780's ``layers`` package: one module per layer class (given code)."""
