"""Run configs that make every lifecycle stage happen within a few epochs of digits."""

from __future__ import annotations

import attrs

from esper_core import BlendAlgorithm, HeuristicConfig, HeuristicControllerConfig, RunConfig, SignalConfig
from esper_shell.tasks import get_task


def eager_config(*, epochs: int = 8, blend: BlendAlgorithm = BlendAlgorithm.LINEAR, **changes: object) -> RunConfig:
    """Digits' tuned run with a heuristic that germinates at once in every slot, so short runs exercise the lifecycle."""
    base = get_task("digits").run_config()
    heuristic = HeuristicConfig(
        min_epoch=1, plateau_epochs=0, max_concurrent=3, blueprints=("conv_light", "depthwise"), blend=blend
    )
    eager = {
        "training": attrs.evolve(base.training, epochs=epochs),
        "controller": HeuristicControllerConfig(heuristic=heuristic),
        "signals": SignalConfig(stabilization_epochs=1, stabilization_rel_improvement=1.0),
    }
    return attrs.evolve(base, **{**eager, **changes})  # type: ignore[arg-type]
