"""Transformer seeds over (B, T, C) residual-stream features (DESIGN §7).

Each seed with parameters is a residual branch whose last layer starts at zero, so it is
the exact identity when germinated. Branches that read the stream normalise it first,
like the host's pre-LN layers, because the stream itself is not normalised.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from esper_shell.blueprints.registry import BlueprintSpec, noop_spec, register_blueprint
from esper_shell.hosts.protocol import TRANSFORMER_TOPOLOGY
from esper_shell.hosts.transformer import MLP, MLP_EXPANSION, CausalSelfAttention

LORA_RANK = 8
ATTENTION_HEAD_CANDIDATES = (8, 4, 2, 1)
MIN_HEAD_DIM = 8


register_blueprint(noop_spec(TRANSFORMER_TOPOLOGY))


class LayerNormSeed(nn.Module):
    """``x + tanh(scale) * (LayerNorm(x) - x)``; ``scale = 0`` makes it the identity."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.scale = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        return x + torch.tanh(self.scale) * (self.norm(x) - x)


register_blueprint(
    BlueprintSpec(
        topology=TRANSFORMER_TOPOLOGY,
        name="norm",
        build=LayerNormSeed,
        param_count=lambda channels: 2 * channels + 1,
        description="LayerNorm blended in by a learned, zero-initialised strength.",
    )
)


class LoRASeed(nn.Module):
    """``x + up(down(x))`` through a rank-``LORA_RANK`` bottleneck; ``up`` starts at zero."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.down = nn.Linear(channels, LORA_RANK, bias=False)
        self.up = nn.Linear(LORA_RANK, channels, bias=False)
        nn.init.zeros_(self.up.weight)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.up(self.down(x))


register_blueprint(
    BlueprintSpec(
        topology=TRANSFORMER_TOPOLOGY,
        name="lora",
        build=LoRASeed,
        param_count=lambda channels: 2 * LORA_RANK * channels,
        description=f"Residual low-rank (rank {LORA_RANK}) linear update, starting at zero.",
    )
)


def attention_heads(channels: int) -> int:
    """The most heads (of the candidates) that divide ``channels`` with heads of at least
    ``MIN_HEAD_DIM`` features; one head for narrow streams."""
    return next(
        (heads for heads in ATTENTION_HEAD_CANDIDATES if channels % heads == 0 and channels // heads >= MIN_HEAD_DIM),
        1,
    )


class AttentionSeed(nn.Module):
    """``x + attn(LayerNorm(x))`` with causal attention; the output projection starts at zero."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.attn = CausalSelfAttention(channels, attention_heads(channels))
        nn.init.zeros_(self.attn.proj.weight)
        nn.init.zeros_(self.attn.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.attn(self.norm(x))


register_blueprint(
    BlueprintSpec(
        topology=TRANSFORMER_TOPOLOGY,
        name="attention",
        build=AttentionSeed,
        # LayerNorm 2C, fused qkv 3C² + 3C, output projection C² + C.
        param_count=lambda channels: 4 * channels**2 + 6 * channels,
        description="Residual causal self-attention, output projection starting at zero.",
    )
)


class MLPSeed(nn.Module):
    """``x + mlp(LayerNorm(x))`` with a 4× GELU MLP; its output layer starts at zero."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.mlp = MLP(channels)
        nn.init.zeros_(self.mlp.proj.weight)
        nn.init.zeros_(self.mlp.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.mlp(self.norm(x))


register_blueprint(
    BlueprintSpec(
        topology=TRANSFORMER_TOPOLOGY,
        name="mlp",
        build=MLPSeed,
        # LayerNorm 2C, up-projection 4C² + 4C, down-projection 4C² + C.
        param_count=lambda channels: 2 * MLP_EXPANSION * channels**2 + (MLP_EXPANSION + 3) * channels,
        description="Residual 4x GELU MLP, output layer starting at zero.",
    )
)
