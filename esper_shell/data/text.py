"""Turning raw bytes into a byte-level ``TextData``."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from esper_shell.data.errors import DataError
from esper_shell.data.splits import check_val_fraction

BYTE_VOCAB = 256
CORPUS_TOO_SHORT_ERROR = (
    "a corpus of {count} bytes split with val_fraction={val_fraction} leaves an empty split; "
    "use a longer corpus or a val_fraction nearer 0.5."
)


def bytes_to_tokens(data: bytes) -> Tensor:
    """One uint8 token per byte, in a tensor that owns (and may write) its memory."""
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8).copy())


def split_tail(tokens: Tensor, *, val_fraction: float) -> tuple[Tensor, Tensor]:
    """The head as train and the last ``val_fraction`` as validation.

    A contiguous tail rather than random windows, so no validation text also appears,
    overlapping, in a training window.
    """
    check_val_fraction(val_fraction)
    n_val = round(tokens.numel() * val_fraction)
    if not 0 < n_val < tokens.numel():
        raise DataError(CORPUS_TOO_SHORT_ERROR.format(count=tokens.numel(), val_fraction=val_fraction))
    return tokens[:-n_val].clone(), tokens[-n_val:].clone()
