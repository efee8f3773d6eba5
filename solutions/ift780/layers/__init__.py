"""IFT780's ``layers`` package: one module per layer class (given code)."""
