"""LifecycleConfig.blend_gradient_to_host: the seed's path passes gradient to the host while BLENDING."""

from __future__ import annotations

import pytest
import torch

from esper_core import LifecycleConfig, SeedStage
from esper_shell.model import MorphogeneticModel
from esper_shell.slot import SeedSlot
from tests.shell_helpers import bring_to, tiny_cnn

SLOT = "r1c0"


def _blending_slot(*, release: bool) -> SeedSlot:
    config = LifecycleConfig(blend_gradient_to_host=release)
    model = MorphogeneticModel(tiny_cnn(), ["r0c0", SLOT], lifecycle_config=config)
    bring_to(model, SLOT, SeedStage.BLENDING, blend_steps_done=2)  # perturbed: a trained seed
    return model.slot(SLOT)


def _features() -> torch.Tensor:
    return torch.randn(4, 8, 6, 6, generator=torch.Generator().manual_seed(5)).requires_grad_(True)


def test_it_is_off_by_default() -> None:
    assert LifecycleConfig().blend_gradient_to_host is False


def test_released_blend_gives_the_host_the_gradient_of_the_lerp() -> None:
    slot, h = _blending_slot(release=True), _features()
    slot(h).sum().backward()
    probe = h.detach().requires_grad_(True)
    (expected,) = torch.autograd.grad(torch.lerp(probe, slot.seed(probe), slot.alpha).sum(), probe)
    assert torch.allclose(h.grad, expected)


def test_released_blend_sends_more_than_the_direct_path() -> None:
    slot, h = _blending_slot(release=True), _features()
    slot(h).sum().backward()
    assert not torch.allclose(h.grad, torch.full_like(h, 1.0 - slot.alpha))


def test_released_blend_leaves_the_output_unchanged() -> None:
    released, detached, h = _blending_slot(release=True), _blending_slot(release=False), _features()
    detached.seed.load_state_dict(released.seed.state_dict())
    assert torch.equal(released(h), detached(h))


def test_training_stays_isolated_when_released() -> None:
    config = LifecycleConfig(blend_gradient_to_host=True)
    model = MorphogeneticModel(tiny_cnn(), ["r0c0", SLOT], lifecycle_config=config)
    bring_to(model, SLOT, SeedStage.TRAINING)
    h = _features()
    model.slot(SLOT)(h).sum().backward()
    assert torch.equal(h.grad, torch.ones_like(h))


def test_a_non_boolean_is_refused() -> None:
    with pytest.raises(TypeError):
        LifecycleConfig(blend_gradient_to_host=1)  # type: ignore[arg-type]
