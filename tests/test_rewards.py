"""Rewards (DESIGN §10): contribution + PBRS + rent + action costs + terminal bonus; sparse = terminal only."""

from __future__ import annotations

import math

import attrs
import pytest

from esper_core.action_space import FactoredAction, LifecycleOp, SlotConfig
from esper_core.blending import BlendAlgorithm
from esper_core.errors import ConfigError
from esper_core.observation import Observation
from esper_core.rewards import (
    ACCURACY_GAP,
    SPARSE,
    ActionCosts,
    RewardBreakdown,
    RewardConfig,
    StagePotentials,
    compute_reward,
    potential,
    terminal_value,
)
from esper_core.serialization import from_primitives, to_primitives
from esper_core.signals import SignalTracker
from esper_core.stages import SeedStage
from esper_core.state import SeedMetrics, SeedState
from tests.test_config import assert_refused_by_name, non_finite_cases

SLOTS = SlotConfig(("r0c0", "r1c0"))
CONFIG = RewardConfig()
GAMMA = CONFIG.gamma
WAIT = FactoredAction(op=LifecycleOp.WAIT)
GERMINATE = FactoredAction(op=LifecycleOp.GERMINATE, slot_index=0, blueprint="norm")
CULL = FactoredAction(op=LifecycleOp.CULL, slot_index=0)
FOSSILIZE = FactoredAction(op=LifecycleOp.FOSSILIZE, slot_index=0)


def seed(stage: SeedStage, slot_id: str = "r0c0", **metrics: float | None) -> SeedState:
    return SeedState(
        seed_id="s",
        slot_id=slot_id,
        blueprint_id="norm",
        stage=stage,
        blend_algorithm=BlendAlgorithm.LINEAR,
        metrics=SeedMetrics(**metrics),  # type: ignore[arg-type]
    )


def observe(*seeds: SeedState | None, accuracy: float | None = None) -> Observation:
    padded = (*seeds, *(None,) * (SLOTS.num_slots - len(seeds)))
    history = () if accuracy is None else (accuracy,)
    return Observation(
        epoch=3,
        max_epochs=25,
        slots=SLOTS,
        seeds=padded,
        signals=SignalTracker(accuracy_history=history, loss_history=(1.0,) * len(history)),
        max_seeds=5,
        seeds_germinated=1,
        blueprints=("norm",),
    )


def reward(
    before: Observation,
    action: FactoredAction,
    after: Observation,
    *,
    terminal: bool = False,
    config: RewardConfig = CONFIG,
) -> RewardBreakdown:
    return compute_reward(before, action, after, terminal=terminal, config=config)


class TestShapedHandComputed:
    def test_germinate_step(self) -> None:
        after = observe(seed(SeedStage.GERMINATED, seed_param_count=100, host_param_count=1000))
        breakdown = reward(observe(), GERMINATE, after)
        expected = RewardBreakdown(pbrs=0.995 * 0.1, rent=-0.1 * math.log(1.1), action_cost=-0.02)
        assert attrs.astuple(breakdown) == pytest.approx(attrs.astuple(expected))

    def test_wait_while_a_seed_blends_into_probation(self) -> None:
        before = observe(seed(SeedStage.BLENDING, counterfactual_contribution=2.0))
        after = observe(seed(SeedStage.PROBATIONARY, counterfactual_contribution=2.0))
        breakdown = reward(before, WAIT, after)
        assert breakdown.contribution == pytest.approx(0.2)
        assert breakdown.pbrs == pytest.approx(0.995 * 0.4 - 0.3)
        assert (breakdown.rent, breakdown.action_cost, breakdown.terminal) == (0.0, 0.0, 0.0)
        assert breakdown.total == pytest.approx(0.2 + 0.098)

    def test_terminal_step_pays_final_accuracy_and_takes_phi_after_as_zero(self) -> None:
        before = observe(seed(SeedStage.FOSSILIZED))
        after = observe(seed(SeedStage.FOSSILIZED), accuracy=80.0)
        breakdown = reward(before, WAIT, after, terminal=True)
        assert breakdown.terminal == pytest.approx(0.8)
        assert breakdown.pbrs == pytest.approx(-0.4)

    def test_no_terminal_bonus_before_the_end(self) -> None:
        assert reward(observe(), WAIT, observe(accuracy=80.0)).terminal == 0.0

    def test_terminal_without_any_accuracy_pays_nothing(self) -> None:
        assert reward(observe(), WAIT, observe(), terminal=True).terminal == 0.0


