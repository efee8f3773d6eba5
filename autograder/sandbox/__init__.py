"""Run untrusted code in child processes, contained, and read plain arrays back.

The parent side: ``spawn`` (one untrusted script with limits, its own uid and namespaces),
``containment`` and ``cgroups`` (totals per job: memory, processes, disk, output), ``linux``
(the libc calls and flags both use), ``runner`` (probe calls in children; outcomes read back
as data only). ``inside/`` holds the child's own script, which imports only the standard
library and NumPy.
"""
