# Written by `python -m autograder release`; nbgrader and formgrader read it when
# started in this folder (`python -m autograder formgrader` starts formgrader).
#
# Grades of the code come from `python -m autograder grade`, which runs student code
# in a sandbox. Do NOT run `nbgrader autograde` on student notebooks: it executes
# them with your permissions (student code can rewrite this gradebook), and it
# would copy source/ files over the submissions.
c = get_config()  # noqa: F821
c.CourseDirectory.root = "@@ROOT@@"
c.CourseDirectory.db_url = "@@DB_URL@@"
