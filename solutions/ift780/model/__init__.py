"""IFT780's ``model`` package: ``Model`` and the training loop (given code)."""
