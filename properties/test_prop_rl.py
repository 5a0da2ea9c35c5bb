"""Invariants of the RL core over random observations and configs: exact masks, finite features,
anti-gaming rewards, telescoping shaping, and GAE's episode boundaries."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from returns.result import Success
from strategies import finite_floats, gate_configs, seed_metrics, slot_ids

from esper_core import (
    FactoredAction,
    GateConfig,
    LifecycleOp,
    Observation,
    SeedStage,
    SeedState,
    SignalTracker,
    SlotConfig,
    check_action,
    from_primitives,
    gate_g5_fossilized,
    is_action_legal,
    to_primitives,
)
from esper_core.features import FeatureConfig, FeatureLayout, check_layout, feature_layout, observation_features
from esper_core.gae import gae
from esper_core.masks import BLEND_ORDER, OP_ORDER, ActionMasks, action_masks, masks_allow
from esper_core.ppo_config import PPOConfig
from esper_core.rewards import (
    REWARD_MODES,
    SHAPED,
    SPARSE,
    ActionCosts,
    RewardBreakdown,
    RewardConfig,
    StagePotentials,
    compute_reward,
    potential,
    rent_term,
)

BLUEPRINT_POOL = ("noop", "norm", "conv_light", "lora")
FULL_ALPHA_STAGES = frozenset({SeedStage.PROBATIONARY, SeedStage.FOSSILIZED})
# Float sums that are equal on paper may differ in the last bit.
ROUNDING = 1e-9
# Tests that draw two observations and a config: fewer, still varied, examples keep the suite fast.
pairs = settings(max_examples=50)
# A paired static run long enough for every drawn observation (max_epochs <= 30): accuracy_gap
# mode is held to the same anti-gaming properties as the others.
STATIC_ACCURACIES = tuple(50.0 + epoch for epoch in range(31))

# --- strategies -----------------------------------------------------------------------------


def unit_floats() -> st.SearchStrategy[float]:
    return finite_floats(0.0, 1.0)


small_slot_configs = st.lists(slot_ids, min_size=1, max_size=4, unique=True).map(SlotConfig)
blueprint_lists = st.lists(st.sampled_from(BLUEPRINT_POOL), max_size=4, unique=True).map(tuple)


@st.composite
def signal_trackers(draw: st.DrawFn) -> SignalTracker:
    accuracies = draw(st.lists(finite_floats(0.0, 100.0), max_size=4))
    return SignalTracker(
        accuracy_history=tuple(accuracies),
        loss_history=tuple(draw(finite_floats(0.0, 10.0)) for _ in accuracies),
        acc_delta=draw(finite_floats(-100.0, 100.0)),
        plateau_epochs=draw(st.integers(0, 30)),
        best_accuracy=draw(st.none() | finite_floats(0.0, 100.0)),
        epochs_seen=len(accuracies),
        host_stabilised=draw(st.booleans()),
    )


@st.composite
def seed_in(draw: st.DrawFn, slot_id: str, stages: Sequence[SeedStage] = tuple(SeedStage)) -> SeedState:
    """A seed in ``slot_id`` with metrics around the gate thresholds; cheaper than ``seed_states``
    (no history, no schedule: nothing here reads them), so episodes of many observations stay fast."""
    stage = draw(st.sampled_from(stages))
    alpha = draw(unit_floats()) if stage is SeedStage.BLENDING else float(stage in FULL_ALPHA_STAGES)
    return SeedState(
        seed_id="seed",
        slot_id=slot_id,
        blueprint_id=draw(st.sampled_from(BLUEPRINT_POOL)),
        stage=stage,
        blend_algorithm=draw(st.sampled_from(BLEND_ORDER)),
        alpha=alpha,
        metrics=draw(seed_metrics()),
    )


def in_slot(slot_id: str) -> st.SearchStrategy[SeedState | None]:
    return st.none() | seed_in(slot_id)


@st.composite
def observations(draw: st.DrawFn, slots: SlotConfig | None = None) -> Observation:
    slots = slots if slots is not None else draw(small_slot_configs)
    max_epochs = draw(st.integers(1, 30))
    return Observation(
        epoch=draw(st.integers(0, max_epochs)),
        max_epochs=max_epochs,
        slots=slots,
        seeds=tuple(draw(in_slot(slot_id)) for slot_id in slots.slot_ids),
        signals=draw(signal_trackers()),
        max_seeds=draw(st.integers(0, 4)),
        seeds_germinated=draw(st.integers(0, 5)),
        blueprints=draw(blueprint_lists),
    )


@st.composite
def stage_potentials(draw: st.DrawFn) -> StagePotentials:
    """Any potentials the validators accept: FOSSILIZED <= PROBATIONARY, culling stages <= every live one."""
    germinated, training, blending, probationary = (draw(unit_floats()) for _ in range(4))
    lowest_live = min(germinated, training, blending, probationary)
    return StagePotentials(
        dormant=draw(unit_floats()),
        germinated=germinated,
        training=training,
        blending=blending,
        probationary=probationary,
        fossilized=draw(finite_floats(0.0, probationary)),
        culled=draw(finite_floats(0.0, lowest_live)),
        embargoed=draw(finite_floats(0.0, lowest_live)),
    )


def reward_configs_in(modes: Sequence[str]) -> st.SearchStrategy[RewardConfig]:
    return st.builds(
        RewardConfig,
        mode=st.sampled_from(modes),
        gamma=finite_floats(0.5, 1.0),
        contribution_weight=unit_floats(),
        contribution_cap=finite_floats(0.1, 20.0),
        potentials=stage_potentials(),
        rent_weight=unit_floats(),
        action_costs=st.builds(ActionCosts, germinate=unit_floats(), cull=unit_floats(), fossilize=unit_floats()),
        terminal_weight=finite_floats(0.0, 2.0),
        accuracy_scale=finite_floats(1.0, 200.0),
    )


reward_configs = reward_configs_in(REWARD_MODES)
shaped_reward_configs = reward_configs_in((SHAPED,))
feature_configs = st.builds(
    FeatureConfig,
    accuracy_scale=finite_floats(1.0, 200.0),
    accuracy_delta_scale=finite_floats(0.1, 50.0),
    epochs_scale=finite_floats(0.1, 50.0),
    contribution_scale=finite_floats(0.1, 50.0),
    gradient_ratio_clip=finite_floats(0.1, 100.0),
    param_share_clip=finite_floats(0.1, 10.0),
    feature_clip=finite_floats(0.1, 10.0),
)


@st.composite
def with_seed_at(draw: st.DrawFn, stages: Sequence[SeedStage]) -> tuple[Observation, int]:
    """An observation and the index of a slot holding a seed in one of ``stages``."""
    observation = draw(observations())
    index = draw(st.integers(0, observation.slots.num_slots - 1))
    placed = draw(seed_in(observation.slots.slot_ids[index], stages))
    seeds = list(observation.seeds)
    seeds[index] = placed
    return attrs.evolve(observation, seeds=tuple(seeds)), index


def replace_seed(observation: Observation, index: int, seed: SeedState | None) -> Observation:
    seeds = list(observation.seeds)
    seeds[index] = seed
    return attrs.evolve(observation, seeds=tuple(seeds))


def every_action(observation: Observation) -> list[FactoredAction]:
    """Every op in every slot (one past the end too), with every blueprint and blend for GERMINATE."""
    indices = range(observation.slots.num_slots + 1)
    actions = [
        FactoredAction(op=op, slot_index=i) for op in OP_ORDER if op is not LifecycleOp.GERMINATE for i in indices
    ]
    actions += [
        FactoredAction(op=LifecycleOp.GERMINATE, slot_index=i, blueprint=blueprint, blend=blend)
        for i in indices
        for blueprint in (*observation.blueprints, "unregistered")
        for blend in (*BLEND_ORDER, None)
    ]
    return actions


def engine_accepts(observation: Observation, action: FactoredAction, gates: GateConfig) -> bool:
    """The engine applies the action without refusal: it is legal, and a FOSSILIZE passes G5."""
    if not is_action_legal(observation, action):
        return False
    seed = observation.seeds[action.slot_index] if action.op is LifecycleOp.FOSSILIZE else None
    return seed is None or gate_g5_fossilized(seed, gates).ok


# --- masks ------------------------------------------------------------------------------------


@given(observations(), gate_configs)
def test_masks_are_exact(observation: Observation, gates: GateConfig) -> None:
    masks = action_masks(observation, gates)
    for action in every_action(observation):
        assert masks_allow(masks, action, observation.blueprints) == engine_accepts(observation, action, gates), action


@given(observations(), gate_configs, st.lists(st.sampled_from((*BLUEPRINT_POOL, "unregistered")), unique=True))
def test_masks_are_exact_over_an_offered_blueprint_head(
    observation: Observation, gates: GateConfig, offered: list[str]
) -> None:
    """A policy offered some blueprints (known to the host or not): every action its heads can
    express is allowed iff the engine accepts it, so no sampled action is ever illegal."""
    masks = action_masks(observation, gates, blueprints=offered)
    expressible = [
        action
        for action in every_action(observation)
        if action.op is not LifecycleOp.GERMINATE or action.blueprint in offered
    ]
    for action in expressible:
        assert masks_allow(masks, action, offered) == engine_accepts(observation, action, gates), action


@given(observations(), gate_configs, st.data())
def test_sampling_op_then_slot_then_choices_gives_an_accepted_action(
    observation: Observation, gates: GateConfig, data: st.DataObject
) -> None:
    """How a policy samples: op among legal ops, slot among that op's legal slots, then blueprint and blend."""
    masks = action_masks(observation, gates)
    op_index = data.draw(st.sampled_from([i for i, legal in enumerate(masks.op) if legal]))
    slot_index = data.draw(st.sampled_from([i for i, legal in enumerate(masks.slot[op_index]) if legal]))
    op = OP_ORDER[op_index]
    blueprint, blend = None, None
    if op is LifecycleOp.GERMINATE:
        blueprint = data.draw(
            st.sampled_from([b for b, legal in zip(observation.blueprints, masks.blueprint) if legal])
        )
        blend = data.draw(st.sampled_from([b for b, legal in zip(BLEND_ORDER, masks.blend) if legal]))
    action = FactoredAction(op=op, slot_index=slot_index, blueprint=blueprint, blend=blend)
    assert isinstance(check_action(observation, action), Success)
    assert engine_accepts(observation, action, gates)


