"""The machinery and the per-topic parts of the self-checks; use them through ``checks.py``.

``core`` holds the reports, the steps and how a task's check learns that a task it builds on
fails its own check; ``batchnorm``, ``layernorm``, ``conv``, ``networks``, ``objects`` and
``conventions`` hold the checks of the tasks, one module per part of the assignment.
"""
