"""Quality gates: pure checks that a stage may be entered, each reporting every check."""

from __future__ import annotations

from collections.abc import Collection

import attrs

from esper_core.config import GateConfig
from esper_core.stages import SeedStage
from esper_core.state import SeedState


@attrs.frozen
class GateResult:
    gate: str
    passed: tuple[str, ...]
    failed: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failed


def _result(gate: str, checks: list[tuple[bool, str]]) -> GateResult:
    return GateResult(
        gate,
        passed=tuple(text for ok, text in checks if ok),
        failed=tuple(text for ok, text in checks if not ok),
    )


def gate_g0_germinate(
    slot_state: SeedState | None,
    *,
    slot_id: str,
    seed_id: str,
    blueprint_id: str,
    known_blueprints: Collection[str],
) -> GateResult:
    """A seed may be born: ids given, slot empty and not under embargo, blueprint known."""
    stage = slot_state.stage if slot_state is not None else SeedStage.DORMANT
    previous_slot = slot_id if slot_state is None else slot_state.slot_id
    return _result(
        "G0",
        [
            (previous_slot == slot_id, f"slot state belongs to {slot_id} ({previous_slot})"),
            (bool(seed_id), f"seed id given ({seed_id!r})"),
            (bool(blueprint_id), f"blueprint id given ({blueprint_id!r})"),
            (stage is not SeedStage.EMBARGOED, f"slot not embargoed (stage {stage.name})"),
            (stage is SeedStage.DORMANT, f"slot empty (stage {stage.name})"),
            (
                blueprint_id in known_blueprints,
                f"blueprint {blueprint_id!r} known (known: {', '.join(sorted(known_blueprints)) or 'none'})",
            ),
        ],
    )


def gate_g1_training(state: SeedState) -> GateResult:
    return _result("G1", [(state.stage is SeedStage.GERMINATED, f"stage is GERMINATED ({state.stage.name})")])


def gate_g2_blending(state: SeedState, config: GateConfig) -> GateResult:
    """Enough training, and the seed is actually learning (its gradients are not negligible)."""
    metrics = state.metrics
    ratio = metrics.seed_gradient_ratio
    return _result(
        "G2",
        [
            (
                metrics.epochs_in_stage >= config.min_training_epochs,
                f"epochs in stage {metrics.epochs_in_stage} >= {config.min_training_epochs}",
            ),
            (
                ratio is not None and ratio >= config.min_gradient_ratio,
                f"seed gradient ratio {ratio} >= {config.min_gradient_ratio}",
            ),
            (metrics.gradients_finite, "gradients finite"),
        ],
    )


def gate_g3_probationary(state: SeedState) -> GateResult:
    """Blending is complete. Reads the schedule, never a gate's per-sample alpha."""
    schedule = state.blend
    done = schedule is not None and schedule.complete
    progress = "no schedule" if schedule is None else f"{schedule.current_step}/{schedule.total_steps}"
    return _result("G3", [(done, f"blend schedule complete ({progress})")])


def gate_g5_fossilized(state: SeedState, config: GateConfig) -> GateResult:
    """The seed measurably helps: removing it costs at least ``min_contribution`` points."""
    contribution = state.metrics.counterfactual_contribution
    return _result(
        "G5",
        [
            (
                contribution is not None and contribution >= config.min_contribution,
                f"counterfactual contribution {contribution} >= {config.min_contribution}",
            ),
            (state.metrics.gradients_finite, "seed healthy (gradients finite)"),
        ],
    )


def gate_embargo_over(state: SeedState) -> GateResult:
    return _result("embargo", [(state.embargo_remaining == 0, f"embargo remaining {state.embargo_remaining} == 0")])


def gate_for(state: SeedState, target: SeedStage, config: GateConfig) -> GateResult | None:
    """The gate guarding ``target``; None where entry is unconditional (culling)."""
    match target:
        case SeedStage.TRAINING:
            return gate_g1_training(state)
        case SeedStage.BLENDING:
            return gate_g2_blending(state, config)
        case SeedStage.PROBATIONARY:
            return gate_g3_probationary(state)
        case SeedStage.FOSSILIZED:
            return gate_g5_fossilized(state, config)
        case SeedStage.DORMANT:
            return gate_embargo_over(state)
        case _:
            return None
