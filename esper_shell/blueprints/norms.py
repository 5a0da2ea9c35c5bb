"""How many groups a seed's GroupNorm uses.

Seeds may sit where the feature map is 1×1 (the deepest stage of a small CNN). There a
group holding a single channel has one element, normalises to exactly zero and the
layer outputs only its bias; requiring at least two channels per group (when the layer
has two or more channels) keeps every group a real statistic.
"""

from __future__ import annotations

from torch import nn

GROUP_CANDIDATES = (32, 16, 8, 4, 2, 1)
MIN_CHANNELS_PER_GROUP = 2


def group_norm_groups(channels: int) -> int:
    """The largest candidate that divides ``channels`` and leaves each group at least
    ``MIN_CHANNELS_PER_GROUP`` channels (one group for a single channel)."""
    per_group_floor = min(MIN_CHANNELS_PER_GROUP, channels)
    return next(
        groups for groups in GROUP_CANDIDATES if channels % groups == 0 and channels // groups >= per_group_floor
    )


def group_norm(channels: int) -> nn.GroupNorm:
    """An affine GroupNorm over ``channels`` with the group count chosen above."""
    return nn.GroupNorm(group_norm_groups(channels), channels)
