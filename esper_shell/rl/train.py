"""PPO for the lifecycle controller, read top to bottom: rollout, advantages, update, log, checkpoint.

One update = one episode in each of ``n_envs`` envs (``episode_epochs`` steps each, one
host epoch per step), so a rollout never cuts an episode. The episode's end is the run's
end: the learning-rate schedule has decayed, the final accuracy is the outcome the terminal
reward pays, and no epoch follows. It is therefore a **termination** (no bootstrap, the
terminal bonus is paid), not a time-limit truncation of a process that would go on.

The policy samples with its own ``torch.Generator`` (each env's ``Trainer`` reseeds the
global RNG), and every episode's seed comes from the episode counter, so a run resumed
from a checkpoint continues exactly as the uninterrupted run would have.

Under torchrun (``collective``) the envs are spread over the ranks and the policy is shared
(``esper_shell.rl.distributed``); rank 0 writes the run directory, and the checkpoint holds
every rank's sampling generator, so a resume with the same world size continues exactly.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import torch

from esper_core import ConfigError, RunConfig
from esper_core.features import feature_layout
from esper_core.gae import gae
from esper_core.ppo_config import PPOConfig, entropy_coef
from esper_core.rewards import ACCURACY_GAP
from esper_core.serialization import from_primitives, to_primitives
from esper_shell.checkpoint import is_format
from esper_shell.distributed.collective import Collective, SingleProcess, on_root
from esper_shell.engine.device import MachineConfig
from esper_shell.engine.restore import PPO_FIELDS, check_fields, fits
from esper_shell.errors import CheckpointError, unwrap
from esper_shell.rl.batch import ActionBatch, MaskBatch, ObservationBatch, concat, factored_actions, observe
from esper_shell.rl.distributed import gather_observations, local_envs, rank_seed
from esper_shell.rl.normalize import NormaliserConfig, ObservationNormaliser, RewardScaler
from esper_shell.rl.offered import preset_blueprints
from esper_shell.rl.policy import PolicyNetwork
from esper_shell.rl.policy_file import Policy, policy_from_payload, policy_payload
from esper_shell.rl.ppo import RolloutBatch, UpdateStats, ppo_update
from esper_shell.rl.run_files import PPODirectory
from esper_shell.rl.static_curve import PairedStaticCurve
from esper_shell.rl.telemetry import PPOEventStream
from esper_shell.rl.workers import make_envs
from esper_shell.tasks import PresetTasks, get_task

CHECKPOINT_FORMAT = "esper.ppo"
# 2: UpdateLog gained update_seconds, env_steps_per_second and mean_accuracy_gap; approx_kl is measured after the update.
CHECKPOINT_VERSION = 2

NOT_A_PPO_RUN_MESSAGE = "{path} is not an Esper PPO checkpoint (expected format {fmt!r} version {version})."
WORLD_SIZE_MESSAGE = (
    "{path} was trained by {saved} process(es) and this launch has {world}: resume it with the same "
    "world size (torchrun --nproc_per_node {saved} ..., or no torchrun for 1)."
)


@attrs.frozen(kw_only=True)
class UpdateLog:
    """One update's figures. Rewards are the environment's (unscaled); accuracies are percentages."""

    update: int
    episodes: int
    mean_reward: float
    mean_final_accuracy: float
    mean_params: float
    entropy: float
    approx_kl: float
    policy_loss: float
    value_loss: float
    stopped_early: bool
    # Refused actions / env steps: exact masks keep it at 0.
    illegal_fraction: float
    rollbacks: int
    # Wall time of the envs (building the episode's hosts, then every epoch: apply, train, validate), and of
    # the controller around them (features, masks, normaliser, policy forward, reward).
    env_seconds: float
    controller_seconds: float
    # The whole update (rollout and learning) on the wall clock, and its env steps (= host epochs) per second.
    update_seconds: float
    env_steps_per_second: float
    # Final accuracy − the paired static run's (points), over the update's episodes; None without static runs.
    mean_accuracy_gap: float | None


class PPORun:
    """Everything one PPO training run holds: envs, policy, optimizer, normalisers, RNG and counters."""

    def __init__(
        self,
        config: RunConfig,
        ppo: PPOConfig,
        *,
        episodes: int,
        machine: MachineConfig | None = None,
        collective: Collective | None = None,
        workers: int = 1,
    ) -> None:
        preset = get_task(config.task)
        self.collective = collective or SingleProcess()
        self.machine = machine or MachineConfig(threads=preset.threads)
        # An episode is a whole run: its learning-rate schedule spans the episode's epochs.
        self.config = attrs.evolve(config, training=attrs.evolve(config.training, epochs=ppo.episode_epochs))
        # ``workers`` processes step the envs (1: this one); a machine matter, so not in the checkpoint.
        self.envs = make_envs(
            self.config,
            PresetTasks(name=config.task, batch_size=self.config.training.batch_size, data_dir=self.machine.data_dir),
            n_envs=local_envs(ppo.n_envs, self.collective),
            reward=ppo.reward,
            machine=self.machine,
            static_curve=PairedStaticCurve(config=self.config, machine=self.machine)
            if ppo.reward.mode == ACCURACY_GAP
            else None,
            seed_pool=ppo.seed_pool,
            workers=workers,
        )
        self.ppo = ppo
        self.episodes = episodes
        self.layout = feature_layout(self.config.slots, preset_blueprints(preset))
        torch.manual_seed(config.seed)
        network = PolicyNetwork(
            self.layout.global_size, self.layout.slot_size, len(self.layout.blueprints), hidden=ppo.hidden
        )
        normaliser = ObservationNormaliser(self.layout.global_size, self.layout.slot_size, NormaliserConfig())
        self.policy = Policy(network=network, normaliser=normaliser, features=ppo.features, mask_value=ppo.mask_value)
        self.optimizer = torch.optim.Adam(network.parameters(), lr=ppo.lr, eps=ppo.adam_eps)
        self.reward_scaler = RewardScaler(self.envs.n_envs, gamma=ppo.gamma, config=NormaliserConfig())
        self.generator = torch.Generator().manual_seed(rank_seed(config.seed, self.collective))
        self.episodes_done = 0
        self.history: list[UpdateLog] = []

    @property
    def finished(self) -> bool:
        return self.episodes_done >= self.episodes

    def state_dict(self) -> dict[str, Any]:
        """Tensors and primitives only: the checkpoint loads with the default ``torch.load``.

        Every rank calls it (the ranks' generators are gathered); rank 0 writes it.
        """
        generators = self.collective.all_gather_objects(self.generator.get_state())
        return {
            "world_size": self.collective.world_size,
            "rank_generators": generators,
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "run_config": to_primitives(self.config),
            "machine": to_primitives(self.machine),
            "ppo_config": to_primitives(self.ppo),
            "episodes": self.episodes,
            "episodes_done": self.episodes_done,
            "policy": policy_payload(self.policy, self.layout, self.ppo),
            "optimizer": self.optimizer.state_dict(),
            "reward_scaler": self.reward_scaler.state_dict(),
            "generator": self.generator.get_state(),
            "history": [attrs.asdict(log) for log in self.history],
        }

    def load_state_dict(self, state: dict[str, Any], *, path: Path) -> None:
        """Check that the checkpoint is this run's (slots, features, blueprints), then restore it."""
        policy = policy_from_payload(state["policy"], self.layout, path=path, same_slots=True)
        self.policy.network.load_state_dict(policy.network.state_dict())
        fits("optimizer", path, copy.deepcopy(self.optimizer).load_state_dict, state["optimizer"])
        fits("reward_scaler", path, copy.deepcopy(self.reward_scaler).load_state_dict, state["reward_scaler"])
        generator = state.get("rank_generators", [state["generator"]])[self.collective.rank]
        fits("generator", path, torch.Generator().set_state, generator)
        fits("history", path, lambda logs: [UpdateLog(**log) for log in logs], state["history"])
        self.policy.network.load_state_dict(policy.network.state_dict())
        self.policy.normaliser.load_state_dict(policy.normaliser.state_dict())
        self.optimizer.load_state_dict(state["optimizer"])
        self.reward_scaler.load_state_dict(state["reward_scaler"])
        self.generator.set_state(generator)
        self.episodes_done = state["episodes_done"]
        self.history = [UpdateLog(**log) for log in state["history"]]


def run_update(run: PPORun) -> UpdateLog:
    """Collect one episode per env with the current policy, then improve the policy on it."""
    ppo, envs, policy, layout = run.ppo, run.envs, run.policy, run.layout
    gates = run.config.lifecycle.gates
    controller_seconds = 0.0
    update_started = time.perf_counter()

    # 1. Rollout: every env plays one episode; the policy acts for all envs at once.
    b_obs: list[ObservationBatch] = []
    b_masks: list[MaskBatch] = []
    b_actions: list[ActionBatch] = []
    logprobs, values, rewards, raw_rewards, terminals = [], [], [], [], []
    refused = rollbacks = 0
    started = time.perf_counter()
    collective = run.collective
    observations = envs.reset(run.episodes_done + collective.rank * envs.n_envs)
    env_seconds = time.perf_counter() - started
    for _step in range(ppo.episode_epochs):
        started = time.perf_counter()
        raw, masks = observe(observations, layout, ppo.features, gates)
        policy.normaliser.update(gather_observations(raw, collective))
        obs = policy.normaliser.normalise(raw)
        with torch.no_grad():
            step = policy.network.act(obs, masks, mask_value=ppo.mask_value, generator=run.generator)
        actions = factored_actions(step.actions, layout.blueprints)
        controller_seconds += time.perf_counter() - started

        results = envs.step(actions)

        step_rewards = torch.tensor([result.reward.total for result in results], dtype=torch.float64)
        b_obs.append(obs)
        b_masks.append(masks)
        b_actions.append(step.actions)
        logprobs.append(step.log_prob)
        values.append(step.value)
        rewards.append(run.reward_scaler.scale(step_rewards, collective.all_gather))
        raw_rewards.append(step_rewards)
        terminals.append([result.terminal for result in results])
        refused += sum(result.refused for result in results)
        rollbacks += sum(result.rollback for result in results)
        controller_seconds += sum(result.reward_seconds for result in results)
        env_seconds += sum(result.epoch_seconds for result in results)
        observations = tuple(result.observation for result in results)
    run.reward_scaler.end_episodes()

    # 2. Advantages: GAE along each env's episode. Its last step is terminal (module docstring), so
    #    V(s_{t+1}) is needed only inside the episode, where it is the next step's value.
    b_values = torch.stack(values)  # (T, E)
    b_rewards = torch.stack(rewards)
    b_advantages = torch.zeros_like(b_values)
    b_returns = torch.zeros_like(b_values)
    steps = ppo.episode_epochs
    for env in range(envs.n_envs):
        env_values = b_values[:, env].tolist()
        advantages, returns = gae(
            b_rewards[:, env].tolist(),
            env_values,
            next_values=(*env_values[1:], 0.0),
            terminated=[step_terminals[env] for step_terminals in terminals],
            truncated=(False,) * steps,
            gamma=ppo.gamma,
            lam=ppo.gae_lambda,
        )
        b_advantages[:, env] = torch.tensor(advantages)
        b_returns[:, env] = torch.tensor(returns)

    # 3. Update: epochs x minibatches of the clipped objective over the flattened rollout.
    batch = RolloutBatch(
        observations=concat(b_obs),
        masks=concat(b_masks),
        actions=concat(b_actions),
        log_prob=torch.cat(logprobs),
        values=b_values.flatten(),
        advantages=b_advantages.flatten(),
        returns=b_returns.flatten(),
    )
    stats: UpdateStats = ppo_update(
        policy.network,
        run.optimizer,
        batch,
        config=ppo,
        entropy_coefficient=entropy_coef(run.episodes_done / run.episodes, ppo),
        generator=run.generator,
        collective=collective,
    )

    # 4. Log: figures over every rank's envs (the wall times are this rank's).
    run.episodes_done += ppo.n_envs
    outcomes = [outcome for part in collective.all_gather_objects(envs.outcomes()) for outcome in part]
    counts = collective.all_reduce_sum(torch.tensor([refused, rollbacks]))
    refused, rollbacks = int(counts[0]), int(counts[1])
    update_seconds = time.perf_counter() - update_started
    log = UpdateLog(
        update=len(run.history),
        episodes=run.episodes_done,
        mean_reward=collective.all_gather(torch.stack(raw_rewards).sum(dim=0)).mean().item(),
        mean_final_accuracy=sum(o["final_accuracy"] for o in outcomes) / len(outcomes),
        mean_params=sum(o["params"] for o in outcomes) / len(outcomes),
        entropy=stats.entropy,
        approx_kl=stats.approx_kl,
        policy_loss=stats.policy_loss,
        value_loss=stats.value_loss,
        stopped_early=stats.stopped_early,
        illegal_fraction=refused / (steps * ppo.n_envs),
        rollbacks=rollbacks,
        env_seconds=env_seconds,
        controller_seconds=controller_seconds,
        update_seconds=update_seconds,
        env_steps_per_second=steps * ppo.n_envs / update_seconds,
        mean_accuracy_gap=_mean_of(outcomes, "accuracy_gap"),
    )
    run.history.append(log)
    return log


def _mean_of(outcomes: list[dict[str, float]], key: str) -> float | None:
    values = [outcome[key] for outcome in outcomes if key in outcome]
    return sum(values) / len(values) if values else None


UpdateCallback = Callable[[PPORun, UpdateLog], None]


def start_ppo(
    config: RunConfig,
    ppo: PPOConfig,
    *,
    episodes: int,
    run_dir: Path | None,
    machine: MachineConfig | None = None,
    collective: Collective | None = None,
    workers: int = 1,
) -> tuple[PPORun, PPODirectory | None]:
    """A fresh run; the task, slots and run directory are checked before any file is written.

    The directory is rank 0's alone (None on the other ranks).
    """
    collective = collective or SingleProcess()
    run = PPORun(config, ppo, episodes=episodes, machine=machine, collective=collective, workers=workers)
    directory = PPODirectory(run_dir) if run_dir is not None else None
    if directory is not None:
        saved = {
            "run": to_primitives(run.config),
            "ppo": to_primitives(ppo),
            "machine": to_primitives(run.machine),
            "device": str(run.envs.device),
            "world_size": collective.world_size,
        }
        on_root(collective, lambda: directory.create(saved))
    return run, directory if collective.is_root else None


def resume_ppo(
    run_dir: Path, *, episodes: int | None = None, collective: Collective | None = None, workers: int = 1
) -> tuple[PPORun, PPODirectory | None]:
    """Continue a stopped run (to ``episodes`` in all, if given, else to its own target), with its world size."""
    collective = collective or SingleProcess()
    directory = PPODirectory(run_dir)
    state = on_root(collective, lambda: _load(directory, collective.world_size))
    config = _structure(state["run_config"], RunConfig, directory.checkpoint)
    ppo = _structure(state["ppo_config"], PPOConfig, directory.checkpoint)
    machine = _structure(state["machine"], MachineConfig, directory.checkpoint)
    episodes = state["episodes"] if episodes is None else episodes
    run = PPORun(config, ppo, episodes=episodes, machine=machine, collective=collective, workers=workers)
    run.load_state_dict(state, path=directory.checkpoint)
    return run, directory if collective.is_root else None


def _load(directory: PPODirectory, world_size: int) -> dict[str, Any]:
    state = directory.load()
    if not is_format(state, CHECKPOINT_FORMAT, CHECKPOINT_VERSION):
        raise CheckpointError(
            NOT_A_PPO_RUN_MESSAGE.format(path=directory.checkpoint, fmt=CHECKPOINT_FORMAT, version=CHECKPOINT_VERSION)
        )
    check_fields(state, PPO_FIELDS, "ppo run", directory.checkpoint)
    saved = state.get("world_size", 1)
    if saved != world_size:
        message = WORLD_SIZE_MESSAGE.format(path=directory.path, saved=saved, world=world_size)
        raise ConfigError(message, value=world_size)
    return state


def train_ppo(
    run: PPORun,
    directory: PPODirectory | None,
    *,
    on_update: UpdateCallback | None = None,
    stop_after: int | None = None,
) -> list[UpdateLog]:
    """Updates until ``run.episodes`` episodes are done (or ``stop_after`` more updates), checkpointing each.

    The envs are closed on the way out, however it goes (env workers stopped; a later call starts them again).
    """
    done = 0
    events = PPOEventStream(run, directory) if directory is not None else None
    try:
        while not run.finished and (stop_after is None or done < stop_after):
            log = run_update(run)
            done += 1
            state = run.state_dict()  # on every rank: it gathers the ranks' generators
            if directory is not None:
                directory.save(state, policy_payload(run.policy, run.layout, run.ppo))
                directory.write_summary({"updates": [attrs.asdict(entry) for entry in run.history]})
                events.update(run, log)
            if on_update is not None:
                on_update(run, log)
    finally:
        run.envs.close()
    if events is not None:
        events.close(run)
    if directory is not None:
        directory.close()  # the last checkpoint is durable, and the directory free, once train returns
    return run.history


def _structure(data: Any, cls: type, path: Path) -> Any:
    return unwrap(from_primitives(data, cls), CheckpointError, prefix=f"{path}: ")
