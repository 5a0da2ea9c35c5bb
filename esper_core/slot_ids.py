"""Canonical slot coordinates ``r{row}c{col}``.

A slot id has exactly one spelling so that ids compare, hash and sort reliably across the
CLI, configs and checkpoints. Anything else is refused with a message that shows the
canonical form, never silently normalised.
"""

from __future__ import annotations

import re

from returns.result import Failure, Result, Success

from esper_core.errors import SlotIdError

_CANONICAL = re.compile(r"r(0|[1-9][0-9]*)c(0|[1-9][0-9]*)")
# Spellings that are recognisably a coordinate but not canonical (case, sign, zeros, spaces).
_LENIENT = re.compile(r"\s*[rR]\s*\+?\s*([0-9]+)\s*[cC]\s*\+?\s*([0-9]+)\s*")
_LEGACY_NAMES = frozenset({"early", "mid", "late"})
# Far beyond any real grid, and short enough that int() never refuses the digits.
MAX_SLOT_ID_LENGTH = 64

LEGACY_NAME_MESSAGE = (
    "Invalid slot {slot!r}. Slot names were replaced by grid coordinates: use r0c0 "
    "(shallowest tier), r1c0, r2c0, ... Run 'esper-train slots --task T' to list them."
)
NOT_CANONICAL_MESSAGE = (
    "Invalid slot {slot!r}: slot ids have one spelling (lowercase, no sign, no leading "
    "zeros, no spaces); use {canonical!r}."
)
MALFORMED_MESSAGE = "Invalid slot {slot!r}. Use canonical format r{{row}}c{{col}}: r0c0, r0c1, r1c0, ..."
NOT_A_STRING_MESSAGE = "Invalid slot {slot!r}: a slot id is a string such as 'r0c0', not {kind}."
TOO_LONG_MESSAGE = (
    "Invalid slot id of {length} characters: slot ids are short coordinates such as 'r0c0' (at most 64 characters)."
)
NEGATIVE_MESSAGE = "Slot coordinates are non-negative integers, got row={row!r}, col={col!r}."


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def format_slot_id(row: int, col: int) -> str:
    """The canonical id of grid cell (row, col)."""
    if not (_is_index(row) and _is_index(col)):
        raise SlotIdError(NEGATIVE_MESSAGE.format(row=row, col=col), value=(row, col))
    slot_id = f"r{row}c{col}"
    if len(slot_id) > MAX_SLOT_ID_LENGTH:
        raise SlotIdError(TOO_LONG_MESSAGE.format(length=len(slot_id)), value=slot_id)
    return slot_id


def parse_slot_id_result(slot_id: object) -> Result[tuple[int, int], SlotIdError]:
    """``(row, col)`` of a canonical id, or a ``SlotIdError`` that says how to fix it."""
    if not isinstance(slot_id, str):
        return Failure(
            SlotIdError(NOT_A_STRING_MESSAGE.format(slot=slot_id, kind=type(slot_id).__name__), value=slot_id)
        )
    if len(slot_id) > MAX_SLOT_ID_LENGTH:
        return Failure(SlotIdError(TOO_LONG_MESSAGE.format(length=len(slot_id)), value=slot_id))
    match = _CANONICAL.fullmatch(slot_id)
    if match:
        return Success((int(match.group(1)), int(match.group(2))))
    if slot_id.strip().lower() in _LEGACY_NAMES:
        return Failure(SlotIdError(LEGACY_NAME_MESSAGE.format(slot=slot_id), value=slot_id))
    lenient = _LENIENT.fullmatch(slot_id)
    if lenient:
        canonical = f"r{int(lenient.group(1))}c{int(lenient.group(2))}"
        return Failure(SlotIdError(NOT_CANONICAL_MESSAGE.format(slot=slot_id, canonical=canonical), value=slot_id))
    return Failure(SlotIdError(MALFORMED_MESSAGE.format(slot=slot_id), value=slot_id))


def parse_slot_id(slot_id: str) -> tuple[int, int]:
    """``(row, col)`` of a canonical id; raises ``SlotIdError`` otherwise."""
    return parse_slot_id_result(slot_id).alt(_raise).unwrap()


def validate_slot_id(slot_id: object) -> bool:
    """Whether ``slot_id`` is canonical."""
    return isinstance(parse_slot_id_result(slot_id), Success)


def slot_sort_key(slot_id: str) -> tuple[int, int]:
    """Row-major order, which is forward execution order: r0c0 < r0c1 < r1c0."""
    return parse_slot_id(slot_id)


def _raise(error: SlotIdError) -> SlotIdError:
    raise error
