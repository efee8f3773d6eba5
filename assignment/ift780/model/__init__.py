# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/ift780/model/__init__.py by `make stubs`; edit the solution.
"""IFT780's ``model`` package: ``Model`` and the training loop (given code)."""