@given(observations(), gate_configs)
def test_masks_round_trip_through_primitives(observation: Observation, gates: GateConfig) -> None:
    masks = action_masks(observation, gates)
    assert from_primitives(to_primitives(masks), ActionMasks).unwrap() == masks


# --- features ---------------------------------------------------------------------------------


@st.composite
def wild_observations(draw: st.DrawFn) -> Observation:
    """Observations whose measurements include NaN, infinities and huge values."""
    observation = draw(observations())
    wild = st.none() | st.floats()
    seeds = tuple(
        None
        if seed is None
        else attrs.evolve(
            seed,
            metrics=attrs.evolve(seed.metrics, counterfactual_contribution=draw(wild), seed_gradient_ratio=draw(wild)),
        )
        for seed in observation.seeds
    )
    signals = attrs.evolve(observation.signals, acc_delta=draw(st.floats()), best_accuracy=draw(wild))
    return attrs.evolve(observation, seeds=seeds, signals=signals)


@given(wild_observations(), feature_configs)
def test_features_are_finite_and_shaped_as_the_layout(observation: Observation, config: FeatureConfig) -> None:
    layout = feature_layout(observation.slots, observation.blueprints)
    assert isinstance(check_layout(observation, layout), Success)
    global_block, slot_blocks = observation_features(observation, layout, config)
    assert len(global_block) == layout.global_size
    assert len(slot_blocks) == layout.num_slots
    assert all(len(block) == layout.slot_size for block in slot_blocks)
    values = [*global_block, *(value for block in slot_blocks for value in block)]
    assert all(type(value) is float and math.isfinite(value) for value in values)


