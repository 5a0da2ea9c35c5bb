"""What an epoch and a run report: the records the engine returns and writes to summary.json."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from esper_core import TelemetryEvent
from esper_shell.model import MorphogeneticModel


@attrs.frozen(kw_only=True)
class EpochSummary:
    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    lr: float
    live_seeds: int
    fossilized_seeds: int
    params: int
    # The op the controller chose (refused or not: the decision event says).
    action: str
    # The governor rolled this epoch back (its losses and accuracy are the broken ones, measured before).
    rolled_back: bool
    seconds: float


@attrs.frozen(kw_only=True)
class EpochResult:
    """One epoch's outcome: its summary and its events, for the caller to record and emit."""

    summary: EpochSummary
    events: tuple[TelemetryEvent, ...]
    # The controller's action was refused (reported in the events, never half-applied).
    refused: bool = False


def final_metrics(history: Sequence[EpochSummary], model: MorphogeneticModel) -> dict[str, Any]:
    return {
        "final_accuracy": history[-1].val_accuracy if history else None,
        "best_accuracy": max((s.val_accuracy for s in history), default=None),
        "params": model.total_params(),
        "host_params": sum(p.numel() for p in model.host_parameters()),
        "fossilized_seeds": model.fossilized_seed_count,
        "seeds_germinated": model.seeds_created,
        "seconds": sum(s.seconds for s in history),
    }
