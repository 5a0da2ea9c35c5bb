"""Data-parallel throughput: samples/s for 1 and 2 ranks, the communication share, PPO env-steps/s.

Measured in one run on this machine, ranks on the loopback (gloo, CPU, one thread each):

- training: the engine's own step (DDP view, this rank's shard of one global batch order,
  SGD) over one epoch of the task's batches; samples/s counts the global batch. The
  communication share is ``1 - t(no_sync) / t(sync)``: the same steps with DDP's gradient
  all-reduce skipped (``no_sync``) against the real ones, run alternately, so it is the
  time the all-reduce adds to a step, overlap with the backward pass included;
- PPO: env-steps/s of whole updates (rollout and update) for the same ``n_envs`` in all,
  stepped by 1 rank or spread over 2.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import attrs
import torch

from esper_core import CustomControllerConfig, RunConfig, StaticControllerConfig
from esper_core.ppo_config import PPOConfig
from esper_shell.distributed.collective import Collective, SingleProcess, train_shards
from esper_shell.distributed.launch import spawn
from esper_shell.engine.device import MachineConfig
from esper_shell.engine.trainer import Trainer
from esper_shell.rl.train import PPORun, run_update
from esper_shell.tasks import get_task


@attrs.frozen(kw_only=True)
class DDPBenchConfig:
    task: str = "digits"
    batch_size: int = 64
    # Timed epochs of each kind (sync and no_sync alternate).
    repeats: int = 5
    ppo_envs: int = 2
    ppo_episode_epochs: int = 4
    ppo_updates: int = 2


def _train_epoch(trainer: Trainer, network: torch.nn.Module, batches: list, *, sync: bool) -> None:
    for x, y, share in batches:
        quiet = contextlib.nullcontext() if sync or trainer.collective.world_size == 1 else network.no_sync()
        with quiet:
            loss = trainer.task.loss(network(x), y)
            trainer.host_optimizer.zero_grad(set_to_none=True)
            (loss * share).backward()
        trainer.host_optimizer.step()


def _training(collective: Collective, config: DDPBenchConfig) -> dict[str, float]:
    preset = get_task(config.task)
    run = attrs.evolve(preset.run_config(), controller=StaticControllerConfig())
    run = attrs.evolve(run, training=attrs.evolve(run.training, batch_size=config.batch_size))
    task = preset.task(run.seed, config.batch_size, None)
    trainer = Trainer(run, task, machine=MachineConfig(device="cpu"), collective=collective)
    network = trainer.parallel.for_training()
    trainer.model.train()
    batches = list(train_shards(task.train(trainer.data_generator, config.batch_size), collective))
    samples = sum(x.shape[0] for x, _, _ in batches) * collective.world_size
    _train_epoch(trainer, network, batches, sync=True)
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(config.repeats):
        for sync in (True, False):
            started = time.perf_counter()
            _train_epoch(trainer, network, batches, sync=sync)
            times[sync].append(time.perf_counter() - started)
    synced, unsynced = statistics.median(times[True]), statistics.median(times[False])
    return {"samples_per_s": samples / synced, "comm_share": max(0.0, 1.0 - unsynced / synced)}


def _ppo(collective: Collective, config: DDPBenchConfig) -> float:
    preset = get_task(config.task)
    run_config: RunConfig = attrs.evolve(preset.run_config(), controller=CustomControllerConfig(name="ppo"))
    ppo = PPOConfig(n_envs=config.ppo_envs, episode_epochs=config.ppo_episode_epochs)
    episodes = config.ppo_envs * config.ppo_updates
    run = PPORun(run_config, ppo, episodes=episodes, machine=MachineConfig(device="cpu"), collective=collective)
    started = time.perf_counter()
    while not run.finished:
        run_update(run)
    return episodes * config.ppo_episode_epochs / (time.perf_counter() - started)


def _measure(collective: Collective, config: DDPBenchConfig, out: Path) -> None:
    torch.set_num_threads(1)
    figures = {**_training(collective, config), "ppo_steps_per_s": _ppo(collective, config)}
    if collective.is_root:
        torch.save(figures, out / f"world{collective.world_size}.pt")


def measure(config: DDPBenchConfig) -> dict[int, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        _measure(SingleProcess(), config, out)
        spawn(_measure, config, out, world=2)
        return {world: torch.load(out / f"world{world}.pt", weights_only=True) for world in (1, 2)}


def report(config: DDPBenchConfig) -> str:
    figures = measure(config)
    one, two = figures[1], figures[2]
    lines = [
        f"data-parallel on {config.task} (global batch {config.batch_size}, gloo on the CPU, 1 thread a rank)",
        f"{'ranks':>5}  {'samples/s':>10}  {'comm share':>10}  {'PPO env-steps/s':>15}",
    ]
    for world, row in figures.items():
        share = "-" if world == 1 else f"{row['comm_share']:.0%}"
        lines.append(f"{world:>5}  {row['samples_per_s']:>10.0f}  {share:>10}  {row['ppo_steps_per_s']:>15.2f}")
    lines.append(
        f"2 ranks / 1 rank: training x{two['samples_per_s'] / one['samples_per_s']:.2f}, "
        f"PPO x{two['ppo_steps_per_s'] / one['ppo_steps_per_s']:.2f}"
    )
    return "\n".join(lines)
