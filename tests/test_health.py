"""batched_grad_norm and the GradientHealthMonitor ratio G2 reads."""

from __future__ import annotations

import math

import pytest
import torch

from esper_shell import health
from esper_shell.health import GradientHealthMonitor, HealthConfig, batched_grad_norm


def _grads() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(3, 4, generator=g), torch.randn(7, generator=g), torch.randn(2, 2, 2, generator=g)]


class TestBatchedGradNorm:
    def test_fast_path_equals_plain_norms(self) -> None:
        grads = _grads()
        assert torch.allclose(batched_grad_norm(grads), torch.stack([g.norm() for g in grads]))

    def test_fallback_without_foreach_norm_equals_plain_norms(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delattr(health.torch, "_foreach_norm", raising=False)
        grads = _grads()
        assert torch.allclose(batched_grad_norm(grads), torch.stack([g.norm() for g in grads]))

    def test_empty_input_gives_an_empty_vector(self) -> None:
        assert batched_grad_norm([]).numel() == 0


class TestMonitor:
    def _params(self, value: float, n: int) -> list[torch.nn.Parameter]:
        p = torch.nn.Parameter(torch.zeros(n))
        p.grad = torch.full((n,), value)
        return [p]

    def test_ratio_is_parameter_normalised(self) -> None:
        monitor = GradientHealthMonitor(HealthConfig(ema=0.0))
        monitor.measure(self._params(1.0, 100), {"r0c0": self._params(0.5, 4)})
        report = monitor.report("r0c0")
        # seed: norm 1.0 over 4 params -> 0.5 per sqrt(n); host: norm 10 over 100 -> 1.0
        assert report.ratio == pytest.approx(0.5, rel=1e-6)
        assert report.finite

    def test_ratio_is_an_exponential_moving_average(self) -> None:
        monitor = GradientHealthMonitor(HealthConfig(ema=0.9))
        monitor.measure(self._params(1.0, 4), {"r0c0": self._params(1.0, 4)})
        monitor.measure(self._params(1.0, 4), {"r0c0": self._params(2.0, 4)})
        assert monitor.report("r0c0").ratio == pytest.approx(0.9 * 1.0 + 0.1 * 2.0, rel=1e-5)

    def test_non_finite_seed_gradient_is_unhealthy(self) -> None:
        monitor = GradientHealthMonitor()
        monitor.measure(self._params(1.0, 4), {"r0c0": self._params(math.nan, 4)})
        report = monitor.report("r0c0")
        assert not report.finite and report.ratio is None

    def test_unmeasured_slot_has_no_report(self) -> None:
        assert GradientHealthMonitor().report("r0c0") is None

    def test_sampling_period(self) -> None:
        monitor = GradientHealthMonitor(HealthConfig(every=10))
        assert [s for s in range(25) if monitor.due(s)] == [0, 10, 20]
