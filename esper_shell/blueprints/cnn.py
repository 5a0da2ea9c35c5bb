"""Convolutional seeds over (B, C, H, W) and (B, C, L) features (DESIGN §7).

One catalog serves both convolutional topologies: every seed takes ``dims`` (2 for the
``cnn`` topology's images, 1 for the ``conv1d`` topology's signals) and the registration
below builds one family per topology, in the same order, so action indices agree.

Every seed keeps its input's shape and memory format (channels_last in, channels_last
out: nothing here calls ``.contiguous()``), and every seed with parameters starts as the
exact identity — its residual branch ends in a zero — so germinating one never changes
what the host computes until the seed has learned something.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from esper_shell.blueprints.norms import group_norm
from esper_shell.blueprints.registry import BlueprintSpec, noop_spec, register_blueprint
from esper_shell.hosts.protocol import CNN_TOPOLOGY, CONV1D_TOPOLOGY

SE_REDUCTION = 4
SE_MIN_HIDDEN = 4
DEPTHWISE_KERNEL = 3
CONV_KERNEL = 3
IMAGE_DIMS = 2
SIGNAL_DIMS = 1
CONV_BY_DIMS: dict[int, type[nn.Conv1d] | type[nn.Conv2d]] = {SIGNAL_DIMS: nn.Conv1d, IMAGE_DIMS: nn.Conv2d}


def _spatial_axes(dims: int) -> tuple[int, ...]:
    return tuple(range(-dims, 0))


class NormSeed(nn.Module):
    """``x + tanh(scale) * (GroupNorm(x) - x)``: learns how far to move towards the
    normalised features; ``scale = 0`` makes it the identity. GroupNorm takes any
    number of spatial dimensions, so ``dims`` changes nothing here."""

    def __init__(self, channels: int, *, dims: int = IMAGE_DIMS) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.scale = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        return x + torch.tanh(self.scale) * (self.norm(x) - x)


def se_hidden(channels: int) -> int:
    """Bottleneck width of the squeeze-and-excitation gate."""
    return max(channels // SE_REDUCTION, SE_MIN_HIDDEN)


class ChannelAttentionSeed(nn.Module):
    """Squeeze-and-excitation as ``x * (1 + tanh(excite(squeeze(x))))``.

    Classic SE multiplies by a sigmoid in (0, 1), which halves the features at init; the
    ``1 + tanh`` gate spans (0, 2) and, with the last layer zero-initialised, is exactly 1.
    """

    def __init__(self, channels: int, *, dims: int = IMAGE_DIMS) -> None:
        super().__init__()
        hidden = se_hidden(channels)
        self.squeeze = nn.Linear(channels, hidden)
        self.excite = nn.Linear(hidden, channels)
        nn.init.zeros_(self.excite.weight)
        nn.init.zeros_(self.excite.bias)
        self._axes = _spatial_axes(dims)
        self._broadcast = (...,) + (None,) * dims

    def forward(self, x: Tensor) -> Tensor:
        gate = torch.tanh(self.excite(F.relu(self.squeeze(x.mean(dim=self._axes)))))
        return x * (1 + gate)[self._broadcast]


def residual_gain(channels: int, dims: int = IMAGE_DIMS) -> nn.Parameter:
    """A per-channel gain on a residual branch, starting at zero so the seed starts as x.

    Zeroing the GroupNorm gain instead would also give the identity, but then the branch
    sits exactly at ReLU's kink, where torch's ReLU has zero gradient: the seed would
    never learn. The gain's own gradient is ReLU's (non-zero) output, so it moves first.
    """
    return nn.Parameter(torch.zeros(channels, *(1,) * dims))


class DepthwiseSeed(nn.Module):
    """``x + gain * ReLU(GN(pointwise(depthwise3(x))))``: a cheap separable residual branch."""

    def __init__(self, channels: int, *, dims: int = IMAGE_DIMS) -> None:
        super().__init__()
        conv = CONV_BY_DIMS[dims]
        self.depthwise = conv(
            channels, channels, DEPTHWISE_KERNEL, padding=DEPTHWISE_KERNEL // 2, groups=channels, bias=False
        )
        self.pointwise = conv(channels, channels, 1, bias=False)
        self.norm = group_norm(channels)
        self.gain = residual_gain(channels, dims)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.gain * F.relu(self.norm(self.pointwise(self.depthwise(x))))


def depthwise_params(channels: int, dims: int = IMAGE_DIMS) -> int:
    """depthwise 3^dims·C, pointwise C², GroupNorm 2C, gain C."""
    return DEPTHWISE_KERNEL**dims * channels + channels**2 + 3 * channels


def conv_light_params(channels: int, dims: int = IMAGE_DIMS) -> int:
    """conv 3^dims·C², GroupNorm 2C, gain C."""
    return CONV_KERNEL**dims * channels**2 + 3 * channels


class ConvLightSeed(nn.Module):
    """``x + gain * ReLU(GN(conv3(x)))``; the conv has no bias because GroupNorm cancels it."""

    def __init__(self, channels: int, *, dims: int = IMAGE_DIMS) -> None:
        super().__init__()
        self.conv = CONV_BY_DIMS[dims](channels, channels, CONV_KERNEL, padding=CONV_KERNEL // 2, bias=False)
        self.norm = group_norm(channels)
        self.gain = residual_gain(channels, dims)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.gain * F.relu(self.norm(self.conv(x)))


def conv_heavy(channels: int, *, dims: int = IMAGE_DIMS) -> nn.Module:
    """Two ``conv_light`` blocks in a row."""
    return nn.Sequential(ConvLightSeed(channels, dims=dims), ConvLightSeed(channels, dims=dims))


def _register_family(topology: str, dims: int) -> None:
    """The whole catalog for one topology, in the order both families share."""
    kernel = "3x3" if dims == IMAGE_DIMS else "3-tap"
    register_blueprint(noop_spec(topology))
    specs = (
        (
            "norm",
            NormSeed,
            lambda channels: 2 * channels + 1,
            "GroupNorm blended in by a learned, zero-initialised strength.",
        ),
        (
            "attention",
            ChannelAttentionSeed,
            lambda channels: 2 * channels * se_hidden(channels) + se_hidden(channels) + channels,
            "Squeeze-and-excitation channel gate, starting at a gate of exactly 1.",
        ),
        (
            "depthwise",
            DepthwiseSeed,
            partial(depthwise_params, dims=dims),
            f"Residual depthwise-separable {kernel} conv with GroupNorm, starting as the identity.",
        ),
        (
            "conv_light",
            ConvLightSeed,
            partial(conv_light_params, dims=dims),
            f"Residual {kernel} conv with GroupNorm, starting as the identity.",
        ),
        (
            "conv_heavy",
            conv_heavy,
            lambda channels: 2 * conv_light_params(channels, dims),
            f"Two residual {kernel} conv blocks, starting as the identity.",
        ),
    )
    for name, build, param_count, description in specs:
        register_blueprint(
            BlueprintSpec(
                topology=topology,
                name=name,
                build=partial(build, dims=dims),
                param_count=param_count,
                description=description,
            )
        )


_register_family(CNN_TOPOLOGY, IMAGE_DIMS)
_register_family(CONV1D_TOPOLOGY, SIGNAL_DIMS)
