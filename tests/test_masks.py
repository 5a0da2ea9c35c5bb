"""Action masks (DESIGN §10 RL): exact, so a sampled action is never refused and no legal one is hidden."""

from __future__ import annotations

import pytest

from esper_core.action_space import FactoredAction, LifecycleOp, SlotConfig
from esper_core.blending import BlendAlgorithm
from esper_core.config import GateConfig
from esper_core.errors import ConfigError
from esper_core.masks import BLEND_ORDER, OP_ORDER, ActionMasks, action_masks, masks_allow
from esper_core.observation import Observation
from esper_core.serialization import from_primitives, to_primitives
from esper_core.signals import SignalTracker
from esper_core.stages import SeedStage
from esper_core.state import SeedMetrics, SeedState

SLOTS = SlotConfig(("r0c0", "r1c0", "r2c0"))
BLUEPRINTS = ("noop", "norm", "conv_light")
GATES = GateConfig()
WAIT, GERMINATE, CULL, FOSSILIZE = (OP_ORDER.index(op) for op in LifecycleOp)


def seed(stage: SeedStage, slot_id: str = "r0c0", **metrics: float | None) -> SeedState:
    return SeedState(
        seed_id=f"seed-{slot_id}",
        slot_id=slot_id,
        blueprint_id="norm",
        stage=stage,
        blend_algorithm=BlendAlgorithm.SIGMOID,
        metrics=SeedMetrics(**metrics),  # type: ignore[arg-type]
    )


def observe(
    *seeds: SeedState | None,
    max_seeds: int = 5,
    seeds_germinated: int = 0,
    blueprints: tuple[str, ...] = BLUEPRINTS,
) -> Observation:
    """An observation over SLOTS; slots not given are empty."""
    padded = (*seeds, *(None,) * (SLOTS.num_slots - len(seeds)))
    return Observation(
        epoch=10,
        max_epochs=25,
        slots=SLOTS,
        seeds=padded,
        signals=SignalTracker(),
        max_seeds=max_seeds,
        seeds_germinated=seeds_germinated,
        blueprints=blueprints,
    )


class TestHeadOrders:
    def test_ops_follow_lifecycle_op_declaration_order(self) -> None:
        assert OP_ORDER == (LifecycleOp.WAIT, LifecycleOp.GERMINATE, LifecycleOp.CULL, LifecycleOp.FOSSILIZE)

    def test_blends_follow_blend_algorithm_declaration_order(self) -> None:
        assert BLEND_ORDER == (BlendAlgorithm.LINEAR, BlendAlgorithm.SIGMOID, BlendAlgorithm.GATED)


class TestActionMasks:
    def test_all_empty_slots_allow_wait_and_germinate_everywhere(self) -> None:
        masks = action_masks(observe(), GATES)
        assert masks.op == (True, True, False, False)
        assert masks.slot == ((True,) * 3, (True,) * 3, (False,) * 3, (False,) * 3)
        assert masks.blueprint == (True, True, True)
        assert masks.blend == (True, True, True)

    def test_wait_row_is_all_true_even_when_nothing_else_is_legal(self) -> None:
        masks = action_masks(observe(max_seeds=0), GATES)
        assert masks.op == (True, False, False, False)
        assert masks.slot[WAIT] == (True, True, True)

    def test_germinate_needs_a_free_slot(self) -> None:
        observation = observe(seed(SeedStage.TRAINING), seed(SeedStage.DORMANT, "r1c0"), None)
        assert action_masks(observation, GATES).slot[GERMINATE] == (False, True, True)

    def test_embargoed_slot_is_not_free(self) -> None:
        observation = observe(seed(SeedStage.EMBARGOED))
        assert action_masks(observation, GATES).slot[GERMINATE] == (False, True, True)

    def test_germinate_needs_budget(self) -> None:
        masks = action_masks(observe(max_seeds=2, seeds_germinated=2), GATES)
        assert masks.op[GERMINATE] is False
        assert masks.slot[GERMINATE] == (False, False, False)

    def test_germinate_needs_a_known_blueprint(self) -> None:
        masks = action_masks(observe(blueprints=()), GATES)
        assert masks.op[GERMINATE] is False
        assert masks.blueprint == ()

    def test_blueprint_head_ranges_over_the_offered_blueprints(self) -> None:
        masks = action_masks(observe(), GATES, blueprints=("conv_light", "unregistered"))
        assert masks.blueprint == (True, False)
        assert masks.op[GERMINATE] is True

    def test_germinate_is_masked_when_no_offered_blueprint_is_known(self) -> None:
        masks = action_masks(observe(), GATES, blueprints=("unregistered",))
        assert masks.op[GERMINATE] is False
        assert masks.slot[GERMINATE] == (False, False, False)

    @pytest.mark.parametrize(
        ("stage", "legal"),
        [
            (SeedStage.DORMANT, False),
            (SeedStage.GERMINATED, True),
            (SeedStage.TRAINING, True),
            (SeedStage.BLENDING, True),
            (SeedStage.PROBATIONARY, True),
            (SeedStage.FOSSILIZED, False),
            (SeedStage.CULLED, False),
            (SeedStage.EMBARGOED, False),
        ],
    )
    def test_cull_needs_a_seed_that_may_enter_culled(self, stage: SeedStage, legal: bool) -> None:
        masks = action_masks(observe(seed(stage)), GATES)
        assert masks.slot[CULL] == (legal, False, False)
        assert masks.op[CULL] is legal

    def test_fossilize_allowed_for_probationary_seed_passing_g5(self) -> None:
        masks = action_masks(observe(seed(SeedStage.PROBATIONARY, counterfactual_contribution=1.0)), GATES)
        assert masks.slot[FOSSILIZE] == (True, False, False)
        assert masks.op[FOSSILIZE] is True

    def test_fossilize_masked_when_g5_would_refuse_low_contribution(self) -> None:
        masks = action_masks(observe(seed(SeedStage.PROBATIONARY, counterfactual_contribution=0.99)), GATES)
        assert masks.op[FOSSILIZE] is False

    def test_fossilize_masked_when_contribution_unmeasured(self) -> None:
        masks = action_masks(observe(seed(SeedStage.PROBATIONARY)), GATES)
        assert masks.op[FOSSILIZE] is False

    def test_fossilize_masked_when_gradients_not_finite(self) -> None:
        unhealthy = seed(SeedStage.PROBATIONARY, counterfactual_contribution=5.0, gradients_finite=False)
        assert action_masks(observe(unhealthy), GATES).op[FOSSILIZE] is False

    def test_fossilize_reads_the_given_gate_config(self) -> None:
        observation = observe(seed(SeedStage.PROBATIONARY, counterfactual_contribution=0.5))
        assert action_masks(observation, GateConfig(min_contribution=0.5)).op[FOSSILIZE] is True

    def test_fossilize_needs_probationary_even_with_high_contribution(self) -> None:
        masks = action_masks(observe(seed(SeedStage.BLENDING, counterfactual_contribution=9.0)), GATES)
        assert masks.op[FOSSILIZE] is False

    def test_single_slot_config_gives_single_column(self) -> None:
        observation = Observation(
            epoch=0,
            max_epochs=25,
            slots=SlotConfig(("r0c0",)),
            seeds=(None,),
            signals=SignalTracker(),
            max_seeds=1,
            seeds_germinated=0,
            blueprints=BLUEPRINTS,
        )
        masks = action_masks(observation, GATES)
        assert all(len(row) == 1 for row in masks.slot)


