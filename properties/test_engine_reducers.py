"""Properties of the training engine's pure decision pieces: signals, heuristic and governor."""

from __future__ import annotations

import itertools
import math
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Success

from esper_core.action_space import SlotConfig
from esper_core.blending import BlendAlgorithm
from esper_core.config import GateConfig
from esper_core.controller import is_action_legal
from esper_core.governor import (
    GovernorAction,
    GovernorConfig,
    GovernorState,
    GovernorVerdict,
    after_rollback,
    check_vitals,
)
from esper_core.heuristic import (
    BlueprintPenalty,
    HeuristicConfig,
    HeuristicController,
    HeuristicState,
    add_cull_penalty,
    decay_penalties,
    penalty_for,
)
from esper_core.observation import Observation
from esper_core.serialization import from_primitives, to_primitives
from esper_core.signals import SignalConfig, SignalTracker, reset_signals, update_signals
from esper_core.stages import SeedStage
from esper_core.state import SeedMetrics, SeedState

BLUEPRINT_POOL = ("noop", "norm", "attention", "conv_light", "lora")

accuracies = st.floats(min_value=0.0, max_value=100.0)
losses = st.floats(min_value=0.0, max_value=1e6)
readings = st.tuples(accuracies, losses)
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
any_reading = st.one_of(readings, st.tuples(accuracies, non_finite), st.tuples(non_finite, losses))
small_floats = st.floats(min_value=-1e3, max_value=1e3)
positive_penalties = st.floats(min_value=0.0, max_value=20.0, exclude_min=True)
grid_sides = st.integers(min_value=1, max_value=3)
# Half the draws in the stages the heuristic acts on, so its FOSSILIZE and CULL rules fire often.
decision_stages = st.sampled_from(SeedStage) | st.sampled_from(
    [SeedStage.TRAINING, SeedStage.BLENDING, SeedStage.PROBATIONARY]
)
# Observations are costly to draw; fewer examples keep the suite fast.
observation_settings = settings(max_examples=50)

signal_configs = st.builds(
    SignalConfig,
    plateau_gain=st.floats(min_value=0.0, max_value=5.0),
    stabilization_rel_improvement=st.floats(min_value=0.0, max_value=0.5),
    stabilization_epochs=st.integers(min_value=1, max_value=5),
    history_limit=st.integers(min_value=1, max_value=8),
)
gate_configs = st.builds(
    GateConfig,
    min_training_epochs=st.integers(min_value=0, max_value=5),
    min_gradient_ratio=st.floats(min_value=0.0, max_value=1.0),
    min_contribution=st.floats(min_value=-5.0, max_value=5.0),
)
heuristic_configs = st.builds(
    HeuristicConfig,
    min_epoch=st.integers(min_value=0, max_value=10),
    plateau_epochs=st.integers(min_value=0, max_value=5),
    max_concurrent=st.integers(min_value=1, max_value=4),
    cull_after_epochs=st.integers(min_value=0, max_value=8),
    cull_accuracy_drop=st.floats(min_value=0.0, max_value=10.0),
    blueprint_penalty_per_cull=st.floats(min_value=0.0, max_value=10.0),
    penalty_decay=st.floats(min_value=0.0, max_value=1.0),
    penalty_skip_threshold=st.floats(min_value=0.1, max_value=10.0),
    blueprints=st.none() | st.lists(st.sampled_from(BLUEPRINT_POOL), min_size=1, unique=True).map(tuple),
    blend=st.sampled_from(BlendAlgorithm),
)
heuristic_controllers = st.builds(HeuristicController, config=heuristic_configs, gates=gate_configs)
heuristic_states = st.builds(
    HeuristicState,
    last_blueprint=st.none() | st.sampled_from(BLUEPRINT_POOL),
    penalties=st.dictionaries(
        st.sampled_from(BLUEPRINT_POOL), st.floats(min_value=0.0, max_value=20.0, exclude_min=True)
    ).map(lambda table: tuple(BlueprintPenalty(name, value) for name, value in table.items())),
)
governor_configs = st.integers(min_value=1, max_value=6).flatmap(
    lambda minimum: st.builds(
        GovernorConfig,
        sigma_multiple=st.floats(min_value=0.0, max_value=10.0),
        mean_multiple=st.floats(min_value=0.0, max_value=10.0),
        min_loss_ln_multiple=st.floats(min_value=0.0, max_value=5.0),
        consecutive_epochs=st.integers(min_value=1, max_value=5),
        snapshot_every=st.integers(min_value=1, max_value=10),
        min_history=st.just(minimum),
        history_limit=st.integers(min_value=minimum, max_value=minimum + 10),
    )
)
governor_states = st.builds(
    GovernorState,
    losses=st.lists(losses, max_size=10).map(tuple),
    consecutive_anomalies=st.integers(min_value=0, max_value=5),
    consecutive_rollbacks=st.integers(min_value=0, max_value=5),
)
trackers = st.lists(readings, max_size=4).flatmap(
    lambda history: st.builds(
        SignalTracker,
        accuracy_history=st.just(tuple(accuracy for accuracy, _ in history)),
        loss_history=st.just(tuple(loss for _, loss in history)),
        acc_delta=small_floats,
        plateau_epochs=st.integers(min_value=0, max_value=6),
        best_accuracy=st.none() | accuracies,
        epochs_seen=st.integers(min_value=0, max_value=50),
        stable_epochs=st.integers(min_value=0, max_value=6),
        host_stabilised=st.booleans(),
    )
)
# A host ready to grow, among seeds that leave room: the heuristic's GERMINATE rule fires often.
ready_signals = trackers.map(lambda tracker: attrs.evolve(tracker, plateau_epochs=10, host_stabilised=True))
settled_stages = st.sampled_from([SeedStage.DORMANT, SeedStage.FOSSILIZED, SeedStage.CULLED, SeedStage.EMBARGOED])


