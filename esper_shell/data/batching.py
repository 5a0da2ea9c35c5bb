"""Minibatches cut straight from in-memory tensors.

The data sets are small and already tensors, so indexing them directly is several times
faster than a ``DataLoader`` whose per-sample collation would dominate. Randomness comes
only from the ``torch.Generator`` passed in and is drawn *when the function is called*,
not on the first ``next()``: saving ``generator.get_state()`` before a call and restoring
it later reproduces that epoch's batches exactly, which is what resuming needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from esper_shell.data.errors import DataError

LENGTH_MISMATCH_ERROR = "x has {x_count} examples but y has {y_count}; pass inputs and targets of one split."
POSITIVE_ERROR = "{name}={value} must be at least 1."
TOKENS_DIM_ERROR = "tokens has shape {shape}; expected a 1-D stream of token ids."
TEXT_TOO_SHORT_ERROR = (
    "the corpus holds {count} tokens, too few for one window of {block_size} tokens plus its "
    "next-token target; use a longer corpus."
)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise DataError(POSITIVE_ERROR.format(name=name, value=value))


def iterate_batches(
    x: Tensor, y: Tensor, batch_size: int, *, generator: torch.Generator | None, drop_last: bool = False
) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of ``(x, y)`` minibatches: shuffled by ``generator``, in order when it is None.

    Every example appears exactly once per epoch; the last batch is short unless
    ``drop_last``. The order is drawn from ``generator`` before this returns.
    """
    _check_positive(batch_size=batch_size)
    if x.shape[0] != y.shape[0]:
        raise DataError(LENGTH_MISMATCH_ERROR.format(x_count=x.shape[0], y_count=y.shape[0]))
    count = x.shape[0]
    if generator is None:
        order = torch.arange(count, device=x.device)
    else:
        order = torch.randperm(count, generator=generator, device=generator.device).to(x.device)
    stop = count - count % batch_size if drop_last else count
    return ((x[index], y[index]) for index in order[:stop].split(batch_size))


def text_batches(
    tokens: Tensor, block_size: int, batch_size: int, n_batches: int, *, generator: torch.Generator | None
) -> Iterator[tuple[Tensor, Tensor]]:
    """``n_batches`` of int64 ``(inputs, targets)``, each ``(batch_size, block_size)``, targets shifted by one.

    With a generator, window offsets are uniform over the stream (training). Without one,
    the windows are spread evenly from the first possible offset to the last, so validation
    loss is computed on the same text every time and covers the whole stream. Both halves
    are contiguous, so callers may ``view`` them flat for the loss.
    """
    _check_positive(block_size=block_size, batch_size=batch_size, n_batches=n_batches)
    if tokens.dim() != 1:
        raise DataError(TOKENS_DIM_ERROR.format(shape=tuple(tokens.shape)))
    last_start = tokens.numel() - block_size - 1
    if last_start < 0:
        raise DataError(TEXT_TOO_SHORT_ERROR.format(count=tokens.numel(), block_size=block_size))
    shape = (n_batches, batch_size)
    if generator is None:
        starts = torch.linspace(0, last_start, n_batches * batch_size, dtype=torch.float64).round().long().view(shape)
    else:
        starts = torch.randint(0, last_start + 1, shape, generator=generator, device=generator.device)
    offsets = torch.arange(block_size + 1)
    windows = (tokens[(batch_starts[:, None] + offsets).to(tokens.device)].long() for batch_starts in starts.cpu())
    return ((window[:, :-1].contiguous(), window[:, 1:].contiguous()) for window in windows)


class Reiterable:
    """Batches re-made on every ``iter()``: validation read each epoch without holding a copy."""

    def __init__(self, make: Callable[[], Iterator[tuple[Tensor, Tensor]]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return self._make()
