"""Per-epoch snapshots of every occupied slot: what swimlanes, TensorBoard and the live view draw.

Lifecycle events say when a stage changed; these say what each seed looked like at the end
of every epoch (stage, alpha, contribution, parameters), which no other event carries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from esper_core import SeedStage, Severity, TelemetryEvent

if TYPE_CHECKING:
    from esper_shell.model import MorphogeneticModel


def slot_events(model: MorphogeneticModel, epoch: int) -> list[TelemetryEvent]:
    """One ``slot`` event per slot holding a seed record (empty and DORMANT slots are skipped)."""
    events = []
    for slot_id, slot in model.seed_slots.items():
        state = slot.state
        if state is None or state.stage is SeedStage.DORMANT:
            continue
        metrics = state.metrics
        events.append(
            TelemetryEvent(
                kind="slot",
                epoch=epoch,
                slot_id=slot_id,
                seed_id=state.seed_id,
                severity=Severity.DEBUG,
                payload={
                    "stage": state.stage.name,
                    "blueprint": state.blueprint_id,
                    "alpha": slot.alpha,
                    "epochs_in_stage": metrics.epochs_in_stage,
                    "contribution": metrics.counterfactual_contribution,
                    "gradient_ratio": metrics.seed_gradient_ratio,
                    "seed_params": metrics.seed_param_count,
                },
            )
        )
    return events
