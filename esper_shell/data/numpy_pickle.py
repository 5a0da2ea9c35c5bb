"""Reading pickles that hold only numpy arrays and plain containers, and nothing else.

CIFAR-10's official python release is a set of pickled dicts. Unpickling can run any
callable the file names, so instead of ``pickle.load`` we use an unpickler that resolves
only the handful of globals a pickled ``ndarray`` needs and refuses every other one. The
names are taken from numpy's own ``__reduce_ex__`` so they work on numpy 1.x (which
pickles ``numpy.core``) and 2.x (``numpy._core``) alike, without importing the deprecated
``numpy.core`` alias.
"""

from __future__ import annotations

import codecs
import pickle
from typing import IO, Any

import numpy as np

FORBIDDEN_GLOBAL_ERROR = (
    "the pickle asks for {module}.{name}; only numpy arrays and plain containers are allowed, "
    "so this is not a data file in the expected format."
)
_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
_NUMPY_CORE_PACKAGES = ("numpy.core", "numpy._core")
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
    **{(f"{package}.multiarray", "_reconstruct"): _RECONSTRUCT for package in _NUMPY_CORE_PACKAGES},
    **{(f"{package}.numeric", "_frombuffer"): _FROMBUFFER for package in _NUMPY_CORE_PACKAGES},
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` knows only :data:`ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(FORBIDDEN_GLOBAL_ERROR.format(module=module, name=name)) from None


def load_numpy_pickle(file: IO[bytes]) -> Any:
    """Unpickle ``file`` with byte strings left as ``bytes``, as the CIFAR release requires.

    The release was written by Python 2; ``encoding="bytes"`` keeps its ``str`` keys and the
    arrays' raw buffers as ``bytes`` instead of guessing a text encoding.
    """
    return NumpyOnlyUnpickler(file, encoding="bytes").load()
