"""One reducer owns every stage entry (DESIGN §4): a transition behaves the same whether
``step_epoch`` takes it automatically or ``advance_stage`` is asked for it."""

from __future__ import annotations

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from returns.result import Success
from strategies import lifecycle_configs, seed_states

from esper_core import (
    Emit,
    LifecycleConfig,
    SeedStage,
    SeedState,
    StageContext,
    advance_stage,
    automatic_target,
    is_legal,
    on_enter_stage,
    step_epoch,
    tick_epoch,
)

contexts = st.builds(
    StageContext,
    epoch=st.integers(0, 10_000),
    timestamp=st.floats(0.0, 2e9),
    config=lifecycle_configs,
)


@pytest.mark.parametrize("stage", list(SeedStage), ids=lambda s: s.name)
@settings(max_examples=40)
@given(data=st.data(), ctx=contexts)
def test_step_epoch_takes_the_automatic_transition_exactly_as_advance_stage_would(
    stage: SeedStage, data: st.DataObject, ctx: StageContext
) -> None:
    state = data.draw(seed_states(stages=st.just(stage)), label="state")
    ticked = tick_epoch(state, ctx)
    target = automatic_target(ticked, ctx.config)
    stepped = step_epoch(state, ctx)
    advanced = advance_stage(ticked, target, ctx) if target is not None else None
    event(f"{state.stage.name} -> {stepped[0].stage.name}")
    if isinstance(advanced, Success):
        assert stepped == advanced.unwrap()
    else:
        new_state, effects = stepped
        assert new_state == ticked
        assert new_state.stage is state.stage
        assert all(isinstance(effect, Emit) and effect.event.kind == "gate" for effect in effects)


@settings(max_examples=150)
@given(seed_states(), contexts)
def test_an_automatic_transition_applies_the_entry_effects_of_on_enter_stage(
    state: SeedState, ctx: StageContext
) -> None:
    new_state, effects = step_epoch(state, ctx)
    if new_state.stage is not state.stage:
        entered, entry_effects = on_enter_stage(tick_epoch(state, ctx), new_state.stage, ctx)
        assert new_state == entered
        assert effects[-len(entry_effects) :] == entry_effects


@given(seed_states(), lifecycle_configs)
def test_automatic_target_is_a_legal_edge(state: SeedState, config: LifecycleConfig) -> None:
    target = automatic_target(state, config)
    assert target is None or is_legal(state.stage, target)
