# normlab student file: given code, nothing to write here.
# Instructors: generated from solutions/ift780/utils/data_utils.py by `make stubs`; edit the solution.
"""``utils.data_utils`` -> ``assignment.ift780.utils.data_utils``: IFT780's ``load_CIFAR10``.

Given code, over the kit's :mod:`data_utils` (which also reads ``$NORMLAB_CIFAR10_DIR``).
"""

from ... import data_utils as _data_utils
from ...data_utils import get_CIFAR10_data, load_CIFAR_batch

__all__ = ["load_CIFAR10", "load_CIFAR_batch", "get_CIFAR10_data"]


def load_CIFAR10(root):
    """All of CIFAR-10 from a ``cifar-10-batches-py`` folder, with its class names.

    Returns a tuple of five, ``(X_train, y_train, X_test, y_test, label_names)``:
    - X_train: float32 (50000, 32, 32, 3), pixel values 0..255, channels last; y_train int64
      (50000,) (the synthetic stand-in holds fewer images);
    - X_test: float32 (10000, 32, 32, 3); y_test int64 (10000,);
    - label_names: the 10 class names, a list of str in label order.

    Raises FileNotFoundError, saying how to get the data, if a file is missing.
    """
    X_train, y_train, X_test, y_test = _data_utils.load_CIFAR10(root)
    return X_train, y_train, X_test, y_test, _data_utils.load_CIFAR10_meta(root)
