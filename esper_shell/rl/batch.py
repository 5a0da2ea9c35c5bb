"""The policy's inputs and outputs as tensors, and their conversion from and to core records.

Rows are env steps. Slot-shaped tensors have one column per configured slot, in
``SlotConfig`` order, so the same code serves 1, 3 or N slots.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs
import torch

from esper_core import FactoredAction, GateConfig, LifecycleOp, Observation
from esper_core.features import FeatureConfig, FeatureLayout, check_layout, observation_features
from esper_core.masks import BLEND_ORDER, OP_ORDER, ActionMasks, action_masks
from esper_shell.errors import unwrap

# Head orders are the masks': index i of a head is entry i of these tuples.
OPS = OP_ORDER
BLENDS = BLEND_ORDER
WAIT_INDEX = OPS.index(LifecycleOp.WAIT)
GERMINATE_INDEX = OPS.index(LifecycleOp.GERMINATE)

Features = tuple[tuple[float, ...], tuple[tuple[float, ...], ...]]
R = TypeVar("R", "ObservationBatch", "MaskBatch", "ActionBatch")


@attrs.frozen(eq=False)
class ObservationBatch:
    global_features: torch.Tensor  # (B, G) float32
    slot_features: torch.Tensor  # (B, S, F) float32


@attrs.frozen(eq=False)
class MaskBatch:
    op: torch.Tensor  # (B, ops) bool
    slot: torch.Tensor  # (B, ops, S) bool: slot legality given each op
    blueprint: torch.Tensor  # (B, blueprints) bool
    blend: torch.Tensor  # (B, blends) bool


@attrs.frozen(eq=False)
class ActionBatch:
    op: torch.Tensor  # (B,) long, index into OPS
    slot: torch.Tensor  # (B,) long, slot index
    blueprint: torch.Tensor  # (B,) long, index into the layout's blueprints
    blend: torch.Tensor  # (B,) long, index into BLENDS


def _map(record: R, fn: Callable[[torch.Tensor], torch.Tensor]) -> R:
    return attrs.evolve(record, **{field.name: fn(getattr(record, field.name)) for field in attrs.fields(type(record))})


def select(record: R, rows: torch.Tensor) -> R:
    """The rows ``rows`` of every tensor of a batch (a minibatch)."""
    return _map(record, lambda tensor: tensor[rows])


def concat(records: Sequence[R]) -> R:
    """Stack batches row-wise (a rollout's steps into one batch)."""
    first = records[0]
    return attrs.evolve(
        first,
        **{
            field.name: torch.cat([getattr(record, field.name) for record in records])
            for field in attrs.fields(type(first))
        },
    )


def observation_batch(features: Sequence[Features]) -> ObservationBatch:
    """Raw (unnormalised) features of several observations with the same slot count."""
    return ObservationBatch(
        global_features=torch.tensor([global_ for global_, _ in features], dtype=torch.float32),
        slot_features=torch.tensor([slots for _, slots in features], dtype=torch.float32),
    )


def mask_batch(masks: Sequence[ActionMasks]) -> MaskBatch:
    return MaskBatch(
        op=torch.tensor([m.op for m in masks], dtype=torch.bool),
        slot=torch.tensor([m.slot for m in masks], dtype=torch.bool),
        blueprint=torch.tensor([m.blueprint for m in masks], dtype=torch.bool),
        blend=torch.tensor([m.blend for m in masks], dtype=torch.bool),
    )


def observe(
    observations: Sequence[Observation], layout: FeatureLayout, features: FeatureConfig, gates: GateConfig
) -> tuple[ObservationBatch, MaskBatch]:
    """Raw features and exact masks of a batch of observations, each checked against ``layout`` first."""
    for observation in observations:
        unwrap(check_layout(observation, layout))
    return (
        observation_batch([observation_features(observation, layout, features) for observation in observations]),
        mask_batch([action_masks(observation, gates, blueprints=layout.blueprints) for observation in observations]),
    )


def action_batch(actions: Sequence[FactoredAction], blueprints: Sequence[str]) -> ActionBatch:
    """Head indices of core actions (the inverse of ``factored_actions``); heads an op ignores get index 0.

    A GERMINATE must name its blend: the policy's blend head has no "the lifecycle's default".
    """
    rows = []
    for action in actions:
        if action.op is LifecycleOp.GERMINATE:
            if action.blend is None:
                raise ValueError(f"{action} names no blend; the policy's blend head needs one")
            rows.append(
                (
                    OPS.index(action.op),
                    action.slot_index,
                    blueprints.index(action.blueprint),
                    BLENDS.index(action.blend),
                )
            )
        else:
            rows.append((OPS.index(action.op), 0 if action.op is LifecycleOp.WAIT else action.slot_index, 0, 0))
    op, slot, blueprint, blend = (torch.tensor(column, dtype=torch.long) for column in zip(*rows, strict=True))
    return ActionBatch(op=op, slot=slot, blueprint=blueprint, blend=blend)


def factored_actions(actions: ActionBatch, blueprints: Sequence[str]) -> tuple[FactoredAction, ...]:
    """Core actions from head indices. WAIT addresses no slot; only GERMINATE names a blueprint and blend."""
    decoded = []
    for op_index, slot, blueprint, blend in zip(
        actions.op.tolist(), actions.slot.tolist(), actions.blueprint.tolist(), actions.blend.tolist(), strict=True
    ):
        op = OPS[op_index]
        if op is LifecycleOp.WAIT:
            decoded.append(FactoredAction(op=op))
        elif op is LifecycleOp.GERMINATE:
            decoded.append(FactoredAction(op=op, slot_index=slot, blueprint=blueprints[blueprint], blend=BLENDS[blend]))
        else:
            decoded.append(FactoredAction(op=op, slot_index=slot))
    return tuple(decoded)