class TestContributionTerm:
    def test_counts_every_seed_whose_output_the_model_uses(self) -> None:
        after = observe(
            seed(SeedStage.FOSSILIZED, counterfactual_contribution=1.5),
            seed(SeedStage.BLENDING, "r1c0", counterfactual_contribution=-0.5),
        )
        assert reward(after, WAIT, after).contribution == pytest.approx(0.1 * (1.5 - 0.5))

    @pytest.mark.parametrize("stage", [SeedStage.GERMINATED, SeedStage.TRAINING, SeedStage.CULLED, SeedStage.EMBARGOED])
    def test_ignores_seeds_not_in_the_output(self, stage: SeedStage) -> None:
        after = observe(seed(stage, counterfactual_contribution=3.0))
        assert reward(after, WAIT, after).contribution == 0.0

    def test_unmeasured_counts_zero(self) -> None:
        after = observe(seed(SeedStage.BLENDING))
        assert reward(after, WAIT, after).contribution == 0.0

    def test_nan_counts_zero(self) -> None:
        after = observe(seed(SeedStage.BLENDING, counterfactual_contribution=math.nan))
        assert reward(after, WAIT, after).contribution == 0.0

    def test_clipped_to_the_cap(self) -> None:
        after = observe(seed(SeedStage.PROBATIONARY, counterfactual_contribution=-50.0))
        assert reward(after, WAIT, after).contribution == pytest.approx(-0.1 * 10.0)


class TestRentTerm:
    def test_sums_live_and_fossilized_seed_params(self) -> None:
        after = observe(
            seed(SeedStage.FOSSILIZED, seed_param_count=300, host_param_count=1000),
            seed(SeedStage.TRAINING, "r1c0", seed_param_count=200, host_param_count=1000),
        )
        assert reward(after, WAIT, after).rent == pytest.approx(-0.1 * math.log(1.5))

    def test_culled_seed_pays_no_rent(self) -> None:
        after = observe(seed(SeedStage.CULLED, seed_param_count=300, host_param_count=1000))
        assert reward(after, WAIT, after).rent == 0.0

    def test_zero_until_the_host_is_measured(self) -> None:
        after = observe(seed(SeedStage.TRAINING, seed_param_count=300))
        assert reward(after, WAIT, after).rent == 0.0

    def test_weight_from_config(self) -> None:
        after = observe(seed(SeedStage.TRAINING, seed_param_count=1000, host_param_count=1000))
        assert reward(after, WAIT, after, config=RewardConfig(rent_weight=2.0)).rent == pytest.approx(
            -2.0 * math.log(2.0)
        )


class TestActionCosts:
    @pytest.mark.parametrize(("action", "cost"), [(WAIT, 0.0), (GERMINATE, 0.02), (CULL, 0.01), (FOSSILIZE, 0.01)])
    def test_cost_per_op(self, action: FactoredAction, cost: float) -> None:
        assert reward(observe(), action, observe()).action_cost == -cost

    def test_costs_from_config(self) -> None:
        config = RewardConfig(action_costs=ActionCosts(germinate=0.5))
        assert reward(observe(), GERMINATE, observe(), config=config).action_cost == -0.5


