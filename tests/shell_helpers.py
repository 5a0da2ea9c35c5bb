"""Small builders shared by the shell tests: tiny hosts, models and seeds at a chosen stage."""

from __future__ import annotations

import torch

from esper_core import BlendAlgorithm, SeedStage, SeedState, record_contribution, record_gradient_health, tick_epoch
from esper_shell.hosts import CNNHost
from esper_shell.model import MorphogeneticModel

STAGE_PATH = (SeedStage.TRAINING, SeedStage.BLENDING, SeedStage.PROBATIONARY, SeedStage.FOSSILIZED)


def tiny_cnn(blocks: tuple[int, ...] = (1, 1, 1), seed: int = 0) -> CNNHost:
    torch.manual_seed(seed)
    return CNNHost(blocks, base_channels=4, in_channels=3, num_classes=5)


def images(batch: int = 4, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def bring_to(
    model: MorphogeneticModel,
    slot_id: str,
    stage: SeedStage,
    *,
    blueprint: str = "conv_light",
    blend: BlendAlgorithm | str = "linear",
    blend_steps_done: int = 0,
) -> None:
    """Germinate a seed and walk it along the happy path, making each gate pass.

    Fresh seeds are exactly the identity; their parameters are perturbed here so that a
    seed changes what flows through it, as a trained one would.
    """
    model.germinate(slot_id, blueprint, blend=blend)
    slot = model.slot(slot_id)
    perturb(slot.seed)
    for target in STAGE_PATH:
        if stage is SeedStage.GERMINATED:
            return
        if target is SeedStage.BLENDING:
            metrics_ready = record_gradient_health(slot.state, ratio=1.0, finite=True)
            ticks = model.lifecycle_config.gates.min_training_epochs
            slot.update_state(metrics_ready)
            for _ in range(ticks):
                slot.update_state(_tick(model, slot.state))
        if target is SeedStage.PROBATIONARY:
            for _ in range(model.lifecycle_config.blend_steps):
                slot.update_state(_tick(model, slot.state))
        if target is SeedStage.FOSSILIZED:
            slot.update_state(record_contribution(slot.state, 5.0))
        model.advance_stage(slot_id, target)
        if target is SeedStage.BLENDING:
            for _ in range(blend_steps_done):
                slot.update_state(_tick(model, slot.state))
        if target is stage:
            return


def perturb(module: torch.nn.Module, *, scale: float = 0.5, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.add_(scale * torch.randn(param.shape, generator=generator))


def _tick(model: MorphogeneticModel, state: SeedState) -> SeedState:
    return tick_epoch(state, model.context())
