"""UCLA's ``utils`` package: the kit's data loading, gradient checks and solver (given code)."""
