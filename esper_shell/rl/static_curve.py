"""The paired static run's accuracy curve for an episode's seed, for the accuracy-gap reward.

Every episode of seed ``s`` is compared with the static run of the same config on ``s``
(same data split, host init and batch order), so the reward measures what the controller
added and not how lucky the seed was. Static runs are deterministic functions of their
config, so they come from the on-disk cache (``static_baseline``): trained once per seed,
then read back by every later training run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from esper_core import RunConfig
from esper_shell.engine.device import MachineConfig
from esper_shell.outcome.cache import static_baseline
from esper_shell.rl.env import StaticCurve


def paired_static_curve(config: RunConfig, machine: MachineConfig, *, cache_dir: Path | None = None) -> StaticCurve:
    """seed -> the validation accuracies, epoch by epoch, of ``config``'s static run on that seed."""

    def curve(seed: int) -> Sequence[float]:
        return static_baseline(config.task, config, seed, machine=machine, cache_dir=cache_dir).accuracies

    return curve
