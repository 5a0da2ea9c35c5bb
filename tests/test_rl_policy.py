"""The policy network, its masked heads, and the legality of every action it samples."""

from __future__ import annotations

import math

import attrs
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Success

from esper_core import (
    BlendAlgorithm,
    GateConfig,
    LifecycleOp,
    Observation,
    SeedMetrics,
    SeedStage,
    SeedState,
    SignalTracker,
    SlotConfig,
    check_action,
    gate_g5_fossilized,
)
from esper_core.features import FeatureConfig, feature_layout
from esper_shell.rl.batch import OPS, ActionBatch, MaskBatch, ObservationBatch, factored_actions, observe
from esper_shell.rl.distributions import MaskedCategorical
from esper_shell.rl.errors import PolicyInputError
from esper_shell.rl.policy import PolicyNetwork

MASK_VALUE = -1e9
GLOBAL, SLOT, BLUEPRINTS = 5, 7, 4
BLUEPRINT_NAMES = ("noop", "norm", "conv_light", "depthwise")


def _network(
    seed: int = 0, *, global_size: int = GLOBAL, slot_size: int = SLOT, blueprints: int = BLUEPRINTS
) -> PolicyNetwork:
    torch.manual_seed(seed)
    return PolicyNetwork(global_size, slot_size, blueprints, hidden=16)


def _observations(batch: int, slots: int, seed: int = 1) -> ObservationBatch:
    generator = torch.Generator().manual_seed(seed)
    return ObservationBatch(
        global_features=torch.randn(batch, GLOBAL, generator=generator),
        slot_features=torch.randn(batch, slots, SLOT, generator=generator),
    )


def _masks(batch: int, slots: int, *, op: LifecycleOp | None = None, slot: int | None = None) -> MaskBatch:
    """All legal; or only ``op``, and for it only ``slot`` (WAIT's row stays all legal, as in the core)."""
    op_mask = torch.ones(batch, len(OPS), dtype=torch.bool)
    slot_mask = torch.ones(batch, len(OPS), slots, dtype=torch.bool)
    if op is not None:
        op_mask[:] = False
        op_mask[:, OPS.index(op)] = True
    if slot is not None:
        slot_mask[:, OPS.index(op), :] = False
        slot_mask[:, OPS.index(op), slot] = True
    return MaskBatch(
        op=op_mask,
        slot=slot_mask,
        blueprint=torch.ones(batch, BLUEPRINTS, dtype=torch.bool),
        blend=torch.ones(batch, len(BlendAlgorithm), dtype=torch.bool),
    )


class TestMaskedCategorical:
    def test_entropy_is_over_the_legal_entries_only(self) -> None:
        logits = torch.tensor([[0.0, 5.0, math.log(2.0)]])
        dist = MaskedCategorical(logits, torch.tensor([[True, False, True]]), mask_value=MASK_VALUE)
        # Renormalised over the legal entries: p = (1/3, 0, 2/3).
        expected = -(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3))
        assert dist.entropy().item() == pytest.approx(expected, rel=1e-6)
        assert dist.log_prob(torch.tensor([2])).item() == pytest.approx(math.log(2 / 3), rel=1e-6)

    def test_masked_entries_are_never_sampled(self) -> None:
        dist = MaskedCategorical(
            torch.zeros(2000, 3), torch.tensor([[True, False, True]]).expand(2000, 3), mask_value=MASK_VALUE
        )
        samples = dist.sample(torch.Generator().manual_seed(0))
        assert set(samples.tolist()) == {0, 2}

    def test_mode_is_the_best_legal_entry(self) -> None:
        dist = MaskedCategorical(
            torch.tensor([[9.0, 1.0, 2.0]]), torch.tensor([[False, True, True]]), mask_value=MASK_VALUE
        )
        assert dist.mode().tolist() == [2]

    def test_an_all_masked_row_is_refused(self) -> None:
        with pytest.raises(PolicyInputError, match=r"Rows \[1\]"):
            MaskedCategorical(
                torch.zeros(2, 3), torch.tensor([[True, True, True], [False, False, False]]), mask_value=MASK_VALUE
            )


