"""Points from arrays, in the trusted parent: what to call, what the right answer is, how to score.

``cases`` (comparisons, judges, plans of inputs, the check catalogue) and ``references`` (the
hidden reference cases, regenerated from ``solutions/`` and verified).
"""
