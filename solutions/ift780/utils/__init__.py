"""IFT780's ``utils`` package: the loss, the numerical gradient and the data loader (given code)."""
