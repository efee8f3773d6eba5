"""Maintainers' tools that are neither part of the kit nor tests (see each module's docstring)."""
