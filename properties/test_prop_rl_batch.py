"""Core actions and the policy's head indices convert both ways without loss."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from esper_core import FactoredAction, LifecycleOp
from esper_core.masks import BLEND_ORDER
from esper_shell.rl.batch import action_batch, factored_actions

BLUEPRINTS = ("conv_light", "conv_heavy", "lora")
SLOTS = 5


@st.composite
def actions(draw: st.DrawFn) -> FactoredAction:
    """Actions as a controller states them: WAIT bare, CULL/FOSSILIZE with a slot, GERMINATE with all four."""
    op = draw(st.sampled_from(LifecycleOp))
    if op is LifecycleOp.WAIT:
        return FactoredAction(op=op)
    slot = draw(st.integers(0, SLOTS - 1))
    if op is not LifecycleOp.GERMINATE:
        return FactoredAction(op=op, slot_index=slot)
    return FactoredAction(
        op=op, slot_index=slot, blueprint=draw(st.sampled_from(BLUEPRINTS)), blend=draw(st.sampled_from(BLEND_ORDER))
    )


@given(st.lists(actions(), min_size=1, max_size=8))
def test_head_indices_decode_to_the_actions_they_encode(decisions: list[FactoredAction]) -> None:
    assert factored_actions(action_batch(decisions, BLUEPRINTS), BLUEPRINTS) == tuple(decisions)
