"""A batch of training runs as RL environments: one env step = one epoch of one host.

Each env is a ``Trainer`` with its own host, data order and optimizers, built fresh for
every episode with ``epochs = episode_epochs`` (so its learning-rate schedule spans the
episode). Envs run one after the other on the calling thread; what is batched across envs
is the policy's forward pass, done by the caller between ``reset``/``step`` calls.

Decision points are exactly those of ``Trainer.run_epoch``: an epoch is trained and
measured, then the controller decides, then the action is applied. ``reset`` trains the
first epoch; ``step`` applies the actions, closes the epoch and trains the next. A policy
trained here therefore sees, when it drives ``esper-train heuristic --policy``, the same
kind of observation at the same moment of an epoch.

Seeds: episode ``k`` (counted over the whole training run, across envs) runs with
``config.seed + k``, so every episode sees a new host initialisation, data split and
batch order, and a resumed run replays exactly the episodes it would have run.

A governor rollback in one env is that env's business: its trainer restores its snapshot
and the step reports ``rollback=True``; the other envs' data are kept as they are.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import attrs

from esper_core import FactoredAction, Observation, RunConfig
from esper_core.rewards import RewardBreakdown, RewardConfig, compute_reward
from esper_shell.engine.run import final_metrics
from esper_shell.engine.trainer import Trainer, resolve_config
from esper_shell.rl.errors import EnvStateError
from esper_shell.tasks import TaskSpec, get_task

ACTION_COUNT_MESSAGE = "step() needs one action per env ({envs}), got {actions}."
NOT_RESET_MESSAGE = "The envs have no episode running: call reset() first (and again after a terminal step)."


@attrs.frozen(kw_only=True)
class EnvStep:
    """One env's step: its next observation and reward, and what happened on the way."""

    observation: Observation
    reward: RewardBreakdown
    terminal: bool
    # The action was refused by the engine (exact masks make this a bug; it is counted, not hidden).
    refused: bool
    # The governor rolled this env's host back during the epoch just trained.
    rollback: bool
    # Wall time of the epoch itself (apply, close, train, validate) and of computing the reward.
    epoch_seconds: float
    reward_seconds: float


class VecEnv:
    """``n_envs`` trainers of ``config``'s task, reset together, one epoch per ``step``."""

    def __init__(self, config: RunConfig, *, n_envs: int, episode_epochs: int, reward: RewardConfig) -> None:
        self.task: TaskSpec = get_task(config.task)
        # The env trainers' own controller never decides (``step`` applies the policy's
        # actions); static is the one that needs nothing resolved.
        self.config = resolve_config(attrs.evolve(config, controller="static", epochs=episode_epochs), self.task)
        # Check everything (slots, data, device) now, by building one env, before a caller writes any file.
        Trainer(self.config, self.task)
        self.n_envs = n_envs
        self.reward_config = reward
        self.trainers: list[Trainer] = []
        self.observations: list[Observation] = []
        self.running = False

    def episode_seed(self, episode: int) -> int:
        return self.config.seed + episode

    def reset(self, first_episode: int) -> tuple[Observation, ...]:
        """Start episodes ``first_episode .. first_episode + n_envs - 1`` and train their first epoch."""
        self.trainers = [
            Trainer(attrs.evolve(self.config, seed=self.episode_seed(first_episode + index)), self.task)
            for index in range(self.n_envs)
        ]
        for trainer in self.trainers:
            trainer.train_epoch()
        self.observations = [trainer.observation() for trainer in self.trainers]
        self.running = True
        return tuple(self.observations)

    def step(self, actions: Sequence[FactoredAction]) -> tuple[EnvStep, ...]:
        if not self.running:
            raise EnvStateError(NOT_RESET_MESSAGE)
        if len(actions) != self.n_envs:
            raise EnvStateError(ACTION_COUNT_MESSAGE.format(envs=self.n_envs, actions=len(actions)))
        steps = tuple(self._step_one(index, action) for index, action in enumerate(actions))
        # Every env runs the same number of epochs, so all episodes end on the same step.
        self.running = not steps[0].terminal
        return steps

    def _step_one(self, index: int, action: FactoredAction) -> EnvStep:
        trainer, before = self.trainers[index], self.observations[index]
        started = time.perf_counter()
        accepted = trainer.act(action)
        trainer.close_epoch(action.op.name)
        terminal = trainer.finished
        rollback = not terminal and trainer.train_epoch() is None
        after = trainer.observation()
        measured = time.perf_counter()
        reward = compute_reward(before, action, after, terminal=terminal, config=self.reward_config)
        self.observations[index] = after
        return EnvStep(
            observation=after,
            reward=reward,
            terminal=terminal,
            refused=not accepted,
            rollback=rollback,
            epoch_seconds=measured - started,
            reward_seconds=time.perf_counter() - measured,
        )

    def outcomes(self) -> tuple[dict[str, float], ...]:
        """Each env's run as the engine reports it (final accuracy, parameters, ...): the episode's result."""
        return tuple(final_metrics(trainer) for trainer in self.trainers)
