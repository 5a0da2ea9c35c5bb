"""The action space is sized by the slot configuration (DESIGN §10), never by a constant."""

from __future__ import annotations

import pytest

from esper_core import (
    ActionError,
    ConfigError,
    SlotConfig,
    SlotIdError,
)


class TestSlotConfig:
    def test_keeps_the_given_slots(self) -> None:
        assert SlotConfig(("r0c0", "r1c0")).slot_ids == ("r0c0", "r1c0")

    def test_orders_slots_row_major_whatever_the_input_order(self) -> None:
        assert SlotConfig(["r2c0", "r0c1", "r10c0", "r0c0", "r1c3"]).slot_ids == (
            "r0c0",
            "r0c1",
            "r1c3",
            "r2c0",
            "r10c0",
        )

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

    @pytest.mark.parametrize("value", ["r0c0", None, 5], ids=["a-bare-string", "none", "an-int"])
    def test_anything_but_a_list_of_ids_is_a_config_error_naming_it(self, value: object) -> None:
        with pytest.raises(ConfigError, match="a list of slot ids") as caught:
            SlotConfig(value)  # type: ignore[arg-type]
        assert caught.value.value == value

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
        assert (config.slot_id_for_index(0), config.slot_id_for_index(1)) == ("r0c0", "r1c0")

    @pytest.mark.parametrize("index", [-1, 2, 99])
    def test_out_of_range_is_an_action_error_listing_the_slots(self, index: int) -> None:
        with pytest.raises(ActionError) as caught:
            SlotConfig(("r0c0", "r1c0")).slot_id_for_index(index)
        assert f"Slot index {index} out of range: 2 slot(s) configured (r0c0, r1c0)" in str(caught.value)
        assert caught.value.value == index


class TestIndexForSlotId:
    def test_maps_slot_to_its_index(self) -> None:
        assert SlotConfig(("r2c0", "r0c0", "r1c0")).index_for_slot_id("r1c0") == 1

    def test_round_trips_with_slot_id_for_index(self) -> None:
        config = SlotConfig.for_grid(3, 2)
        assert all(config.slot_id_for_index(config.index_for_slot_id(slot)) == slot for slot in config.slot_ids)

    def test_unconfigured_slot_is_an_action_error_listing_the_configured_ones(self) -> None:
        with pytest.raises(ActionError) as caught:
            SlotConfig(("r0c0", "r1c0")).index_for_slot_id("r2c0")
        assert "Slot 'r2c0' is not configured; configured slots: r0c0, r1c0." in str(caught.value)
        assert caught.value.value == "r2c0"
