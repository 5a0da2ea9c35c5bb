"""A controller that grows what a schedule says: which blueprint, in which slot, at which epoch.

The outcome protocol's ``fixed`` arm: a macro-policy written down in advance, so that "does
growing *this* pay?" can be asked apart from "does the heuristic choose well?". Entries
apply in order (by epoch; entries of one epoch in the order written), one per decision: an
entry is due from the decision point of its epoch on (after that epoch has trained, so its
seed trains from the next epoch) and waits while its slot is taken or the seed budget is
spent. Everything after germination is the lifecycle's; the controller only fossilizes a
PROBATIONARY seed once G5 accepts it (before any germination that is due), as the heuristic
does, since otherwise probation would expire and cull it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import attrs
from attrs.validators import ge, instance_of
from returns.result import Failure, Result, Success

from esper_core.action_space import FactoredAction, LifecycleOp, SlotConfig
from esper_core.blending import BlendAlgorithm
from esper_core.config import GateConfig
from esper_core.errors import ConfigError
from esper_core.gates import gate_g5_fossilized
from esper_core.observation import Observation, slot_is_free
from esper_core.slot_ids import parse_slot_id
from esper_core.stages import SeedStage

ENTRY_SHAPE_MESSAGE = (
    "A schedule entry is (epoch, slot, blueprint) or {{epoch = 2, slot = 'r2c0', blueprint = 'conv_light'}}, "
    "got {value!r}."
)
EMPTY_SCHEDULE_MESSAGE = "A fixed schedule needs at least one entry, e.g. schedule = [[2, 'r2c0', 'conv_light']]."
EMPTY_BLUEPRINT_MESSAGE = "Schedule entry for slot {slot} at epoch {epoch}: blueprint must be a name, got {value!r}."
SCHEDULE_SLOT_MESSAGE = (
    "The fixed schedule germinates in slot {slot}, which this run does not enable ({valid}); "
    "add it to the run's slots or change the entry."
)
SCHEDULE_BLUEPRINT_MESSAGE = (
    "The fixed schedule germinates blueprint {blueprint!r}, unknown for this host; known blueprints: {known}."
)


def _slot_id(_instance: object, _attribute: attrs.Attribute[str], value: str) -> None:
    parse_slot_id(value)


@attrs.frozen
class Germination:
    """Germinate ``blueprint`` in ``slot`` at the decision point of ``epoch`` (0-based)."""

    epoch: int = attrs.field(validator=[instance_of(int), ge(0)])
    slot: str = attrs.field(validator=[instance_of(str), _slot_id])
    blueprint: str = attrs.field(validator=instance_of(str))

    def __attrs_post_init__(self) -> None:
        if not self.blueprint.strip():
            raise ConfigError(
                EMPTY_BLUEPRINT_MESSAGE.format(slot=self.slot, epoch=self.epoch, value=self.blueprint),
                value=self.blueprint,
            )


Schedule = tuple[Germination, ...]


def _entry(value: object) -> Germination:
    if isinstance(value, Germination):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 3:
        return Germination(*value)
    raise ConfigError(ENTRY_SHAPE_MESSAGE.format(value=value), value=value)


def as_schedule(entries: Iterable[object]) -> Schedule:
    """Entries as records, ordered as they apply: by epoch, ties in the order written (a stable sort)."""
    schedule = tuple(sorted((_entry(value) for value in entries), key=lambda entry: entry.epoch))
    if not schedule:
        raise ConfigError(EMPTY_SCHEDULE_MESSAGE, value=schedule)
    return schedule


def check_schedule(schedule: Schedule, slots: SlotConfig, known: Collection[str]) -> Result[Schedule, ConfigError]:
    """Refuse, before training starts, entries that could never apply to this run."""
    for entry in schedule:
        if entry.slot not in slots.slot_ids:
            message = SCHEDULE_SLOT_MESSAGE.format(slot=entry.slot, valid=", ".join(slots.slot_ids))
            return Failure(ConfigError(message, value=entry.slot))
        if entry.blueprint not in known:
            message = SCHEDULE_BLUEPRINT_MESSAGE.format(blueprint=entry.blueprint, known=", ".join(known) or "none")
            return Failure(ConfigError(message, value=entry.blueprint))
    return Success(schedule)


@attrs.frozen(kw_only=True)
class FixedScheduleState:
    """How many schedule entries have been germinated; the next one is ``schedule[applied]``."""

    applied: int = attrs.field(default=0, validator=[instance_of(int), ge(0)])


@attrs.frozen(kw_only=True)
class FixedScheduleController:
    """Implements ``Controller[FixedScheduleState]``.

    ``gates`` is the lifecycle's own ``GateConfig``, so FOSSILIZE is proposed exactly when G5
    accepts it; ``blend`` None means the lifecycle's default blend.
    """

    schedule: Schedule = attrs.field(converter=as_schedule)
    gates: GateConfig = attrs.field(factory=GateConfig, validator=instance_of(GateConfig))
    blend: BlendAlgorithm | None = None

    def initial_state(self) -> FixedScheduleState:
        return FixedScheduleState()

    def decide(self, state: FixedScheduleState, observation: Observation) -> tuple[FactoredAction, FixedScheduleState]:
        for index, seed in enumerate(observation.seeds):
            if seed is not None and seed.stage is SeedStage.PROBATIONARY and gate_g5_fossilized(seed, self.gates).ok:
                return FactoredAction(op=LifecycleOp.FOSSILIZE, slot_index=index), state
        entry = due_entry(self.schedule, state, observation)
        if entry is None:
            return FactoredAction(op=LifecycleOp.WAIT), state
        action = FactoredAction(
            op=LifecycleOp.GERMINATE,
            slot_index=observation.slots.index_for_slot_id(entry.slot),
            blueprint=entry.blueprint,
            blend=self.blend,
        )
        return action, attrs.evolve(state, applied=state.applied + 1)


def due_entry(schedule: Schedule, state: FixedScheduleState, observation: Observation) -> Germination | None:
    """The next entry, if its epoch has come, its slot is free and the seed budget allows it."""
    if state.applied >= len(schedule):
        return None
    entry = schedule[state.applied]
    if observation.epoch < entry.epoch or not observation.germination_budget_left:
        return None
    if entry.slot not in observation.slots.slot_ids:
        return None
    seed = observation.seeds[observation.slots.index_for_slot_id(entry.slot)]
    return entry if slot_is_free(seed) else None
