"""The normalization assignment (batch, layer and group norm; CS231n assignment 2's names).

``mistakes`` (named wrong implementations, to say which one a failure looks like),
``references.npz`` (hidden inputs with their reference outputs), and ``inside/``: the probes
and stand-ins that run in the sandboxed child.
"""