class TestActionMasksRecord:
    def test_round_trips_through_primitives(self) -> None:
        masks = action_masks(observe(seed(SeedStage.TRAINING)), GATES)
        data = to_primitives(masks)
        assert data["slot"] == [[True] * 3, [False, True, True], [True, False, False], [False] * 3]
        assert from_primitives(data, ActionMasks).unwrap() == masks

    def test_lists_become_tuples(self) -> None:
        masks = ActionMasks([True, False, False, False], [[True], [False], [False], [False]], [], [True] * 3)
        assert masks.slot == ((True,), (False,), (False,), (False,))

    def test_refuses_op_that_disagrees_with_its_slot_row(self) -> None:
        with pytest.raises(ConfigError, match="op GERMINATE is False but its slot row"):
            ActionMasks((True, False, False, False), ((True,), (True,), (False,), (False,)), ("x",), (True,) * 3)

    def test_refuses_a_wait_row_with_a_false_entry(self) -> None:
        with pytest.raises(ConfigError, match="WAIT is legal in every slot"):
            ActionMasks(
                (True, False, False, False), ((True, False), (False,) * 2, (False,) * 2, (False,) * 2), (), (True,) * 3
            )

    def test_refuses_ragged_slot_rows(self) -> None:
        with pytest.raises(ConfigError, match="row lengths"):
            ActionMasks((True, False, False, False), ((True, True), (False,), (False,), (False,)), (), (True,) * 3)

    def test_refuses_wrong_op_count(self) -> None:
        with pytest.raises(ConfigError, match="one entry per LifecycleOp"):
            ActionMasks((True,), ((True,),) * 4, (), (True,) * 3)

    def test_refuses_wrong_blend_count(self) -> None:
        with pytest.raises(ConfigError, match="one entry per BlendAlgorithm"):
            ActionMasks((True, False, False, False), ((True,), (False,), (False,), (False,)), (), (True,))

    def test_refuses_germinate_with_no_blueprint_to_grow(self) -> None:
        with pytest.raises(ConfigError, match="no blueprint"):
            ActionMasks((True, True, False, False), ((True,), (True,), (False,), (False,)), (False,), (True,) * 3)


class TestMasksAllow:
    masks = action_masks(observe(seed(SeedStage.TRAINING)), GATES)

    def test_wait_with_any_slot_index(self) -> None:
        assert masks_allow(self.masks, FactoredAction(op=LifecycleOp.WAIT, slot_index=99), BLUEPRINTS)

    def test_germinate_into_free_slot_with_known_blueprint(self) -> None:
        action = FactoredAction(op=LifecycleOp.GERMINATE, slot_index=1, blueprint="norm", blend=BlendAlgorithm.GATED)
        assert masks_allow(self.masks, action, BLUEPRINTS)

    def test_germinate_without_blend_uses_the_default(self) -> None:
        action = FactoredAction(op=LifecycleOp.GERMINATE, slot_index=2, blueprint="noop")
        assert masks_allow(self.masks, action, BLUEPRINTS)

    def test_not_germinate_into_occupied_slot(self) -> None:
        action = FactoredAction(op=LifecycleOp.GERMINATE, slot_index=0, blueprint="norm")
        assert not masks_allow(self.masks, action, BLUEPRINTS)

    def test_not_germinate_unknown_blueprint(self) -> None:
        action = FactoredAction(op=LifecycleOp.GERMINATE, slot_index=1, blueprint="mlp")
        assert not masks_allow(self.masks, action, BLUEPRINTS)

    def test_not_slot_index_out_of_range(self) -> None:
        assert not masks_allow(self.masks, FactoredAction(op=LifecycleOp.CULL, slot_index=3), BLUEPRINTS)

    def test_not_masked_op(self) -> None:
        assert not masks_allow(self.masks, FactoredAction(op=LifecycleOp.FOSSILIZE, slot_index=0), BLUEPRINTS)
