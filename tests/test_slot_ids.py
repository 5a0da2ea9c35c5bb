"""Slot ids (DESIGN §2): one canonical spelling ``r{row}c{col}``; everything else is refused
with a message that says how to fix it."""

from __future__ import annotations

import pytest
from returns.result import Failure, Success

from esper_core import (
    SlotIdError,
    format_slot_id,
    parse_slot_id,
    parse_slot_id_result,
    slot_sort_key,
    validate_slot_id,
)


class TestFormatSlotId:
    def test_formats_row_then_column(self) -> None:
        assert format_slot_id(1, 3) == "r1c3"

    def test_formats_origin(self) -> None:
        assert format_slot_id(0, 0) == "r0c0"

    def test_multi_digit_coordinates_have_no_padding(self) -> None:
        assert format_slot_id(12, 105) == "r12c105"

    @pytest.mark.parametrize(("row", "col"), [(-1, 0), (0, -1), (-3, -3)])
    def test_negative_coordinates_raise_slot_id_error(self, row: int, col: int) -> None:
        with pytest.raises(SlotIdError, match="non-negative"):
            format_slot_id(row, col)

    def test_error_message_shows_the_bad_values(self) -> None:
        with pytest.raises(SlotIdError, match=r"row=-2, col=5"):
            format_slot_id(-2, 5)

    @pytest.mark.parametrize(("row", "col"), [(True, 0), (0, 1.0), ("1", 0)])
    def test_non_integer_coordinates_raise_slot_id_error(self, row: object, col: object) -> None:
        with pytest.raises(SlotIdError):
            format_slot_id(row, col)  # type: ignore[arg-type]

    def test_never_writes_an_id_that_parse_refuses(self) -> None:
        # Either the coordinates are refused here, or the id they make is readable back.
        try:
            slot_id = format_slot_id(10**40, 10**40)
        except SlotIdError:
            return
        assert parse_slot_id(slot_id) == (10**40, 10**40)

    def test_slot_id_error_is_a_value_error(self) -> None:
        with pytest.raises(ValueError):
            format_slot_id(-1, 0)


class TestParseSlotId:
    @pytest.mark.parametrize(
        ("slot_id", "expected"), [("r0c0", (0, 0)), ("r1c3", (1, 3)), ("r10c0", (10, 0)), ("r2c17", (2, 17))]
    )
    def test_parses_canonical_ids(self, slot_id: str, expected: tuple[int, int]) -> None:
        assert parse_slot_id(slot_id) == expected

    @pytest.mark.parametrize(
        ("slot_id", "canonical"),
        [
            ("R0C0", "r0c0"),
            ("r01c2", "r1c2"),
            (" r0c0", "r0c0"),
            ("r0c0 ", "r0c0"),
            ("r1C2", "r1c2"),
            ("r+1c2", "r1c2"),
        ],
    )
    def test_non_canonical_spelling_is_rejected_showing_the_canonical_form(self, slot_id: str, canonical: str) -> None:
        with pytest.raises(SlotIdError) as excinfo:
            parse_slot_id(slot_id)
        assert f"use '{canonical}'" in str(excinfo.value)
        assert repr(slot_id) in str(excinfo.value)

    @pytest.mark.parametrize("legacy", ["early", "mid", "late", "EARLY", " late "])
    def test_legacy_names_are_rejected_with_guidance_naming_r0c0(self, legacy: str) -> None:
        with pytest.raises(SlotIdError) as excinfo:
            parse_slot_id(legacy)
        message = str(excinfo.value)
        assert repr(legacy) in message
        assert "replaced by grid coordinates" in message
        assert "r0c0" in message
        assert "esper-train slots" in message

    @pytest.mark.parametrize("malformed", ["", "r", "c0", "r0", "rc", "r0c", "slot1", "r-1c0", "r0c0r1c1", "r1.5c0"])
    def test_malformed_ids_are_rejected_showing_the_format(self, malformed: str) -> None:
        with pytest.raises(SlotIdError) as excinfo:
            parse_slot_id(malformed)
        assert "r{row}c{col}" in str(excinfo.value)
        assert repr(malformed) in str(excinfo.value)

    @pytest.mark.parametrize("not_a_string", [None, 0, (0, 0), b"r0c0"])
    def test_non_strings_are_rejected_naming_their_type(self, not_a_string: object) -> None:
        with pytest.raises(SlotIdError, match=type(not_a_string).__name__):
            parse_slot_id(not_a_string)  # type: ignore[arg-type]

    def test_non_ascii_digits_are_not_coordinates(self) -> None:
        with pytest.raises(SlotIdError):
            parse_slot_id("r\u0661c0")  # ARABIC-INDIC DIGIT ONE


class TestParseSlotIdResult:
    def test_canonical_id_is_success_of_coordinates(self) -> None:
        assert parse_slot_id_result("r2c1") == Success((2, 1))

    def test_invalid_id_is_failure_holding_slot_id_error(self) -> None:
        result = parse_slot_id_result("R2C1")
        assert isinstance(result, Failure)
        assert isinstance(result.failure(), SlotIdError)
        assert "'r2c1'" in str(result.failure())

    def test_legacy_name_is_failure_not_exception(self) -> None:
        result = parse_slot_id_result("mid")
        assert isinstance(result, Failure)
        assert "r0c0" in str(result.failure())

    def test_absurdly_long_coordinate_is_failure_not_exception(self) -> None:
        # int() refuses strings over 4300 digits with a plain ValueError; an id read from a
        # config file must still come back as a Failure, like any other bad id.
        assert isinstance(parse_slot_id_result("R" + "9" * 5000 + "c0"), Failure)


class TestSlotSortKey:
    def test_key_is_row_then_column(self) -> None:
        assert slot_sort_key("r2c5") == (2, 5)

    def test_sorting_is_row_major(self) -> None:
        ids = ["r1c0", "r0c1", "r10c0", "r0c0", "r2c0", "r0c10", "r0c2"]
        assert sorted(ids, key=slot_sort_key) == ["r0c0", "r0c1", "r0c2", "r0c10", "r1c0", "r2c0", "r10c0"]

    def test_sorting_is_numeric_not_lexicographic(self) -> None:
        assert sorted(["r10c0", "r9c0"], key=slot_sort_key) == ["r9c0", "r10c0"]

    def test_invalid_id_raises_slot_id_error(self) -> None:
        with pytest.raises(SlotIdError):
            slot_sort_key("early")


class TestValidateSlotId:
    @pytest.mark.parametrize("slot_id", ["r0c0", "r1c3", "r12c0"])
    def test_canonical_ids_are_valid(self, slot_id: str) -> None:
        assert validate_slot_id(slot_id) is True

    @pytest.mark.parametrize("slot_id", ["R0C0", "r01c2", " r0c0", "early", "", "r0c"])
    def test_other_spellings_are_invalid(self, slot_id: str) -> None:
        assert validate_slot_id(slot_id) is False

    def test_non_string_is_invalid_without_raising(self) -> None:
        assert validate_slot_id(None) is False

    def test_absurdly_long_coordinate_is_invalid_without_raising(self) -> None:
        assert validate_slot_id("r" + "1" * 5000 + "c0") is False
