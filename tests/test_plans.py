"""Per-episode plans for the warm start: which plans exist, how they are named, which survive a round."""

from __future__ import annotations

import pytest

from esper_core import ConfigError, Germination, SlotConfig
from esper_core.plans import candidate_plans, plan_name, survivors

TWO_SLOTS = SlotConfig(("r0c0", "r1c0"))


class TestCandidatePlans:
    def test_every_slot_order_for_every_blueprint_and_start_epoch(self) -> None:
        plans = candidate_plans(TWO_SLOTS, ("conv_light", "conv_heavy"), start_epochs=(0, 2), max_seeds=3)
        orders = {tuple(entry.slot for entry in plan) for plan in plans}
        assert orders == {("r0c0",), ("r1c0",), ("r0c0", "r1c0"), ("r1c0", "r0c0")}
        assert len(plans) == 4 * 2 * 2 == len(set(plans))

    def test_a_plan_germinates_one_blueprint_from_one_start_epoch(self) -> None:
        for plan in candidate_plans(TWO_SLOTS, ("conv_light", "conv_heavy"), start_epochs=(0, 2), max_seeds=3):
            assert len({entry.blueprint for entry in plan}) == 1 and len({entry.epoch for entry in plan}) == 1

    def test_no_plan_grows_more_seeds_than_the_budget(self) -> None:
        plans = candidate_plans(SlotConfig.for_grid(3, 1), ("conv_light",), start_epochs=(1,), max_seeds=1)
        assert [len(plan) for plan in plans] == [1, 1, 1]

    def test_no_start_epoch_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="start epochs"):
            candidate_plans(TWO_SLOTS, ("conv_light",), start_epochs=(), max_seeds=2)


def test_a_plan_is_named_by_blueprint_slot_order_and_start_epoch() -> None:
    plan = (Germination(1, "r1c0", "conv_heavy"), Germination(1, "r0c0", "conv_heavy"))
    assert plan_name(plan) == "conv_heavy r1c0>r0c0 @1"


class TestSurvivors:
    def test_the_better_half_rounded_up_survives(self) -> None:
        returns = {"a": [1.0, 2.0], "b": [3.0, 3.0], "c": [0.0, 0.0], "d": [2.0, 2.0], "e": [-1.0, 5.0]}
        assert survivors(returns) == ("b", "d", "e")  # d and e tie at 2: d came first

    def test_ties_keep_the_earlier_candidate(self) -> None:
        assert survivors({"first": [1.0], "second": [1.0]}) == ("first",)
