"""The lifecycle reducer (DESIGN §4): entry effects, legality, gates and automatic progression."""

from __future__ import annotations

import attrs
import pytest
from returns.result import Failure, Success

from esper_core import (
    BlendAlgorithm,
    BlendSchedule,
    BuildGate,
    BuildSeed,
    DiscardGate,
    DropSeed,
    Effect,
    Emit,
    GateFailedError,
    GateResult,
    IllegalTransitionError,
    LifecycleConfig,
    LifecycleError,
    SeedMetrics,
    SeedStage,
    SeedState,
    SlotIdError,
    StageContext,
    StageRecord,
    advance_stage,
    automatic_target,
    cull,
    fossilize,
    germinate,
    isolates_gradients,
    on_enter_stage,
    record_accuracy,
    record_contribution,
    record_gradient_health,
    record_measured_alpha,
    step_epoch,
    tick_epoch,
)

S = SeedStage
CONFIG = LifecycleConfig(blend_steps=3, probation_epochs=2, embargo_epochs=2)
BLUEPRINTS = ("noop", "conv_light")


def ctx(epoch: int = 7, config: LifecycleConfig = CONFIG) -> StageContext:
    return StageContext(epoch=epoch, timestamp=1000.0 + epoch, config=config)


def state_in(stage: SeedStage, blend: BlendAlgorithm = BlendAlgorithm.LINEAR, **metrics: object) -> SeedState:
    """A seed already in ``stage`` with the fields that stage implies (built directly, not driven)."""
    schedule = BlendSchedule(algorithm=blend, total_steps=CONFIG.blend_steps) if stage is S.BLENDING else None
    alpha = 1.0 if stage in (S.PROBATIONARY, S.FOSSILIZED) else 0.0
    return SeedState(
        seed_id="seed-1",
        slot_id="r1c0",
        blueprint_id="conv_light",
        stage=stage,
        blend_algorithm=blend,
        alpha=alpha,
        blend=schedule,
        embargo_remaining=CONFIG.embargo_epochs if stage is S.EMBARGOED else 0,
        metrics=SeedMetrics(**metrics),  # type: ignore[arg-type]
    )


def planted(blend: BlendAlgorithm = BlendAlgorithm.LINEAR, slot_state: SeedState | None = None) -> SeedState:
    result = germinate(
        slot_state,
        slot_id="r1c0",
        seed_id="seed-1",
        blueprint_id="conv_light",
        known_blueprints=BLUEPRINTS,
        ctx=ctx(epoch=0),
        blend=blend,
        accuracy=40.0,
    )
    return result.unwrap()[0]


def ready_to_blend(state: SeedState) -> SeedState:
    return record_gradient_health(state, ratio=1.0, finite=True)


def run_epochs(state: SeedState, epochs: int, first_epoch: int = 1) -> tuple[SeedState, list[Effect]]:
    effects: list[Effect] = []
    for epoch in range(first_epoch, first_epoch + epochs):
        state, step_effects = step_epoch(state, ctx(epoch))
        effects += step_effects
    return state, effects


def emitted(effects: tuple[Effect, ...] | list[Effect], kind: str) -> list[Emit]:
    return [e for e in effects if isinstance(e, Emit) and e.event.kind == kind]


def of_type(effects: tuple[Effect, ...] | list[Effect], kind: type) -> list[Effect]:
    return [e for e in effects if isinstance(e, kind)]


