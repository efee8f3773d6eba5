"""``utils.gradients`` -> ``assignment.ift780.utils.gradients``: ``evaluate_numerical_gradient``.

Given code, over the kit's ``gradient_check.eval_numerical_gradient``.
"""

from ...gradient_check import eval_numerical_gradient

__all__ = ["evaluate_numerical_gradient"]


def evaluate_numerical_gradient(X, y, model, layer_name, param_name, reg=0.0, h=1e-5, **kwargs):
    """Numerical gradient of the model's loss with respect to one parameter of one layer.

    Inputs:
    - X (N, ...), y (N,): the data and labels the loss is computed on.
    - model: a ``Model`` with its loss set (``add_loss``).
    - layer_name, param_name: which array, ``model.layers[layer_name].params[param_name]`` (e.g.
      ``'dense1'``, ``'W'``).
    - reg: the regularization strength given to ``calculate_loss``.
    - h: the step of the centered differences.
    - kwargs: passed to ``model.forward`` (e.g. ``mode='train'``).

    Returns an array of the parameter's shape: ``d loss / d param``, each element from
    ``(loss(p + h) - loss(p - h)) / (2h)``, with the loss of ``calculate_loss(forward(X), y,
    reg)``. The parameter is unchanged afterwards.
    """
    param = model.layers[layer_name].params[param_name]

    def loss(_):
        return model.calculate_loss(model.forward(X, **kwargs), y, reg)[0]

    return eval_numerical_gradient(loss, param, verbose=False, h=h)
