"""Small builders shared by the shell tests: tiny hosts, models and seeds at a chosen stage."""

from __future__ import annotations

import torch

from esper_core import BlendAlgorithm, SeedStage
from esper_shell.bench.staging import walk_to_stage
from esper_shell.hosts import CNNHost
from esper_shell.model import MorphogeneticModel


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
    walk_to_stage(model, slot_id, stage, blueprint=blueprint, blend=blend, blend_steps_done=blend_steps_done)
    perturb(model.slot(slot_id).seed)


def perturb(module: torch.nn.Module, *, scale: float = 0.5, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.add_(scale * torch.randn(param.shape, generator=generator))