class TestPolicyNetwork:
    @pytest.mark.parametrize("slots", [1, 3, 6])
    def test_slot_head_scores_every_configured_slot(self, slots: int) -> None:
        network = _network()  # one network, whatever the slot count
        step = network.act(
            _observations(2, slots), _masks(2, slots, op=LifecycleOp.CULL, slot=slots - 1), mask_value=MASK_VALUE
        )
        assert step.actions.slot.tolist() == [slots - 1, slots - 1]

    def test_parameter_count_does_not_depend_on_the_slot_count(self) -> None:
        assert sum(p.numel() for p in _network().parameters()) == sum(p.numel() for p in _network(seed=3).parameters())
        network = _network()
        values = [network.act(_observations(1, s), _masks(1, s), mask_value=MASK_VALUE).value.shape for s in (1, 6)]
        assert values == [torch.Size([1]), torch.Size([1])]

    def test_evaluate_actions_reproduces_act(self) -> None:
        network, obs, masks = _network(), _observations(8, 3), _masks(8, 3)
        step = network.act(obs, masks, mask_value=MASK_VALUE, generator=torch.Generator().manual_seed(0))
        again = network.evaluate_actions(obs, step.actions, masks, mask_value=MASK_VALUE)
        torch.testing.assert_close(again.log_prob, step.log_prob)
        torch.testing.assert_close(again.entropy, step.entropy)
        torch.testing.assert_close(again.value, step.value)

    def test_heads_the_op_ignores_count_for_nothing(self) -> None:
        step = _network().act(_observations(4, 3), _masks(4, 3, op=LifecycleOp.WAIT), mask_value=MASK_VALUE)
        assert step.log_prob.abs().max().item() == 0.0
        assert step.entropy.abs().max().item() == 0.0

    def test_germinate_counts_its_blueprint_and_blend_choices(self) -> None:
        network, obs = _network(), _observations(4, 3)
        germinate = network.act(obs, _masks(4, 3, op=LifecycleOp.GERMINATE, slot=1), mask_value=MASK_VALUE)
        cull = network.act(obs, _masks(4, 3, op=LifecycleOp.CULL, slot=1), mask_value=MASK_VALUE)
        assert (germinate.entropy > 0).all() and (germinate.log_prob < 0).all()
        assert cull.entropy.abs().max().item() == 0.0

    def test_greedy_acting_is_deterministic(self) -> None:
        network, obs, masks = _network(), _observations(6, 3), _masks(6, 3)
        first = network.act(obs, masks, mask_value=MASK_VALUE, greedy=True).actions
        second = network.act(obs, masks, mask_value=MASK_VALUE, greedy=True).actions
        assert all(torch.equal(getattr(first, f), getattr(second, f)) for f in ("op", "slot", "blueprint", "blend"))

    def test_masks_of_another_slot_count_are_refused(self) -> None:
        with pytest.raises(PolicyInputError, match="shape of its logits"):
            _network().act(_observations(2, 3), _masks(2, 4, op=LifecycleOp.CULL, slot=0), mask_value=MASK_VALUE)


class TestFactoredActions:
    def test_only_germinate_names_a_blueprint_and_blend(self) -> None:
        actions = ActionBatch(
            op=torch.tensor([OPS.index(op) for op in (LifecycleOp.WAIT, LifecycleOp.GERMINATE, LifecycleOp.CULL)]),
            slot=torch.tensor([2, 1, 0]),
            blueprint=torch.tensor([3, 2, 1]),
            blend=torch.tensor([0, 2, 1]),
        )
        wait, germinate, cull = factored_actions(actions, BLUEPRINT_NAMES)
        assert (wait.op, wait.slot_index, wait.blueprint) == (LifecycleOp.WAIT, 0, None)
        assert (germinate.slot_index, germinate.blueprint, germinate.blend) == (1, "conv_light", BlendAlgorithm.GATED)
        assert (cull.op, cull.slot_index, cull.blueprint, cull.blend) == (LifecycleOp.CULL, 0, None, None)


# -- every sampled action is legal, over random lifecycle states and slot configs ---------------------

GATES = GateConfig()


