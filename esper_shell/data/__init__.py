"""Data sets and minibatching for the training engine (DESIGN §11).

Embedded tasks (``digits``, ``synthetic``, ``pydoc``, ``mnist1d``) need nothing but installed
packages; ``cifar10`` and ``tinystories`` read a local copy and fail with instructions when
it is missing. Nothing here ever downloads data or substitutes random data for a missing set.
"""

from esper_shell.data.batching import Reiterable, iterate_batches, text_batches
from esper_shell.data.cifar10 import find_cifar10, load_cifar10
from esper_shell.data.digits import load_digits
from esper_shell.data.errors import DataError
from esper_shell.data.mnist1d import load_mnist1d
from esper_shell.data.pydoc_corpus import load_pydoc
from esper_shell.data.records import ClassificationData, SignalData, TextData
from esper_shell.data.synthetic import GratingStyle, make_synthetic
from esper_shell.data.tinystories import load_tinystories

__all__ = [
    "ClassificationData",
    "DataError",
    "GratingStyle",
    "SignalData",
    "TextData",
    "find_cifar10",
    "Reiterable",
    "iterate_batches",
    "load_cifar10",
    "load_digits",
    "load_mnist1d",
    "load_pydoc",
    "load_tinystories",
    "make_synthetic",
    "text_batches",
]