def seed_states(slot_id: str, seed_stages: st.SearchStrategy[SeedStage]) -> st.SearchStrategy[SeedState]:
    metrics = st.builds(
        SeedMetrics,
        epochs_total=st.integers(min_value=0, max_value=20),
        epochs_in_stage=st.integers(min_value=0, max_value=10),
        accuracy_at_stage_start=accuracies,
        current_accuracy=accuracies,
        counterfactual_contribution=st.none() | st.floats(min_value=-10.0, max_value=10.0),
        seed_gradient_ratio=st.none() | st.floats(min_value=0.0, max_value=2.0),
        gradients_finite=st.booleans(),
    )
    return st.builds(
        SeedState,
        seed_id=st.just(f"seed-{slot_id}"),
        slot_id=st.just(slot_id),
        blueprint_id=st.sampled_from(BLUEPRINT_POOL),
        stage=seed_stages,
        blend_algorithm=st.sampled_from(BlendAlgorithm),
        metrics=metrics,
    )


@st.composite
def observations(
    draw: st.DrawFn,
    seed_stages: st.SearchStrategy[SeedStage] = decision_stages,
    signals: st.SearchStrategy[SignalTracker] = trackers,
) -> Observation:
    slots = SlotConfig.for_grid(draw(grid_sides), draw(grid_sides))
    return Observation(
        epoch=draw(st.integers(min_value=0, max_value=30)),
        max_epochs=draw(st.integers(min_value=1, max_value=30)),
        slots=slots,
        seeds=tuple(draw(st.none() | seed_states(slot_id, seed_stages)) for slot_id in slots.slot_ids),
        signals=draw(signals),
        max_seeds=draw(st.integers(min_value=0, max_value=5)),
        seeds_germinated=draw(st.integers(min_value=0, max_value=6)),
        blueprints=tuple(draw(st.lists(st.sampled_from(BLUEPRINT_POOL), unique=True))),
    )


# Late in the run, with no seed germinated yet.
ready_observations = observations(settled_stages, ready_signals).map(
    lambda observation: attrs.evolve(observation, epoch=30, seeds_germinated=0)
)


def feed(tracker: SignalTracker, sequence: list[tuple[float, float]], config: SignalConfig) -> list[SignalTracker]:
    """Every tracker along the way, the starting one included."""
    states = [tracker]
    for accuracy, loss in sequence:
        states.append(update_signals(states[-1], val_accuracy=accuracy, val_loss=loss, config=config))
    return states


