"""MNIST-1D (Greydanus 2020, "Scaling Down Deep Learning"), generated offline.

The ``mnist1d`` package's ``make_dataset`` builds the set procedurally from ten 1-D digit
templates (padding, dilation, scaling, translation, correlated and i.i.d. noise, shear,
resampling to 40 positions); nothing is downloaded. Its ``get_dataset`` downloads a pickle
and is never called here.
"""

from __future__ import annotations

import functools
import random

import numpy as np
import torch

from esper_shell.data.errors import DataError
from esper_shell.data.normalise import normalise_per_channel_
from esper_shell.data.records import SignalData

NUM_CLASSES = 10
SIGNAL_LENGTH = 40
# The paper's set: 5,000 signals, 4,000 for training and 1,000 for testing.
PAPER_SAMPLES = 5000
PAPER_TRAIN_FRACTION = 0.8

MNIST1D_MISSING_ERROR = (
    "The mnist1d task needs the mnist1d package, which generates the data set offline. "
    "Install it with: pip install mnist1d"
)
SAMPLES_ERROR = (
    "load_mnist1d(num_samples={num_samples}): the generator makes the same number of signals per "
    "class, so num_samples must be a positive multiple of {classes} with at least one per class in "
    "each split (e.g. 5000)."
)


def load_mnist1d(*, num_samples: int = PAPER_SAMPLES, seed: int = 0) -> SignalData:
    """``num_samples`` signals of length 40 from the generator seeded with ``seed``, split 80/20.

    The generator seeds Python's and numpy's *global* RNGs; both are saved before the call
    and restored after it, so loading the data never changes any other random stream.
    The package standardises the whole set with its own statistics; the signals are
    standardised again here with the train split's alone, as every Esper task is.
    """
    per_class = num_samples // NUM_CLASSES
    if num_samples % NUM_CLASSES or per_class * (1 - PAPER_TRAIN_FRACTION) < 1:
        raise DataError(SAMPLES_ERROR.format(num_samples=num_samples, classes=NUM_CLASSES))
    train_signals, train_labels, val_signals, val_labels = _generate(num_samples, seed)
    # Fresh tensors on every call: the cached arrays are never handed out, so no caller can
    # change what the next one loads.
    train_x = torch.tensor(train_signals, dtype=torch.float32).unsqueeze(1)
    val_x = torch.tensor(val_signals, dtype=torch.float32).unsqueeze(1)
    normalise_per_channel_(train_x, val_x)
    return SignalData(
        train_x=train_x,
        train_y=torch.tensor(train_labels, dtype=torch.int64),
        val_x=val_x,
        val_y=torch.tensor(val_labels, dtype=torch.int64),
        num_classes=NUM_CLASSES,
        in_channels=1,
        length=SIGNAL_LENGTH,
    )


@functools.lru_cache(maxsize=32)
def _generate(num_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The generator's raw splits, cached: generating takes seconds (1.7 s a seed), and PPO's
    training episodes cycle over a pool of seeds (16 by default) while the arms of a paired
    comparison load the same seed. A paper-sized set is about 1.6 MB."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise DataError(MNIST1D_MISSING_ERROR) from None
    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = num_samples, PAPER_TRAIN_FRACTION, seed
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        generated = make_dataset(args)
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    return generated["x"], generated["y"], generated["x_test"], generated["y_test"]
