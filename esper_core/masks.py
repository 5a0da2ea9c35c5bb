"""Which choices a policy may sample: exact masks over the four heads of a ``FactoredAction``.

Exact means neither optimistic nor pessimistic. Every action assembled from the masks (a
legal op, then a slot where that op is legal, then for GERMINATE a legal blueprint and
blend) is one the engine applies without refusal, gate G5 included; and every action the
engine would apply is allowed by the masks. A policy therefore never wastes an epoch on a
refused action, and never learns that a good action is impossible.

The blueprint head ranges over the blueprints a policy is offered (its layout's: the task's
choice, never a seed that cannot pass the gates), which may be fewer than the host knows;
exactness holds over that action space: every action the heads can express is legal iff
the masks allow it.

The masks are read from the same rules the engine applies (``check_action`` for legality,
``gate_g5_fossilized`` for fossilization), never restated, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs
from returns.result import Success

from esper_core.action_space import FactoredAction, LifecycleOp
from esper_core.blending import BlendAlgorithm
from esper_core.config import GateConfig
from esper_core.controller import check_action
from esper_core.errors import ConfigError
from esper_core.gates import gate_g5_fossilized
from esper_core.observation import Observation

# Head orders: index i of a head is the i-th member in declaration order.
OP_ORDER: tuple[LifecycleOp, ...] = tuple(LifecycleOp)
BLEND_ORDER: tuple[BlendAlgorithm, ...] = tuple(BlendAlgorithm)

OP_LENGTH_MESSAGE = "ActionMasks.op needs one entry per LifecycleOp ({expected}: {names}), got {found}."
SLOT_ROWS_MESSAGE = "ActionMasks.slot needs one row per LifecycleOp ({expected}), got {found}."
SLOT_WIDTH_MESSAGE = "ActionMasks.slot rows must all have one entry per slot (at least one); got row lengths {found}."
OP_SLOT_MESSAGE = (
    "ActionMasks.op must say exactly which ops are legal in at least one slot: op {op} is {op_value} "
    "but its slot row is {row}."
)
WAIT_ROW_MESSAGE = "ActionMasks: WAIT is legal in every slot, but its slot row is {row}."
BLEND_LENGTH_MESSAGE = "ActionMasks.blend needs one entry per BlendAlgorithm ({expected}: {names}), got {found}."
GERMINATE_CHOICE_MESSAGE = (
    "ActionMasks allow GERMINATE but no {head} ({mask}); a sampled GERMINATE would have nothing to grow. "
    "Mask GERMINATE out instead."
)

Mask = tuple[bool, ...]


def _mask(values: Iterable[bool]) -> Mask:
    return tuple(values)


def _mask_rows(rows: Iterable[Iterable[bool]]) -> tuple[Mask, ...]:
    return tuple(tuple(row) for row in rows)


@attrs.frozen
class ActionMasks:
    """One mask per head; ``True`` = may be sampled. Indices follow ``OP_ORDER`` and ``BLEND_ORDER``.

    The invariants a sampler relies on are checked here, once: every op row has one entry
    per slot, an op is legal iff some slot allows it (so sampling the op first, then its
    slot, never meets an empty row), and a legal GERMINATE always has a blueprint and a
    blend to choose from.
    """

    # Legal in at least one slot; WAIT always.
    op: Mask = attrs.field(converter=_mask)
    # [op index][slot index], slots in SlotConfig order; the WAIT row is all True.
    slot: tuple[Mask, ...] = attrs.field(converter=_mask_rows)
    # Over observation.blueprints, in registry order: what GERMINATE may grow.
    blueprint: Mask = attrs.field(converter=_mask)
    # Over BLEND_ORDER.
    blend: Mask = attrs.field(converter=_mask)

    @op.validator
    def _check_op(self, _attribute: attrs.Attribute[Mask], op: Mask) -> None:
        if len(op) != len(OP_ORDER):
            raise ConfigError(OP_LENGTH_MESSAGE.format(expected=len(OP_ORDER), names=_names(OP_ORDER), found=len(op)))

    @slot.validator
    def _check_slot(self, _attribute: attrs.Attribute[tuple[Mask, ...]], slot: tuple[Mask, ...]) -> None:
        if len(slot) != len(OP_ORDER):
            raise ConfigError(SLOT_ROWS_MESSAGE.format(expected=len(OP_ORDER), found=len(slot)))
        widths = [len(row) for row in slot]
        if min(widths) < 1 or len(set(widths)) != 1:
            raise ConfigError(SLOT_WIDTH_MESSAGE.format(found=widths))
        wait_row = slot[OP_ORDER.index(LifecycleOp.WAIT)]
        if not all(wait_row):
            raise ConfigError(WAIT_ROW_MESSAGE.format(row=wait_row))
        for op, op_value, row in zip(OP_ORDER, self.op, slot, strict=True):
            if op_value != any(row):
                raise ConfigError(OP_SLOT_MESSAGE.format(op=op.name, op_value=op_value, row=row))

    @blend.validator
    def _check_blend(self, _attribute: attrs.Attribute[Mask], blend: Mask) -> None:
        if len(blend) != len(BLEND_ORDER):
            message = BLEND_LENGTH_MESSAGE.format(
                expected=len(BLEND_ORDER), names=_names(BLEND_ORDER), found=len(blend)
            )
            raise ConfigError(message)
        if self.op[OP_ORDER.index(LifecycleOp.GERMINATE)]:
            for head, mask in (("blueprint", self.blueprint), ("blend", blend)):
                if not any(mask):
                    raise ConfigError(GERMINATE_CHOICE_MESSAGE.format(head=head, mask=mask))


def _names(members: Sequence[LifecycleOp] | Sequence[BlendAlgorithm]) -> str:
    return ", ".join(member.name for member in members)


def action_masks(
    observation: Observation, gates: GateConfig, *, blueprints: Sequence[str] | None = None
) -> ActionMasks:
    """The masks for one decision. ``gates`` must be the lifecycle's own ``GateConfig``.

    ``blueprints`` are the blueprint head's entries (default: every blueprint the host
    knows); the blueprint mask allows those the host knows. A slot's row entry is decided by
    asking ``check_action`` about the op in that slot, and for FOSSILIZE also G5, which the
    lifecycle applies when the action is carried out. GERMINATE is probed with the first
    allowed blueprint: legality depends on the blueprint only through membership in
    ``observation.blueprints``, which the blueprint head masks.
    """
    head = observation.blueprints if blueprints is None else tuple(blueprints)
    blueprint_mask = tuple(name in observation.blueprints for name in head)
    probe_blueprint = next((name for name, legal in zip(head, blueprint_mask, strict=True) if legal), None)
    slots = range(observation.slots.num_slots)
    slot_rows = tuple(
        tuple(_legal_in_slot(observation, op, index, probe_blueprint, gates) for index in slots) for op in OP_ORDER
    )
    return ActionMasks(
        op=tuple(any(row) for row in slot_rows),
        slot=slot_rows,
        # check_action accepts exactly the blueprints the observation lists, and any blend.
        blueprint=blueprint_mask,
        blend=tuple(True for _ in BLEND_ORDER),
    )


def _legal_in_slot(
    observation: Observation, op: LifecycleOp, index: int, blueprint: str | None, gates: GateConfig
) -> bool:
    if op is LifecycleOp.WAIT:
        return True
    if op is LifecycleOp.GERMINATE and blueprint is None:
        return False
    probe = FactoredAction(op=op, slot_index=index, blueprint=blueprint if op is LifecycleOp.GERMINATE else None)
    if not isinstance(check_action(observation, probe), Success):
        return False
    seed = observation.seeds[index]
    if op is LifecycleOp.FOSSILIZE:
        return seed is not None and gate_g5_fossilized(seed, gates).ok
    return True


def masks_allow(masks: ActionMasks, action: FactoredAction, blueprints: Sequence[str]) -> bool:
    """Whether ``action`` could have been sampled from ``masks`` (``blueprints`` = the head's entries).

    WAIT ignores its slot index, as the engine does. A GERMINATE without a blend asks for
    the lifecycle's default blend, which the engine accepts like any other.
    """
    if not masks.op[OP_ORDER.index(action.op)]:
        return False
    if action.op is LifecycleOp.WAIT:
        return True
    row = masks.slot[OP_ORDER.index(action.op)]
    if not 0 <= action.slot_index < len(row) or not row[action.slot_index]:
        return False
    if action.op is not LifecycleOp.GERMINATE:
        return True
    if action.blueprint not in blueprints or not masks.blueprint[blueprints.index(action.blueprint)]:
        return False
    return action.blend is None or masks.blend[BLEND_ORDER.index(action.blend)]
