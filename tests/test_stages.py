"""The stage table (DESIGN §4)."""

from __future__ import annotations

import pytest

from esper_core import LEGAL_TRANSITIONS, SeedStage, is_legal, legal_targets

S = SeedStage

DESIGN_TABLE: dict[SeedStage, set[SeedStage]] = {
    S.DORMANT: {S.GERMINATED},
    S.GERMINATED: {S.TRAINING, S.CULLED},
    S.TRAINING: {S.BLENDING, S.CULLED},
    S.BLENDING: {S.PROBATIONARY, S.CULLED},
    S.PROBATIONARY: {S.FOSSILIZED, S.CULLED},
    S.FOSSILIZED: set(),
    S.CULLED: {S.EMBARGOED},
    S.EMBARGOED: {S.DORMANT},
}


class TestSeedStage:
    def test_has_exactly_the_eight_design_stages(self) -> None:
        assert [stage.name for stage in SeedStage] == [
            "DORMANT",
            "GERMINATED",
            "TRAINING",
            "BLENDING",
            "PROBATIONARY",
            "FOSSILIZED",
            "CULLED",
            "EMBARGOED",
        ]


class TestLegalTransitions:
    def test_table_covers_every_stage(self) -> None:
        assert set(LEGAL_TRANSITIONS) == set(SeedStage)

    def test_table_is_exactly_the_design_table(self) -> None:
        assert {stage: set(targets) for stage, targets in LEGAL_TRANSITIONS.items()} == DESIGN_TABLE

    def test_fossilized_has_no_targets(self) -> None:
        assert LEGAL_TRANSITIONS[S.FOSSILIZED] == frozenset()

    def test_no_stage_moves_to_itself(self) -> None:
        assert all(stage not in targets for stage, targets in LEGAL_TRANSITIONS.items())


class TestIsLegal:
    @pytest.mark.parametrize(("current", "target"), [(c, t) for c, ts in DESIGN_TABLE.items() for t in ts])
    def test_design_edges_are_legal(self, current: SeedStage, target: SeedStage) -> None:
        assert is_legal(current, target)

    @pytest.mark.parametrize(
        ("current", "target"), [(c, t) for c in SeedStage for t in SeedStage if t not in DESIGN_TABLE[c]]
    )
    def test_every_other_pair_is_illegal(self, current: SeedStage, target: SeedStage) -> None:
        assert not is_legal(current, target)


class TestLegalTargets:
    def test_lists_targets_in_declaration_order(self) -> None:
        assert legal_targets(S.BLENDING) == (S.PROBATIONARY, S.CULLED)

    def test_terminal_stage_has_none(self) -> None:
        assert legal_targets(S.FOSSILIZED) == ()

    @pytest.mark.parametrize("stage", list(SeedStage))
    def test_agrees_with_the_table(self, stage: SeedStage) -> None:
        assert set(legal_targets(stage)) == DESIGN_TABLE[stage]
