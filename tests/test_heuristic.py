"""The rule-based controller (DESIGN §10), the observation it reads and the legality of its actions."""

from __future__ import annotations

import attrs
import pytest
from returns.result import Failure, Success

from esper_core.action_space import FactoredAction, LifecycleOp, SlotConfig
from esper_core.blending import BlendAlgorithm
from esper_core.config import GateConfig
from esper_core.controller import Controller, check_action, is_action_legal
from esper_core.errors import ConfigError, SchemaError
from esper_core.heuristic import (
    BlueprintPenalty,
    HeuristicConfig,
    HeuristicController,
    HeuristicState,
    add_cull_penalty,
    allowed_blueprints,
    check_blueprints,
    decay_penalties,
    next_blueprint,
    penalty_for,
)
from esper_core.observation import Observation
from esper_core.serialization import from_primitives, to_primitives
from esper_core.signals import SignalTracker
from esper_core.stages import SeedStage
from esper_core.state import SeedMetrics, SeedState
from tests.test_config import assert_refused_by_name, non_finite_cases

SLOTS = SlotConfig(("r0c0", "r1c0", "r2c0"))
BLUEPRINTS = ("noop", "norm", "conv_light")
CONFIG = HeuristicConfig()
CONTROLLER = HeuristicController(CONFIG)
READY = SignalTracker(plateau_epochs=3, host_stabilised=True)
WAIT = FactoredAction(op=LifecycleOp.WAIT)


def seed(stage: SeedStage, slot_id: str = "r0c0", blueprint: str = "norm", **metrics: float | int | None) -> SeedState:
    return SeedState(
        seed_id=f"seed-{slot_id}",
        slot_id=slot_id,
        blueprint_id=blueprint,
        stage=stage,
        blend_algorithm=BlendAlgorithm.SIGMOID,
        metrics=SeedMetrics(**metrics),  # type: ignore[arg-type]
    )


def observe(
    *seeds: SeedState | None,
    epoch: int = 10,
    signals: SignalTracker = READY,
    max_seeds: int = 5,
    seeds_germinated: int = 0,
) -> Observation:
    """An observation over SLOTS; slots not given are empty. By default the host is ready to grow."""
    padded = (*seeds, *(None,) * (SLOTS.num_slots - len(seeds)))
    return Observation(
        epoch=epoch,
        max_epochs=25,
        slots=SLOTS,
        seeds=padded,
        signals=signals,
        max_seeds=max_seeds,
        seeds_germinated=seeds_germinated,
        blueprints=BLUEPRINTS,
    )


def germinate(slot_index: int, blueprint: str) -> FactoredAction:
    return FactoredAction(op=LifecycleOp.GERMINATE, slot_index=slot_index, blueprint=blueprint, blend=CONFIG.blend)


def failing_seed(slot_id: str = "r0c0", blueprint: str = "norm") -> SeedState:
    """A TRAINING seed five epochs in, accuracy down 3 points since the stage began."""
    return seed(
        SeedStage.TRAINING,
        slot_id,
        blueprint,
        epochs_in_stage=5,
        accuracy_at_stage_start=60.0,
        current_accuracy=57.0,
    )


def decide(observation: Observation, state: HeuristicState | None = None) -> FactoredAction:
    action, _ = CONTROLLER.decide(state if state is not None else CONTROLLER.initial_state(), observation)
    return action


class TestObservation:
    def test_rejects_fewer_seeds_than_slots(self) -> None:
        with pytest.raises(ConfigError, match="one entry per configured slot"):
            attrs.evolve(observe(), seeds=(None, None))

    def test_rejects_a_seed_in_the_wrong_position(self) -> None:
        with pytest.raises(ConfigError, match=r"order seeds as SlotConfig\.slot_ids"):
            observe(seed(SeedStage.TRAINING, slot_id="r1c0"))

    def test_counts_live_seeds_only(self) -> None:
        observation = observe(
            seed(SeedStage.TRAINING), seed(SeedStage.FOSSILIZED, "r1c0"), seed(SeedStage.EMBARGOED, "r2c0")
        )
        assert observation.live_seed_count == 1

    def test_has_budget_while_fewer_seeds_germinated_than_allowed(self) -> None:
        assert observe(max_seeds=2, seeds_germinated=1).germination_budget_left

    def test_has_no_budget_once_max_seeds_germinated(self) -> None:
        assert not observe(max_seeds=2, seeds_germinated=2).germination_budget_left