@st.composite
def _seed(draw: st.DrawFn, slot_id: str) -> SeedState | None:
    if draw(st.booleans()):
        return None
    stage = draw(st.sampled_from(SeedStage))
    metrics = SeedMetrics(
        epochs_in_stage=draw(st.integers(0, 8)),
        counterfactual_contribution=draw(st.none() | st.floats(-3.0, 3.0)),
        seed_gradient_ratio=draw(st.none() | st.floats(0.0, 1.0)),
        gradients_finite=draw(st.booleans()),
        seed_param_count=draw(st.integers(0, 500)),
        host_param_count=163,
    )
    alpha = 1.0 if stage in (SeedStage.PROBATIONARY, SeedStage.FOSSILIZED) else 0.0
    return SeedState(
        seed_id=f"{slot_id}-seed",
        slot_id=slot_id,
        blueprint_id=draw(st.sampled_from(BLUEPRINT_NAMES)),
        stage=stage,
        blend_algorithm=BlendAlgorithm.LINEAR,
        alpha=alpha,
        metrics=metrics,
    )


@st.composite
def _observation(draw: st.DrawFn) -> Observation:
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    slots = SlotConfig.for_grid(rows, cols)
    max_seeds = draw(st.integers(0, 4))
    return Observation(
        epoch=draw(st.integers(0, 9)),
        max_epochs=10,
        slots=slots,
        seeds=tuple(draw(_seed(slot_id)) for slot_id in slots.slot_ids),
        signals=SignalTracker(accuracy_history=(50.0,), loss_history=(1.0,), best_accuracy=50.0, epochs_seen=1),
        max_seeds=max_seeds,
        seeds_germinated=draw(st.integers(0, max_seeds)),
        blueprints=BLUEPRINT_NAMES,
    )


@settings(max_examples=60, deadline=None)
@given(observation=_observation(), sample_seed=st.integers(0, 2**16))
def test_sampled_actions_are_always_legal(observation: Observation, sample_seed: int) -> None:
    layout = feature_layout(observation.slots, BLUEPRINT_NAMES)
    network = _network(global_size=layout.global_size, slot_size=layout.slot_size, blueprints=len(BLUEPRINT_NAMES))
    raw, masks = observe([observation] * 16, layout, FeatureConfig(), GATES)
    step = network.act(raw, masks, mask_value=MASK_VALUE, generator=torch.Generator().manual_seed(sample_seed))
    for action in factored_actions(step.actions, BLUEPRINT_NAMES):
        assert isinstance(check_action(observation, action), Success), action
        if action.op is LifecycleOp.FOSSILIZE:
            assert gate_g5_fossilized(observation.seeds[action.slot_index], GATES).ok


def _germinate_slot_distribution(slots: SlotConfig) -> torch.Tensor:
    """P(slot | GERMINATE) of a random network over an empty model's real features, all slots free."""
    observation = Observation(
        epoch=5,
        max_epochs=25,
        slots=slots,
        seeds=(None,) * slots.num_slots,
        signals=SignalTracker(accuracy_history=(60.0,), loss_history=(1.2,)),
        max_seeds=2,
        seeds_germinated=0,
        blueprints=("conv_light",),
    )
    layout = feature_layout(slots, ("conv_light",))
    raw, masks = observe([observation], layout, FeatureConfig(), GateConfig())
    network = _network(3, global_size=layout.global_size, slot_size=layout.slot_size, blueprints=1)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.add_(torch.randn_like(parameter))
    masks = attrs.evolve(masks, blend=torch.tensor([[True, False, False]]))
    germinate = OPS.index(LifecycleOp.GERMINATE)
    log_probs = []
    for index in range(slots.num_slots):
        actions = ActionBatch(
            op=torch.tensor([germinate]),
            slot=torch.tensor([index]),
            blueprint=torch.tensor([0]),
            blend=torch.tensor([0]),
        )
        # One legal blueprint and blend: the log-probability is the op's plus the slot's.
        log_probs.append(network.evaluate_actions(raw, actions, masks, mask_value=MASK_VALUE).log_prob)
    return torch.softmax(torch.cat(log_probs), dim=0)


class TestSlotAwareness:
    def test_germinate_slot_choice_is_not_uniform_across_empty_slots(self) -> None:
        distribution = _germinate_slot_distribution(SlotConfig(("r0c0", "r1c0", "r2c0")))
        assert distribution.sum().item() == pytest.approx(1.0)
        assert (distribution.max() - distribution.min()).item() > 1e-3

    def test_the_same_weights_score_six_slots(self) -> None:
        distribution = _germinate_slot_distribution(SlotConfig.for_grid(3, 2))
        assert distribution.shape == (6,) and len(set(distribution.tolist())) == 6
