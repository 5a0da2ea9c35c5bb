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
    the host; its parameters train with the seed's.
    """

    def __init__(self, channels: int, *, min_hidden: int = 8, hidden_divisor: int = 4) -> None:
        super().__init__()
        hidden = max(min_hidden, channels // hidden_divisor)
        self.net = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, 1), nn.Sigmoid())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Per-sample gate in [0, 1], shaped to broadcast against ``h``."""
        if h.dim() == 4:  # (B, C, H, W)
            pooled = h.detach().mean(dim=(2, 3))
            return self.net(pooled).view(-1, 1, 1, 1)
        pooled = h.detach().mean(dim=1)  # (B, T, C)
        return self.net(pooled).view(-1, 1, 1)

    def get_alpha(self) -> float:
        raise NotImplementedError(GATE_ALPHA_MESSAGE)
