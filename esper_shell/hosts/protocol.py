"""The host contract, and the unit-list implementation the built-in hosts share.

A host is any ``nn.Module`` that can be cut at named injection points: the model runs
``forward_to`` up to a slot, lets the slot transform the features, then continues. That
routing runs on every training step, so ``UnitHost`` keeps it to index arithmetic over
precomputed tables: no per-call id lists, no string parsing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from torch import Tensor, nn

from esper_core import ConfigError, EsperError, SlotIdError, format_slot_id, parse_slot_id, slot_sort_key
from esper_shell.errors import UnknownSlotError

CNN_TOPOLOGY = "cnn"
CONV1D_TOPOLOGY = "conv1d"
TRANSFORMER_TOPOLOGY = "transformer"

UNKNOWN_SLOT_MESSAGE = "{host} has no injection point {slot!r}. Valid slots: {valid}."
VALID_SLOTS_MESSAGE = "Valid slots for this host: {valid}."
BACKWARDS_MESSAGE = (
    "Cannot route {host} from just after {start!r} to {end!r}: {start!r} is not before {end!r} "
    "in forward order ({valid}). Pass a from_slot_id earlier than slot_id, or None to start "
    "from the network input."
)
GRID_LENGTHS_MESSAGE = (
    "A host needs one unit and one channel count per slot id; got {ids} ids, {units} units "
    "and {channels} channel counts."
)
EMPTY_GRID_MESSAGE = "A host needs at least one injection point; got no slot ids."
GRID_ORDER_MESSAGE = (
    "Slot ids must be unique and listed in row-major (forward) order, e.g. r0c0, r0c1, r1c0; got {ids}."
)
CHANNELS_MESSAGE = "Injection point {slot!r} needs a positive channel count, got {channels!r}."


class HostRoutingError(EsperError):
    """A ``forward_to`` call asked to run part of the network backwards."""


class HostInputError(EsperError):
    """An input tensor does not fit the host (too small to pool, sequence too long)."""


@runtime_checkable
class HostProtocol(Protocol):
    """What Esper needs from a network to grow seeds inside it.

    ``topology`` picks the blueprint family: ``"cnn"`` hosts carry (B, C, H, W) features,
    ``"conv1d"`` hosts (B, C, L), ``"transformer"`` hosts (B, T, C). ``forward(x)`` stays the plain full network.
    """

    topology: str

    @property
    def injection_points(self) -> dict[str, int]:
        """Slot id → channel (feature) dimension at that boundary."""
        ...

    @property
    def slot_order(self) -> tuple[str, ...]:
        """Every slot id in forward execution order (= row-major)."""
        ...

    def forward_to(self, slot_id: str, x: Tensor, from_slot_id: str | None = None) -> Tensor:
        """Run from the input (or just after ``from_slot_id``) up to ``slot_id``'s boundary."""
        ...

    def forward_from(self, slot_id: str, x: Tensor) -> Tensor:
        """Run from just after ``slot_id`` to the network output."""
        ...


class UnitHost(nn.Module):
    """A host built as ``units[0] → slot 0 → units[1] → slot 1 → ... → head``.

    Unit ``i`` maps the features after slot ``i - 1`` (the network input for ``i = 0``)
    to the features at slot ``i``'s boundary; the head maps the features after the last
    slot to the output. Subclass it, or build one directly around your own layers.
    The unit list is fixed at construction (routing keeps its own tuple of the units):
    to change the network, build a new host.
    """

    topology: str

    def __init__(
        self,
        *,
        topology: str,
        slot_ids: Sequence[str],
        channels: Sequence[int],
        units: Sequence[nn.Module],
        head: nn.Module,
    ) -> None:
        ids = tuple(slot_ids)
        widths = tuple(channels)
        _check_grid(ids, widths, len(units))
        super().__init__()
        self.topology = topology
        self.units = nn.ModuleList(units)
        self.head = head
        self._slot_order = ids
        self._injection_points = dict(zip(ids, widths, strict=True))
        self._slot_index = {slot: index for index, slot in enumerate(ids)}
        # A plain tuple beside the ModuleList: ModuleList indexing converts indices to
        # strings on every access, which the per-step routing should not pay for.
        self._unit_sequence: tuple[nn.Module, ...] = tuple(self.units)

    @property
    def injection_points(self) -> dict[str, int]:
        """A copy, so callers cannot change the host's grid behind its back."""
        return dict(self._injection_points)

    @property
    def slot_order(self) -> tuple[str, ...]:
        return self._slot_order

    def forward(self, x: Tensor) -> Tensor:
        for unit in self._unit_sequence:
            x = unit(x)
        return self.head(x)

    def forward_to(self, slot_id: str, x: Tensor, from_slot_id: str | None = None) -> Tensor:
        end = self._index_of(slot_id)
        start = 0 if from_slot_id is None else self._index_of(from_slot_id) + 1
        if start > end:
            raise HostRoutingError(
                BACKWARDS_MESSAGE.format(
                    host=type(self).__name__, start=from_slot_id, end=slot_id, valid=", ".join(self._slot_order)
                )
            )
        units = self._unit_sequence
        for index in range(start, end + 1):
            x = units[index](x)
        return x

    def forward_from(self, slot_id: str, x: Tensor) -> Tensor:
        units = self._unit_sequence
        for index in range(self._index_of(slot_id) + 1, len(units)):
            x = units[index](x)
        return self.head(x)

    def _index_of(self, slot_id: str) -> int:
        try:
            return self._slot_index[slot_id]
        except (KeyError, TypeError):
            raise self._unknown_slot(slot_id) from None

    def _unknown_slot(self, slot_id: object) -> EsperError:
        """``SlotIdError`` for a malformed or legacy id, ``UnknownSlotError`` for a canonical
        id this grid lacks; both list the valid ids."""
        valid = ", ".join(self._slot_order)
        try:
            parse_slot_id(slot_id)  # type: ignore[arg-type]
        except SlotIdError as error:
            return SlotIdError(f"{error} {VALID_SLOTS_MESSAGE.format(valid=valid)}")
        return UnknownSlotError(UNKNOWN_SLOT_MESSAGE.format(host=type(self).__name__, slot=slot_id, valid=valid))


def grid_slot_ids(columns_per_row: Sequence[int]) -> tuple[str, ...]:
    """Row-major ids of a grid whose row ``r`` has ``columns_per_row[r]`` slots."""
    return tuple(format_slot_id(row, col) for row, columns in enumerate(columns_per_row) for col in range(columns))


def is_positive_int(value: object) -> bool:
    """Whether ``value`` is a real positive ``int`` (``True`` is not a count)."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_grid(ids: tuple[str, ...], channels: tuple[int, ...], units: int) -> None:
    if not ids:
        raise ConfigError(EMPTY_GRID_MESSAGE)
    if not len(ids) == len(channels) == units:
        raise ConfigError(GRID_LENGTHS_MESSAGE.format(ids=len(ids), units=units, channels=len(channels)))
    keys = [slot_sort_key(slot) for slot in ids]
    if any(earlier >= later for earlier, later in zip(keys, keys[1:])):
        raise ConfigError(GRID_ORDER_MESSAGE.format(ids=", ".join(ids)))
    for slot, width in zip(ids, channels, strict=True):
        if not is_positive_int(width):
            raise ConfigError(CHANNELS_MESSAGE.format(slot=slot, channels=width))
