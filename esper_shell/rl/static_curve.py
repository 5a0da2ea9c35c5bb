"""The paired static run's accuracy curve for an episode's seed, for the accuracy-gap reward.

Every episode of seed ``s`` is compared with the static run of the same config on ``s``
(same data split, host init and batch order), so the reward measures what the controller
added and not how lucky the seed was. Static runs are deterministic functions of their
config, so they come from the on-disk cache (``static_baseline``): trained once per seed,
then read back by every later training run.

A frozen record rather than a closure: it pickles, so env worker processes (``ProcessVecEnv``)
read (or train) the curves of their own episodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs

from esper_core import RunConfig
from esper_shell.engine.device import MachineConfig
from esper_shell.outcome.cache import static_baseline


@attrs.frozen(kw_only=True)
class PairedStaticCurve:
    """seed -> the validation accuracies, epoch by epoch, of ``config``'s static run on that seed."""

    config: RunConfig
    machine: MachineConfig
    cache_dir: Path | None = None

    def __call__(self, seed: int) -> Sequence[float]:
        config = self.config
        return static_baseline(config.task, config, seed, machine=self.machine, cache_dir=self.cache_dir).accuracies