@given(small_slot_configs, blueprint_lists)
def test_feature_layout_round_trips(slots: SlotConfig, blueprints: tuple[str, ...]) -> None:
    layout = feature_layout(slots, blueprints)
    assert from_primitives(to_primitives(layout), FeatureLayout).unwrap() == layout


# --- rewards: anti-gaming ---------------------------------------------------------------------


def as_fossilized(seed: SeedState) -> SeedState:
    return attrs.evolve(seed, stage=SeedStage.FOSSILIZED, alpha=1.0, blend=None)


def as_culled(seed: SeedState, stage: SeedStage) -> SeedState:
    return attrs.evolve(seed, stage=stage, alpha=0.0, blend=None)


def reward(
    before: Observation, action: FactoredAction, after: Observation, terminal: bool, config: RewardConfig
) -> float:
    return compute_reward(
        before, action, after, terminal=terminal, config=config, static_accuracies=STATIC_ACCURACIES
    ).total


useless_contributions = st.none() | finite_floats(-20.0, 0.0)


@pairs
@given(with_seed_at([SeedStage.PROBATIONARY]), useless_contributions, st.booleans(), reward_configs)
def test_fossilizing_a_useless_seed_earns_no_more_than_waiting(
    placed: tuple[Observation, int], contribution: float | None, terminal: bool, config: RewardConfig
) -> None:
    """Same transition, everything else equal: the FOSSILIZE decision itself never adds reward."""
    before, index = placed
    seed = before.seeds[index]
    assert seed is not None
    useless = attrs.evolve(seed, metrics=attrs.evolve(seed.metrics, counterfactual_contribution=contribution))
    before = replace_seed(before, index, useless)
    fossilize = FactoredAction(op=LifecycleOp.FOSSILIZE, slot_index=index)
    fossilized = reward(before, fossilize, replace_seed(before, index, as_fossilized(useless)), terminal, config)
    waited = reward(before, FactoredAction(op=LifecycleOp.WAIT), before, terminal, config)
    assert fossilized <= waited + ROUNDING


