"""Counterfactual contributions measured inside the validation pass."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from esper_core import SeedStage
from esper_shell.engine.evaluation import evaluate
from esper_shell.model import MorphogeneticModel
from esper_shell.tasks import cross_entropy
from tests.shell_helpers import bring_to, images, tiny_cnn

SLOTS = ["r0c0", "r1c0", "r2c0"]


def _batches(n: int = 3) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(5)
    return [(images(batch=16, seed=i), torch.randint(0, 5, (16,), generator=generator)) for i in range(n)]


def _grown(stage: SeedStage, steps: int = 2) -> MorphogeneticModel:
    model = MorphogeneticModel(tiny_cnn(), SLOTS)
    for slot_id in SLOTS:
        bring_to(model, slot_id, stage, blend_steps_done=steps)
    return model.eval()


def _accuracy(model: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    with torch.no_grad():
        hits = sum((model(x).argmax(-1) == y).sum().item() for x, y in batches)
    return 100.0 * hits / sum(y.numel() for _, y in batches)


class TestFusedCounterfactual:
    @pytest.mark.parametrize("stage", [SeedStage.BLENDING, SeedStage.PROBATIONARY])
    def test_fused_equals_a_naive_rerun_without_each_seed(self, stage: SeedStage) -> None:
        model, batches = _grown(stage), _batches()
        fused = evaluate(model, batches, ablate=tuple(SLOTS), loss=cross_entropy, device=torch.device("cpu"))
        full = _accuracy(model, batches)
        for slot_id in SLOTS:
            with model.without_seed(slot_id):
                naive = full - _accuracy(model, batches)
            assert fused.contributions[slot_id] == pytest.approx(naive, abs=1e-9)

    def test_seed_at_alpha_zero_contributes_exactly_nothing(self) -> None:
        model, batches = _grown(SeedStage.BLENDING, steps=0), _batches()
        assert model.slot("r1c0").alpha == 0.0
        fused = evaluate(model, batches, ablate=("r1c0",), loss=cross_entropy, device=torch.device("cpu"))
        assert fused.contributions["r1c0"] == 0.0

    def test_accuracy_and_loss_match_a_plain_pass(self) -> None:
        model, batches = _grown(SeedStage.BLENDING), _batches()
        fused = evaluate(model, batches, ablate=tuple(SLOTS), loss=cross_entropy, device=torch.device("cpu"))
        with torch.no_grad():
            loss = sum(F.cross_entropy(model(x), y, reduction="sum").item() for x, y in batches) / 48
        assert fused.accuracy == pytest.approx(_accuracy(model, batches))
        assert fused.loss == pytest.approx(loss, rel=1e-5)

    def test_prefix_up_to_each_slot_is_computed_once(self) -> None:
        model, batches = _grown(SeedStage.PROBATIONARY), _batches(1)
        calls: list[str] = []
        original = model.host.forward_to

        def counting(slot_id: str, x: torch.Tensor, from_slot_id: str | None = None) -> torch.Tensor:
            calls.append(f"{from_slot_id}->{slot_id}")
            return original(slot_id, x, from_slot_id)

        model.host.forward_to = counting  # type: ignore[method-assign]
        evaluate(model, batches, ablate=tuple(SLOTS), loss=cross_entropy, device=torch.device("cpu"))
        assert calls.count("None->r0c0") == 1
