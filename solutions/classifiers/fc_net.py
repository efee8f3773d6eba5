"""``cs231n.classifiers.fc_net`` -> ``assignment.classifiers.fc_net``: the kit's :mod:`fc_net`.

Given code. ``from assignment.classifiers.fc_net import *`` brings ``FullyConnectedNet`` and
every layer function (``fc_net.__all__``), as CS231n's star-import chain does.
"""

from ..fc_net import *  # noqa: F403 - an alias module: the names of fc_net.__all__
from ..fc_net import __all__  # noqa: F401
