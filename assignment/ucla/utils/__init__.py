# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/ucla/utils/__init__.py by `make stubs`; edit the solution.
"""UCLA's ``utils`` package: the kit's data loading, gradient checks and solver (given code)."""
