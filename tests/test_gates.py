"""Quality gates (DESIGN §4): each reports every check it made, passed or failed."""

from __future__ import annotations

import attrs
import pytest

from esper_core import (
    BlendAlgorithm,
    BlendSchedule,
    GateConfig,
    GateResult,
    SeedMetrics,
    SeedStage,
    SeedState,
    gate_embargo_over,
    gate_for,
    gate_g0_germinate,
    gate_g1_training,
    gate_g2_blending,
    gate_g3_probationary,
    gate_g5_fossilized,
)

GATES = GateConfig()


def seed(stage: SeedStage, **metrics: object) -> SeedState:
    return SeedState(
        seed_id="seed-1",
        slot_id="r0c0",
        blueprint_id="conv_light",
        stage=stage,
        blend_algorithm=BlendAlgorithm.LINEAR,
        metrics=SeedMetrics(**metrics),  # type: ignore[arg-type]
    )


def failed_mentioning(result: GateResult, text: str) -> bool:
    return any(text in check for check in result.failed)


class TestGateResult:
    def test_is_ok_without_failed_checks(self) -> None:
        assert GateResult("G1", passed=("a",), failed=()).ok

    def test_is_not_ok_with_a_failed_check(self) -> None:
        assert not GateResult("G1", passed=("a",), failed=("b",)).ok


class TestGateG0Germinate:
    def germinate_gate(self, slot_state: SeedState | None, **overrides: object) -> GateResult:
        arguments: dict[str, object] = {
            "slot_id": "r0c0",
            "seed_id": "seed-1",
            "blueprint_id": "norm",
            "known_blueprints": ("noop", "norm"),
        }
        return gate_g0_germinate(slot_state, **{**arguments, **overrides})  # type: ignore[arg-type]

    def test_passes_for_an_empty_slot(self) -> None:
        result = self.germinate_gate(None)
        assert result.ok and result.gate == "G0"

    def test_passes_for_a_dormant_slot(self) -> None:
        assert self.germinate_gate(seed(SeedStage.DORMANT)).ok

    def test_reports_every_check_as_passed(self) -> None:
        passed = " | ".join(self.germinate_gate(None).passed)
        for check in ("belongs to r0c0", "seed id given", "blueprint id given", "not embargoed", "slot empty", "known"):
            assert check in passed

    def test_fails_for_the_state_of_another_slot(self) -> None:
        result = self.germinate_gate(attrs.evolve(seed(SeedStage.DORMANT), slot_id="r2c1"))
        assert result.failed == ("slot state belongs to r0c0 (r2c1)",)

    def test_fails_without_a_seed_id(self) -> None:
        assert failed_mentioning(self.germinate_gate(None, seed_id=""), "seed id given")

    def test_fails_without_a_blueprint_id(self) -> None:
        assert failed_mentioning(self.germinate_gate(None, blueprint_id=""), "blueprint id given")

    def test_fails_for_an_unknown_blueprint_listing_the_known_ones(self) -> None:
        result = self.germinate_gate(None, blueprint_id="lora")
        assert failed_mentioning(result, "blueprint 'lora' known (known: noop, norm)")

    def test_fails_when_no_blueprint_is_registered(self) -> None:
        assert failed_mentioning(self.germinate_gate(None, known_blueprints=()), "known: none")

    def test_fails_for_an_embargoed_slot(self) -> None:
        result = self.germinate_gate(seed(SeedStage.EMBARGOED))
        assert failed_mentioning(result, "slot not embargoed (stage EMBARGOED)")

    @pytest.mark.parametrize("stage", [s for s in SeedStage if s is not SeedStage.DORMANT], ids=lambda s: s.name)
    def test_fails_for_an_occupied_slot_naming_its_stage(self, stage: SeedStage) -> None:
        assert failed_mentioning(self.germinate_gate(seed(stage)), f"slot empty (stage {stage.name})")


class TestGateG1Training:
    def test_passes_from_germinated(self) -> None:
        result = gate_g1_training(seed(SeedStage.GERMINATED))
        assert result.ok and result.gate == "G1"

    def test_fails_from_another_stage_naming_it(self) -> None:
        assert failed_mentioning(gate_g1_training(seed(SeedStage.TRAINING)), "(TRAINING)")


