"""The controller's action space, sized by the slot configuration, never by a constant."""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from esper_core.blending import BlendAlgorithm
from esper_core.errors import ActionError, ConfigError
from esper_core.slot_ids import format_slot_id, parse_slot_id, slot_sort_key

EMPTY_SLOTS_MESSAGE = "A slot configuration needs at least one slot id, e.g. ('r0c0',)."
DUPLICATE_SLOTS_MESSAGE = "Slot ids must be unique; repeated: {repeated}."
UNKNOWN_SLOT_MESSAGE = "Slot {slot!r} is not configured; configured slots: {valid}."
SLOT_INDEX_MESSAGE = "Slot index {index} out of range: {count} slot(s) configured ({valid})."
GRID_MESSAGE = "A grid needs rows >= 1 and cols >= 1, got rows={rows!r}, cols={cols!r}."
NOT_A_LIST_MESSAGE = "A slot configuration is a list of slot ids such as ('r0c0', 'r1c0'), got {kind} {value!r}."


class LifecycleOp(enum.Enum):
    WAIT = enum.auto()
    GERMINATE = enum.auto()
    CULL = enum.auto()
    FOSSILIZE = enum.auto()


def _to_slot_tuple(slot_ids: Iterable[str]) -> tuple[str, ...]:
    """Every check of a slot list, once: afterwards a ``SlotConfig`` is the proof."""
    if isinstance(slot_ids, (str, bytes)) or not isinstance(slot_ids, Iterable):
        kind = type(slot_ids).__name__
        raise ConfigError(NOT_A_LIST_MESSAGE.format(kind=kind, value=slot_ids), value=slot_ids)
    ids = tuple(slot_ids)
    if not ids:
        raise ConfigError(EMPTY_SLOTS_MESSAGE, value=ids)
    for slot_id in ids:
        parse_slot_id(slot_id)
    repeated = sorted({s for s in ids if ids.count(s) > 1}, key=slot_sort_key)
    if repeated:
        raise ConfigError(DUPLICATE_SLOTS_MESSAGE.format(repeated=", ".join(repeated)), value=ids)
    return tuple(sorted(ids, key=slot_sort_key))


@attrs.frozen
class SlotConfig:
    """The enabled slots, in row-major (= execution) order whatever order they were given in."""

    slot_ids: tuple[str, ...] = attrs.field(converter=_to_slot_tuple)

    @classmethod
    def for_grid(cls, rows: int, cols: int) -> SlotConfig:
        if rows < 1 or cols < 1:
            raise ConfigError(GRID_MESSAGE.format(rows=rows, cols=cols))
        return cls(tuple(format_slot_id(r, c) for r in range(rows) for c in range(cols)))

    @property
    def num_slots(self) -> int:
        return len(self.slot_ids)

    def slot_id_for_index(self, index: int) -> str:
        """The id of the slot at ``index``; ``ActionError`` when no slot has that index."""
        if not 0 <= index < self.num_slots:
            message = SLOT_INDEX_MESSAGE.format(index=index, count=self.num_slots, valid=self._listing())
            raise ActionError(message, value=index)
        return self.slot_ids[index]

    def index_for_slot_id(self, slot_id: str) -> int:
        """The index of ``slot_id``; ``ActionError`` when it is not configured."""
        if slot_id not in self.slot_ids:
            raise ActionError(UNKNOWN_SLOT_MESSAGE.format(slot=slot_id, valid=self._listing()), value=slot_id)
        return self.slot_ids.index(slot_id)

    def _listing(self) -> str:
        return ", ".join(self.slot_ids)


@attrs.frozen(kw_only=True)
class FactoredAction:
    """One controller decision: an op, a slot (by index), and for GERMINATE a blueprint and blend."""

    op: LifecycleOp
    slot_index: int = 0
    blueprint: str | None = None
    blend: BlendAlgorithm | None = None
