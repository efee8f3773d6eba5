"""``utils.model_loss`` -> ``assignment.ift780.utils.model_loss``: ``cross_entropy_loss``.

Given code: the softmax cross-entropy of ``layers.softmax_loss``, returning IFT780's three values.
"""

import numpy as np

from ...layers import softmax_loss

__all__ = ["cross_entropy_loss"]


def cross_entropy_loss(scores, t, reg=0.0, model_params=None):
    """Softmax cross-entropy of class scores, averaged over the minibatch.

    Inputs:
    - scores: (N, C) class scores.
    - t: (N,) integer labels, 0 <= t[i] < C.
    - reg, model_params: optional L2 term ``0.5 * reg * sum(W ** 2)``, summed over the ``"W"``
      arrays of ``model_params``, a dict mapping each layer's name to its params dict (e.g.
      ``{name: layer.params for name, layer in model.layers.items()}``). Only weight matrices
      count, as in ``Model.calculate_loss``, which calls this function with neither argument and
      adds the term itself.

    Returns ``(loss, dScores, softmax_output)``: the scalar loss, its gradient with respect to
    the scores (N, C) (of the data loss only) and the softmax probabilities (N, C).
    """
    scores = np.asarray(scores)
    loss, dscores = softmax_loss(scores, t)
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    if reg and model_params:
        loss += 0.5 * reg * sum(float(np.sum(params["W"] ** 2))
                                for params in model_params.values() if "W" in params)
    return loss, dscores, probs
