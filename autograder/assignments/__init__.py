"""The assignments the grader knows, one folder each: everything specific to that assignment."""
