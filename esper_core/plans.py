"""Per-episode plans for a warm start: which slots to grow, in which order, with what, from when.

A plan is a fixed schedule (``fixed_schedule``) written before the episode: germinate
``blueprint`` in each slot of ``order``, one per decision, from the decision point of
``epoch`` on. The warm start (``esper_shell.rl.warm_start``) plays candidate plans on the
training seeds and keeps the best by successive halving, a bandit that spends its episodes
on the plans still in the running: every round plays each survivor on new seeds and keeps
the better half, so a poor plan costs one round and the winner's estimate rests on the
most seeds.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Mapping, Sequence

from esper_core.action_space import SlotConfig
from esper_core.errors import ConfigError
from esper_core.fixed_schedule import Germination, Schedule

NO_PLANS_MESSAGE = (
    "No plan can be built: need at least one slot, one blueprint, one start epoch and max_seeds >= 1 "
    "(got {slots} slot(s), blueprints {blueprints}, start epochs {epochs}, max_seeds {max_seeds})."
)


def candidate_plans(
    slots: SlotConfig, blueprints: Sequence[str], *, start_epochs: Iterable[int], max_seeds: int
) -> tuple[Schedule, ...]:
    """Every ordered choice of up to ``max_seeds`` slots, for each blueprint and start epoch."""
    epochs = tuple(start_epochs)
    plans = tuple(
        tuple(Germination(epoch=epoch, slot=slot, blueprint=blueprint) for slot in order)
        for size in range(1, min(slots.num_slots, max_seeds) + 1)
        for order in itertools.permutations(slots.slot_ids, size)
        for blueprint in blueprints
        for epoch in epochs
    )
    if not plans:
        message = NO_PLANS_MESSAGE.format(
            slots=slots.num_slots, blueprints=list(blueprints), epochs=list(epochs), max_seeds=max_seeds
        )
        raise ConfigError(message, value=max_seeds)
    return plans


def plan_name(plan: Schedule) -> str:
    """``'conv_heavy r1c0>r0c0 @1'``: the blueprint(s), the slot order, the start epoch."""
    blueprints = "+".join(dict.fromkeys(entry.blueprint for entry in plan))
    order = ">".join(entry.slot for entry in plan)
    return f"{blueprints} {order} @{plan[0].epoch}"


def survivors(returns: Mapping[str, Sequence[float]]) -> tuple[str, ...]:
    """The better half (rounded up) of the candidates by mean return; ties keep the earlier candidate."""
    ranked = sorted(returns, key=lambda name: -statistics.fmean(returns[name]))
    return tuple(ranked[: (len(ranked) + 1) // 2])