class TestOnEnterStageCommon:
    def test_sets_the_stage(self) -> None:
        new_state, _ = on_enter_stage(state_in(S.GERMINATED), S.TRAINING, ctx())
        assert new_state.stage is S.TRAINING

    def test_records_the_timestamp_passed_in(self) -> None:
        new_state, _ = on_enter_stage(state_in(S.GERMINATED), S.TRAINING, ctx(epoch=4))
        assert new_state.stage_entered_at == 1004.0

    def test_appends_stage_epoch_and_timestamp_to_history(self) -> None:
        new_state, _ = on_enter_stage(state_in(S.GERMINATED), S.TRAINING, ctx(epoch=4))
        assert new_state.history[-1] == StageRecord(S.TRAINING, 4, 1004.0)

    def test_restarts_the_stage_clock(self) -> None:
        new_state, _ = on_enter_stage(state_in(S.GERMINATED, epochs_in_stage=6, epochs_total=9), S.TRAINING, ctx())
        assert (new_state.metrics.epochs_in_stage, new_state.metrics.epochs_total) == (0, 9)

    def test_snapshots_the_accuracy_at_stage_start(self) -> None:
        new_state, _ = on_enter_stage(state_in(S.GERMINATED, current_accuracy=61.5), S.TRAINING, ctx())
        assert new_state.metrics.accuracy_at_stage_start == 61.5

    def test_emits_stage_entered_naming_both_stages(self) -> None:
        _, effects = on_enter_stage(state_in(S.GERMINATED), S.TRAINING, ctx(epoch=4))
        [emit] = emitted(effects, "stage_entered")
        event = emit.event
        assert (event.epoch, event.slot_id, event.seed_id) == (4, "r1c0", "seed-1")
        assert event.payload == {"from": "GERMINATED", "to": "TRAINING", "blueprint": "conv_light"}

    def test_stage_entered_is_the_last_effect(self) -> None:
        _, effects = on_enter_stage(state_in(S.TRAINING), S.BLENDING, ctx())
        assert effects[-1] == emitted(effects, "stage_entered")[0]

    def test_history_keeps_only_the_last_history_limit_entries(self) -> None:
        config = attrs.evolve(CONFIG, history_limit=3)
        records = tuple(StageRecord(S.TRAINING, epoch, float(epoch)) for epoch in range(3))
        state = attrs.evolve(state_in(S.TRAINING), history=records)
        new_state, _ = on_enter_stage(state, S.CULLED, ctx(epoch=9, config=config))
        assert new_state.history == (*records[1:], StageRecord(S.CULLED, 9, 1009.0))


class TestEnteringGerminated:
    def dormant_with_old_metrics(self) -> SeedState:
        metrics = SeedMetrics(
            epochs_total=12,
            epochs_in_stage=4,
            current_accuracy=55.0,
            best_accuracy=70.0,
            counterfactual_contribution=3.0,
            seed_gradient_ratio=0.4,
            gradients_finite=False,
            seed_param_count=10,
            host_param_count=1000,
        )
        return attrs.evolve(state_in(S.DORMANT), metrics=metrics, alpha=0.0)

    def test_resets_metrics_keeping_accuracy_and_parameter_counts(self) -> None:
        new_state, _ = on_enter_stage(self.dormant_with_old_metrics(), S.GERMINATED, ctx())
        assert new_state.metrics == SeedMetrics(
            accuracy_at_germination=55.0,
            accuracy_at_stage_start=55.0,
            current_accuracy=55.0,
            best_accuracy=55.0,
            seed_param_count=10,
            host_param_count=1000,
        )

    def test_alpha_is_zero_and_isolation_on(self) -> None:
        new_state, _ = on_enter_stage(self.dormant_with_old_metrics(), S.GERMINATED, ctx())
        assert (new_state.alpha, isolates_gradients(new_state.stage), new_state.blend) == (0.0, True, None)

    def test_builds_the_seed(self) -> None:
        _, effects = on_enter_stage(self.dormant_with_old_metrics(), S.GERMINATED, ctx())
        assert effects[0] == BuildSeed("conv_light")


class TestEnteringTraining:
    def test_alpha_is_zero_and_isolation_on(self) -> None:
        new_state, _ = on_enter_stage(state_in(S.GERMINATED), S.TRAINING, ctx())
        assert (new_state.alpha, isolates_gradients(new_state.stage)) == (0.0, True)


class TestEnteringBlending:
    @pytest.mark.parametrize("blend", list(BlendAlgorithm), ids=lambda b: b.name)
    def test_initialises_the_schedule_from_the_config(self, blend: BlendAlgorithm) -> None:
        new_state, _ = on_enter_stage(state_in(S.TRAINING, blend), S.BLENDING, ctx())
        assert new_state.blend == BlendSchedule(algorithm=blend, total_steps=3, current_step=0)

    @pytest.mark.parametrize("blend", list(BlendAlgorithm), ids=lambda b: b.name)
    def test_starts_at_alpha_zero(self, blend: BlendAlgorithm) -> None:
        new_state, _ = on_enter_stage(state_in(S.TRAINING, blend), S.BLENDING, ctx())
        assert new_state.alpha == 0.0

    def test_snapshots_the_accuracy_at_blending_start(self) -> None:
        new_state, _ = on_enter_stage(state_in(S.TRAINING, current_accuracy=73.0), S.BLENDING, ctx())
        assert new_state.metrics.accuracy_at_blending_start == 73.0

    def test_keeps_isolation_on(self) -> None:
        new_state, _ = on_enter_stage(state_in(S.TRAINING), S.BLENDING, ctx())
        assert isolates_gradients(new_state.stage)

    def test_gated_blend_builds_the_gate(self) -> None:
        _, effects = on_enter_stage(state_in(S.TRAINING, BlendAlgorithm.GATED), S.BLENDING, ctx())
        assert of_type(effects, BuildGate) == [BuildGate()]

    @pytest.mark.parametrize("blend", [BlendAlgorithm.LINEAR, BlendAlgorithm.SIGMOID], ids=lambda b: b.name)
    def test_scheduled_blends_build_no_gate(self, blend: BlendAlgorithm) -> None:
        _, effects = on_enter_stage(state_in(S.TRAINING, blend), S.BLENDING, ctx())
        assert of_type(effects, BuildGate) == []


