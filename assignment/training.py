# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/training.py by `make stubs`; edit the solution.
"""Training the models of ``nn.py`` (given code): the optimizers and the epoch loop.

``from assignment.nn import Adam, epoch_solver`` is the usual way in; the names live here so that
``nn.py`` stays about the layers and the model. The contract is IFT780's (Université de
Sherbrooke), whose notebooks call it unchanged::

    optimizer = Adam(1e-3, model)
    loss_history, train_accuracy_history, val_accuracy_history = epoch_solver(
        X_train, y_train, X_val, y_val, reg, optimizer, epochs=10, batch_size=50)
"""

from collections import namedtuple

import numpy as np

from . import optim

__all__ = ["Optimizer", "SGD", "Adam", "History", "accuracy", "epoch_solver"]


def accuracy(model, X, y, batch_size=1000):
    """Fraction of the examples of X (N, ...) whose predicted label is y (N,)."""
    return float(np.mean(model.predict(X, batch_size) == y))


# --------------------------------------------------------------------------------------------------
# Optimizers: the update rules of optim.py, one state per parameter
# --------------------------------------------------------------------------------------------------


class Optimizer:
    """Updates every parameter of ``model`` from the gradients its layers hold.

    ``step()`` is called after ``model.backward``; each parameter keeps its own state (Adam's
    moments and step count) under ``(layer name, param name)`` in ``self.state``. ``lr`` may be
    changed between steps (learning-rate decay).
    """

    def __init__(self, lr, model):
        self.lr = lr
        self.model = model
        self.state = {}

    def _defaults(self):
        return {}

    def _update(self, w, dw, config):
        raise NotImplementedError(f"{type(self).__name__} does not define an update rule")

    def step(self):
        for name, key, layer in self.model.parameters():
            if key not in layer.grads:
                raise KeyError(f"{type(self).__name__}.step: layer {name!r} has no gradient "
                               f"for {key!r}; run model.backward(dscores) before step()")
            config = self.state.setdefault((name, key), self._defaults())
            config["learning_rate"] = self.lr
            layer.params[key], self.state[(name, key)] = self._update(
                layer.params[key], layer.grads[key], config)


class SGD(Optimizer):
    """Plain stochastic gradient descent: ``w -= lr * dw`` (:func:`optim.sgd`)."""

    def _update(self, w, dw, config):
        return optim.sgd(w, dw, config)


class Adam(Optimizer):
    """Adam (:func:`optim.adam`: the step count is incremented before the bias corrections)."""

    def __init__(self, lr, model, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr, model)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def _defaults(self):
        return {"beta1": self.beta1, "beta2": self.beta2, "epsilon": self.eps}

    def _update(self, w, dw, config):
        return optim.adam(w, dw, config)


# --------------------------------------------------------------------------------------------------
# Training loop
# --------------------------------------------------------------------------------------------------

#: What `epoch_solver` returns: a tuple of three lists, also readable by name
#: (``history.loss``, ``history.train_acc``, ``history.val_acc``).
History = namedtuple("History", ["loss", "train_acc", "val_acc"])


def epoch_solver(X_train, y_train, X_val, y_val, reg, optimizer, lr_decay=1.0, epochs=10,
                 batch_size=100, verbose=True, *, num_train_samples=1000, seed=None):
    """Train ``optimizer.model`` for ``epochs`` passes over the training set.

    Inputs:
    - X_train (N, ...), y_train (N,): the training set; X_val (M, ...), y_val (M,): validation.
    - reg: the regularization strength given to ``model.calculate_loss``.
    - optimizer: an `Optimizer` (e.g. ``Adam(1e-3, model)``); its ``model`` is trained.
    - lr_decay: the learning rate is multiplied by this after every epoch.
    - epochs, batch_size: each epoch shuffles the training set and takes one optimizer step per
      full minibatch of ``batch_size`` examples (the leftover examples of the shuffle wait for
      the next epoch).
    - verbose: a progress bar and one line per epoch.
    - num_train_samples (keyword only): after each epoch the accuracy is measured in test mode on
      up to this many random training examples (None: all) and on the whole validation set.
    - seed (keyword only): seeds the shuffles and samples; None draws them from NumPy's global
      random state, so ``np.random.seed(...)`` before the call reproduces a run.

    Returns a `History`, a tuple ``(loss_history, train_accuracy_history,
    val_accuracy_history)``: one float per step, then one per epoch, twice.
    """
    from tqdm.auto import tqdm  # here, not at the top: the grader imports this module often

    model = optimizer.model
    rng = np.random.default_rng(seed) if seed is not None else np.random
    N = X_train.shape[0]
    if N == 0:
        raise ValueError("epoch_solver: the training set is empty")
    batch_size = min(batch_size, N)
    steps = N // batch_size
    history = History([], [], [])
    with tqdm(total=epochs * steps, desc="training", unit="step", disable=not verbose,
              leave=False) as bar:
        for epoch in range(1, epochs + 1):
            order = rng.permutation(N)
            for i in range(steps):
                batch = order[i * batch_size:(i + 1) * batch_size]
                scores = model.forward(X_train[batch], "train")
                loss, dscores, _ = model.calculate_loss(scores, y_train[batch], reg)
                model.backward(dscores)
                optimizer.step()
                history.loss.append(float(loss))
                bar.update()
                if i % 10 == 0:
                    bar.set_postfix(epoch=epoch, loss=f"{float(loss):.3f}")
            optimizer.lr *= lr_decay
            sample = np.arange(N)
            if num_train_samples is not None and num_train_samples < N:
                sample = rng.choice(N, num_train_samples, replace=False)
            history.train_acc.append(accuracy(model, X_train[sample], y_train[sample]))
            history.val_acc.append(accuracy(model, X_val, y_val))
            if verbose:
                bar.write(f"epoch {epoch}/{epochs}: loss {history.loss[-1]:.3f}, "
                          f"train acc {history.train_acc[-1]:.3f}, "
                          f"val acc {history.val_acc[-1]:.3f}")
    return history