class TestIsActionLegal:
    def test_wait_is_always_legal(self) -> None:
        assert is_action_legal(observe(max_seeds=0), FactoredAction(op=LifecycleOp.WAIT, slot_index=99))

    @pytest.mark.parametrize("occupant", [None, seed(SeedStage.DORMANT)])
    def test_germinate_into_an_empty_slot(self, occupant: SeedState | None) -> None:
        assert is_action_legal(observe(occupant), germinate(0, "norm"))

    @pytest.mark.parametrize("stage", [SeedStage.EMBARGOED, SeedStage.TRAINING, SeedStage.FOSSILIZED])
    def test_germinate_into_an_occupied_slot_is_refused(self, stage: SeedStage) -> None:
        assert not is_action_legal(observe(seed(stage)), germinate(0, "norm"))

    def test_germinate_beyond_the_budget_is_refused(self) -> None:
        assert not is_action_legal(observe(max_seeds=3, seeds_germinated=3), germinate(0, "norm"))

    @pytest.mark.parametrize("blueprint", [None, "lora"])
    def test_germinate_needs_a_known_blueprint(self, blueprint: str | None) -> None:
        action = FactoredAction(op=LifecycleOp.GERMINATE, slot_index=0, blueprint=blueprint)
        assert not is_action_legal(observe(), action)

    def test_a_slot_index_outside_the_configuration_is_refused(self) -> None:
        assert not is_action_legal(observe(), germinate(3, "norm"))

    @pytest.mark.parametrize(
        "stage", [SeedStage.GERMINATED, SeedStage.TRAINING, SeedStage.BLENDING, SeedStage.PROBATIONARY]
    )
    def test_cull_a_live_seed(self, stage: SeedStage) -> None:
        assert is_action_legal(observe(seed(stage)), FactoredAction(op=LifecycleOp.CULL, slot_index=0))

    @pytest.mark.parametrize("stage", [SeedStage.DORMANT, SeedStage.FOSSILIZED, SeedStage.CULLED, SeedStage.EMBARGOED])
    def test_cull_is_refused_for_a_seed_that_is_not_live(self, stage: SeedStage) -> None:
        assert not is_action_legal(observe(seed(stage)), FactoredAction(op=LifecycleOp.CULL, slot_index=0))

    def test_cull_in_an_empty_slot_is_refused(self) -> None:
        assert not is_action_legal(observe(), FactoredAction(op=LifecycleOp.CULL, slot_index=0))

    def test_fossilize_a_probationary_seed_whatever_its_contribution(self) -> None:
        observation = observe(seed(SeedStage.PROBATIONARY, counterfactual_contribution=-5.0))
        assert is_action_legal(observation, FactoredAction(op=LifecycleOp.FOSSILIZE, slot_index=0))

    @pytest.mark.parametrize("stage", [SeedStage.TRAINING, SeedStage.BLENDING, SeedStage.FOSSILIZED])
    def test_fossilize_is_refused_outside_probation(self, stage: SeedStage) -> None:
        assert not is_action_legal(observe(seed(stage)), FactoredAction(op=LifecycleOp.FOSSILIZE, slot_index=0))


class TestCheckAction:
    def test_returns_a_legal_action_unchanged(self) -> None:
        assert check_action(observe(), germinate(1, "noop")) == Success(germinate(1, "noop"))

    def test_a_refusal_names_the_slot_and_the_stage(self) -> None:
        result = check_action(observe(seed(SeedStage.FOSSILIZED)), FactoredAction(op=LifecycleOp.CULL, slot_index=0))
        assert isinstance(result, Failure)
        assert "r0c0" in str(result.failure()) and "FOSSILIZED" in str(result.failure())

    def test_a_budget_refusal_says_how_to_allow_more(self) -> None:
        result = check_action(observe(max_seeds=1, seeds_germinated=1), germinate(0, "norm"))
        assert isinstance(result, Failure) and "--max-seeds" in str(result.failure())


class TestControllerProtocol:
    def test_the_heuristic_is_a_controller(self) -> None:
        assert isinstance(CONTROLLER, Controller)

    def test_a_user_controller_needs_only_two_methods(self) -> None:
        @attrs.frozen
        class AlwaysWait:
            def initial_state(self) -> int:
                return 0

            def decide(self, state: int, observation: Observation) -> tuple[FactoredAction, int]:
                return WAIT, state + 1

        assert isinstance(AlwaysWait(), Controller)


