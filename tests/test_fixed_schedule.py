"""esper_core.fixed_schedule: a written schedule of germinations, applied in order, one per decision."""

from __future__ import annotations

import attrs
import pytest

from esper_core import (
    BlendAlgorithm,
    ConfigError,
    FactoredAction,
    FixedControllerConfig,
    FixedScheduleController,
    FixedScheduleState,
    Germination,
    LifecycleOp,
    Observation,
    RunConfig,
    SeedMetrics,
    SeedStage,
    SeedState,
    SignalTracker,
    SlotConfig,
    check_schedule,
    from_primitives,
    to_primitives,
)
from esper_core.fixed_schedule import as_schedule

SLOTS = SlotConfig(("r0c0", "r1c0", "r2c0"))
BLUEPRINTS = ("noop", "conv_light", "depthwise")


def _observation(epoch: int, seeds: dict[int, SeedState] | None = None, *, used: int = 0, max_seeds: int = 3):
    row = [None, None, None]
    for index, seed in (seeds or {}).items():
        row[index] = seed
    return Observation(
        epoch=epoch,
        max_epochs=20,
        slots=SLOTS,
        seeds=tuple(row),
        signals=SignalTracker(),
        max_seeds=max_seeds,
        seeds_germinated=used,
        blueprints=BLUEPRINTS,
    )


def _seed(slot: str, stage: SeedStage, contribution: float | None = None) -> SeedState:
    return SeedState(
        seed_id=f"{slot}-s",
        slot_id=slot,
        blueprint_id="conv_light",
        stage=stage,
        blend_algorithm=BlendAlgorithm.LINEAR,
        metrics=SeedMetrics(counterfactual_contribution=contribution),
    )


CONTROLLER = FixedScheduleController(schedule=[(2, "r2c0", "conv_light"), (0, "r0c0", "depthwise")])


class TestSchedule:
    def test_entries_are_ordered_by_epoch_ties_as_written(self) -> None:
        schedule = as_schedule([(3, "r2c0", "a"), (1, "r1c0", "b"), (1, "r0c0", "c")])
        assert [(e.epoch, e.slot) for e in schedule] == [(1, "r1c0"), (1, "r0c0"), (3, "r2c0")]

    def test_an_empty_schedule_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="at least one entry"):
            as_schedule([])

    def test_a_malformed_entry_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="EPOCH|epoch, slot, blueprint"):
            as_schedule([(1, "r0c0")])

    def test_a_slot_the_run_does_not_enable_is_refused(self) -> None:
        failure = check_schedule(as_schedule([(1, "r5c0", "conv_light")]), SLOTS, BLUEPRINTS).failure()
        assert "r5c0" in str(failure)

    def test_an_unknown_blueprint_is_refused(self) -> None:
        failure = check_schedule(as_schedule([(1, "r0c0", "nope")]), SLOTS, BLUEPRINTS).failure()
        assert "'nope'" in str(failure)

    def test_round_trips_in_a_run_config(self) -> None:
        config = RunConfig(task="digits", slots=SLOTS, controller=FixedControllerConfig(schedule=[(2, "r2c0", "x")]))
        data = to_primitives(config)
        assert data["controller"] == {
            "kind": "fixed",
            "schedule": [{"epoch": 2, "slot": "r2c0", "blueprint": "x"}],
            "blend": None,
        }
        assert from_primitives(data, RunConfig).unwrap() == config


class TestDecide:
    def test_waits_until_the_first_entry_is_due(self) -> None:
        controller = FixedScheduleController(schedule=[(2, "r2c0", "conv_light")])
        action, state = controller.decide(controller.initial_state(), _observation(1))
        assert action.op is LifecycleOp.WAIT and state.applied == 0

    def test_germinates_the_due_entry_in_its_slot(self) -> None:
        action, state = CONTROLLER.decide(CONTROLLER.initial_state(), _observation(0))
        assert action == FactoredAction(op=LifecycleOp.GERMINATE, slot_index=0, blueprint="depthwise")
        assert state == FixedScheduleState(applied=1)

    def test_one_entry_per_decision_even_when_two_are_due(self) -> None:
        controller = FixedScheduleController(schedule=[(0, "r0c0", "conv_light"), (0, "r1c0", "conv_light")])
        _, state = controller.decide(controller.initial_state(), _observation(5))
        action, state = controller.decide(state, _observation(6, {0: _seed("r0c0", SeedStage.TRAINING)}, used=1))
        assert (action.op, action.slot_index, state.applied) == (LifecycleOp.GERMINATE, 1, 2)

    def test_a_due_entry_waits_while_its_slot_is_taken(self) -> None:
        observation = _observation(4, {2: _seed("r2c0", SeedStage.EMBARGOED)})
        action, state = CONTROLLER.decide(FixedScheduleState(applied=1), observation)
        assert action.op is LifecycleOp.WAIT and state.applied == 1

    def test_a_due_entry_waits_when_the_seed_budget_is_spent(self) -> None:
        action, _ = CONTROLLER.decide(FixedScheduleState(applied=1), _observation(4, used=1, max_seeds=1))
        assert action.op is LifecycleOp.WAIT

    def test_waits_once_the_schedule_is_done(self) -> None:
        action, _ = CONTROLLER.decide(FixedScheduleState(applied=2), _observation(9))
        assert action.op is LifecycleOp.WAIT

    def test_fossilizes_a_probationary_seed_that_passes_g5_before_germinating(self) -> None:
        observation = _observation(3, {1: _seed("r1c0", SeedStage.PROBATIONARY, contribution=5.0)})
        action, state = CONTROLLER.decide(FixedScheduleState(applied=1), observation)
        assert (action.op, action.slot_index, state.applied) == (LifecycleOp.FOSSILIZE, 1, 1)

    def test_leaves_a_probationary_seed_that_fails_g5_to_the_lifecycle(self) -> None:
        observation = _observation(1, {1: _seed("r1c0", SeedStage.PROBATIONARY, contribution=-1.0)})
        action, _ = CONTROLLER.decide(FixedScheduleState(applied=2), observation)
        assert action.op is LifecycleOp.WAIT

    def test_passes_its_blend_on(self) -> None:
        controller = attrs.evolve(CONTROLLER, blend=BlendAlgorithm.LINEAR)
        action, _ = controller.decide(controller.initial_state(), _observation(0))
        assert action.blend is BlendAlgorithm.LINEAR

    def test_negative_epochs_are_refused(self) -> None:
        with pytest.raises(ValueError):
            Germination(-1, "r0c0", "conv_light")
