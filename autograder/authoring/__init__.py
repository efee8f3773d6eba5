"""Build what students and TAs get; runs on the instructor's machine, never on a submission.

``stubgen`` (``assignment/`` from ``solutions/``), ``release`` (the student release, nbgrader's
``generate_assignment`` and the scan that refuses a release with anything secret in it),
``instructor`` (the copy with solutions in place), ``course`` (the nbgrader course folder and
gradebook), ``templates/`` (files handed to students as they are).
"""
