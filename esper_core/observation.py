"""What a controller may read when it decides: one snapshot of the run, built by the engine.

A controller sees only this record, so everything a decision may depend on is here, and a
decision can be replayed from it. Seeds are aligned with the slot configuration (position
``i`` is slot ``slots.slot_ids[i]``), which is also the order actions address slots in.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
from attrs.validators import ge, instance_of

from esper_core.action_space import SlotConfig
from esper_core.errors import ConfigError
from esper_core.signals import SignalTracker
from esper_core.stages import LIVE_STAGES, SeedStage
from esper_core.state import SeedState

SEED_COUNT_MESSAGE = (
    "An observation needs one entry per configured slot ({count}: {slots}), got {found}; use None for an empty slot."
)
SEED_SLOT_MESSAGE = (
    "Observation entry {index} is for slot {slot} but holds seed {seed!r} of slot {seed_slot}; "
    "order seeds as SlotConfig.slot_ids."
)


# One entry per configured slot, in SlotConfig order; None is an empty slot.
SlotSeeds = tuple[SeedState | None, ...]


def _seed_tuple(seeds: Iterable[SeedState | None]) -> SlotSeeds:
    return tuple(seeds)


def _str_tuple(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(names)


@attrs.frozen(kw_only=True)
class Observation:
    epoch: int = attrs.field(validator=ge(0))
    max_epochs: int = attrs.field(validator=ge(1))
    slots: SlotConfig = attrs.field(validator=instance_of(SlotConfig))
    seeds: SlotSeeds = attrs.field(converter=_seed_tuple)
    signals: SignalTracker = attrs.field(validator=instance_of(SignalTracker))
    # The run's germination budget: every seed ever germinated counts, whatever became of it.
    max_seeds: int = attrs.field(validator=ge(0))
    seeds_germinated: int = attrs.field(validator=ge(0))
    # Blueprints the host's topology can grow, in registry order.
    blueprints: tuple[str, ...] = attrs.field(converter=_str_tuple)

    @seeds.validator
    def _check_alignment(self, _attribute: attrs.Attribute[SlotSeeds], seeds: SlotSeeds) -> None:
        slot_ids = self.slots.slot_ids
        if len(seeds) != len(slot_ids):
            raise ConfigError(
                SEED_COUNT_MESSAGE.format(count=len(slot_ids), slots=", ".join(slot_ids), found=len(seeds))
            )
        for index, (slot_id, seed) in enumerate(zip(slot_ids, seeds, strict=True)):
            if seed is not None and seed.slot_id != slot_id:
                raise ConfigError(
                    SEED_SLOT_MESSAGE.format(index=index, slot=slot_id, seed=seed.seed_id, seed_slot=seed.slot_id)
                )

    @property
    def live_seed_count(self) -> int:
        """Seeds whose module exists and runs: the ones a concurrency limit counts."""
        return sum(1 for seed in self.seeds if seed is not None and seed.stage in LIVE_STAGES)

    @property
    def germination_budget_left(self) -> bool:
        return self.seeds_germinated < self.max_seeds


def slot_is_free(seed: SeedState | None) -> bool:
    """A slot can take a new seed: it never had one, or its last one has served its embargo."""
    return seed is None or seed.stage is SeedStage.DORMANT