def only_primitives(data: Any) -> bool:
    if isinstance(data, dict):
        return all(isinstance(key, str) and only_primitives(value) for key, value in data.items())
    if isinstance(data, list):
        return all(only_primitives(item) for item in data)
    return data is None or isinstance(data, str | int | float | bool)


class TestSignalProperties:
    @given(trackers, readings, signal_configs)
    def test_plateau_grows_on_a_small_gain_and_resets_on_a_large_one(
        self, tracker: SignalTracker, reading: tuple[float, float], config: SignalConfig
    ) -> None:
        after = update_signals(tracker, val_accuracy=reading[0], val_loss=reading[1], config=config)
        if not tracker.accuracy_history:
            assert after.plateau_epochs == 0
        elif reading[0] - tracker.accuracy_history[-1] < config.plateau_gain:
            assert after.plateau_epochs == tracker.plateau_epochs + 1
        else:
            assert after.plateau_epochs == 0

    @given(trackers, st.lists(any_reading, max_size=12), signal_configs)
    def test_the_stabilised_latch_never_opens_without_a_reset(
        self, tracker: SignalTracker, sequence: list[tuple[float, float]], config: SignalConfig
    ) -> None:
        latches = [state.host_stabilised for state in feed(tracker, sequence, config)]
        assert all(later or not earlier for earlier, later in itertools.pairwise(latches))

    @given(st.lists(readings, min_size=1, max_size=12), signal_configs)
    def test_histories_are_bounded_and_best_accuracy_is_the_maximum_seen(
        self, sequence: list[tuple[float, float]], config: SignalConfig
    ) -> None:
        final = feed(SignalTracker(), sequence, config)[-1]
        assert len(final.accuracy_history) == len(final.loss_history) == min(len(sequence), config.history_limit)
        assert final.best_accuracy == max(accuracy for accuracy, _ in sequence)
        assert final.epochs_seen == len(sequence)

    @given(trackers, readings, signal_configs)
    def test_after_a_reset_the_next_epoch_is_a_first_epoch(
        self, tracker: SignalTracker, reading: tuple[float, float], config: SignalConfig
    ) -> None:
        after = update_signals(reset_signals(tracker), val_accuracy=reading[0], val_loss=reading[1], config=config)
        assert (after.acc_delta, after.plateau_epochs, after.stable_epochs, after.host_stabilised) == (0.0, 0, 0, False)

    @given(trackers, signal_configs)
    def test_round_trip_through_primitives(self, tracker: SignalTracker, config: SignalConfig) -> None:
        assert only_primitives(to_primitives(tracker)) and only_primitives(to_primitives(config))
        assert from_primitives(to_primitives(tracker), SignalTracker) == Success(tracker)
        assert from_primitives(to_primitives(config), SignalConfig) == Success(config)


class TestHeuristicProperties:
    @given(heuristic_states, st.lists(st.sampled_from(BLUEPRINT_POOL) | st.none(), max_size=12), heuristic_configs)
    def test_penalties_stay_non_negative_and_each_decay_shrinks_them(
        self, state: HeuristicState, events: list[str | None], config: HeuristicConfig
    ) -> None:
        """Each event is a cull of that blueprint, or (None) an epoch passing."""
        for event in events:
            if event is None:
                decayed = decay_penalties(state, config)
                for entry in state.penalties:
                    assert penalty_for(decayed, entry.blueprint) == entry.penalty * config.penalty_decay
                state = decayed
            else:
                state = add_cull_penalty(state, event, config)
            assert all(entry.penalty > 0.0 for entry in state.penalties)

    @observation_settings
    @given(heuristic_controllers, heuristic_states, observations())
    def test_every_action_is_legal(
        self, controller: HeuristicController, state: HeuristicState, observation: Observation
    ) -> None:
        action, _ = controller.decide(state, observation)
        assert is_action_legal(observation, action)

    @observation_settings
    @given(heuristic_controllers, heuristic_states, ready_observations)
    def test_every_germination_is_legal(
        self, controller: HeuristicController, state: HeuristicState, observation: Observation
    ) -> None:
        action, _ = controller.decide(state, observation)
        assert is_action_legal(observation, action)

    @observation_settings
    @given(heuristic_controllers, heuristic_states, observations())
    def test_the_next_state_survives_a_checkpoint(
        self, controller: HeuristicController, state: HeuristicState, observation: Observation
    ) -> None:
        _, after = controller.decide(state, observation)
        assert from_primitives(to_primitives(after), HeuristicState) == Success(after)

    @given(heuristic_configs, heuristic_states)
    def test_config_and_state_round_trip_through_primitives(
        self, config: HeuristicConfig, state: HeuristicState
    ) -> None:
        assert only_primitives(to_primitives(config)) and only_primitives(to_primitives(state))
        assert from_primitives(to_primitives(config), HeuristicConfig) == Success(config)
        assert from_primitives(to_primitives(state), HeuristicState) == Success(state)

    @observation_settings
    @given(observations())
    def test_observations_round_trip_through_primitives(self, observation: Observation) -> None:
        assert only_primitives(to_primitives(observation))
        assert from_primitives(to_primitives(observation), Observation) == Success(observation)


