"""The fixed-schedule controller never germinates early, twice, or past its schedule."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from esper_core import FixedScheduleController, LifecycleOp, Observation, SignalTracker, SlotConfig

SLOTS = SlotConfig(("r0c0", "r1c0", "r2c0"))
entries = st.lists(
    st.tuples(st.integers(0, 12), st.sampled_from(SLOTS.slot_ids), st.sampled_from(("conv_light", "depthwise"))),
    min_size=1,
    max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(entries)
def test_with_free_slots_each_entry_germinates_once_at_or_after_its_epoch(schedule: list) -> None:
    controller = FixedScheduleController(schedule=schedule)
    state = controller.initial_state()
    germinated = []
    for epoch in range(20):
        observation = Observation(
            epoch=epoch,
            max_epochs=20,
            slots=SLOTS,
            seeds=(None, None, None),
            signals=SignalTracker(),
            max_seeds=10,
            seeds_germinated=len(germinated),
            blueprints=("conv_light", "depthwise"),
        )
        action, state = controller.decide(state, observation)
        if action.op is LifecycleOp.GERMINATE:
            germinated.append((epoch, SLOTS.slot_ids[action.slot_index], action.blueprint))
    assert [(slot, blueprint) for _, slot, blueprint in germinated] == [
        (e.slot, e.blueprint) for e in controller.schedule
    ]
    assert all(epoch >= entry.epoch for (epoch, _, _), entry in zip(germinated, controller.schedule))