class TestEnteringProbationary:
    def test_removes_the_schedule_and_sets_alpha_to_one(self) -> None:
        new_state, _ = on_enter_stage(state_in(S.BLENDING), S.PROBATIONARY, ctx())
        assert (new_state.blend, new_state.alpha) == (None, 1.0)

    def test_turns_isolation_off(self) -> None:
        new_state, _ = on_enter_stage(state_in(S.BLENDING), S.PROBATIONARY, ctx())
        assert not isolates_gradients(new_state.stage)

    def test_discards_the_gate_of_a_gated_blend(self) -> None:
        blending = attrs.evolve(state_in(S.BLENDING, BlendAlgorithm.GATED), alpha=0.37)
        new_state, effects = on_enter_stage(blending, S.PROBATIONARY, ctx())
        assert of_type(effects, DiscardGate) == [DiscardGate()]
        assert new_state.alpha == 1.0

    def test_scheduled_blend_discards_no_gate(self) -> None:
        _, effects = on_enter_stage(state_in(S.BLENDING, BlendAlgorithm.SIGMOID), S.PROBATIONARY, ctx())
        assert of_type(effects, DiscardGate) == []


class TestEnteringFossilized:
    def test_alpha_is_one_and_isolation_off(self) -> None:
        new_state, _ = on_enter_stage(state_in(S.PROBATIONARY), S.FOSSILIZED, ctx())
        assert (new_state.alpha, isolates_gradients(new_state.stage), new_state.blend) == (1.0, False, None)


class TestEnteringCulled:
    @pytest.mark.parametrize("stage", [S.GERMINATED, S.TRAINING, S.BLENDING, S.PROBATIONARY], ids=lambda s: s.name)
    def test_drops_the_seed_and_zeroes_alpha(self, stage: SeedStage) -> None:
        new_state, effects = on_enter_stage(state_in(stage), S.CULLED, ctx())
        assert (new_state.alpha, new_state.blend, isolates_gradients(new_state.stage)) == (0.0, None, False)
        assert of_type(effects, DropSeed) == [DropSeed()]

    def test_culling_a_gated_blend_discards_the_gate(self) -> None:
        _, effects = on_enter_stage(state_in(S.BLENDING, BlendAlgorithm.GATED), S.CULLED, ctx())
        assert of_type(effects, DiscardGate) == [DiscardGate()]


class TestEnteringEmbargoed:
    def test_starts_the_cooldown_from_the_config(self) -> None:
        new_state, _ = on_enter_stage(
            state_in(S.CULLED), S.EMBARGOED, ctx(config=attrs.evolve(CONFIG, embargo_epochs=4))
        )
        assert new_state.embargo_remaining == 4

    def test_default_cooldown_is_five_epochs(self) -> None:
        new_state, _ = on_enter_stage(state_in(S.CULLED), S.EMBARGOED, ctx(config=LifecycleConfig()))
        assert new_state.embargo_remaining == 5


class TestEnteringDormant:
    def test_leaves_an_empty_slot(self) -> None:
        new_state, effects = on_enter_stage(state_in(S.EMBARGOED), S.DORMANT, ctx())
        assert (new_state.alpha, new_state.blend, isolates_gradients(new_state.stage), new_state.embargo_remaining) == (
            0.0,
            None,
            False,
            0,
        )
        assert [type(e) for e in effects] == [Emit]


