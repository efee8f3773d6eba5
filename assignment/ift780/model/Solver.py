# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/ift780/model/Solver.py by `make stubs`; edit the solution.
"""``model.Solver`` -> ``assignment.ift780.model.Solver``: the kit's optimizers and training loop.

Given code (``training.py``): ``optimizer = Adam(1e-3, model)``, then ``loss_history,
train_accuracy_history, val_accuracy_history = epoch_solver(X_train, y_train, X_val, y_val, reg,
optimizer, epochs=10, batch_size=50)``.
"""

from ...training import SGD, Adam, History, Optimizer, accuracy, epoch_solver

__all__ = ["SGD", "Adam", "History", "Optimizer", "accuracy", "epoch_solver"]
