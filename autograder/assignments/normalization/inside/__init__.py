"""The normalization assignment's code that runs INSIDE the sandboxed child (standard library and
NumPy only): ``probes`` (call the student's functions, collect arrays) and ``standins`` (trusted
answers for upstream tasks, so a downstream check is not charged for them)."""
