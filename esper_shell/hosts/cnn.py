"""A small VGG-style CNN host whose grid rows are its resolution stages.

Each stage runs its blocks at one resolution and one width, then halves the resolution;
a slot sits after every block and before the pooling, so all slots of a row see the same
feature shape (DESIGN §2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from esper_core import ConfigError
from esper_shell.hosts.protocol import CNN_TOPOLOGY, HostInputError, UnitHost, grid_slot_ids, is_positive_int

POOL_SIZE = 2

NO_STAGES_MESSAGE = "CNNHost needs at least one stage; got blocks_per_stage={value!r}. Try (1, 1, 1)."
BLOCKS_MESSAGE = (
    "CNNHost stage {stage} has {blocks!r} blocks; every stage needs a positive integer number "
    "of blocks (blocks_per_stage={value!r})."
)
NOT_A_SEQUENCE_MESSAGE = (
    "CNNHost blocks_per_stage is a sequence with one block count per stage, e.g. (1, 1, 1); got {value!r}."
)
POSITIVE_MESSAGE = "CNNHost {name} must be a positive integer, got {value!r}."
TOO_SMALL_MESSAGE = (
    "CNNHost cannot pool the {height}x{width} feature map at the end of stage {stage}: pooling "
    "needs at least {size}x{size}. A host with {stages} stages needs inputs of at least "
    "{minimum}x{minimum} pixels; use larger inputs or fewer stages."
)


class StagePool(nn.Module):
    """2×2 max pooling that names the stage and the minimum input size when it cannot pool.

    Odd sizes floor (a 5×5 map becomes 2×2), as ``nn.MaxPool2d`` does; only maps smaller
    than the window are refused, because torch's own message would not say which input
    size the host needs.
    """

    def __init__(self, *, stage: int, num_stages: int) -> None:
        super().__init__()
        self.stage = stage
        self.num_stages = num_stages

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2], x.shape[-1]
        if height < POOL_SIZE or width < POOL_SIZE:
            raise HostInputError(
                TOO_SMALL_MESSAGE.format(
                    height=height,
                    width=width,
                    stage=self.stage,
                    size=POOL_SIZE,
                    stages=self.num_stages,
                    minimum=POOL_SIZE**self.num_stages,
                )
            )
        return F.max_pool2d(x, POOL_SIZE)


class ClassifierHead(nn.Module):
    """Last stage's pooling, global average pooling, then the linear classifier."""

    def __init__(self, pool: StagePool, channels: int, num_classes: int) -> None:
        super().__init__()
        self.pool = pool
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(x).mean(dim=(-2, -1)))


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Conv3×3 → BatchNorm → ReLU; the conv has no bias because BatchNorm cancels it."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class CNNHost(UnitHost):
    """Stages of conv blocks with widths ``base_channels * 2**stage``; slot ``r{s}c{b}``
    sits after block ``b`` of stage ``s``, before that stage's pooling."""

    def __init__(
        self,
        blocks_per_stage: Sequence[int] = (1, 1, 1),
        *,
        base_channels: int = 16,
        in_channels: int = 3,
        num_classes: int = 10,
    ) -> None:
        stages = _as_stages(blocks_per_stage)
        _check_config(stages, base_channels=base_channels, in_channels=in_channels, num_classes=num_classes)
        widths = [base_channels * 2**stage for stage in range(len(stages))]
        units: list[nn.Module] = []
        channels: list[int] = []
        previous = in_channels
        for stage, blocks in enumerate(stages):
            for block in range(blocks):
                unit: nn.Module = conv_block(previous, widths[stage])
                if block == 0 and stage > 0:
                    unit = nn.Sequential(StagePool(stage=stage - 1, num_stages=len(stages)), unit)
                units.append(unit)
                channels.append(widths[stage])
                previous = widths[stage]
        head = ClassifierHead(StagePool(stage=len(stages) - 1, num_stages=len(stages)), previous, num_classes)
        super().__init__(
            topology=CNN_TOPOLOGY, slot_ids=grid_slot_ids(stages), channels=channels, units=units, head=head
        )
        self.blocks_per_stage = stages


def _as_stages(blocks_per_stage: Sequence[int]) -> tuple[int, ...]:
    if isinstance(blocks_per_stage, str) or not isinstance(blocks_per_stage, Sequence):
        raise ConfigError(NOT_A_SEQUENCE_MESSAGE.format(value=blocks_per_stage))
    return tuple(blocks_per_stage)


def _check_config(stages: tuple[int, ...], **positive: int) -> None:
    if not stages:
        raise ConfigError(NO_STAGES_MESSAGE.format(value=stages))
    for stage, blocks in enumerate(stages):
        if not is_positive_int(blocks):
            raise ConfigError(BLOCKS_MESSAGE.format(stage=stage, blocks=blocks, value=stages))
    for name, value in positive.items():
        if not is_positive_int(value):
            raise ConfigError(POSITIVE_MESSAGE.format(name=name, value=value))
