"""The learned controller: what it costs per epoch, how fast envs run, and what it achieves.

Three figures, measured in one run on one machine:

- controller overhead: features + masks + normaliser + policy forward + reward per env
  step, as a fraction of that env's own time (building its host, then its epochs) over the
  whole PPO training run — target <= 5 %;
- env-epochs per second for ``n_envs`` = 1, 2, 4 (rollout and PPO update together; the envs
  run one after the other on one thread, only the policy forward is batched);
- outcome after a fixed small PPO budget: the greedy learned policy against the heuristic
  and the static host, on the same task and epochs, on evaluation seeds no training
  episode used.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import attrs

from esper_core import StaticControllerConfig
from esper_core.features import feature_layout
from esper_core.ppo_config import PPOConfig
from esper_shell.bench.progress import Steps, bench_steps
from esper_shell.rl.controller import PolicyController
from esper_shell.rl.offered import preset_blueprints
from esper_shell.rl.train import PPORun, run_update, train_ppo
from esper_shell.runs import start, train
from esper_shell.tasks import get_task


@attrs.frozen(kw_only=True)
class RLBenchConfig:
    task: str = "digits"
    # The outcome comparison's PPO budget, in episodes over all envs.
    episodes: int = 48
    episode_epochs: int = 25
    n_envs: int = 2
    # Training episode k uses seed k; these are far from every training seed.
    eval_seeds: tuple[int, ...] = (1000, 1001, 1002)
    throughput_envs: tuple[int, ...] = (1, 2, 4)
    throughput_epochs: int = 5


def env_epochs_per_second(task: str, n_envs: int, episode_epochs: int) -> float:
    """One PPO update (a rollout of one episode per env, then the update), in env-epochs per second."""
    ppo = PPOConfig(n_envs=n_envs, episode_epochs=episode_epochs)
    run = PPORun(get_task(task).run_config(), ppo, episodes=n_envs)
    started = time.perf_counter()
    run_update(run)
    return n_envs * episode_epochs / (time.perf_counter() - started)


def evaluate(task: str, controller: str, seed: int, epochs: int, run: PPORun) -> dict[str, float]:
    """One run of ``epochs`` under ``controller`` ('static', 'heuristic', or 'ppo': ``run``'s policy, greedy)."""
    preset = get_task(task)
    config = preset.run_config()
    config = attrs.evolve(config, seed=seed, training=attrs.evolve(config.training, epochs=epochs))
    policy = None
    if controller == "ppo":
        layout = feature_layout(config.slots, preset_blueprints(preset))
        policy = PolicyController(policy=run.policy, layout=layout, gates=config.lifecycle.gates)
    elif controller == "static":
        config = attrs.evolve(config, controller=StaticControllerConfig())
    evaluation = start(task, config, controller=policy)
    train(evaluation)
    metrics = evaluation.metrics()
    metrics["added_params"] = metrics["params"] - metrics["host_params"]
    return metrics


def _mean_std(values: Sequence[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):6.2f} ± {spread:5.2f}"


def report(config: RLBenchConfig) -> str:
    updates = -(-config.episodes // config.n_envs)
    total = len(config.throughput_envs) + updates + 3 * len(config.eval_seeds)
    with bench_steps("bench rl", total) as steps:
        return _report(config, steps)


def _report(config: RLBenchConfig, steps: Steps) -> str:
    lines = [f"rl benchmark on {config.task}: {config.episode_epochs}-epoch episodes"]

    lines.append(f"  env throughput ({config.throughput_epochs}-epoch episodes, rollout + update):")
    for n_envs in config.throughput_envs:
        steps.show(f"throughput, {n_envs} envs")
        rate = env_epochs_per_second(config.task, n_envs, config.throughput_epochs)
        steps.advance()
        lines.append(f"    n_envs {n_envs}: {rate:6.2f} env-epochs/s")

    ppo = PPOConfig(n_envs=config.n_envs, episode_epochs=config.episode_epochs)
    run = PPORun(get_task(config.task).run_config(), ppo, episodes=config.episodes)
    started = time.perf_counter()
    steps.show("ppo training")
    history = train_ppo(run, None, on_update=lambda current, log: steps.advance())
    training_seconds = time.perf_counter() - started
    controller = sum(log.controller_seconds for log in history)
    env = sum(log.env_seconds for log in history)
    steps = run.episodes_done * config.episode_epochs
    lines.append(
        f"  controller overhead: {controller / env:.2%} of env time "
        f"({1e3 * controller / steps:.2f} ms per env step vs {1e3 * env / steps:.1f} ms of env)"
    )
    illegal = sum(log.illegal_fraction for log in history) / len(history)
    lines.append(
        f"  ppo training: {run.episodes_done} episodes in {training_seconds:.0f} s; first/last update mean reward "
        f"{history[0].mean_reward:+.3f} / {history[-1].mean_reward:+.3f}, final acc "
        f"{history[0].mean_final_accuracy:.1f} / {history[-1].mean_final_accuracy:.1f} %; illegal actions {illegal:.2%}"
    )

    lines.append(f"  outcome on seeds {list(config.eval_seeds)}, mean ± std:")
    lines.append(f"    {'controller':<10} {'final acc %':>15} {'added params':>13} {'fossilized':>10}")
    for name in ("static", "heuristic", "ppo"):
        runs = []
        for seed in config.eval_seeds:
            steps.show(f"outcome, {name} seed {seed}")
            runs.append(evaluate(config.task, name, seed, config.episode_epochs, run))
            steps.advance()
        lines.append(
            f"    {name:<10} {_mean_std([r['final_accuracy'] for r in runs]):>15} "
            f"{statistics.mean(r['added_params'] for r in runs):>13.0f} "
            f"{statistics.mean(r['fossilized_seeds'] for r in runs):>10.1f}"
        )
    return "\n".join(lines)