class TestHeuristicConfig:
    def test_defaults_follow_the_design(self) -> None:
        assert (
            CONFIG.min_epoch,
            CONFIG.plateau_epochs,
            CONFIG.max_concurrent,
            CONFIG.cull_after_epochs,
            CONFIG.cull_accuracy_drop,
            CONFIG.blueprint_penalty_per_cull,
            CONFIG.penalty_decay,
            CONFIG.penalty_skip_threshold,
            CONFIG.blueprints,
        ) == (5, 3, 1, 5, 2.0, 2.0, 0.5, 3.0, None)

    def test_stores_blueprints_as_a_tuple(self) -> None:
        assert HeuristicConfig(blueprints=["norm", "noop"]).blueprints == ("norm", "noop")

    def test_rejects_an_empty_blueprint_list(self) -> None:
        with pytest.raises(ConfigError, match="at least one blueprint"):
            HeuristicConfig(blueprints=())

    def test_rejects_a_repeated_blueprint(self) -> None:
        with pytest.raises(ConfigError, match="norm more than once"):
            HeuristicConfig(blueprints=("norm", "noop", "norm"))

    def test_rejects_a_decay_that_grows_penalties(self) -> None:
        with pytest.raises(ValueError, match="penalty_decay"):
            HeuristicConfig(penalty_decay=1.5)


class TestAllowedBlueprints:
    def test_are_every_known_blueprint_when_unset(self) -> None:
        assert allowed_blueprints(CONFIG, BLUEPRINTS) == BLUEPRINTS

    def test_are_the_configured_ones_in_configured_order(self) -> None:
        assert allowed_blueprints(HeuristicConfig(blueprints=("conv_light", "noop")), BLUEPRINTS) == (
            "conv_light",
            "noop",
        )

    def test_check_refuses_a_blueprint_the_host_cannot_grow(self) -> None:
        result = check_blueprints(HeuristicConfig(blueprints=("lora", "norm")), BLUEPRINTS)
        assert isinstance(result, Failure) and "lora" in str(result.failure())

    def test_check_accepts_known_blueprints(self) -> None:
        config = HeuristicConfig(blueprints=("norm",))
        assert check_blueprints(config, BLUEPRINTS) == Success(config)


class TestPenalties:
    def test_a_cull_adds_the_configured_penalty(self) -> None:
        assert penalty_for(add_cull_penalty(HeuristicState(), "norm", CONFIG), "norm") == 2.0

    def test_culls_accumulate(self) -> None:
        state = add_cull_penalty(add_cull_penalty(HeuristicState(), "norm", CONFIG), "norm", CONFIG)
        assert penalty_for(state, "norm") == 4.0

    def test_an_unpenalised_blueprint_has_zero(self) -> None:
        assert penalty_for(add_cull_penalty(HeuristicState(), "norm", CONFIG), "noop") == 0.0

    def test_decay_multiplies_every_penalty(self) -> None:
        state = HeuristicState(penalties=(BlueprintPenalty("norm", 4.0), BlueprintPenalty("noop", 1.0)))
        assert decay_penalties(state, CONFIG).penalties == (
            BlueprintPenalty("norm", 2.0),
            BlueprintPenalty("noop", 0.5),
        )

    def test_a_penalty_that_decays_to_zero_is_forgotten(self) -> None:
        state = HeuristicState(penalties=(BlueprintPenalty("norm", 4.0),))
        assert decay_penalties(state, HeuristicConfig(penalty_decay=0.0)).penalties == ()

    def test_a_state_naming_a_blueprint_twice_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="corrupt"):
            HeuristicState(penalties=(BlueprintPenalty("norm", 1.0), BlueprintPenalty("norm", 2.0)))


class TestNextBlueprint:
    def test_starts_with_the_first(self) -> None:
        assert next_blueprint(HeuristicState(), BLUEPRINTS, CONFIG) == "noop"

    def test_continues_after_the_last_one_germinated(self) -> None:
        assert next_blueprint(HeuristicState(last_blueprint="noop"), BLUEPRINTS, CONFIG) == "norm"

    def test_wraps_around(self) -> None:
        assert next_blueprint(HeuristicState(last_blueprint="conv_light"), BLUEPRINTS, CONFIG) == "noop"

    def test_skips_a_blueprint_penalised_to_the_threshold(self) -> None:
        state = HeuristicState(penalties=(BlueprintPenalty("noop", 3.0),))
        assert next_blueprint(state, BLUEPRINTS, CONFIG) == "norm"

    def test_does_not_skip_a_penalty_below_the_threshold(self) -> None:
        state = HeuristicState(penalties=(BlueprintPenalty("noop", 2.9),))
        assert next_blueprint(state, BLUEPRINTS, CONFIG) == "noop"

    def test_is_none_when_every_blueprint_is_penalised(self) -> None:
        state = HeuristicState(penalties=tuple(BlueprintPenalty(name, 5.0) for name in BLUEPRINTS))
        assert next_blueprint(state, BLUEPRINTS, CONFIG) is None


