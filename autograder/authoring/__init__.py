"""Build what students and TAs get; runs on the instructor's machine, never on a submission.

``regions`` (where the solution regions of ``solutions/`` are), ``stubgen`` (``assignment/`` from
``solutions/``), ``release`` (the student release and nbgrader's ``generate_assignment``),
``leaks`` (the scan that refuses a release with anything secret in it), ``instructor`` (the copy
with solutions in place), ``course`` (the nbgrader course folder and gradebook), ``templates/``
(the files written from text: the student README and ``collect_submission.py``, the course's
``nbgrader_config.py``, the instructor copy's README).
"""

from pathlib import Path

#: The files the authoring modules write from text, with the values filled in.
TEMPLATES = Path(__file__).resolve().parent / "templates"
