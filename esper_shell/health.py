"""Gradient health: how strongly each seed is learning relative to the host.

G2 lets a seed start blending only when its parameter-normalised gradient is a meaningful
fraction of the host's. Measuring is sampled (every ``every`` steps) and kept on the device
as tensors, so it costs no host/device synchronisation inside the training loop.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import attrs
import torch
from attrs.validators import ge, gt, lt
from torch import nn


def batched_grad_norm(grads: Sequence[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of each tensor, as one vector on the first tensor's device.

    ``torch._foreach_norm`` does this in a few fused kernels; it is private API, so fall back
    to one norm per tensor where it is missing. Norms of tensors on other devices are moved
    to the first one's device before stacking.
    """
    if not grads:
        return torch.zeros(0)
    foreach_norm = getattr(torch, "_foreach_norm", None)
    norms = foreach_norm(list(grads)) if foreach_norm is not None else [g.norm() for g in grads]
    device = norms[0].device
    return torch.stack([n.to(device) for n in norms])


def total_grad_norm(params: Iterable[nn.Parameter]) -> tuple[torch.Tensor, int]:
    """Global L2 norm of the gradients present and the parameter count they cover."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(()), 0
    norms = batched_grad_norm(grads)
    return norms.square().sum().sqrt(), sum(g.numel() for g in grads)


@attrs.frozen(kw_only=True)
class HealthConfig:
    every: int = attrs.field(default=10, validator=ge(1))
    ema: float = attrs.field(default=0.9, validator=[ge(0.0), lt(1.0)])
    eps: float = attrs.field(default=1e-8, validator=gt(0.0))


@attrs.frozen
class GradientHealth:
    seed_grad_norm: float
    host_grad_norm: float
    ratio: float | None
    finite: bool


class GradientHealthMonitor:
    """Per-slot EMA of ``(seed/√n_seed) / (host/√n_host + eps)`` and of gradient finiteness."""

    def __init__(self, config: HealthConfig | None = None) -> None:
        self.config = config or HealthConfig()
        self._ratio: dict[str, torch.Tensor] = {}
        self._last: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._finite: dict[str, torch.Tensor] = {}

    def due(self, step: int) -> bool:
        return step % self.config.every == 0

    def measure(self, host_params: Iterable[nn.Parameter], seeds: dict[str, Iterable[nn.Parameter]]) -> None:
        """Sample the current gradients (call after backward, before the optimizer zeroes them)."""
        host_norm, host_count = total_grad_norm(host_params)
        host_scaled = host_norm / math.sqrt(max(host_count, 1))
        for slot_id, params in seeds.items():
            seed_norm, seed_count = total_grad_norm(params)
            if seed_count == 0:
                continue
            ratio = (seed_norm / math.sqrt(seed_count)) / (host_scaled + self.config.eps)
            finite = torch.isfinite(ratio) & torch.isfinite(host_norm)
            previous = self._ratio.get(slot_id)
            ema = self.config.ema
            self._ratio[slot_id] = ratio if previous is None else ema * previous + (1.0 - ema) * ratio
            self._finite[slot_id] = finite if slot_id not in self._finite else self._finite[slot_id] & finite
            self._last[slot_id] = (seed_norm, host_norm)

    def report(self, slot_id: str) -> GradientHealth | None:
        """Read one slot's figures (synchronises with the device: call once per epoch)."""
        if slot_id not in self._ratio:
            return None
        seed_norm, host_norm = self._last[slot_id]
        finite = bool(self._finite[slot_id].item())
        ratio = self._ratio[slot_id].item()
        return GradientHealth(
            seed_grad_norm=seed_norm.item(),
            host_grad_norm=host_norm.item(),
            ratio=ratio if math.isfinite(ratio) else None,
            finite=finite,
        )

    def state_dict(self) -> dict[str, dict[str, torch.Tensor]]:
        return {
            "ratio": dict(self._ratio),
            "seed_norm": {slot: norms[0] for slot, norms in self._last.items()},
            "host_norm": {slot: norms[1] for slot, norms in self._last.items()},
            "finite": dict(self._finite),
        }

    def load_state_dict(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        self._ratio = dict(state["ratio"])
        self._last = {slot: (state["seed_norm"][slot], state["host_norm"][slot]) for slot in state["seed_norm"]}
        self._finite = dict(state["finite"])

    def forget(self, slot_id: str) -> None:
        """Drop a slot's history when its seed goes (a new seed starts from scratch)."""
        for table in (self._ratio, self._last, self._finite):
            table.pop(slot_id, None)
