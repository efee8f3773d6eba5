# %% [preamble] What every lineage notebook starts with: test_lineages.py puts this cell first,
# where each course's notebook has its own first cell. Nothing here comes from a course's package
# (no import of theirs): CS231n's rel_error, which every course's notebook defines for itself,
# and the loop of CS231n's Dropout notebook that meets its published initial losses, which the
# lineages run with their own network and keyword (`make_model`).
import numpy as np


def rel_error(x, y):
    return np.max(np.abs(x - y) / (np.maximum(1e-8, np.abs(x) + np.abs(y))))


def check_initial_losses(make_model, published, gradients=None):
    """CS231n's gradient-check loop of FullyConnectedNet, with its published numbers.

    After np.random.seed(231): a batch X (2, 15) and labels y (2,) of 10 classes; then, for each
    key of `published` in order, model = make_model(key), whose initial loss on (X, y) must be
    published[key] to 1e-12 (each model draws its weights in turn, after the dropout seed of the
    one before reseeded np.random: the order is the notebook's). With `gradients` (a
    `eval_numerical_gradient`), every gradient must also match a numerical one to 1e-4.
    """
    np.random.seed(231)
    X = np.random.randn(2, 15)
    y = np.random.randint(10, size=(2,))
    for key, expected in published.items():
        model = make_model(key)
        loss, grads = model.loss(X, y)
        print(key, "initial loss:", loss)
        assert abs(loss - expected) < 1e-12, (key, loss, expected)
        for name in sorted(grads) if gradients else ():
            numeric = gradients(lambda _: model.loss(X, y)[0], model.params[name],
                                verbose=False, h=1e-5)
            assert rel_error(numeric, grads[name]) < 1e-4, (key, name)
