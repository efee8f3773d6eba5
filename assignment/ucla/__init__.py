# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/ucla/__init__.py by `make stubs`; edit the solution.
"""UCLA's (ECE C147/C247, "nndl") module paths: prefix its imports with ``assignment.ucla.``.

``nndl.fc_net``, ``nndl.layers``, ``nndl.layer_utils``, ``nndl.optim``, ``utils.data_utils``,
``utils.gradient_check`` and ``utils.solver`` are the kit's modules under those names (given
code), with UCLA's two conventions where they differ from CS231n's: dropout's ``p`` is the
probability of DROPPING a unit, and ``FullyConnectedNet`` takes ``dropout=`` and
``use_batchnorm=`` (README, "Porting a course").
"""