class TestAdvanceStage:
    def test_legal_move_with_a_passing_gate_succeeds(self) -> None:
        result = advance_stage(state_in(S.GERMINATED), S.TRAINING, ctx())
        assert isinstance(result, Success)
        assert result.unwrap()[0].stage is S.TRAINING

    def test_reports_the_gate_before_the_entry_effects(self) -> None:
        _, effects = advance_stage(state_in(S.GERMINATED), S.TRAINING, ctx()).unwrap()
        assert isinstance(effects[0], Emit) and effects[0].event.kind == "gate"
        assert effects[0].event.payload == {"gate": "G1", "passed": True, "failed": ""}

    def test_has_the_same_result_as_on_enter_stage_after_the_gate_report(self) -> None:
        state = state_in(S.TRAINING, epochs_in_stage=3, seed_gradient_ratio=0.1)
        new_state, effects = advance_stage(state, S.BLENDING, ctx()).unwrap()
        assert (new_state, effects[1:]) == on_enter_stage(state, S.BLENDING, ctx())

    def test_ungated_move_reports_no_gate(self) -> None:
        _, effects = advance_stage(state_in(S.TRAINING), S.CULLED, ctx()).unwrap()
        assert emitted(effects, "gate") == []

    def test_illegal_move_is_failure_naming_stage_and_legal_targets(self) -> None:
        result = advance_stage(state_in(S.TRAINING), S.FOSSILIZED, ctx())
        assert isinstance(result, Failure)
        error = result.failure()
        assert isinstance(error, IllegalTransitionError)
        assert "from TRAINING to FOSSILIZED" in str(error)
        assert "legal targets: BLENDING, CULLED" in str(error)

    def test_illegal_move_names_the_seed_and_slot(self) -> None:
        error = advance_stage(state_in(S.TRAINING), S.DORMANT, ctx()).failure()
        assert "'seed-1'" in str(error) and "r1c0" in str(error)

    def test_any_move_out_of_fossilized_is_illegal_and_says_terminal(self) -> None:
        error = advance_stage(state_in(S.FOSSILIZED), S.CULLED, ctx()).failure()
        assert isinstance(error, IllegalTransitionError)
        assert "none (terminal)" in str(error)

    def test_moving_to_the_current_stage_is_illegal(self) -> None:
        assert isinstance(advance_stage(state_in(S.TRAINING), S.TRAINING, ctx()).failure(), IllegalTransitionError)

    def test_germinated_is_reached_only_through_germinate(self) -> None:
        error = advance_stage(state_in(S.DORMANT), S.GERMINATED, ctx()).failure()
        assert isinstance(error, IllegalTransitionError)
        assert "germinate()" in str(error)

    def test_failed_gate_is_failure_carrying_the_gate_result(self) -> None:
        result = advance_stage(state_in(S.TRAINING, epochs_in_stage=1), S.BLENDING, ctx())
        error = result.failure()
        assert isinstance(error, GateFailedError)
        assert isinstance(error.result, GateResult)
        assert error.result.gate == "G2" and not error.result.ok

    def test_failed_gate_message_names_target_gate_and_failed_checks(self) -> None:
        error = advance_stage(state_in(S.TRAINING, epochs_in_stage=1), S.BLENDING, ctx()).failure()
        message = str(error)
        assert "cannot enter BLENDING" in message and "gate G2 failed" in message
        assert "epochs in stage 1 >= 3" in message

    def test_lifecycle_errors_are_value_errors(self) -> None:
        assert isinstance(advance_stage(state_in(S.TRAINING), S.FOSSILIZED, ctx()).failure(), ValueError)

    def test_embargo_blocks_an_early_return_to_dormant(self) -> None:
        error = advance_stage(state_in(S.EMBARGOED), S.DORMANT, ctx()).failure()
        assert isinstance(error, GateFailedError) and error.result.gate == "embargo"


