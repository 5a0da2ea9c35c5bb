"""The action space is sized by the slot configuration (DESIGN §10), never by a constant."""

from __future__ import annotations

import pytest
from returns.result import Failure, Success

from esper_core import (
    ActionError,
    BlendAlgorithm,
    ConfigError,
    FactoredAction,
    LifecycleOp,
    ResolvedAction,
    SlotConfig,
    SlotIdError,
    resolve_action,
)

BLUEPRINTS = ("noop", "norm", "conv_light")


class TestSlotConfig:
    def test_keeps_the_given_slots(self) -> None:
        assert SlotConfig(("r0c0", "r1c0")).slot_ids == ("r0c0", "r1c0")

    def test_orders_slots_row_major_whatever_the_input_order(self) -> None:
        assert SlotConfig(["r2c0", "r0c1", "r10c0", "r0c0", "r1c3"]).slot_ids == ("r0c0", "r0c1", "r1c3", "r2c0", "r10c0")

    def test_stores_a_tuple(self) -> None:
        assert isinstance(SlotConfig(["r0c0"]).slot_ids, tuple)

    def test_counts_its_slots(self) -> None:
        assert SlotConfig(("r0c0", "r0c1", "r1c0")).num_slots == 3

    def test_single_slot_is_allowed(self) -> None:
        assert SlotConfig(("r1c3",)).num_slots == 1

    def test_empty_configuration_is_a_config_error_with_an_example(self) -> None:
        with pytest.raises(ConfigError, match=r"at least one slot id, e\.g\. \('r0c0',\)"):
            SlotConfig(())

    def test_duplicates_are_a_config_error_naming_them(self) -> None:
        with pytest.raises(ConfigError, match="repeated: r0c0, r1c0"):
            SlotConfig(("r1c0", "r0c0", "r2c0", "r0c0", "r1c0"))

    def test_non_canonical_id_is_a_slot_id_error_showing_the_canonical_form(self) -> None:
        with pytest.raises(SlotIdError, match="'r0c1'"):
            SlotConfig(("r0c0", "R0C1"))

    def test_legacy_name_is_a_slot_id_error_with_guidance(self) -> None:
        with pytest.raises(SlotIdError, match="replaced by grid coordinates"):
            SlotConfig(("early", "mid"))

    def test_is_frozen(self) -> None:
        config = SlotConfig(("r0c0",))
        with pytest.raises(AttributeError):
            config.slot_ids = ("r1c0",)  # type: ignore[misc]


class TestSlotConfigForGrid:
    def test_lists_every_cell_row_major(self) -> None:
        assert SlotConfig.for_grid(2, 3).slot_ids == ("r0c0", "r0c1", "r0c2", "r1c0", "r1c1", "r1c2")

    def test_one_column_grid_is_one_slot_per_tier(self) -> None:
        assert SlotConfig.for_grid(3, 1).slot_ids == ("r0c0", "r1c0", "r2c0")

    @pytest.mark.parametrize(("rows", "cols"), [(0, 1), (1, 0), (-1, 2)])
    def test_empty_grid_is_a_config_error_showing_the_sizes(self, rows: int, cols: int) -> None:
        with pytest.raises(ConfigError, match=f"rows={rows}, cols={cols}"):
            SlotConfig.for_grid(rows, cols)


class TestSlotIdForIndex:
    def test_maps_index_to_slot_in_row_major_order(self) -> None:
        config = SlotConfig(("r1c0", "r0c0"))
        assert (config.slot_id_for_index(0), config.slot_id_for_index(1)) == (Success("r0c0"), Success("r1c0"))

    @pytest.mark.parametrize("index", [-1, 2, 99])
    def test_out_of_range_is_failure_listing_the_slots(self, index: int) -> None:
        result = SlotConfig(("r0c0", "r1c0")).slot_id_for_index(index)
        assert isinstance(result, Failure)
        error = result.failure()
        assert isinstance(error, ActionError)
        assert f"Slot index {index} out of range: 2 slot(s) configured (r0c0, r1c0)" in str(error)


class TestIndexForSlotId:
    def test_maps_slot_to_its_index(self) -> None:
        assert SlotConfig(("r2c0", "r0c0", "r1c0")).index_for_slot_id("r1c0") == Success(1)

    def test_round_trips_with_slot_id_for_index(self) -> None:
        config = SlotConfig.for_grid(3, 2)
        assert all(
            config.slot_id_for_index(config.index_for_slot_id(slot).unwrap()) == Success(slot)
            for slot in config.slot_ids
        )

    def test_unconfigured_slot_is_failure_listing_the_configured_ones(self) -> None:
        error = SlotConfig(("r0c0", "r1c0")).index_for_slot_id("r2c0").failure()
        assert isinstance(error, ActionError)
        assert "Slot 'r2c0' is not configured; configured slots: r0c0, r1c0." in str(error)


class TestResolveAction:
    SLOTS = SlotConfig(("r0c0", "r1c0", "r2c0"))

    def test_names_the_slot_an_index_addresses(self) -> None:
        result = resolve_action(FactoredAction(op=LifecycleOp.CULL, slot_index=2), self.SLOTS, BLUEPRINTS)
        assert result == Success(ResolvedAction(op=LifecycleOp.CULL, slot_id="r2c0"))

    def test_germinate_carries_blueprint_and_blend(self) -> None:
        action = FactoredAction(op=LifecycleOp.GERMINATE, slot_index=1, blueprint="norm", blend=BlendAlgorithm.GATED)
        resolved = resolve_action(action, self.SLOTS, BLUEPRINTS).unwrap()
        assert (resolved.slot_id, resolved.blueprint, resolved.blend) == ("r1c0", "norm", BlendAlgorithm.GATED)

    @pytest.mark.parametrize("op", [LifecycleOp.WAIT, LifecycleOp.CULL, LifecycleOp.FOSSILIZE], ids=lambda o: o.name)
    def test_other_ops_need_no_blueprint(self, op: LifecycleOp) -> None:
        assert isinstance(resolve_action(FactoredAction(op=op), self.SLOTS, BLUEPRINTS), Success)

    def test_germinate_without_a_blueprint_is_failure_listing_the_choices(self) -> None:
        error = resolve_action(FactoredAction(op=LifecycleOp.GERMINATE), self.SLOTS, BLUEPRINTS).failure()
        assert isinstance(error, ActionError)
        assert "GERMINATE needs a blueprint; choose one of: noop, norm, conv_light." in str(error)

    def test_germinate_with_an_unknown_blueprint_is_failure_naming_it(self) -> None:
        action = FactoredAction(op=LifecycleOp.GERMINATE, blueprint="lora")
        error = resolve_action(action, self.SLOTS, BLUEPRINTS).failure()
        assert isinstance(error, ActionError)
        assert "Unknown blueprint 'lora'; choose one of: noop, norm, conv_light." in str(error)

    def test_germinate_with_an_empty_registry_says_none_registered(self) -> None:
        action = FactoredAction(op=LifecycleOp.GERMINATE, blueprint="norm")
        assert "none registered" in str(resolve_action(action, self.SLOTS, ()).failure())

    def test_out_of_range_slot_index_is_failure(self) -> None:
        error = resolve_action(FactoredAction(op=LifecycleOp.WAIT, slot_index=3), self.SLOTS, BLUEPRINTS).failure()
        assert isinstance(error, ActionError)
        assert "out of range" in str(error)
