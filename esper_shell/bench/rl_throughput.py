"""PPO env-steps per second against the number of env worker processes, measured side by side.

A worker count is a machine setting (``esper-train ppo --workers``): the figures are the same
for any count, only the wall time changes. What is timed is whole PPO updates (``run_update``:
building every env's host and data for the update's new episodes, the episodes' epochs, the
policy forwards, the PPO update), because that is what a training run waits for.

One run per worker count is built first, its worker processes started and its hosts checked;
that start-up (seconds: each worker imports torch) is outside the timing, paid once per
training run. Then every run plays one untimed warm-up update and ``repeats`` timed ones, the
counts taking turns update by update, so that load from elsewhere hits every count alike; the
figure is the median update's rate.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import attrs

from esper_core import CustomControllerConfig
from esper_core.ppo_config import PPOConfig
from esper_shell.rl.train import PPORun, run_update
from esper_shell.tasks import get_task


def worker_scaling(
    task: str,
    n_envs: int,
    workers: Sequence[int],
    episode_epochs: int,
    *,
    repeats: int = 3,
    cached_data: bool = False,
) -> dict[int, float]:
    """Env-steps (host epochs) per second of whole PPO updates, for each worker count in ``workers``.

    Every update plays new episode seeds, so each env's data is generated inside the timed
    update (``mnist1d``: about 1.7 s a seed), as in a training run whose episodes never repeat
    a seed. ``cached_data=True`` replays the warm-up update's seeds instead, so every process
    finds its envs' data in its cache: the case of a training run drawing from a fixed seed pool.
    """
    config = attrs.evolve(get_task(task).run_config(), controller=CustomControllerConfig(name="ppo"))
    ppo = PPOConfig(n_envs=n_envs, episode_epochs=episode_epochs)
    runs = {count: PPORun(config, ppo, episodes=n_envs * (1 + repeats), workers=count) for count in workers}
    seconds: dict[int, list[float]] = {count: [] for count in workers}
    try:
        for round_ in range(1 + repeats):
            for count, run in runs.items():
                if cached_data:
                    run.episodes_done = 0
                started = time.perf_counter()
                run_update(run)
                if round_ > 0:  # round 0 is the warm-up
                    seconds[count].append(time.perf_counter() - started)
    finally:
        for run in runs.values():
            run.envs.close()
    steps = n_envs * episode_epochs
    return {count: steps / statistics.median(times) for count, times in seconds.items()}
