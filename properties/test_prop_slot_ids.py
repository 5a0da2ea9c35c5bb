"""Slot ids for every coordinate and every string, not just the examples in the unit tests."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from strategies import coordinates, slot_ids, slot_like_text

from esper_core import SlotIdError, format_slot_id, parse_slot_id, slot_sort_key, validate_slot_id


@given(coordinates, coordinates)
def test_parse_inverts_format(row: int, col: int) -> None:
    assert parse_slot_id(format_slot_id(row, col)) == (row, col)


@given(st.integers(min_value=0, max_value=10**80), st.integers(min_value=0, max_value=10**80))
def test_format_never_writes_an_id_that_parse_refuses(row: int, col: int) -> None:
    try:
        slot_id = format_slot_id(row, col)
    except SlotIdError:
        return
    assert parse_slot_id(slot_id) == (row, col)


@given(slot_like_text)
def test_parsing_any_text_either_succeeds_or_raises_slot_id_error(text: str) -> None:
    try:
        parse_slot_id(text)
    except SlotIdError as error:
        assert str(error)


@given(slot_like_text)
def test_a_valid_id_is_spelled_exactly_as_format_spells_it(text: str) -> None:
    if validate_slot_id(text):
        assert format_slot_id(*parse_slot_id(text)) == text


@given(slot_like_text | slot_ids)
def test_validate_agrees_with_parse(text: str) -> None:
    try:
        parse_slot_id(text)
        parses = True
    except SlotIdError:
        parses = False
    assert validate_slot_id(text) is parses


@given(st.tuples(coordinates, coordinates), st.tuples(coordinates, coordinates))
def test_sort_key_orders_row_major(first: tuple[int, int], second: tuple[int, int]) -> None:
    a, b = format_slot_id(*first), format_slot_id(*second)
    assert (slot_sort_key(a) < slot_sort_key(b)) is (first < second)
    assert (slot_sort_key(a) == slot_sort_key(b)) is (first == second)


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), max_size=12))
def test_sorting_ids_sorts_their_coordinates(cells: list[tuple[int, int]]) -> None:
    ordered = sorted((format_slot_id(r, c) for r, c in cells), key=slot_sort_key)
    assert ordered == [format_slot_id(r, c) for r, c in sorted(cells)]
