"""CNN seeds over (B, C, H, W) features (DESIGN §7).

Every seed keeps its input's shape and memory format (channels_last in, channels_last
out: nothing here calls ``.contiguous()``), and every seed with parameters starts as the
exact identity — its residual branch ends in a zero — so germinating one never changes
what the host computes until the seed has learned something.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from esper_shell.blueprints.norms import group_norm
from esper_shell.blueprints.registry import BlueprintSpec, noop_spec, register_blueprint
from esper_shell.hosts.protocol import CNN_TOPOLOGY

SE_REDUCTION = 4
SE_MIN_HIDDEN = 4
DEPTHWISE_KERNEL = 3
CONV_KERNEL = 3


register_blueprint(noop_spec(CNN_TOPOLOGY))


class NormSeed(nn.Module):
    """``x + tanh(scale) * (GroupNorm(x) - x)``: learns how far to move towards the
    normalised features; ``scale = 0`` makes it the identity."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.scale = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        return x + torch.tanh(self.scale) * (self.norm(x) - x)


register_blueprint(
    BlueprintSpec(
        topology=CNN_TOPOLOGY,
        name="norm",
        build=NormSeed,
        param_count=lambda channels: 2 * channels + 1,
        description="GroupNorm blended in by a learned, zero-initialised strength.",
    )
)


def se_hidden(channels: int) -> int:
    """Bottleneck width of the squeeze-and-excitation gate."""
    return max(channels // SE_REDUCTION, SE_MIN_HIDDEN)


class ChannelAttentionSeed(nn.Module):
    """Squeeze-and-excitation as ``x * (1 + tanh(excite(squeeze(x))))``.

    Classic SE multiplies by a sigmoid in (0, 1), which halves the features at init; the
    ``1 + tanh`` gate spans (0, 2) and, with the last layer zero-initialised, is exactly 1.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = se_hidden(channels)
        self.squeeze = nn.Linear(channels, hidden)
        self.excite = nn.Linear(hidden, channels)
        nn.init.zeros_(self.excite.weight)
        nn.init.zeros_(self.excite.bias)

    def forward(self, x: Tensor) -> Tensor:
        gate = torch.tanh(self.excite(F.relu(self.squeeze(x.mean(dim=(-2, -1))))))
        return x * (1 + gate)[..., None, None]


register_blueprint(
    BlueprintSpec(
        topology=CNN_TOPOLOGY,
        name="attention",
        build=ChannelAttentionSeed,
        param_count=lambda channels: 2 * channels * se_hidden(channels) + se_hidden(channels) + channels,
        description="Squeeze-and-excitation channel gate, starting at a gate of exactly 1.",
    )
)


def residual_gain(channels: int) -> nn.Parameter:
    """A per-channel gain on a residual branch, starting at zero so the seed starts as x.

    Zeroing the GroupNorm gain instead would also give the identity, but then the branch
    sits exactly at ReLU's kink, where torch's ReLU has zero gradient: the seed would
    never learn. The gain's own gradient is ReLU's (non-zero) output, so it moves first.
    """
    return nn.Parameter(torch.zeros(channels, 1, 1))


class DepthwiseSeed(nn.Module):
    """``x + gain * ReLU(GN(pointwise(depthwise3×3(x))))``: a cheap separable residual branch."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            channels, channels, DEPTHWISE_KERNEL, padding=DEPTHWISE_KERNEL // 2, groups=channels, bias=False
        )
        self.pointwise = nn.Conv2d(channels, channels, 1, bias=False)
        self.norm = group_norm(channels)
        self.gain = residual_gain(channels)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.gain * F.relu(self.norm(self.pointwise(self.depthwise(x))))


register_blueprint(
    BlueprintSpec(
        topology=CNN_TOPOLOGY,
        name="depthwise",
        build=DepthwiseSeed,
        # depthwise 9C, pointwise C², GroupNorm 2C, gain C.
        param_count=lambda channels: DEPTHWISE_KERNEL**2 * channels + channels**2 + 3 * channels,
        description="Residual depthwise-separable 3x3 conv with GroupNorm, starting as the identity.",
    )
)


def conv_light_params(channels: int) -> int:
    """conv 9C², GroupNorm 2C, gain C."""
    return CONV_KERNEL**2 * channels**2 + 3 * channels


class ConvLightSeed(nn.Module):
    """``x + gain * ReLU(GN(conv3×3(x)))``; the conv has no bias because GroupNorm cancels it."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, CONV_KERNEL, padding=CONV_KERNEL // 2, bias=False)
        self.norm = group_norm(channels)
        self.gain = residual_gain(channels)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.gain * F.relu(self.norm(self.conv(x)))


register_blueprint(
    BlueprintSpec(
        topology=CNN_TOPOLOGY,
        name="conv_light",
        build=ConvLightSeed,
        param_count=conv_light_params,
        description="Residual 3x3 conv with GroupNorm, starting as the identity.",
    )
)


def _conv_heavy(channels: int) -> nn.Module:
    return nn.Sequential(ConvLightSeed(channels), ConvLightSeed(channels))


register_blueprint(
    BlueprintSpec(
        topology=CNN_TOPOLOGY,
        name="conv_heavy",
        build=_conv_heavy,
        param_count=lambda channels: 2 * conv_light_params(channels),
        description="Two residual 3x3 conv blocks, starting as the identity.",
    )
)
