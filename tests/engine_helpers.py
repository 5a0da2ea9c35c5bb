"""Run configs that make every lifecycle stage happen within a few epochs of digits."""

from __future__ import annotations

from esper_core import BlendAlgorithm, HeuristicConfig, RunConfig, SignalConfig


def eager_config(*, epochs: int = 8, blend: BlendAlgorithm = BlendAlgorithm.LINEAR, **changes: object) -> RunConfig:
    """A heuristic that germinates at once in every slot, so short runs exercise the lifecycle."""
    return RunConfig(
        epochs=epochs,
        heuristic=HeuristicConfig(
            min_epoch=1, plateau_epochs=0, max_concurrent=3, blueprints=("conv_light", "depthwise"), blend=blend
        ),
        signals=SignalConfig(stabilization_epochs=1, stabilization_rel_improvement=1.0),
        **changes,  # type: ignore[arg-type]
    )
