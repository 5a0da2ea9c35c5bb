"""The records that describe one seed: its measurements, its history and its state."""

from __future__ import annotations

import attrs
from attrs.validators import ge, instance_of, le

from esper_core.blending import BlendAlgorithm, BlendSchedule
from esper_core.slot_ids import parse_slot_id
from esper_core.stages import SeedStage


@attrs.frozen(kw_only=True)
class SeedMetrics:
    """What the shell measured about a seed. Accuracies are percentages (0-100)."""

    epochs_total: int = attrs.field(default=0, validator=ge(0))
    epochs_in_stage: int = attrs.field(default=0, validator=ge(0))
    accuracy_at_germination: float = 0.0
    accuracy_at_stage_start: float = 0.0
    accuracy_at_blending_start: float | None = None
    current_accuracy: float = 0.0
    best_accuracy: float = 0.0
    # Accuracy lost when this seed's alpha is forced to 0; None until measured.
    counterfactual_contribution: float | None = None
    # Parameter-normalised seed/host gradient-norm ratio (EMA); None until measured.
    seed_gradient_ratio: float | None = None
    gradients_finite: bool = True
    seed_param_count: int = attrs.field(default=0, validator=ge(0))
    host_param_count: int = attrs.field(default=0, validator=ge(0))

    @property
    def accuracy_change_in_stage(self) -> float:
        return self.current_accuracy - self.accuracy_at_stage_start


@attrs.frozen
class StageRecord:
    stage: SeedStage
    epoch: int
    timestamp: float


def _canonical_slot_id(_instance: object, _attribute: object, value: str) -> None:
    parse_slot_id(value)


@attrs.frozen(kw_only=True)
class SeedState:
    """One seed in one slot. ``DORMANT`` means the slot is empty and may germinate again."""

    seed_id: str
    slot_id: str = attrs.field(validator=_canonical_slot_id)
    blueprint_id: str
    stage: SeedStage = attrs.field(validator=instance_of(SeedStage))
    blend_algorithm: BlendAlgorithm = attrs.field(validator=instance_of(BlendAlgorithm))
    alpha: float = attrs.field(default=0.0, validator=[ge(0.0), le(1.0)])
    blend: BlendSchedule | None = None
    embargo_remaining: int = attrs.field(default=0, validator=ge(0))
    stage_entered_at: float = 0.0
    metrics: SeedMetrics = attrs.field(factory=SeedMetrics)
    history: tuple[StageRecord, ...] = ()
