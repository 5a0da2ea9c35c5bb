"""Put a seed in a chosen stage without training: for benchmarks and tests.

The seed walks the real lifecycle (every move goes through the core and its gates); only
the measurements a gate reads are supplied instead of earned by training.
"""

from __future__ import annotations

from esper_core import BlendAlgorithm, SeedStage, record_contribution, record_gradient_health, tick_epoch
from esper_shell.model import MorphogeneticModel

HAPPY_PATH = (SeedStage.TRAINING, SeedStage.BLENDING, SeedStage.PROBATIONARY, SeedStage.FOSSILIZED)
# What a healthy, helpful seed would measure: well past the default G2 and G5 thresholds.
HEALTHY_GRADIENT_RATIO = 1.0
HELPFUL_CONTRIBUTION = 5.0


def walk_to_stage(
    model: MorphogeneticModel,
    slot_id: str,
    stage: SeedStage,
    *,
    blueprint: str,
    blend: BlendAlgorithm | str = "linear",
    blend_steps_done: int = 0,
) -> None:
    """Germinate a seed in ``slot_id`` and move it along the happy path up to ``stage``.

    ``blend_steps_done`` blending steps are taken after entering BLENDING (when ``stage`` is
    BLENDING or later).
    """
    model.germinate(slot_id, blueprint, blend=blend)
    slot = model.slot(slot_id)
    gates = model.lifecycle_config.gates
    for target in HAPPY_PATH:
        if stage is SeedStage.GERMINATED:
            return
        if target is SeedStage.BLENDING:
            ratio = max(HEALTHY_GRADIENT_RATIO, gates.min_gradient_ratio)
            state = record_gradient_health(slot.state, ratio=ratio, finite=True)
            for _ in range(gates.min_training_epochs):
                state = tick_epoch(state, model.context())
            slot.update_state(state)
        if target is SeedStage.PROBATIONARY:
            for _ in range(model.lifecycle_config.blend_steps):
                slot.update_state(tick_epoch(slot.state, model.context()))
        if target is SeedStage.FOSSILIZED:
            contribution = max(HELPFUL_CONTRIBUTION, gates.min_contribution)
            slot.update_state(record_contribution(slot.state, contribution))
        model.advance_stage(slot_id, target)
        if target is SeedStage.BLENDING:
            for _ in range(blend_steps_done):
                slot.update_state(tick_epoch(slot.state, model.context()))
        if target is stage:
            return