class TestSparse:
    config = RewardConfig(mode=SPARSE)

    def test_zero_before_the_end(self) -> None:
        after = observe(seed(SeedStage.GERMINATED, seed_param_count=100, host_param_count=1000), accuracy=70.0)
        assert reward(observe(), GERMINATE, after, config=self.config) == RewardBreakdown()

    def test_terminal_term_only_at_the_end(self) -> None:
        after = observe(seed(SeedStage.FOSSILIZED, counterfactual_contribution=3.0), accuracy=70.0)
        breakdown = reward(observe(), FOSSILIZE, after, terminal=True, config=self.config)
        assert breakdown == RewardBreakdown(terminal=0.7)


class TestAntiGamingExamples:
    def test_fossilizing_a_seed_that_adds_nothing_is_not_rewarded(self) -> None:
        before = observe(seed(SeedStage.PROBATIONARY, counterfactual_contribution=0.0))
        after = observe(seed(SeedStage.FOSSILIZED, counterfactual_contribution=0.0))
        assert reward(before, FOSSILIZE, after).total <= 0.0

    def test_culling_a_helpful_seed_earns_less_than_waiting(self) -> None:
        helpful = seed(SeedStage.BLENDING, counterfactual_contribution=2.0, seed_param_count=100, host_param_count=1000)
        before = observe(helpful)
        culled = reward(before, CULL, observe(attrs.evolve(helpful, stage=SeedStage.EMBARGOED)))
        waited = reward(before, WAIT, before)
        assert culled.total < waited.total


class TestPotential:
    def test_sums_stage_potentials_empty_slot_as_dormant(self) -> None:
        config = RewardConfig(potentials=StagePotentials(dormant=0.05, training=0.25))
        assert potential((None, seed(SeedStage.TRAINING)), config) == pytest.approx(0.3)

    def test_fields_name_every_stage(self) -> None:
        assert [field.name for field in attrs.fields(StagePotentials)] == [stage.name.lower() for stage in SeedStage]

    def test_of_reads_each_stage_own_field(self) -> None:
        values = {
            "dormant": 0.7,
            "germinated": 0.1,
            "training": 0.2,
            "blending": 0.3,
            "probationary": 0.5,
            "fossilized": 0.4,
            "culled": 0.05,
            "embargoed": 0.06,
        }
        potentials = StagePotentials(**values)
        assert {stage.name.lower(): potentials.of(stage) for stage in SeedStage} == values

    def test_refuses_fossilized_above_probationary(self) -> None:
        with pytest.raises(ConfigError, match="fossilizing must earn"):
            StagePotentials(fossilized=0.5, probationary=0.4)

    @pytest.mark.parametrize("stage", ["culled", "embargoed"])
    def test_refuses_culling_stages_above_a_live_stage(self, stage: str) -> None:
        with pytest.raises(ConfigError, match=f"StagePotentials.{stage}"):
            StagePotentials(**{stage: 0.15})

    def test_refuses_negative_potential(self) -> None:
        with pytest.raises(ValueError, match="dormant"):
            StagePotentials(dormant=-0.1)


class TestRecords:
    def test_breakdown_total_is_the_sum_of_terms(self) -> None:
        breakdown = RewardBreakdown(contribution=0.5, pbrs=0.25, rent=-0.125, action_cost=-0.0625, terminal=1.0)
        assert breakdown.total == 1.5625

    def test_breakdown_refuses_a_total_that_is_not_the_sum(self) -> None:
        with pytest.raises(ConfigError, match="sum of its terms"):
            RewardBreakdown(contribution=1.0, total=2.0)

    def test_breakdown_round_trips(self) -> None:
        breakdown = RewardBreakdown(contribution=0.1, pbrs=0.2, rent=-0.3, action_cost=-0.01, terminal=0.7)
        assert from_primitives(to_primitives(breakdown), RewardBreakdown).unwrap() == breakdown

    def test_config_round_trips_with_nested_records(self) -> None:
        config = RewardConfig(
            mode=SPARSE, potentials=StagePotentials(blending=0.35), action_costs=ActionCosts(cull=0.2)
        )
        data = to_primitives(config)
        assert data["mode"] == "sparse"
        assert data["potentials"]["blending"] == 0.35
        assert from_primitives(data, RewardConfig).unwrap() == config

    def test_config_refuses_unknown_mode(self) -> None:
        with pytest.raises(ValueError, match="mode"):
            RewardConfig(mode="dense")

    @pytest.mark.parametrize("gamma", [0.0, 1.5, math.nan])
    def test_config_refuses_gamma_outside_zero_one(self, gamma: float) -> None:
        with pytest.raises(ValueError, match="gamma"):
            RewardConfig(gamma=gamma)

    def test_config_is_keyword_only(self) -> None:
        with pytest.raises(TypeError):
            RewardConfig("shaped")  # type: ignore[misc]