class TestGovernorProperties:
    @given(
        losses,
        st.integers(min_value=1, max_value=40),
        st.integers(min_value=1, max_value=1000),
        governor_configs,
    )
    def test_a_constant_finite_loss_is_always_ok(
        self, loss: float, epochs: int, num_classes: int, config: GovernorConfig
    ) -> None:
        state = GovernorState()
        for _ in range(epochs):
            verdict, state = check_vitals(state, loss=loss, num_classes=num_classes, config=config)
            assert verdict.action is GovernorAction.OK

    @given(governor_states, non_finite, st.integers(min_value=1, max_value=1000), governor_configs)
    def test_a_non_finite_loss_always_rolls_back(
        self, state: GovernorState, loss: float, num_classes: int, config: GovernorConfig
    ) -> None:
        verdict, _ = check_vitals(state, loss=loss, num_classes=num_classes, config=config)
        assert verdict.action is GovernorAction.ROLLBACK

    @given(st.lists(losses | non_finite, max_size=30), st.integers(min_value=1, max_value=1000), governor_configs)
    def test_history_is_bounded_and_holds_only_healthy_losses(
        self, sequence: list[float], num_classes: int, config: GovernorConfig
    ) -> None:
        state = GovernorState()
        healthy: list[float] = []
        for loss in sequence:
            verdict, state = check_vitals(state, loss=loss, num_classes=num_classes, config=config)
            if verdict.action is GovernorAction.OK:
                healthy.append(loss)
            assert state.losses == tuple(healthy[-config.history_limit :])

    @given(st.lists(losses | non_finite, max_size=30), st.integers(min_value=1, max_value=1000), governor_configs)
    def test_rollback_needs_a_non_finite_loss_or_enough_anomalies_in_a_row(
        self, sequence: list[float], num_classes: int, config: GovernorConfig
    ) -> None:
        state = GovernorState()
        for loss in sequence:
            verdict, state = check_vitals(state, loss=loss, num_classes=num_classes, config=config)
            if verdict.action is GovernorAction.ROLLBACK and math.isfinite(loss):
                assert state.consecutive_anomalies >= config.consecutive_epochs
            if verdict.action is GovernorAction.ROLLBACK:
                state = after_rollback(state)

    @given(governor_states, governor_configs, st.sampled_from(GovernorAction), st.text(max_size=20))
    def test_records_round_trip_through_primitives(
        self, state: GovernorState, config: GovernorConfig, action: GovernorAction, reason: str
    ) -> None:
        verdict = GovernorVerdict(action, reason)
        for record in (state, config, verdict):
            assert only_primitives(to_primitives(record))
            assert from_primitives(to_primitives(record), type(record)) == Success(record)

    @given(governor_states)
    def test_after_rollback_nothing_but_the_rollback_count_is_remembered(self, state: GovernorState) -> None:
        assert after_rollback(state) == GovernorState(consecutive_rollbacks=state.consecutive_rollbacks + 1)
