"""Learning-rate schedules as pure functions of the epoch, so a resumed run needs no scheduler state."""

from __future__ import annotations

import math


def cosine_lr(epoch: int, total_epochs: int, *, base_lr: float, final_fraction: float = 0.0) -> float:
    """Cosine decay from ``base_lr`` at epoch 0 towards ``final_fraction * base_lr`` after the last.

    A decaying rate matters here: with a constant one the BatchNorm statistics of small hosts
    make the final-epoch accuracy swing by many points, which would drown the effect of growth.
    The floor is reached *after* the last epoch, so no epoch trains at the floor itself
    (with the usual floor of 0 that epoch would be wasted).
    """
    progress = min(max(epoch, 0), total_epochs) / max(total_epochs, 1)
    floor = final_fraction * base_lr
    return floor + (base_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
