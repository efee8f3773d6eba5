"""CS231n's ``cs231n.classifiers`` package path: ``assignment.classifiers.fc_net`` is the kit's
``fc_net`` (given code), so a CS231n notebook's imports change only by their package name,
``cs231n`` -> ``assignment`` (README, "Porting a course")."""
