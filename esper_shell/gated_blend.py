"""The learned per-sample blend gate used only while a seed is BLENDING with ``gated``."""

from __future__ import annotations

import torch
from torch import nn

GATE_ALPHA_MESSAGE = (
    "GatedBlend has no single alpha: it is per sample. Read the slot's reported alpha, which is "
    "the measured mean of the alphas forward used."
)


class GatedBlend(nn.Module):
    """pool → Linear → ReLU → Linear → sigmoid over detached host features.

    The gate reads ``h.detach()`` so that learning where to blend never sends gradient into
    the host; its parameters train with the seed's. ``channels_first``: features are
    (B, C, ...) — images (B, C, H, W) or signals (B, C, L) — and are pooled over every axis
    after the channels; otherwise (B, T, C), pooled over positions. The layout cannot be
    told from the shape: a (B, C, L) signal and a (B, T, C) sequence are both 3-D.
    """

    def __init__(
        self, channels: int, *, channels_first: bool = True, min_hidden: int = 8, hidden_divisor: int = 4
    ) -> None:
        super().__init__()
        hidden = max(min_hidden, channels // hidden_divisor)
        self.channels_first = channels_first
        self.net = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, 1), nn.Sigmoid())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Per-sample gate in [0, 1], shaped to broadcast against ``h``."""
        features = h.detach()
        pooled = features.flatten(2).mean(dim=2) if self.channels_first else features.mean(dim=1)
        return self.net(pooled).view(-1, *(1,) * (h.dim() - 1))

    def get_alpha(self) -> float:
        raise NotImplementedError(GATE_ALPHA_MESSAGE)