class TestGerminate:
    def test_plants_a_seed_in_an_empty_slot(self) -> None:
        state = planted()
        assert (state.stage, state.slot_id, state.seed_id, state.blueprint_id) == (
            S.GERMINATED,
            "r1c0",
            "seed-1",
            "conv_light",
        )

    def test_snapshots_the_accuracy_at_germination(self) -> None:
        assert planted().metrics.accuracy_at_germination == 40.0

    def test_records_parameter_counts(self) -> None:
        result = germinate(
            None,
            slot_id="r0c0",
            seed_id="s",
            blueprint_id="noop",
            known_blueprints=BLUEPRINTS,
            ctx=ctx(),
            seed_param_count=12,
            host_param_count=3400,
        )
        metrics = result.unwrap()[0].metrics
        assert (metrics.seed_param_count, metrics.host_param_count) == (12, 3400)

    def test_uses_the_configured_default_blend(self) -> None:
        config = attrs.evolve(CONFIG, default_blend=BlendAlgorithm.GATED)
        result = germinate(
            None, slot_id="r0c0", seed_id="s", blueprint_id="noop", known_blueprints=BLUEPRINTS, ctx=ctx(config=config)
        )
        assert result.unwrap()[0].blend_algorithm is BlendAlgorithm.GATED

    def test_uses_the_requested_blend(self) -> None:
        assert planted(BlendAlgorithm.SIGMOID).blend_algorithm is BlendAlgorithm.SIGMOID

    def test_emits_gate_build_and_stage_entered(self) -> None:
        _, effects = germinate(
            None, slot_id="r1c0", seed_id="s", blueprint_id="noop", known_blueprints=BLUEPRINTS, ctx=ctx()
        ).unwrap()
        assert [type(e) for e in effects] == [Emit, BuildSeed, Emit]
        assert effects[0].event.payload["gate"] == "G0"  # type: ignore[union-attr]
        assert effects[1] == BuildSeed("noop")

    def test_history_starts_with_germination(self) -> None:
        assert planted().history == (StageRecord(S.GERMINATED, 0, 1000.0),)

    def test_germinates_again_from_a_dormant_slot(self) -> None:
        state = planted(slot_state=state_in(S.DORMANT))
        assert state.stage is S.GERMINATED

    def test_embargoed_slot_fails_g0(self) -> None:
        result = germinate(
            state_in(S.EMBARGOED),
            slot_id="r1c0",
            seed_id="s",
            blueprint_id="noop",
            known_blueprints=BLUEPRINTS,
            ctx=ctx(),
        )
        error = result.failure()
        assert isinstance(error, GateFailedError)
        assert error.result.gate == "G0"
        assert "slot not embargoed (stage EMBARGOED)" in str(error)

    @pytest.mark.parametrize("stage", [S.TRAINING, S.FOSSILIZED, S.CULLED], ids=lambda s: s.name)
    def test_occupied_slot_fails_g0(self, stage: SeedStage) -> None:
        result = germinate(
            state_in(stage), slot_id="r1c0", seed_id="s", blueprint_id="noop", known_blueprints=BLUEPRINTS, ctx=ctx()
        )
        error = result.failure()
        assert isinstance(error, GateFailedError)
        assert f"slot empty (stage {stage.name})" in str(error)

    def test_unknown_blueprint_fails_g0_listing_known_ones(self) -> None:
        result = germinate(
            None, slot_id="r1c0", seed_id="s", blueprint_id="lora", known_blueprints=BLUEPRINTS, ctx=ctx()
        )
        assert "blueprint 'lora' known (known: conv_light, noop)" in str(result.failure())

    def test_non_canonical_slot_id_is_a_slot_id_error(self) -> None:
        result = germinate(
            None, slot_id="early", seed_id="s", blueprint_id="noop", known_blueprints=BLUEPRINTS, ctx=ctx()
        )
        error = result.failure()
        assert isinstance(error, SlotIdError)
        assert "r0c0" in str(error)


class TestCull:
    @pytest.mark.parametrize("stage", [S.GERMINATED, S.TRAINING, S.BLENDING, S.PROBATIONARY], ids=lambda s: s.name)
    def test_culls_a_live_seed(self, stage: SeedStage) -> None:
        new_state, effects = cull(state_in(stage), ctx()).unwrap()
        assert new_state.stage is S.CULLED
        assert DropSeed() in effects

    @pytest.mark.parametrize("stage", [S.DORMANT, S.FOSSILIZED, S.CULLED, S.EMBARGOED], ids=lambda s: s.name)
    def test_cannot_cull_what_is_not_live(self, stage: SeedStage) -> None:
        assert isinstance(cull(state_in(stage), ctx()).failure(), IllegalTransitionError)