class TestFossilizeRule:
    def test_fossilizes_a_probationary_seed_that_helps_enough(self) -> None:
        observation = observe(None, seed(SeedStage.PROBATIONARY, "r1c0", counterfactual_contribution=1.0))
        assert decide(observation) == FactoredAction(op=LifecycleOp.FOSSILIZE, slot_index=1)

    def test_keeps_waiting_on_a_seed_below_the_contribution_threshold(self) -> None:
        assert decide(observe(seed(SeedStage.PROBATIONARY, counterfactual_contribution=0.9))) == WAIT

    def test_keeps_waiting_on_an_unmeasured_seed(self) -> None:
        assert decide(observe(seed(SeedStage.PROBATIONARY))) == WAIT

    def test_takes_priority_over_a_cull(self) -> None:
        observation = observe(failing_seed(), seed(SeedStage.PROBATIONARY, "r1c0", counterfactual_contribution=3.0))
        assert decide(observation).op is LifecycleOp.FOSSILIZE


class TestCullRule:
    def test_culls_a_training_seed_that_lost_accuracy(self) -> None:
        assert decide(observe(failing_seed())) == FactoredAction(op=LifecycleOp.CULL, slot_index=0)

    def test_culls_a_blending_seed_that_lost_accuracy(self) -> None:
        blending = attrs.evolve(failing_seed(), stage=SeedStage.BLENDING)
        assert decide(observe(blending)).op is LifecycleOp.CULL

    def test_penalises_the_culled_blueprint(self) -> None:
        _, state = CONTROLLER.decide(HeuristicState(), observe(failing_seed(blueprint="conv_light")))
        assert state.penalties == (BlueprintPenalty("conv_light", 2.0),)

    def test_gives_a_seed_cull_after_epochs_in_its_stage(self) -> None:
        young = attrs.evolve(failing_seed(), metrics=attrs.evolve(failing_seed().metrics, epochs_in_stage=4))
        assert decide(observe(young)) == WAIT

    def test_tolerates_a_drop_of_exactly_cull_accuracy_drop(self) -> None:
        tolerable = attrs.evolve(failing_seed(), metrics=attrs.evolve(failing_seed().metrics, current_accuracy=58.0))
        assert decide(observe(tolerable)) == WAIT

    def test_leaves_a_probationary_seed_to_the_lifecycle(self) -> None:
        probationary = attrs.evolve(failing_seed(), stage=SeedStage.PROBATIONARY)
        assert decide(observe(probationary)) == WAIT


