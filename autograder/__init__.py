"""normlab's instructor side: building the release, grading submissions, recording grades.

The modules by role (the trust boundary runs between the first group and all the others):

* **Run inside the sandbox**, beside the student's code (standard library and numpy only):
  ``child.py`` (the child's script), ``probes.py`` (what each call does with the student's
  package), ``standins.py`` (trusted stand-ins for upstream tasks; its recording half runs in the
  parent).
* **Start and contain the children**: ``sandbox.py`` (one untrusted script, with limits, uids and
  namespaces), ``containment.py`` and ``cgroups.py`` (totals per job), ``linux.py`` (the libc
  calls and flags both use), ``runner.py`` (probe calls in children, plain arrays back),
  ``scheduler.py`` (this process, workers or Dask).
* **Judge**, in the trusted parent: ``cases.py`` (the checks, their inputs and scoring),
  ``mistakes.py`` (named wrong implementations), ``references.py`` (the hidden reference cases),
  ``job.py`` (one submission in, a `results.SubmissionResult` out).
* **Take submissions in**: ``intake.py`` (safe unzip, notebooks), ``layouts.py`` (whose file is
  whose: plain, nbgrader, Canvas, Moodle).
* **Record and report**: ``recorder.py`` (the only writer of grades), ``journal.py``,
  ``feedback.py``, ``digest.py`` (what to fix first), ``results.py``, ``course.py`` (the
  nbgrader course and gradebook).
* **Build the release**: ``stubgen.py`` (assignment/ from solutions/), ``release.py`` (assemble
  and scan for leaks), ``instructor.py``, ``templates/`` (files handed to students).
* **Commands**: ``cli.py`` / ``__main__.py`` (``python -m autograder release|grade|check|
  formgrader``), ``demo.py``, ``formgrader.py``, ``student_check.py``; ``config.py`` reads
  ``release.toml``.
"""