class TestFossilize:
    def test_fossilizes_a_helpful_probationary_seed(self) -> None:
        new_state, effects = fossilize(state_in(S.PROBATIONARY, counterfactual_contribution=2.5), ctx()).unwrap()
        assert new_state.stage is S.FOSSILIZED
        assert emitted(effects, "gate")[0].event.payload["gate"] == "G5"

    def test_unhelpful_seed_fails_g5(self) -> None:
        error = fossilize(state_in(S.PROBATIONARY, counterfactual_contribution=0.5), ctx()).failure()
        assert isinstance(error, GateFailedError)
        assert error.result.gate == "G5"

    def test_unmeasured_seed_fails_g5(self) -> None:
        assert isinstance(fossilize(state_in(S.PROBATIONARY), ctx()).failure(), GateFailedError)

    @pytest.mark.parametrize("stage", [S.TRAINING, S.BLENDING], ids=lambda s: s.name)
    def test_only_a_probationary_seed_can_fossilize(self, stage: SeedStage) -> None:
        state = state_in(stage, counterfactual_contribution=9.0)
        assert isinstance(fossilize(state, ctx()).failure(), IllegalTransitionError)


class TestTickEpoch:
    def test_counts_the_epoch(self) -> None:
        ticked = tick_epoch(state_in(S.TRAINING, epochs_total=4, epochs_in_stage=2), ctx())
        assert (ticked.metrics.epochs_total, ticked.metrics.epochs_in_stage) == (5, 3)

    def test_advances_the_blend_schedule_and_its_alpha(self) -> None:
        ticked = tick_epoch(state_in(S.BLENDING), ctx())
        assert ticked.blend is not None and ticked.blend.current_step == 1
        assert ticked.alpha == pytest.approx(1 / 3)

    def test_leaves_a_gated_alpha_to_the_shell(self) -> None:
        state = attrs.evolve(state_in(S.BLENDING, BlendAlgorithm.GATED), alpha=0.12)
        assert tick_epoch(state, ctx()).alpha == 0.12

    def test_counts_the_embargo_down(self) -> None:
        assert tick_epoch(state_in(S.EMBARGOED), ctx()).embargo_remaining == CONFIG.embargo_epochs - 1

    def test_embargo_countdown_stops_at_zero(self) -> None:
        state = attrs.evolve(state_in(S.EMBARGOED), embargo_remaining=0)
        assert tick_epoch(state, ctx()).embargo_remaining == 0

    def test_never_changes_the_stage(self) -> None:
        assert tick_epoch(state_in(S.GERMINATED), ctx()).stage is S.GERMINATED


class TestAutomaticTarget:
    @pytest.mark.parametrize(
        ("stage", "target"),
        [
            (S.GERMINATED, S.TRAINING),
            (S.TRAINING, S.BLENDING),
            (S.BLENDING, S.PROBATIONARY),
            (S.CULLED, S.EMBARGOED),
            (S.EMBARGOED, S.DORMANT),
        ],
        ids=lambda s: s.name,
    )
    def test_names_the_next_stage(self, stage: SeedStage, target: SeedStage) -> None:
        assert automatic_target(state_in(stage), CONFIG) is target

    @pytest.mark.parametrize("stage", [S.DORMANT, S.FOSSILIZED], ids=lambda s: s.name)
    def test_has_nothing_to_do_in_rest_stages(self, stage: SeedStage) -> None:
        assert automatic_target(state_in(stage), CONFIG) is None

    def test_probation_continues_while_helpful_and_young(self) -> None:
        assert automatic_target(state_in(S.PROBATIONARY, counterfactual_contribution=0.1), CONFIG) is None

    def test_probation_culls_a_seed_that_does_not_help(self) -> None:
        assert automatic_target(state_in(S.PROBATIONARY, counterfactual_contribution=0.0), CONFIG) is S.CULLED

    def test_probation_culls_when_it_expires(self) -> None:
        state = state_in(S.PROBATIONARY, epochs_in_stage=CONFIG.probation_epochs, counterfactual_contribution=5.0)
        assert automatic_target(state, CONFIG) is S.CULLED