class TestGerminateRule:
    def test_germinates_into_the_first_free_slot_with_the_first_blueprint(self) -> None:
        assert decide(observe()) == germinate(0, "noop")

    def test_skips_occupied_slots(self) -> None:
        assert decide(observe(seed(SeedStage.FOSSILIZED), seed(SeedStage.EMBARGOED, "r1c0"))) == germinate(2, "noop")

    def test_uses_the_configured_blend(self) -> None:
        controller = HeuristicController(HeuristicConfig(blend=BlendAlgorithm.GATED))
        action, _ = controller.decide(HeuristicState(), observe())
        assert action.blend is BlendAlgorithm.GATED

    def test_remembers_the_blueprint_for_the_round_robin(self) -> None:
        _, state = CONTROLLER.decide(HeuristicState(), observe())
        assert state.last_blueprint == "noop"

    def test_round_robin_across_decisions(self) -> None:
        state = CONTROLLER.initial_state()
        chosen = []
        for _ in range(4):
            action, state = CONTROLLER.decide(state, observe())
            chosen.append(action.blueprint)
        assert chosen == ["noop", "norm", "conv_light", "noop"]

    def test_skips_a_penalised_blueprint(self) -> None:
        # 8.0 decays to 4.0 before the choice: still at or above the skip threshold.
        state = HeuristicState(penalties=(BlueprintPenalty("noop", 8.0),))
        assert decide(observe(), state) == germinate(0, "norm")

    def test_waits_when_every_blueprint_is_penalised(self) -> None:
        state = HeuristicState(penalties=tuple(BlueprintPenalty(name, 8.0) for name in BLUEPRINTS))
        assert decide(observe(), state) == WAIT

    def test_only_tries_the_configured_blueprints(self) -> None:
        controller = HeuristicController(HeuristicConfig(blueprints=("conv_light",)))
        action, _ = controller.decide(HeuristicState(), observe())
        assert action.blueprint == "conv_light"

    def test_waits_until_the_host_has_stabilised(self) -> None:
        assert decide(observe(signals=attrs.evolve(READY, host_stabilised=False))) == WAIT

    def test_waits_before_min_epoch(self) -> None:
        assert decide(observe(epoch=4)) == WAIT

    def test_germinates_at_min_epoch(self) -> None:
        assert decide(observe(epoch=5)).op is LifecycleOp.GERMINATE

    def test_waits_until_accuracy_has_plateaued_long_enough(self) -> None:
        assert decide(observe(signals=attrs.evolve(READY, plateau_epochs=2))) == WAIT

    def test_waits_while_max_concurrent_seeds_are_live(self) -> None:
        assert decide(observe(seed(SeedStage.BLENDING))) == WAIT

    def test_a_higher_concurrency_allows_another_seed(self) -> None:
        controller = HeuristicController(HeuristicConfig(max_concurrent=2))
        action, _ = controller.decide(HeuristicState(), observe(seed(SeedStage.BLENDING)))
        assert action == germinate(1, "noop")

    def test_fossilized_seeds_do_not_count_against_concurrency(self) -> None:
        assert decide(observe(seed(SeedStage.FOSSILIZED))).op is LifecycleOp.GERMINATE

    def test_waits_once_the_seed_budget_is_spent(self) -> None:
        assert decide(observe(max_seeds=2, seeds_germinated=2)) == WAIT

    def test_waits_when_no_slot_is_free(self) -> None:
        fossils = (seed(SeedStage.FOSSILIZED, slot) for slot in SLOTS.slot_ids)
        assert decide(observe(*fossils)) == WAIT


class TestPenaltyDecayPerDecision:
    def test_every_decision_decays_penalties_once(self) -> None:
        _, state = CONTROLLER.decide(HeuristicState(penalties=(BlueprintPenalty("norm", 2.0),)), observe(epoch=0))
        assert state.penalties == (BlueprintPenalty("norm", 1.0),)

    def test_a_cull_penalty_is_added_after_the_decay(self) -> None:
        start = HeuristicState(penalties=(BlueprintPenalty("norm", 2.0),))
        _, state = CONTROLLER.decide(start, observe(failing_seed(blueprint="norm")))
        assert penalty_for(state, "norm") == 3.0


class TestHeuristicStateSerialization:
    STATE = HeuristicState(
        last_blueprint="norm", penalties=(BlueprintPenalty("norm", 1.5), BlueprintPenalty("noop", 0.25))
    )

    def test_becomes_lists_and_dicts_of_primitives(self) -> None:
        assert to_primitives(self.STATE) == {
            "last_blueprint": "norm",
            "penalties": [{"blueprint": "norm", "penalty": 1.5}, {"blueprint": "noop", "penalty": 0.25}],
        }

    def test_round_trips_to_an_equal_record(self) -> None:
        assert from_primitives(to_primitives(self.STATE), HeuristicState) == Success(self.STATE)

    def test_a_checkpoint_naming_a_blueprint_twice_is_a_schema_error(self) -> None:
        data = {"last_blueprint": None, "penalties": [{"blueprint": "norm", "penalty": 1.0}] * 2}
        result = from_primitives(data, HeuristicState)
        assert isinstance(result, Failure) and isinstance(result.failure(), SchemaError)


class TestHeuristicUsesTheLifecycleGates:
    def test_fossilize_threshold_comes_from_the_gates_it_is_given(self) -> None:
        lenient = HeuristicController(CONFIG, GateConfig(min_contribution=0.5))
        observation = observe(seed(SeedStage.PROBATIONARY, counterfactual_contribution=0.9))
        action, _ = lenient.decide(HeuristicState(), observation)
        assert action.op is LifecycleOp.FOSSILIZE


@pytest.mark.parametrize(("cls", "name", "value"), non_finite_cases(HeuristicConfig))
def test_non_finite_float_config_is_refused_naming_the_field(cls: type, name: str, value: float) -> None:
    assert_refused_by_name(cls, name, value)
