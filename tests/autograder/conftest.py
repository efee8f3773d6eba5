"""Fixtures of the grader tests: the gradebook of the small released notebook
(tests/support/released_notebook.py), made once per session, and a course folder per test."""

from __future__ import annotations

import pytest

from tests.support.grading_fixtures import make_course, make_gradebook


@pytest.fixture(scope="session")
def template_gradebook(tmp_path_factory):
    """The path of a gradebook holding the released notebook's cells, as generate_assignment
    stores them. Made once per session (nbgrader takes several seconds to create a gradebook: it
    runs alembic in a subprocess); copy it, as `make_course` does, and never write to it."""
    return make_gradebook(tmp_path_factory.mktemp("grade-loop-template") / "gradebook.db")


@pytest.fixture
def course(tmp_path, template_gradebook):
    """A course folder, tmp_path/course, with a copy of the template gradebook and the released
    notebook."""
    return make_course(tmp_path / "course", template_gradebook)