class TestGateG2Blending:
    def test_passes_after_enough_epochs_with_a_healthy_gradient_ratio(self) -> None:
        result = gate_g2_blending(seed(SeedStage.TRAINING, epochs_in_stage=3, seed_gradient_ratio=0.05), GATES)
        assert result.ok and result.gate == "G2"

    def test_fails_before_enough_epochs_in_stage(self) -> None:
        result = gate_g2_blending(seed(SeedStage.TRAINING, epochs_in_stage=2, seed_gradient_ratio=1.0), GATES)
        assert result.failed == ("epochs in stage 2 >= 3",)

    def test_fails_when_the_gradient_ratio_was_never_measured(self) -> None:
        result = gate_g2_blending(seed(SeedStage.TRAINING, epochs_in_stage=9, seed_gradient_ratio=None), GATES)
        assert result.failed == ("seed gradient ratio None >= 0.05",)

    def test_fails_when_the_gradient_ratio_is_too_small(self) -> None:
        result = gate_g2_blending(seed(SeedStage.TRAINING, epochs_in_stage=9, seed_gradient_ratio=0.049), GATES)
        assert result.failed == ("seed gradient ratio 0.049 >= 0.05",)

    def test_fails_when_gradients_are_not_finite(self) -> None:
        state = seed(SeedStage.TRAINING, epochs_in_stage=9, seed_gradient_ratio=1.0, gradients_finite=False)
        assert gate_g2_blending(state, GATES).failed == ("gradients finite",)

    def test_reports_every_failing_check_at_once(self) -> None:
        state = seed(SeedStage.TRAINING, epochs_in_stage=0, gradients_finite=False)
        assert len(gate_g2_blending(state, GATES).failed) == 3

    def test_reads_thresholds_from_the_config(self) -> None:
        config = GateConfig(min_training_epochs=1, min_gradient_ratio=0.5)
        assert gate_g2_blending(seed(SeedStage.TRAINING, epochs_in_stage=1, seed_gradient_ratio=0.5), config).ok


class TestGateG3Probationary:
    def blending(self, algorithm: BlendAlgorithm, current_step: int, alpha: float) -> SeedState:
        return attrs.evolve(
            seed(SeedStage.BLENDING),
            blend_algorithm=algorithm,
            alpha=alpha,
            blend=BlendSchedule(algorithm=algorithm, total_steps=4, current_step=current_step),
        )

    def test_passes_when_the_schedule_is_complete(self) -> None:
        result = gate_g3_probationary(self.blending(BlendAlgorithm.LINEAR, 4, 1.0))
        assert result.ok and result.gate == "G3"

    def test_fails_before_the_schedule_is_complete_showing_progress(self) -> None:
        result = gate_g3_probationary(self.blending(BlendAlgorithm.LINEAR, 3, 0.75))
        assert result.failed == ("blend schedule complete (3/4)",)

    def test_fails_without_a_schedule(self) -> None:
        assert failed_mentioning(gate_g3_probationary(seed(SeedStage.BLENDING)), "no schedule")

    def test_gated_alpha_at_one_does_not_pass_an_incomplete_schedule(self) -> None:
        assert not gate_g3_probationary(self.blending(BlendAlgorithm.GATED, 1, 1.0)).ok

    def test_gated_alpha_at_zero_does_not_block_a_complete_schedule(self) -> None:
        assert gate_g3_probationary(self.blending(BlendAlgorithm.GATED, 4, 0.0)).ok


class TestGateG5Fossilized:
    def test_passes_with_contribution_at_the_threshold(self) -> None:
        result = gate_g5_fossilized(seed(SeedStage.PROBATIONARY, counterfactual_contribution=1.0), GATES)
        assert result.ok and result.gate == "G5"

    def test_fails_when_contribution_was_never_measured(self) -> None:
        result = gate_g5_fossilized(seed(SeedStage.PROBATIONARY), GATES)
        assert result.failed == ("counterfactual contribution None >= 1.0",)

    def test_fails_when_contribution_is_below_the_threshold(self) -> None:
        result = gate_g5_fossilized(seed(SeedStage.PROBATIONARY, counterfactual_contribution=0.99), GATES)
        assert result.failed == ("counterfactual contribution 0.99 >= 1.0",)

    def test_fails_for_an_unhealthy_seed(self) -> None:
        state = seed(SeedStage.PROBATIONARY, counterfactual_contribution=5.0, gradients_finite=False)
        assert gate_g5_fossilized(state, GATES).failed == ("seed healthy (gradients finite)",)

    def test_reads_the_threshold_from_the_config(self) -> None:
        state = seed(SeedStage.PROBATIONARY, counterfactual_contribution=0.2)
        assert gate_g5_fossilized(state, GateConfig(min_contribution=0.1)).ok


class TestGateEmbargoOver:
    def test_passes_when_the_countdown_reached_zero(self) -> None:
        assert gate_embargo_over(seed(SeedStage.EMBARGOED)).ok

    def test_fails_while_epochs_remain(self) -> None:
        state = attrs.evolve(seed(SeedStage.EMBARGOED), embargo_remaining=2)
        assert gate_embargo_over(state).failed == ("embargo remaining 2 == 0",)


class TestGateFor:
    @pytest.mark.parametrize(
        ("target", "gate"),
        [
            (SeedStage.TRAINING, "G1"),
            (SeedStage.BLENDING, "G2"),
            (SeedStage.PROBATIONARY, "G3"),
            (SeedStage.FOSSILIZED, "G5"),
            (SeedStage.DORMANT, "embargo"),
        ],
    )
    def test_picks_the_gate_guarding_the_target(self, target: SeedStage, gate: str) -> None:
        result = gate_for(seed(SeedStage.TRAINING), target, GATES)
        assert result is not None and result.gate == gate

    @pytest.mark.parametrize("target", [SeedStage.CULLED, SeedStage.EMBARGOED])
    def test_entry_without_a_gate_gives_none(self, target: SeedStage) -> None:
        assert gate_for(seed(SeedStage.TRAINING), target, GATES) is None
