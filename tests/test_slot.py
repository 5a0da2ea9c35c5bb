"""SeedSlot forward: gradient isolation per stage (DESIGN §6) and gated blending (§5)."""

from __future__ import annotations

import copy

import pytest
import torch

from esper_core import SeedStage
from esper_shell.gated_blend import GatedBlend
from esper_shell.model import MorphogeneticModel
from tests.shell_helpers import bring_to, images, tiny_cnn

SLOT = "r1c0"


def _pair(stage: SeedStage, **kwargs) -> tuple[MorphogeneticModel, torch.nn.Module]:  # noqa: ANN003
    host = tiny_cnn()
    bare = copy.deepcopy(host)
    model = MorphogeneticModel(host, ["r0c0", SLOT, "r2c0"])
    bring_to(model, SLOT, stage, **kwargs)
    return model, bare


def _features(channels: int = 8, seed: int = 3) -> torch.Tensor:
    return torch.randn(4, channels, 6, 6, generator=torch.Generator().manual_seed(seed)).requires_grad_(True)


class TestTraining:
    def test_output_equals_bare_host_exactly(self) -> None:
        model, bare = _pair(SeedStage.TRAINING)
        x = images()
        assert torch.equal(model(x), bare(x))

    def test_host_gradients_equal_bare_host_exactly(self) -> None:
        model, bare = _pair(SeedStage.TRAINING)
        x = images()
        model(x).square().sum().backward()
        bare(x).square().sum().backward()
        for (name, p), q in zip(model.host.named_parameters(), bare.parameters(), strict=True):
            assert torch.equal(p.grad, q.grad), name

    def test_seed_receives_nonzero_gradient(self) -> None:
        model, _ = _pair(SeedStage.TRAINING)
        model(images()).square().sum().backward()
        grads = [p.grad for p in model.seed_parameters(SLOT)]
        assert grads and all(g is not None for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)

    def test_no_grad_forward_skips_the_seed(self) -> None:
        model, _ = _pair(SeedStage.TRAINING)
        calls = []
        model.slot(SLOT).seed.register_forward_hook(lambda *args: calls.append(1))
        with torch.no_grad():
            model(images())
        assert calls == []


class TestBlending:
    def test_host_direct_path_gradient_scales_by_one_minus_alpha(self) -> None:
        model, _ = _pair(SeedStage.BLENDING, blend_steps_done=2)
        slot = model.slot(SLOT)
        alpha = slot.alpha
        assert 0.0 < alpha < 1.0
        h = _features()
        slot(h).sum().backward()
        assert torch.allclose(h.grad, torch.full_like(h, 1.0 - alpha))

    def test_output_is_lerp_of_host_and_seed(self) -> None:
        model, _ = _pair(SeedStage.BLENDING, blend_steps_done=3)
        slot = model.slot(SLOT)
        h = _features()
        expected = h + slot.alpha * (slot.seed(h) - h)
        assert torch.allclose(slot(h), expected, atol=1e-6)


class TestIntegrated:
    @pytest.mark.parametrize("stage", [SeedStage.PROBATIONARY, SeedStage.FOSSILIZED])
    def test_gradient_reaches_upstream_through_the_seed(self, stage: SeedStage) -> None:
        model, _ = _pair(stage)
        slot = model.slot(SLOT)
        h = _features()
        slot(h).sum().backward()
        probe = h.detach().requires_grad_(True)
        (expected,) = torch.autograd.grad(slot.seed(probe).sum(), probe)
        assert torch.allclose(h.grad, expected)
        assert not torch.allclose(h.grad, torch.ones_like(h))

    @pytest.mark.parametrize("stage", [SeedStage.PROBATIONARY, SeedStage.FOSSILIZED])
    def test_alpha_is_exactly_one(self, stage: SeedStage) -> None:
        model, _ = _pair(stage)
        assert model.slot(SLOT).alpha == 1.0


class TestGated:
    def test_reported_alpha_is_mean_of_alphas_forward_used(self) -> None:
        model, _ = _pair(SeedStage.BLENDING, blend="gated", blend_steps_done=2)
        slot = model.slot(SLOT)
        used = []
        slot.gate.register_forward_hook(lambda _m, _i, out: used.append(out.detach().flatten()))
        ramp = slot.state.blend.current_step / slot.state.blend.total_steps
        for seed in range(3):
            slot(_features(seed=seed))
        expected = (ramp * torch.cat(used)).mean().item()
        assert slot.alpha == pytest.approx(expected, rel=1e-6)

    def test_state_alpha_after_epoch_step_is_the_measured_mean(self) -> None:
        model, _ = _pair(SeedStage.BLENDING, blend="gated", blend_steps_done=2)
        model(images())
        measured = model.slot(SLOT).alpha
        model.step_epoch()
        history = model.slot(SLOT).state
        assert history.stage is SeedStage.BLENDING
        assert history.alpha == pytest.approx(measured)

    def test_gate_parameters_get_gradients_and_train_with_the_seed(self) -> None:
        model, _ = _pair(SeedStage.BLENDING, blend="gated", blend_steps_done=2)
        slot = model.slot(SLOT)
        model(images()).square().sum().backward()
        gate_params = list(slot.gate.parameters())
        seed_group = {id(p) for p in model.seed_parameters(SLOT)}
        assert all(id(p) in seed_group for p in gate_params)
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in gate_params)

    def test_gate_sees_detached_host_features(self) -> None:
        gate = GatedBlend(8)
        h = _features()
        gate(h).sum().backward()
        assert h.grad is None

    def test_gate_has_no_single_alpha(self) -> None:
        with pytest.raises(NotImplementedError, match="per sample"):
            GatedBlend(8).get_alpha()

    def test_gate_is_dropped_on_integration(self) -> None:
        model, _ = _pair(SeedStage.PROBATIONARY, blend="gated")
        assert model.slot(SLOT).gate is None
        assert not any(".gate." in key for key in model.state_dict())


class TestGatedMeasurementCountsTrainingForwardsOnly:
    def test_eval_forwards_leave_the_measured_alpha_unchanged(self) -> None:
        model, _ = _pair(SeedStage.BLENDING, blend="gated", blend_steps_done=2)
        slot = model.slot(SLOT)
        slot(_features(seed=1))
        measured = slot.alpha
        slot.eval()
        with torch.no_grad():
            slot(_features(seed=2) * 10.0)
        assert slot.alpha == measured