class TestStepEpoch:
    def test_germinated_moves_to_training_at_the_next_epoch(self) -> None:
        new_state, effects = step_epoch(planted(), ctx(1))
        assert new_state.stage is S.TRAINING
        assert emitted(effects, "stage_entered")[0].event.payload["to"] == "TRAINING"

    def test_training_waits_while_g2_fails(self) -> None:
        training, _ = run_epochs(planted(), 1)
        state, _ = run_epochs(training, 10, first_epoch=2)
        assert state.stage is S.TRAINING

    def test_training_reports_the_failed_gate_each_epoch(self) -> None:
        training, _ = run_epochs(planted(), 1)
        _, effects = step_epoch(training, ctx(2))
        [gate] = emitted(effects, "gate")
        assert gate.event.payload["gate"] == "G2" and gate.event.payload["passed"] is False

    def test_training_blends_once_g2_passes(self) -> None:
        training, _ = run_epochs(planted(), 1)
        state, _ = run_epochs(ready_to_blend(training), 2, first_epoch=2)
        assert state.stage is S.TRAINING
        state, _ = step_epoch(state, ctx(4))
        assert state.stage is S.BLENDING

    def test_blending_follows_the_schedule_then_enters_probation(self) -> None:
        blending = state_in(S.BLENDING)
        alphas = []
        for epoch in range(1, 4):
            blending, _ = step_epoch(blending, ctx(epoch))
            alphas.append((blending.stage, blending.alpha))
        assert alphas == [(S.BLENDING, pytest.approx(1 / 3)), (S.BLENDING, pytest.approx(2 / 3)), (S.PROBATIONARY, 1.0)]

    def test_gated_blend_discards_its_gate_on_completion(self) -> None:
        state, effects = run_epochs(state_in(S.BLENDING, BlendAlgorithm.GATED), CONFIG.blend_steps)
        assert state.stage is S.PROBATIONARY
        assert of_type(effects, DiscardGate) == [DiscardGate()]

    def test_probation_culls_a_seed_with_no_contribution(self) -> None:
        state, effects = step_epoch(state_in(S.PROBATIONARY, counterfactual_contribution=0.0), ctx())
        assert state.stage is S.CULLED and DropSeed() in effects

    def test_probation_culls_a_harmful_seed(self) -> None:
        state, _ = step_epoch(state_in(S.PROBATIONARY, counterfactual_contribution=-1.5), ctx())
        assert state.stage is S.CULLED

    def test_probation_keeps_a_helpful_seed_until_it_expires(self) -> None:
        state = state_in(S.PROBATIONARY, counterfactual_contribution=0.5)
        state, _ = step_epoch(state, ctx(1))
        assert state.stage is S.PROBATIONARY
        state, _ = step_epoch(state, ctx(2))
        assert state.stage is S.CULLED

    def test_probation_without_a_measurement_expires_after_probation_epochs(self) -> None:
        state, _ = run_epochs(state_in(S.PROBATIONARY), CONFIG.probation_epochs - 1)
        assert state.stage is S.PROBATIONARY
        state, _ = step_epoch(state, ctx())
        assert state.stage is S.CULLED

    def test_culled_is_embargoed_at_the_next_epoch(self) -> None:
        state, _ = step_epoch(state_in(S.CULLED), ctx())
        assert (state.stage, state.embargo_remaining) == (S.EMBARGOED, CONFIG.embargo_epochs)

    def test_embargo_counts_down_to_dormant(self) -> None:
        state, _ = step_epoch(state_in(S.EMBARGOED), ctx(1))
        assert (state.stage, state.embargo_remaining) == (S.EMBARGOED, 1)
        state, _ = step_epoch(state, ctx(2))
        assert state.stage is S.DORMANT

    def test_embargo_lasts_embargo_epochs(self) -> None:
        config = attrs.evolve(CONFIG, embargo_epochs=5)
        state, _ = on_enter_stage(state_in(S.CULLED), S.EMBARGOED, ctx(0, config))
        stages = []
        for epoch in range(1, 6):
            state, _ = step_epoch(state, ctx(epoch, config))
            stages.append(state.stage)
        assert stages == [S.EMBARGOED] * 4 + [S.DORMANT]

    def test_zero_embargo_frees_the_slot_at_the_next_epoch(self) -> None:
        config = attrs.evolve(CONFIG, embargo_epochs=0)
        state, _ = on_enter_stage(state_in(S.CULLED), S.EMBARGOED, ctx(0, config))
        state, _ = step_epoch(state, ctx(1, config))
        assert state.stage is S.DORMANT

    @pytest.mark.parametrize("stage", [S.DORMANT, S.FOSSILIZED], ids=lambda s: s.name)
    def test_rest_stages_stay_put(self, stage: SeedStage) -> None:
        state, effects = step_epoch(state_in(stage), ctx())
        assert state.stage is stage and effects == ()

    def test_takes_at_most_one_transition_per_epoch(self) -> None:
        # A zero embargo would let CULLED -> EMBARGOED -> DORMANT in one call if steps chained.
        config = attrs.evolve(CONFIG, embargo_epochs=0)
        state, _ = step_epoch(state_in(S.CULLED), ctx(config=config))
        assert state.stage is S.EMBARGOED

    def test_a_whole_life_ends_in_a_slot_that_germinates_again(self) -> None:
        state, _ = run_epochs(planted(), 1)
        state, _ = run_epochs(ready_to_blend(state), 3, first_epoch=2)
        state, _ = run_epochs(state, CONFIG.blend_steps, first_epoch=5)
        state, _ = run_epochs(state, CONFIG.probation_epochs, first_epoch=8)
        assert state.stage is S.CULLED
        state, _ = run_epochs(state, 1 + CONFIG.embargo_epochs, first_epoch=10)
        assert state.stage is S.DORMANT
        assert planted(slot_state=state).stage is S.GERMINATED

    def test_history_records_every_stage_of_a_life(self) -> None:
        state, _ = run_epochs(planted(), 1)
        state, _ = run_epochs(ready_to_blend(state), 3, first_epoch=2)
        state, _ = run_epochs(state, CONFIG.blend_steps, first_epoch=5)
        state = fossilize(record_contribution(state, 3.0), ctx(8)).unwrap()[0]
        assert [(r.stage, r.epoch) for r in state.history] == [
            (S.GERMINATED, 0),
            (S.TRAINING, 1),
            (S.BLENDING, 4),
            (S.PROBATIONARY, 7),
            (S.FOSSILIZED, 8),
        ]


