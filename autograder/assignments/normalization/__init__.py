"""The normalization assignment (batch, layer and group norm; CS231n assignment 2's names).

``catalogue`` (its checks: ids, titles, points, cases, judges), ``seed_keys`` (the frozen seeds of
the checks' fresh inputs), ``inputs`` (the makers of fresh inputs and the table of hidden cases),
``reference`` (reference outputs: the probes run on ``solutions``), ``mistakes`` (named wrong
implementations, ``wrong``, to say which one a failure looks like), ``references.npz`` (hidden
inputs with their reference outputs), and ``inside/``: the probes and stand-ins that run in the
sandboxed child.
"""
