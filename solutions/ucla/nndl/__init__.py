"""UCLA's ``nndl`` package: the kit's layers and network with UCLA's conventions (given code)."""
