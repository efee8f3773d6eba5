"""One submission's way from a zip or folder to a `autograder.results.SubmissionResult`.

In the trusted parent. ``layouts`` (whose file is whose: plain, nbgrader, Canvas, Moodle),
``intake`` (safe unzip, notebooks, the student's package copied once, with the limits the child
gets), ``job`` (one submission in, a result out: plan, run the probes, judge), ``scheduler``
(where jobs run: this process, local worker processes, a Dask cluster).
"""
