# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/ift780/model/Model.py by `make stubs`; edit the solution.
"""``model.Model`` -> ``assignment.ift780.model.Model``: the kit's :class:`nn.Model` (given code).

``model.add(layer, 'name')``, ``model.add_loss(cross_entropy_loss)``, ``model.forward(X)``,
``model.forward(X, mode="test")``, ``loss, dScores, _ = model.calculate_loss(scores, y, reg)``
and ``dX = model.backward(dScores)``.
"""

from ...nn import Model

__all__ = ["Model"]
