"""Points from arrays, in the trusted parent: what to call, what the right answer is, how to score.

``compare`` (array comparison and its messages, the tolerances), ``checks`` (the `Check`,
`CaseSpec`, `Case` and `Part` types), ``judges`` (reference, numerical-gradient, statistics and
init judges), ``plan`` (selecting checks with ``[points]``, planning one run's inputs, scoring),
``references`` (the hidden reference cases: reading, regenerating and verifying the file) and
``assignment`` (the one seam to ``autograder/assignments/<name>/``: its catalogue, inputs,
reference outputs and mistakes; nothing else here imports an assignment).
"""
