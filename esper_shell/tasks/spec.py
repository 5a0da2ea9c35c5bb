"""What a task is: how to load its data, build its host, batch it, and train it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import torch
from attrs.validators import ge, gt
from torch import nn

from esper_core import HeuristicConfig, LifecycleConfig, SignalConfig

Batch = tuple[torch.Tensor, torch.Tensor]


@attrs.frozen(kw_only=True)
class TrainingSettings:
    """The optimizer and schedule a preset trains with (SGD with Nesterov momentum, cosine decay)."""

    epochs: int = attrs.field(validator=ge(1))
    batch_size: int = attrs.field(validator=ge(1))
    lr: float = attrs.field(validator=gt(0.0))
    momentum: float = 0.9
    weight_decay: float = 5e-4
    final_lr_fraction: float = 0.0
    threads: int = attrs.field(default=1, validator=ge(1))
    max_seeds: int = attrs.field(default=3, validator=ge(0))


class Batches:
    """A loaded data set, batched: training batches drawn with a generator, fixed validation batches."""

    def __init__(
        self,
        *,
        train: Callable[[torch.Generator], Iterator[Batch]],
        val: Callable[[], Iterator[Batch]],
        num_classes: int,
        describe: dict[str, Any],
    ) -> None:
        self.train = train
        self.val = val
        self.num_classes = num_classes
        self.describe = describe


@attrs.frozen(kw_only=True)
class TaskSpec:
    name: str
    description: str
    topology: str
    # (data_dir, seed, batch_size) -> batches
    load: Callable[[Path | None, int, int], Batches]
    build_host: Callable[[], nn.Module]
    default_slots: tuple[str, ...]
    training: TrainingSettings
    heuristic: HeuristicConfig = attrs.field(factory=HeuristicConfig)
    signals: SignalConfig = attrs.field(factory=SignalConfig)
    lifecycle: LifecycleConfig = attrs.field(factory=LifecycleConfig)
    needs_data_dir: bool = False
