"""The learned controller: what it costs per epoch, how fast envs run, and what it achieves.

Three figures, measured in one run on one machine:

- controller overhead: features + masks + normaliser + policy forward + reward per env
  step, as a fraction of that env's epoch (building its host included) — target <= 5 %;
- env-epochs per second for ``n_envs`` = 1, 2, 4 (rollout and PPO update together; envs
  run one after the other, so this shows what batching the policy forward saves);
- outcome after a fixed small PPO budget: the greedy learned policy against the heuristic
  and the static host, same task, epochs and evaluation seeds (unseen in training).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import attrs

from esper_core import RunConfig
from esper_core.ppo_config import PPOConfig
from esper_shell.engine.run import final_metrics, start, train
from esper_shell.rl.controller import load_policy_controller
from esper_shell.rl.train import PPORun, run_update, start_ppo, train_ppo
from esper_shell.rl.policy_file import policy_payload
from esper_shell.checkpoint import atomic_torch_save
from pathlib import Path
import tempfile


@attrs.frozen(kw_only=True)
class RLBenchConfig:
    task: str = "digits"
    # PPO training budget of the outcome comparison, in episodes (over all envs).
    episodes: int = 24
    episode_epochs: int = 20
    n_envs: int = 2
    # Evaluation seeds, far from the training episodes' seeds (seed + episode index).
    eval_seeds: tuple[int, ...] = (1000, 1001, 1002)
    throughput_envs: tuple[int, ...] = (1, 2, 4)
    throughput_epochs: int = 5
