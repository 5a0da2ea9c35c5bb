"""The controller's action space, sized by the slot configuration, never by a constant."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence

import attrs
from returns.result import Failure, Result, Success

from esper_core.blending import BlendAlgorithm
from esper_core.errors import ActionError, ConfigError
from esper_core.slot_ids import format_slot_id, parse_slot_id_result, slot_sort_key

EMPTY_SLOTS_MESSAGE = "A slot configuration needs at least one slot id, e.g. ('r0c0',)."
DUPLICATE_SLOTS_MESSAGE = "Slot ids must be unique; repeated: {repeated}."
UNKNOWN_SLOT_MESSAGE = "Slot {slot!r} is not configured; configured slots: {valid}."
SLOT_INDEX_MESSAGE = "Slot index {index} out of range: {count} slot(s) configured ({valid})."
GRID_MESSAGE = "A grid needs rows >= 1 and cols >= 1, got rows={rows!r}, cols={cols!r}."
GERMINATE_NEEDS_MESSAGE = "GERMINATE needs a blueprint; choose one of: {known}."
UNKNOWN_BLUEPRINT_MESSAGE = "Unknown blueprint {blueprint!r}; choose one of: {known}."


class LifecycleOp(enum.Enum):
    WAIT = enum.auto()
    GERMINATE = enum.auto()
    CULL = enum.auto()
    FOSSILIZE = enum.auto()


def _to_slot_tuple(slot_ids: Iterable[str]) -> tuple[str, ...]:
    ids = tuple(slot_ids)
    if not ids:
        raise ConfigError(EMPTY_SLOTS_MESSAGE)
    for slot_id in ids:
        parsed = parse_slot_id_result(slot_id)
        if not isinstance(parsed, Success):
            raise parsed.failure()
    repeated = sorted({s for s in ids if ids.count(s) > 1}, key=slot_sort_key)
    if repeated:
        raise ConfigError(DUPLICATE_SLOTS_MESSAGE.format(repeated=", ".join(repeated)))
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

    def slot_id_for_index(self, index: int) -> Result[str, ActionError]:
        if not 0 <= index < self.num_slots:
            return Failure(ActionError(SLOT_INDEX_MESSAGE.format(index=index, count=self.num_slots, valid=self._listing())))
        return Success(self.slot_ids[index])

    def index_for_slot_id(self, slot_id: str) -> Result[int, ActionError]:
        if slot_id not in self.slot_ids:
            return Failure(ActionError(UNKNOWN_SLOT_MESSAGE.format(slot=slot_id, valid=self._listing())))
        return Success(self.slot_ids.index(slot_id))

    def _listing(self) -> str:
        return ", ".join(self.slot_ids)


@attrs.frozen(kw_only=True)
class FactoredAction:
    """One controller decision: an op, a slot (by index), and for GERMINATE a blueprint and blend."""

    op: LifecycleOp
    slot_index: int = 0
    blueprint: str | None = None
    blend: BlendAlgorithm | None = None


@attrs.frozen(kw_only=True)
class ResolvedAction:
    op: LifecycleOp
    slot_id: str
    blueprint: str | None = None
    blend: BlendAlgorithm | None = None


def resolve_action(
    action: FactoredAction, slots: SlotConfig, known_blueprints: Sequence[str]
) -> Result[ResolvedAction, ActionError]:
    """Name the slot an action addresses and check its blueprint, before anything acts on it."""
    slot = slots.slot_id_for_index(action.slot_index)
    if not isinstance(slot, Success):
        return Failure(slot.failure())
    known = ", ".join(known_blueprints) or "none registered"
    if action.op is LifecycleOp.GERMINATE:
        if action.blueprint is None:
            return Failure(ActionError(GERMINATE_NEEDS_MESSAGE.format(known=known)))
        if action.blueprint not in known_blueprints:
            return Failure(ActionError(UNKNOWN_BLUEPRINT_MESSAGE.format(blueprint=action.blueprint, known=known)))
    return Success(
        ResolvedAction(op=action.op, slot_id=slot.unwrap(), blueprint=action.blueprint, blend=action.blend)
    )
