"""normlab's instructor side: build the release, grade the submissions, record the grades.

One subpackage per stage, and the trust boundary in the names (a folder called ``inside/`` holds
the only code that runs in a sandboxed child, beside the student's; it imports nothing but the
standard library and NumPy; everything else runs in the trusted parent):

* ``authoring/`` builds what students get: ``assignment/`` from ``solutions/``, the release and
  its leak scan, the instructor copy, the nbgrader course, the files handed out (``templates/``).
* ``grading/`` takes one submission from a zip or folder to a `results.SubmissionResult`:
  the pipeline of one grading run, intake (the only code that copies a submission), the
  notebooks, the job, and where jobs run (this process, worker processes, Dask).
* ``sandbox/`` starts and contains the children (uids, namespaces, mounts, cgroups, limits),
  runs probe calls in them and reads plain arrays back; ``sandbox/inside/child.py`` is the
  child's script.
* ``judging/`` decides points from the arrays: comparisons, judges, plans of inputs, the hidden
  references.
* ``assignments/<name>/`` is everything specific to one assignment: its checks, input makers,
  named mistakes, reference data, and (``inside/``) the probes and stand-ins the child runs.
* ``recording/`` is the only writer of grades and feedback: recorder, journal, feedback pages,
  what to fix first, the formgrader command for TAs.

Beside them: ``cli.py`` / ``__main__.py`` (``python -m autograder release|grade|check|
formgrader``), ``demo.py``, ``student_check.py``, ``config.py`` (reads ``release.toml``) and
``results.py`` (the plain-data results every stage passes on). CONTRIBUTING.md follows one
submission through them.
"""
