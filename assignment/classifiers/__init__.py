# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/classifiers/__init__.py by `make stubs`; edit the solution.
"""CS231n's ``cs231n.classifiers`` package path: ``assignment.classifiers.fc_net`` is the kit's
``fc_net`` (given code), so a CS231n notebook's imports change only by their package name,
``cs231n`` -> ``assignment`` (README, "Porting a course")."""
