"""GatedBlend pools each topology's feature layout (DESIGN §5)."""

from __future__ import annotations

import pytest
import torch

from esper_shell.slot import SeedSlot


@pytest.mark.parametrize(
    ("topology", "features", "pooled_axes"),
    [("cnn", (4, 8, 5, 5), (2, 3)), ("conv1d", (4, 8, 40), (2,)), ("transformer", (4, 40, 8), (1,))],
)
def test_a_slots_gate_pools_every_axis_but_batch_and_channels(
    topology: str, features: tuple[int, ...], pooled_axes: tuple[int, ...]
) -> None:
    """(B, C, L) and (B, T, C) are both 3-D: the slot's topology, not the shape, says which axis is C."""
    gate = SeedSlot("r0c0", 8, topology)._new_gate()
    h = torch.randn(*features)
    expected = gate.net(h.mean(dim=pooled_axes)).view(-1, *(1,) * (h.dim() - 1))
    assert torch.allclose(gate(h), expected)
