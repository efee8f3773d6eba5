"""One submission's way from a zip or folder to a `autograder.results.SubmissionResult`.

In the trusted parent. ``pipeline`` (one grading run as a declared list of stages: discover ->
journal skip -> intake -> the job on a backend -> record), ``layouts`` (whose file is whose:
plain, nbgrader, Canvas, Moodle), ``intake`` (safe unzip; the one copy of the student's package,
with the limits the child gets), ``notebooks`` (the submitted notebooks read, validated and
matched to the release), ``job`` (one submission in, a result out: plan, run the probes, judge),
``scheduler`` (`run_job`, the one job entry every backend calls, and the serial backend),
``workers`` (local worker processes) and ``dask_backend`` (a Dask cluster).
"""
