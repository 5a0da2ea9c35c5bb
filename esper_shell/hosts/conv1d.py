"""A one-dimensional CNN host for signals (B, C, L), the ``conv1d`` topology.

The same design as ``CNNHost`` one dimension down: grid rows are resolution stages, each
stage runs its blocks at one length and one width and then halves the length; a slot sits
after every block and before the pooling, so all slots of a row see the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from esper_core import ConfigError
from esper_shell.hosts.protocol import CONV1D_TOPOLOGY, HostInputError, UnitHost, grid_slot_ids, is_positive_int

POOL_SIZE = 2
KERNEL_SIZE = 3

NO_STAGES_MESSAGE = "Conv1DHost needs at least one stage; got blocks_per_stage={value!r}. Try (1, 1, 1)."
BLOCKS_MESSAGE = (
    "Conv1DHost stage {stage} has {blocks!r} blocks; every stage needs a positive integer number "
    "of blocks (blocks_per_stage={value!r})."
)
NOT_A_SEQUENCE_MESSAGE = (
    "Conv1DHost blocks_per_stage is a sequence with one block count per stage, e.g. (1, 1, 1); got {value!r}."
)
POSITIVE_MESSAGE = "Conv1DHost {name} must be a positive integer, got {value!r}."
TOO_SHORT_MESSAGE = (
    "Conv1DHost cannot pool the length-{length} features at the end of stage {stage}: pooling needs "
    "at least {size} positions. A host with {stages} stages needs signals of at least {minimum} "
    "positions; use longer signals or fewer stages."
)


class SignalPool(nn.Module):
    """Max pooling by 2 that names the stage and the minimum signal length when it cannot pool.

    Odd lengths floor, as ``nn.MaxPool1d`` does; only features shorter than the window are
    refused, because torch's own message would not say which input length the host needs.
    """

    def __init__(self, *, stage: int, num_stages: int) -> None:
        super().__init__()
        self.stage = stage
        self.num_stages = num_stages

    def forward(self, x: Tensor) -> Tensor:
        length = x.shape[-1]
        if length < POOL_SIZE:
            raise HostInputError(
                TOO_SHORT_MESSAGE.format(
                    length=length,
                    stage=self.stage,
                    size=POOL_SIZE,
                    stages=self.num_stages,
                    minimum=POOL_SIZE**self.num_stages,
                )
            )
        return F.max_pool1d(x, POOL_SIZE)


class SignalHead(nn.Module):
    """Last stage's pooling, global average pooling over positions, then the linear classifier."""

    def __init__(self, pool: SignalPool, channels: int, num_classes: int) -> None:
        super().__init__()
        self.pool = pool
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(x).mean(dim=-1))


def conv1d_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Conv (3 taps, no bias) → BatchNorm → ReLU; the conv has no bias because BatchNorm cancels it."""
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel_size=KERNEL_SIZE, padding=KERNEL_SIZE // 2, bias=False),
        nn.BatchNorm1d(out_channels),
        nn.ReLU(inplace=True),
    )


class Conv1DHost(UnitHost):
    """Stages of 1-D conv blocks with widths ``base_channels * 2**stage``; slot ``r{s}c{b}``
    sits after block ``b`` of stage ``s``, before that stage's pooling."""

    def __init__(
        self,
        blocks_per_stage: Sequence[int] = (1, 1, 1),
        *,
        base_channels: int = 16,
        in_channels: int = 1,
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
                unit: nn.Module = conv1d_block(previous, widths[stage])
                if block == 0 and stage > 0:
                    unit = nn.Sequential(SignalPool(stage=stage - 1, num_stages=len(stages)), unit)
                units.append(unit)
                channels.append(widths[stage])
                previous = widths[stage]
        head = SignalHead(SignalPool(stage=len(stages) - 1, num_stages=len(stages)), previous, num_classes)
        super().__init__(
            topology=CONV1D_TOPOLOGY, slot_ids=grid_slot_ids(stages), channels=channels, units=units, head=head
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
