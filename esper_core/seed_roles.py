"""What a seed's stage means for the model around it: one place answers, every layer asks.

The slot's forward pass, the model's routing, the seed optimizers, the checkpoint and the
engine's counterfactual measurement all need these answers; worked out separately in each,
they could drift apart.
"""

from __future__ import annotations

from esper_core.blending import BlendAlgorithm
from esper_core.stages import CONTRIBUTING_STAGES, ISOLATED_STAGES, SeedStage
from esper_core.state import SeedState


def isolates_gradients(stage: SeedStage, *, blend_gradient_to_host: bool = False) -> bool:
    """The seed sees detached host features, so no gradient reaches the host through it (DESIGN §6).

    ``blend_gradient_to_host`` is ``LifecycleConfig.blend_gradient_to_host``: it releases the
    detach while BLENDING.
    """
    if blend_gradient_to_host and stage is SeedStage.BLENDING:
        return False
    return stage in ISOLATED_STAGES


def has_gate(state: SeedState | None) -> bool:
    """A learned blend gate exists: gated blending, while BLENDING only."""
    return state is not None and state.stage is SeedStage.BLENDING and state.blend_algorithm is BlendAlgorithm.GATED


def is_routed(stage: SeedStage | None, *, with_grad: bool) -> bool:
    """The forward pass must visit the slot: its seed changes the output, or (training) receives gradient."""
    if stage is None:
        return False
    return stage in CONTRIBUTING_STAGES or (with_grad and stage is SeedStage.TRAINING)


def is_measured(state: SeedState | None) -> bool:
    """The seed is undecided and mixed in (alpha > 0): its counterfactual contribution is worth measuring."""
    return state is not None and state.stage in (SeedStage.BLENDING, SeedStage.PROBATIONARY) and state.alpha > 0.0
