# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/ucla/nndl/__init__.py by `make stubs`; edit the solution.
"""UCLA's ``nndl`` package: the kit's layers and network with UCLA's conventions (given code)."""
