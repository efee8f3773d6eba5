"""The only writers of grades and of what students and TAs read; in the trusted parent.

``recorder`` (grades.csv, results.json, feedback.html, the gradebook), ``journal`` (which
outputs are complete, so an interrupted run resumes), ``feedback`` and ``digest`` (the pages and
what to fix first), ``render`` (how a check result becomes text, for every one of them),
``summary`` (what the grade command prints: "Fix first" per student and the grade table),
``formgrader`` (nbgrader's formgrader for the TAs, in one command).
"""
