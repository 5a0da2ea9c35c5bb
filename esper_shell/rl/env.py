"""A batch of training runs as RL environments: one env step = one epoch of one host.

Each env is a ``Trainer`` with its own host, data order, RNG stream and optimizers, built
fresh for every episode (so its learning-rate schedule spans the episode). Envs run one
after the other on the calling thread; what is batched across envs is the policy's forward
pass, done by the caller between ``reset``/``step`` calls.

Every env epoch runs through ``Trainer.run_epoch``, the same generator ``esper-train`` drives:
the policy's action is sent at the very point a controller's decision would be, so a policy
trained here sees, when it drives ``esper-train heuristic --policy``, the same observation at
the same moment. Every epoch, a rolled-back one too, asks for one decision, so every
episode has exactly ``config.training.epochs`` steps.

Seeds: episode ``k`` (counted over the whole training run, across envs) runs with
``config.seed + k`` (``config.seed + k % seed_pool`` with a pool), so episodes see new host
initialisations, data splits and batch orders, and a resumed run replays exactly the
episodes it would have run.

A reward paid against the paired static run (``mode="accuracy_gap"``) needs that run's
accuracy curve for the episode's seed: ``static_curve(seed)`` gives it (the caller wires in
the cached ``static_baseline``), read once per episode and handed to the pure reward.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import attrs

from esper_core import FactoredAction, Observation, RunConfig
from esper_core.rewards import RewardBreakdown, RewardConfig, compute_reward
from esper_shell.engine.device import MachineConfig
from esper_shell.engine.summary import final_metrics
from esper_shell.engine.trainer import EpochSteps, Trainer, conclude
from esper_shell.tasks import Task

ACTION_COUNT_MESSAGE = "step() needs one action per env ({envs}), got {actions}."
NOT_RESET_MESSAGE = "The envs have no episode running: call reset() first (and again after a terminal step)."

# seed -> the task an episode of that seed trains on (a preset draws its data split from the seed).
TaskFactory = Callable[[int], Task]
# seed -> the paired static run's validation accuracy after each epoch.
StaticCurve = Callable[[int], Sequence[float]]


@attrs.frozen(kw_only=True)
class EnvStep:
    """One env's step: its next observation and reward, and what happened on the way."""

    observation: Observation
    reward: RewardBreakdown
    terminal: bool
    # The action was refused by the engine (exact masks make this a bug; it is counted, not hidden).
    refused: bool
    # The governor rolled back the epoch this step's action concluded.
    rollback: bool
    # Wall time of the epochs themselves (apply, train, validate) and of computing the reward.
    epoch_seconds: float
    reward_seconds: float


@attrs.frozen(kw_only=True)
class EpisodeRecord:
    """What an env's episode was, for its telemetry: its seed and the op asked for at each epoch."""

    seed: int
    actions: tuple[str, ...]


@attrs.define
class _Env:
    trainer: Trainer
    # The epoch waiting for this env's action; None once the episode has ended.
    pending: EpochSteps | None
    observation: Observation
    # The paired static run's accuracies for this episode's seed; None when the reward needs none.
    static_accuracies: Sequence[float] | None = None


class VecEnv:
    """``n_envs`` trainers of ``config`` (``config.training.epochs`` = the episode), one epoch per ``step``."""

    def __init__(
        self,
        config: RunConfig,
        make_task: TaskFactory,
        *,
        n_envs: int,
        reward: RewardConfig,
        machine: MachineConfig | None = None,
        static_curve: StaticCurve | None = None,
        seed_pool: int | None = None,
    ) -> None:
        self.config = config
        self.seed_pool = seed_pool
        self.static_curve = static_curve
        self.make_task = make_task
        self.machine = machine or MachineConfig()
        # Check everything (slots, data, device) now, by building one env, before a caller writes any file.
        self.device = Trainer(config, make_task(config.seed), machine=self.machine).device
        self.n_envs = n_envs
        self.reward_config = reward
        self.envs: list[_Env] = []

    @property
    def trainers(self) -> list[Trainer]:
        return [env.trainer for env in self.envs]

    @property
    def running(self) -> bool:
        return bool(self.envs) and self.envs[0].pending is not None

    def episode_seed(self, episode: int) -> int:
        return self.config.seed + (episode if self.seed_pool is None else episode % self.seed_pool)

    def reset(self, first_episode: int) -> tuple[Observation, ...]:
        """Start episodes ``first_episode .. first_episode + n_envs - 1`` and train their first epoch."""
        self.envs = []
        for index in range(self.n_envs):
            seed = self.episode_seed(first_episode + index)
            trainer = Trainer(attrs.evolve(self.config, seed=seed), self.make_task(seed), machine=self.machine)
            pending = trainer.run_epoch()
            static = self.static_curve(seed) if self.static_curve is not None else None
            self.envs.append(
                _Env(trainer=trainer, pending=pending, observation=next(pending), static_accuracies=static)
            )
        return tuple(env.observation for env in self.envs)

    def step(self, actions: Sequence[FactoredAction]) -> tuple[EnvStep, ...]:
        if not self.running:
            raise RuntimeError(NOT_RESET_MESSAGE)
        if len(actions) != self.n_envs:
            raise RuntimeError(ACTION_COUNT_MESSAGE.format(envs=self.n_envs, actions=len(actions)))
        return tuple(self._step_one(env, action) for env, action in zip(self.envs, actions, strict=True))

    def _step_one(self, env: _Env, action: FactoredAction) -> EnvStep:
        before = env.observation
        started = time.perf_counter()
        result = conclude(env.pending, action)
        terminal = env.trainer.finished
        if terminal:
            env.pending, env.observation = None, env.trainer.observation()
        else:
            env.pending = env.trainer.run_epoch()
            env.observation = next(env.pending)
        measured = time.perf_counter()
        reward = compute_reward(
            before,
            action,
            env.observation,
            terminal=terminal,
            config=self.reward_config,
            static_accuracies=env.static_accuracies,
        )
        return EnvStep(
            observation=env.observation,
            reward=reward,
            terminal=terminal,
            refused=result.refused,
            rollback=result.summary.rolled_back,
            epoch_seconds=measured - started,
            reward_seconds=time.perf_counter() - measured,
        )

    def outcomes(self) -> tuple[dict[str, float], ...]:
        """Each env's run as the engine reports it (final accuracy, parameters, ...): the episode's result.

        With a paired static run, also ``accuracy_gap``: final accuracy − the static run's, in points.
        """
        return tuple(self._outcome(env) for env in self.envs)

    def _outcome(self, env: _Env) -> dict[str, float]:
        metrics = final_metrics(env.trainer.history, env.trainer.model)
        if env.static_accuracies is not None:
            metrics["accuracy_gap"] = metrics["final_accuracy"] - env.static_accuracies[-1]
        return metrics

    def episodes(self) -> tuple[EpisodeRecord, ...]:
        """Each env's episode so far, as records: with env workers the trainers are in another process."""
        return tuple(
            EpisodeRecord(seed=env.trainer.config.seed, actions=tuple(s.action for s in env.trainer.history))
            for env in self.envs
        )

    def close(self) -> None:
        """Nothing to release (the envs live in this process); ``ProcessVecEnv`` stops its workers here."""
