"""The seed stages and the table of legal moves between them."""

from __future__ import annotations

import enum


class SeedStage(enum.Enum):
    DORMANT = enum.auto()
    GERMINATED = enum.auto()
    TRAINING = enum.auto()
    BLENDING = enum.auto()
    PROBATIONARY = enum.auto()
    FOSSILIZED = enum.auto()
    CULLED = enum.auto()
    EMBARGOED = enum.auto()


S = SeedStage
LEGAL_TRANSITIONS: dict[SeedStage, frozenset[SeedStage]] = {
    S.DORMANT: frozenset({S.GERMINATED}),
    S.GERMINATED: frozenset({S.TRAINING, S.CULLED}),
    S.TRAINING: frozenset({S.BLENDING, S.CULLED}),
    S.BLENDING: frozenset({S.PROBATIONARY, S.CULLED}),
    S.PROBATIONARY: frozenset({S.FOSSILIZED, S.CULLED}),
    S.FOSSILIZED: frozenset(),
    S.CULLED: frozenset({S.EMBARGOED}),
    S.EMBARGOED: frozenset({S.DORMANT}),
}

# A seed is alive (still undecided: it can be culled) in these stages.
LIVE_STAGES = frozenset({S.GERMINATED, S.TRAINING, S.BLENDING, S.PROBATIONARY})
# A seed module exists in these stages (a fossilized seed is part of the host for good).
SEED_MODULE_STAGES = LIVE_STAGES | {S.FOSSILIZED}
# Stages in which the seed's output takes part in the model's output.
CONTRIBUTING_STAGES = frozenset({S.BLENDING, S.PROBATIONARY, S.FOSSILIZED})
# Stages in which the seed sees only detached host features.
ISOLATED_STAGES = frozenset({S.GERMINATED, S.TRAINING, S.BLENDING})


def is_legal(current: SeedStage, target: SeedStage) -> bool:
    return target in LEGAL_TRANSITIONS[current]


def legal_targets(current: SeedStage) -> tuple[SeedStage, ...]:
    """Legal next stages in declaration order, for stable error messages."""
    return tuple(stage for stage in SeedStage if stage in LEGAL_TRANSITIONS[current])
