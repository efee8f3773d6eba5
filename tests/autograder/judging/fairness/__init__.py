"""Single-bug submissions from an independent implementation: the fairness corpus (issue 10)."""
