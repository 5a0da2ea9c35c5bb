"""What a run trains on (``Task``), and the built-in tasks' presets (``TaskPreset``).

A ``Task`` is what a user hands the engine for their own model and data: a host factory,
the training batches of one epoch (drawn with the engine's generator, so that two runs of
one seed see one batch order whatever else consumes randomness, and a resumed run the same
order again), re-iterable validation batches, the number of classes and a loss.

A ``TaskPreset`` is a built-in task: how to load its data for a seed, and the run settings it
is tuned for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import attrs
import torch
import torch.nn.functional as F
from attrs.validators import ge
from torch import nn

from esper_core import (
    ConfigError,
    HeuristicConfig,
    HeuristicControllerConfig,
    LifecycleConfig,
    RunConfig,
    SignalConfig,
    TrainingConfig,
)

Batch = tuple[torch.Tensor, torch.Tensor]
# (generator, batch_size) -> one epoch of training batches, shuffled with that generator; e.g.
# lambda generator, batch_size: DataLoader(dataset, batch_size, shuffle=True, generator=generator)
TrainBatches = Callable[[torch.Generator, int], Iterable[Batch]]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

EMBEDDED_DATA_DIR_MESSAGE = "Task {task!r} is embedded and reads no data directory; drop --data-dir."
ONE_SHOT_VAL_MESSAGE = (
    "Task {task!r}: val is a one-shot iterator, but it is read every epoch; pass something "
    "re-iterable (a DataLoader, a list of (x, y) batches)."
)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the last axis: (B, C) classification or (B, T, V) next-token logits."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def _reiterable(instance: Task, _attribute: object, value: Iterable[Batch]) -> None:
    if isinstance(value, Iterator):
        raise ConfigError(ONE_SHOT_VAL_MESSAGE.format(task=instance.name), value=value)


@attrs.frozen(kw_only=True)
class Task:
    """A classification task: accuracy is ``argmax(logits, -1) == targets``."""

    name: str
    build_host: Callable[[], nn.Module]
    train: TrainBatches
    val: Iterable[Batch] = attrs.field(validator=_reiterable)
    num_classes: int = attrs.field(validator=ge(1))
    loss: LossFn = cross_entropy


@attrs.frozen(kw_only=True)
class TaskPreset:
    """A built-in task and the settings it is tuned for (docs/tasks.md)."""

    name: str
    description: str
    topology: str
    build_host: Callable[[], nn.Module]
    # (seed, batch_size, data_dir) -> the task; the seed chooses the data split where there is one.
    load: Callable[[int, int, Path | None], Task]
    slots: tuple[str, ...]
    training: TrainingConfig
    threads: int = attrs.field(default=1, validator=ge(1))
    max_seeds: int = attrs.field(default=3, validator=ge(0))
    heuristic: HeuristicConfig = attrs.field(factory=HeuristicConfig)
    signals: SignalConfig = attrs.field(factory=SignalConfig)
    lifecycle: LifecycleConfig = attrs.field(factory=LifecycleConfig)
    # Reads a local copy of its data (--data-dir); embedded tasks refuse one.
    needs_data_dir: bool = False

    def task(self, seed: int, batch_size: int, data_dir: str | None) -> Task:
        """The data for a run of this seed and batch size; a data directory only where it reads one."""
        if data_dir is not None and not self.needs_data_dir:
            raise ConfigError(EMBEDDED_DATA_DIR_MESSAGE.format(task=self.name), value=data_dir)
        return self.load(seed, batch_size, Path(data_dir) if data_dir is not None else None)

    def run_config(self) -> RunConfig:
        """The run this preset is tuned for, grown by the heuristic."""
        return RunConfig(
            task=self.name,
            slots=self.slots,
            max_seeds=self.max_seeds,
            training=self.training,
            controller=HeuristicControllerConfig(heuristic=self.heuristic),
            lifecycle=self.lifecycle,
            signals=self.signals,
        )