@pytest.mark.parametrize(("cls", "name", "value"), non_finite_cases(RewardConfig, StagePotentials, ActionCosts))
def test_non_finite_float_config_is_refused_naming_the_field(cls: type, name: str, value: float) -> None:
    assert_refused_by_name(cls, name, value)


def at_epoch(epoch: int, accuracy: float, *seeds: SeedState | None) -> Observation:
    return attrs.evolve(observe(*seeds, accuracy=accuracy), epoch=epoch, max_epochs=4)


GAP = RewardConfig(mode=ACCURACY_GAP)
STATIC = (50.0, 60.0, 70.0, 80.0)


class TestAccuracyGap:
    def test_step_pays_the_change_of_the_gap_to_static(self) -> None:
        # gap at epoch 1: 62 - 60 = +2; at epoch 2: 75 - 70 = +5 -> +3 points.
        breakdown = compute_reward(
            at_epoch(1, 62.0), WAIT, at_epoch(2, 75.0), terminal=False, config=GAP, static_accuracies=STATIC
        )
        assert attrs.astuple(breakdown) == pytest.approx(attrs.astuple(RewardBreakdown(gap=3.0)))

    def test_epoch_zero_has_no_gap_it_precedes_every_decision(self) -> None:
        breakdown = compute_reward(
            at_epoch(0, 99.0), WAIT, at_epoch(1, 61.0), terminal=False, config=GAP, static_accuracies=STATIC
        )
        assert breakdown.total == pytest.approx(1.0)  # 61 - 60, points

    def test_terminal_step_charges_the_final_models_rent(self) -> None:
        kept = seed(SeedStage.FOSSILIZED, seed_param_count=100, host_param_count=1000)
        # The end-of-run observation reads the next epoch (max_epochs): its accuracy is epoch 3's.
        breakdown = compute_reward(
            at_epoch(3, 82.0, kept), WAIT, at_epoch(4, 82.0, kept), terminal=True, config=GAP, static_accuracies=STATIC
        )
        assert attrs.astuple(breakdown) == pytest.approx(attrs.astuple(RewardBreakdown(rent=-0.1 * math.log(1.1))))

    def test_contribution_is_not_paid(self) -> None:
        helpful = seed(SeedStage.PROBATIONARY, counterfactual_contribution=9.0)
        breakdown = compute_reward(
            at_epoch(1, 60.0, helpful),
            WAIT,
            at_epoch(2, 70.0, helpful),
            terminal=False,
            config=GAP,
            static_accuracies=STATIC,
        )
        assert breakdown.total == 0.0

    def test_terminal_value_is_final_gap_minus_rent(self) -> None:
        kept = seed(SeedStage.FOSSILIZED, seed_param_count=100, host_param_count=1000)
        assert terminal_value(at_epoch(4, 83.0, kept), STATIC, GAP) == pytest.approx(3.0 - 0.1 * math.log(1.1))

    def test_without_a_static_curve_it_is_refused_naming_the_fix(self) -> None:
        with pytest.raises(ConfigError, match="static_accuracies="):
            compute_reward(at_epoch(1, 60.0), WAIT, at_epoch(2, 70.0), terminal=False, config=GAP)

    def test_a_static_curve_shorter_than_the_episode_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="has 2 epochs"):
            compute_reward(
                at_epoch(1, 60.0), WAIT, at_epoch(2, 70.0), terminal=False, config=GAP, static_accuracies=STATIC[:2]
            )