@pairs
@given(useless_contributions, small_slot_configs, st.data(), reward_configs)
def test_fossilizing_a_useless_seed_alone_is_never_net_rewarded(
    contribution: float | None, slots: SlotConfig, data: st.DataObject, config: RewardConfig
) -> None:
    """A non-terminal step in which the only seed is fossilized with contribution <= 0 pays <= 0."""
    index = data.draw(st.integers(0, slots.num_slots - 1))
    before = data.draw(observations(slots))
    drawn = data.draw(seed_in(slots.slot_ids[index], (SeedStage.PROBATIONARY,)))
    seed = attrs.evolve(drawn, metrics=attrs.evolve(drawn.metrics, counterfactual_contribution=contribution))
    empty = attrs.evolve(before, seeds=(None,) * slots.num_slots)
    before = replace_seed(empty, index, seed)
    after = replace_seed(empty, index, as_fossilized(seed))
    assert reward(before, FactoredAction(op=LifecycleOp.FOSSILIZE, slot_index=index), after, False, config) <= ROUNDING


@pairs
@given(
    with_seed_at([SeedStage.BLENDING, SeedStage.PROBATIONARY]),
    finite_floats(1e-3, 50.0),
    st.sampled_from([SeedStage.CULLED, SeedStage.EMBARGOED]),
    st.booleans(),
    shaped_reward_configs,
)
def test_culling_a_helpful_seed_earns_less_than_waiting(
    placed: tuple[Observation, int], contribution: float, culled_stage: SeedStage, terminal: bool, config: RewardConfig
) -> None:
    """A seed whose contribution term exceeds the rent it costs: culling it earns strictly less than WAIT.

    After the cull the seed is CULLED (or already EMBARGOED after the epoch's step); on the
    WAIT branch it is unchanged. Everything else is equal.
    """
    before, index = placed
    seed = before.seeds[index]
    assert seed is not None
    helpful = attrs.evolve(seed, metrics=attrs.evolve(seed.metrics, counterfactual_contribution=contribution))
    before = replace_seed(before, index, helpful)
    after_cull = replace_seed(before, index, as_culled(helpful, culled_stage))
    earned = config.contribution_weight * min(contribution, config.contribution_cap)
    rent_saved = rent_term(after_cull.seeds, config) - rent_term(before.seeds, config)
    assume(earned - rent_saved > ROUNDING)
    culled = reward(before, FactoredAction(op=LifecycleOp.CULL, slot_index=index), after_cull, terminal, config)
    waited = reward(before, FactoredAction(op=LifecycleOp.WAIT), before, terminal, config)
    assert culled < waited


# --- rewards: shaping telescopes ---------------------------------------------------------------


def staged_seeds(slot_id: str) -> st.SearchStrategy[SeedState]:
    return st.builds(
        SeedState,
        seed_id=st.just("seed"),
        slot_id=st.just(slot_id),
        blueprint_id=st.just("norm"),
        stage=st.sampled_from(SeedStage),
        blend_algorithm=st.just(BLEND_ORDER[0]),
    )


@st.composite
def episodes(draw: st.DrawFn) -> list[Observation]:
    """Observations of one slot configuration in a row; potentials read only the seeds' stages."""
    slots = draw(small_slot_configs)
    seed_rows = st.tuples(*(st.none() | staged_seeds(slot_id) for slot_id in slots.slot_ids))
    template = Observation(
        epoch=0,
        max_epochs=1,
        slots=slots,
        seeds=(None,) * slots.num_slots,
        signals=SignalTracker(),
        max_seeds=0,
        seeds_germinated=0,
        blueprints=(),
    )
    rows = draw(st.lists(seed_rows, min_size=2, max_size=8))
    return [attrs.evolve(template, seeds=row) for row in rows]


@given(episodes(), shaped_reward_configs)
def test_pbrs_telescopes_over_an_episode(episode: list[Observation], config: RewardConfig) -> None:
    """sum_t gamma^t (gamma phi_{t+1} - phi_t) = gamma^T phi_T - phi_0."""
    gamma, steps = config.gamma, len(episode) - 1
    wait = FactoredAction(op=LifecycleOp.WAIT)
    shaped = [compute_reward(a, wait, b, terminal=False, config=config).pbrs for a, b in itertools.pairwise(episode)]
    discounted = sum(gamma**t * term for t, term in enumerate(shaped))
    expected = gamma**steps * potential(episode[-1].seeds, config) - potential(episode[0].seeds, config)
    assert discounted == pytest.approx(expected, abs=ROUNDING)


