"""The controller contract, and which actions the engine can apply to an observation.

A controller is functional: its memory is an explicit state value passed in and returned,
never hidden in the object. The engine stores that value in its checkpoint (through the
core converter) and hands it back on resume, so a resumed run decides exactly as an
uninterrupted one would. A user's controller plugs in by implementing two methods.
"""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

from returns.result import Failure, Result, Success

from esper_core.action_space import FactoredAction, LifecycleOp
from esper_core.errors import ActionError
from esper_core.observation import Observation, slot_is_free
from esper_core.stages import SeedStage, is_legal
from esper_core.state import SeedState

S = TypeVar("S")

SLOT_RANGE_MESSAGE = "{op} addresses slot index {index}, but only {count} slot(s) are configured ({slots})."
SLOT_TAKEN_MESSAGE = (
    "GERMINATE into slot {slot} refused: its seed is {stage}; a slot takes a new seed only when empty "
    "(no seed, or DORMANT after an embargo). Choose another slot."
)
BUDGET_MESSAGE = (
    "GERMINATE refused: {used} of max_seeds={limit} seeds already germinated this run; raise --max-seeds to allow more."
)
BLUEPRINT_MESSAGE = "GERMINATE refused: blueprint {blueprint!r} is not known for this host; choose one of: {known}."
NO_SEED_MESSAGE = "{op} in slot {slot} refused: the slot holds no seed."
STAGE_MESSAGE = "{op} in slot {slot} refused: seed {seed!r} is {stage}; {op} applies only to {allowed}."


@runtime_checkable
class Controller(Protocol[S]):
    """Maps observations to actions, one per epoch.

    ``S`` is the controller's state. It must round-trip through
    ``esper_core.to_primitives`` / ``from_primitives(data, type(controller.initial_state()))``
    (an attrs record of primitives, enums and tuples of such is enough): that is how the
    engine checkpoints it.
    """

    def initial_state(self) -> S: ...

    def decide(self, state: S, observation: Observation) -> tuple[FactoredAction, S]: ...


def check_action(observation: Observation, action: FactoredAction) -> Result[FactoredAction, ActionError]:
    """Whether the engine can apply ``action`` now; a ``Failure`` says why not and what to do.

    Judges the op against the slot's stage, through the lifecycle's own table of legal
    moves (CULL needs a seed that may enter CULLED, FOSSILIZE one that may enter
    FOSSILIZED), so the two can never disagree. Gates with measured thresholds (G5 for
    FOSSILIZE) are the lifecycle's to decide when the action is applied, so a legal
    FOSSILIZE may still be refused by its gate.
    """
    if action.op is LifecycleOp.WAIT:
        return Success(action)
    slots = observation.slots
    if not 0 <= action.slot_index < slots.num_slots:
        message = SLOT_RANGE_MESSAGE.format(
            op=action.op.name, index=action.slot_index, count=slots.num_slots, slots=", ".join(slots.slot_ids)
        )
        return Failure(ActionError(message))
    slot_id = slots.slot_ids[action.slot_index]
    seed = observation.seeds[action.slot_index]
    if action.op is LifecycleOp.GERMINATE:
        return _check_germinate(action, slot_id, seed, observation)
    target = SeedStage.CULLED if action.op is LifecycleOp.CULL else SeedStage.FOSSILIZED
    if seed is None:
        return Failure(ActionError(NO_SEED_MESSAGE.format(op=action.op.name, slot=slot_id)))
    if not is_legal(seed.stage, target):
        allowed = ", ".join(stage.name for stage in SeedStage if is_legal(stage, target))
        message = STAGE_MESSAGE.format(
            op=action.op.name, slot=slot_id, seed=seed.seed_id, stage=seed.stage.name, allowed=allowed
        )
        return Failure(ActionError(message))
    return Success(action)


def _check_germinate(
    action: FactoredAction, slot_id: str, seed: SeedState | None, observation: Observation
) -> Result[FactoredAction, ActionError]:
    if not slot_is_free(seed):
        return Failure(ActionError(SLOT_TAKEN_MESSAGE.format(slot=slot_id, stage=_stage_name(seed))))
    if not observation.germination_budget_left:
        message = BUDGET_MESSAGE.format(used=observation.seeds_germinated, limit=observation.max_seeds)
        return Failure(ActionError(message))
    if action.blueprint not in observation.blueprints:
        known = ", ".join(observation.blueprints) or "none registered"
        return Failure(ActionError(BLUEPRINT_MESSAGE.format(blueprint=action.blueprint, known=known)))
    return Success(action)


def _stage_name(seed: SeedState | None) -> str:
    return SeedStage.DORMANT.name if seed is None else seed.stage.name


def is_action_legal(observation: Observation, action: FactoredAction) -> bool:
    return isinstance(check_action(observation, action), Success)