class TestRecordAccuracy:
    def test_sets_the_current_accuracy(self) -> None:
        assert record_accuracy(state_in(S.TRAINING), 62.5).metrics.current_accuracy == 62.5

    def test_raises_the_best_accuracy(self) -> None:
        assert record_accuracy(state_in(S.TRAINING, best_accuracy=50.0), 62.5).metrics.best_accuracy == 62.5

    def test_keeps_a_better_best_accuracy(self) -> None:
        assert record_accuracy(state_in(S.TRAINING, best_accuracy=70.0), 62.5).metrics.best_accuracy == 70.0


class TestRecordContribution:
    def test_sets_the_contribution(self) -> None:
        assert record_contribution(state_in(S.PROBATIONARY), 1.75).metrics.counterfactual_contribution == 1.75

    def test_can_clear_the_contribution(self) -> None:
        state = state_in(S.PROBATIONARY, counterfactual_contribution=2.0)
        assert record_contribution(state, None).metrics.counterfactual_contribution is None


class TestRecordGradientHealth:
    def test_sets_ratio_and_finiteness(self) -> None:
        metrics = record_gradient_health(state_in(S.TRAINING), ratio=0.3, finite=False).metrics
        assert (metrics.seed_gradient_ratio, metrics.gradients_finite) == (0.3, False)

    def test_ratio_may_be_unmeasured(self) -> None:
        state = state_in(S.TRAINING, seed_gradient_ratio=0.3)
        assert record_gradient_health(state, ratio=None, finite=True).metrics.seed_gradient_ratio is None


class TestRecordMeasuredAlpha:
    def test_sets_the_alpha_of_a_gated_blend(self) -> None:
        result = record_measured_alpha(state_in(S.BLENDING, BlendAlgorithm.GATED), 0.42)
        assert result.unwrap().alpha == 0.42

    @pytest.mark.parametrize("blend", [BlendAlgorithm.LINEAR, BlendAlgorithm.SIGMOID], ids=lambda b: b.name)
    def test_scheduled_blends_refuse_a_measured_alpha(self, blend: BlendAlgorithm) -> None:
        error = record_measured_alpha(state_in(S.BLENDING, blend), 0.42).failure()
        assert isinstance(error, LifecycleError)
        assert f"blend {blend.name}" in str(error)

    @pytest.mark.parametrize("stage", [S.TRAINING, S.PROBATIONARY, S.FOSSILIZED], ids=lambda s: s.name)
    def test_gated_seed_outside_blending_refuses_a_measured_alpha(self, stage: SeedStage) -> None:
        error = record_measured_alpha(state_in(stage, BlendAlgorithm.GATED), 0.42).failure()
        assert isinstance(error, LifecycleError)
        assert f"stage {stage.name}" in str(error)

    @pytest.mark.parametrize("alpha", [-0.01, 1.01, float("nan"), float("inf")])
    def test_alpha_outside_zero_one_is_refused(self, alpha: float) -> None:
        error = record_measured_alpha(state_in(S.BLENDING, BlendAlgorithm.GATED), alpha).failure()
        assert isinstance(error, LifecycleError)
        assert "[0, 1]" in str(error)