@given(episodes(), shaped_reward_configs)
def test_pbrs_of_a_terminated_episode_sums_to_minus_the_initial_potential(
    episode: list[Observation], config: RewardConfig
) -> None:
    """phi(terminal) = 0, so over an episode that starts with no seed the shaping is worth nothing."""
    wait = FactoredAction(op=LifecycleOp.WAIT)
    last = len(episode) - 2
    shaped = [
        compute_reward(a, wait, b, terminal=t == last, config=config).pbrs
        for t, (a, b) in enumerate(itertools.pairwise(episode))
    ]
    discounted = sum(config.gamma**t * term for t, term in enumerate(shaped))
    assert discounted == pytest.approx(-potential(episode[0].seeds, config), abs=ROUNDING)


@pairs
@given(observations(), st.sampled_from(OP_ORDER), observations(), st.booleans())
def test_sparse_reward_is_the_terminal_term_alone(
    before: Observation, op: LifecycleOp, after: Observation, terminal: bool
) -> None:
    breakdown = compute_reward(
        before, FactoredAction(op=op), after, terminal=terminal, config=RewardConfig(mode=SPARSE)
    )
    assert breakdown == RewardBreakdown(terminal=breakdown.terminal)
    assert terminal or breakdown.terminal == 0.0


@given(reward_configs)
def test_reward_config_round_trips(config: RewardConfig) -> None:
    assert from_primitives(to_primitives(config), RewardConfig).unwrap() == config


@given(reward_configs, feature_configs)
def test_ppo_config_round_trips(reward_config: RewardConfig, features: FeatureConfig) -> None:
    config = PPOConfig(gamma=reward_config.gamma, reward=reward_config, features=features)
    assert from_primitives(to_primitives(config), PPOConfig).unwrap() == config


# --- GAE --------------------------------------------------------------------------------------

rewards_values = finite_floats(-10.0, 10.0)
discounts = finite_floats(0.0, 1.0)


# rewards, values, next_values, terminated, truncated
Trajectory = tuple[list[float], list[float], list[float], list[bool], list[bool]]


@st.composite
def trajectories(draw: st.DrawFn, min_size: int = 0) -> Trajectory:
    size = draw(st.integers(min_size, 12))
    column = lambda strategy: draw(st.lists(strategy, min_size=size, max_size=size))
    return (
        column(rewards_values),
        column(rewards_values),
        column(rewards_values),
        column(st.booleans()),
        column(st.booleans()),
    )


@given(trajectories(), discounts, discounts)
def test_returns_are_advantages_plus_values(trajectory: Trajectory, gamma: float, lam: float) -> None:
    advantages, returns = gae(*trajectory, gamma=gamma, lam=lam)
    assert returns == tuple(a + v for a, v in zip(advantages, trajectory[1]))


@given(trajectories(min_size=1), trajectories(), st.sampled_from(["terminated", "truncated"]), discounts, discounts)
def test_nothing_crosses_an_episode_boundary(
    first: Trajectory, second: Trajectory, boundary: str, gamma: float, lam: float
) -> None:
    """GAE over two episodes back to back equals GAE over each: the trace stops at the boundary."""
    rewards, values, next_values, terminated, truncated = (list(column) for column in first)
    (terminated if boundary == "terminated" else truncated)[-1] = True
    ended = (rewards, values, next_values, terminated, truncated)
    joined = gae(*(a + list(b) for a, b in zip(ended, second)), gamma=gamma, lam=lam)
    apart = [gae(*part, gamma=gamma, lam=lam) for part in (ended, second)]
    assert joined == (apart[0][0] + apart[1][0], apart[0][1] + apart[1][1])


@given(st.lists(rewards_values, min_size=1, max_size=12), st.data(), discounts)
def test_lam_one_on_a_terminated_episode_gives_discounted_monte_carlo_returns(
    rewards: list[float], data: st.DataObject, gamma: float
) -> None:
    size = len(rewards)
    values = data.draw(st.lists(rewards_values, min_size=size, max_size=size))
    next_values = [*values[1:], data.draw(rewards_values)]
    terminated = [False] * (size - 1) + [True]
    _, returns = gae(rewards, values, next_values, terminated, [False] * size, gamma=gamma, lam=1.0)
    expected = [sum(gamma**k * r for k, r in enumerate(rewards[t:])) for t in range(size)]
    assert returns == pytest.approx(expected, abs=1e-6)
