"""`esper-train bench rl`: train the learned controller on a wall-clock budget, then hold it to the protocol.

One run, on one machine:

1. **Training**, inside ``budget_seconds`` (everything counted: the paired static runs of the
   seed pool, trained as its episodes first need them, the warm start, PPO): the warm start (``esper_shell.rl.warm_start``: the
   heuristic and every per-episode plan, by successive halving, then imitation of the
   winner), then PPO updates while the budget lasts (an update is not started when the last
   one's time would overrun it).
2. **Evaluation** with the growth issue's paired protocol (``esper_shell.outcome``) on
   held-out seeds (outside the training pool): static, heuristic, and the greedy policy.
3. **The same policy on a six-slot grid**: the task's host with three blocks per stage, its
   weights unchanged (``PolicyController`` builds the layout from the run's slots), against
   that host's static run and the heuristic on the same seeds.

Also: env-steps per second of whole PPO updates with 1 and 2 worker processes, side by side.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import torch

from esper_core import (
    Controller,
    HeuristicController,
    SlotConfig,
    StaticControllerConfig,
    check_blueprints,
)
from esper_core.ppo_config import PPOConfig
from esper_shell.bench.progress import Steps, bench_steps
from esper_shell.bench.rl_throughput import worker_scaling
from esper_shell.config_file import DEFAULT_TASK
from esper_shell.errors import unwrap
from esper_shell.hosts import Conv1DHost
from esper_shell.outcome import HEURISTIC, STATIC, ArmRun, ArmSummary, compare, heuristic_arm, policy_arm, summarize
from esper_shell.outcome.arms import finished_run
from esper_shell.outcome.protocol import TaskOutcome
from esper_shell.outcome.report import table, to_json_rows
from esper_shell.outcome.stats import paired_difference
from esper_shell.rl.controller import load_policy_controller
from esper_shell.rl.policy_file import policy_payload
from esper_shell.rl.train import PPORun, UpdateLog, run_update
from esper_shell.rl.warm_start import WarmStart, warm_start
from esper_shell.runs import start
from esper_shell.tasks import Task, get_task

POLICY = "policy"
# The target is on the default task; the six-slot host below is built for it.
TASK = DEFAULT_TASK
# The six-slot grid: the default task's host with three blocks in each of its two stages, at
# half the width so that it stays about the default host's size (750 parameters against 626;
# at the default width, 2 642 parameters, static runs reach 98 % and leave nothing to grow).
WIDE_BLOCKS = (3, 3)
WIDE_BASE_CHANNELS = 4


@attrs.frozen(kw_only=True)
class RLBenchConfig:
    budget_seconds: float = 600.0
    n_envs: int = 2
    workers: int = 2
    # Held-out evaluation seeds: the training pool is seeds 0..seed_pool-1.
    eval_seeds: tuple[int, ...] = tuple(range(1000, 1012))
    warm_start: bool = True
    # Episodes per env per candidate in each halving round: 13 mnist1d candidates in 5 rounds of
    # 2 x 2 episodes are 27 candidate-rounds, 108 episodes; the winner is judged on 20 seeds.
    resets_per_round: int = 2
    # Training seeds 0..seed_pool-1: enough for every halving round to play new ones.
    seed_pool: int = 24
    # A halving round does not start once the warm start has used this share of the budget.
    warm_start_share: float = 0.5
    # PPO after a warm start fine-tunes: a small, constant entropy bonus keeps it near what it imitated.
    entropy: float = 0.01
    wide_grid: bool = True


@attrs.frozen(kw_only=True)
class Training:
    run: PPORun
    seconds: float
    warm_start: WarmStart | None
    # From the start (building the run, starting its workers) to the end of the warm start; the
    # pool's static runs are trained as the first episodes need them, so mostly inside it.
    warm_start_seconds: float
    history: tuple[UpdateLog, ...]


def ppo_config(config: RLBenchConfig) -> PPOConfig:
    epochs = get_task(TASK).training.epochs
    entropy = {"entropy_start": config.entropy, "entropy_end": config.entropy} if config.warm_start else {}
    return PPOConfig(n_envs=config.n_envs, episode_epochs=epochs, seed_pool=config.seed_pool, **entropy)


def train_on_budget(config: RLBenchConfig, steps: Steps) -> Training:
    """Static pool, warm start, then PPO updates until the budget would be overrun."""
    started = time.perf_counter()
    ppo = ppo_config(config)
    # The budget, not an episode count, ends training: the entropy schedule's progress stays near 0.
    run = PPORun(get_task(TASK).run_config(), ppo, episodes=1_000_000, workers=config.workers)
    try:
        warm = None
        if config.warm_start:
            steps.show("warm start: plan search")
            limit = config.warm_start_share * config.budget_seconds
            warm = warm_start(
                run,
                resets_per_round=config.resets_per_round,
                out_of_time=lambda: time.perf_counter() - started > limit,
            )
        warm_seconds = time.perf_counter() - started
        steps.advance()
        history: list[UpdateLog] = []
        while True:
            elapsed = time.perf_counter() - started
            # The slowest update so far stands for the next one: the budget is a limit, not a target.
            longest = max((log.update_seconds for log in history), default=0.0)
            if elapsed + longest > config.budget_seconds:
                break
            steps.show(f"ppo update {len(history)} ({elapsed:.0f} s of {config.budget_seconds:.0f})")
            history.append(run_update(run))
    finally:
        run.envs.close()
    steps.advance()
    return Training(
        run=run,
        seconds=time.perf_counter() - started,
        warm_start=warm,
        warm_start_seconds=warm_seconds,
        history=tuple(history),
    )


def throughput(config: RLBenchConfig, steps: Steps) -> dict[str, Any] | None:
    """Env-steps per second of whole PPO updates with 1 and ``config.workers`` workers, side by side.

    Seeds replayed (``cached_data``): a training run's episodes cycle over its seed pool, so
    after the first pass every worker finds its seeds' data and static runs cached.
    """
    if config.workers == 1:
        return None
    steps.show(f"throughput, 1 and {config.workers} workers")
    epochs = get_task(TASK).training.epochs
    rates = worker_scaling(TASK, config.n_envs, (1, config.workers), epochs, cached_data=True)
    steps.advance()
    return {
        "env_steps_per_second": {str(count): rate for count, rate in rates.items()},
        "ratio": rates[config.workers] / rates[1],
        "load_average": os.getloadavg()[0],
    }


def save_policy(run: PPORun, directory: Path) -> Path:
    path = directory / "policy.pt"
    torch.save(policy_payload(run.policy, run.layout, run.ppo), path)
    return path


def wide_task(seed: int, batch_size: int) -> Task:
    """The default task's data on a host of three blocks per stage: six slots."""

    def build_host() -> Conv1DHost:
        return Conv1DHost(WIDE_BLOCKS, base_channels=WIDE_BASE_CHANNELS, in_channels=1, num_classes=10)

    return attrs.evolve(get_task(TASK).task(seed, batch_size, None), name=f"{TASK}-wide", build_host=build_host)


def wide_grid(seeds: Sequence[int], policy_path: Path, steps: Steps) -> list[ArmSummary]:
    """Static, heuristic and the policy on the six-slot host, paired by seed."""
    preset = get_task(TASK)
    slots = SlotConfig.for_grid(len(WIDE_BLOCKS), WIDE_BLOCKS[0])
    base = attrs.evolve(preset.run_config(), task=f"{TASK}-wide", slots=slots)
    gates = base.lifecycle.gates
    heuristic = unwrap(check_blueprints(preset.heuristic, preset.heuristic.blueprints))
    controllers: dict[str, Callable[[], Controller[Any] | None]] = {
        STATIC: lambda: None,
        HEURISTIC: lambda: HeuristicController(heuristic, gates),
        POLICY: lambda: load_policy_controller(policy_path, slots, preset.heuristic.blueprints, gates=gates),
    }
    runs: dict[str, list[ArmRun]] = {name: [] for name in controllers}
    for seed in seeds:
        for name, make in controllers.items():
            steps.show(f"six slots, {name} seed {seed}")
            config = attrs.evolve(base, seed=seed)
            if name == STATIC:
                config = attrs.evolve(config, controller=StaticControllerConfig())
            run = start(wide_task(seed, config.training.batch_size), config, controller=make())
            runs[name].append(finished_run(run, seed))
            steps.advance()
    outcome = TaskOutcome(task=base.task, seeds=tuple(seeds), runs={name: tuple(done) for name, done in runs.items()})
    return summarize(outcome)


def evaluate(task: str, seeds: Sequence[int], policy_path: Path, steps: Steps) -> list[ArmSummary]:
    """Static (cached), heuristic and the greedy policy on held-out seeds: the growth issue's protocol."""

    def progress(_task: str, seed: int, arm: str, done: ArmRun | None) -> None:
        if done is None:
            steps.show(f"evaluation, {arm} seed {seed}")
        else:
            steps.advance()

    outcome = compare(task, (heuristic_arm(), policy_arm(policy_path, name=POLICY)), seeds, progress=progress)
    return summarize(outcome)


def versus(rows: Sequence[ArmSummary], arm: str, other: str) -> dict[str, Any]:
    """``arm`` − ``other`` on the same seeds (both paired with static, so static cancels)."""
    by_arm = {row.arm: row for row in rows}
    diffs = [a - b for a, b in zip(by_arm[arm].final_acc, by_arm[other].final_acc, strict=True)]
    difference = paired_difference(diffs)
    return {
        "mean": difference.mean,
        "ci95": [difference.low, difference.high],
        "wins": difference.wins,
        "n": len(diffs),
    }


def curve(training: Training) -> list[dict[str, Any]]:
    """Per PPO update: mean episode return and mean paired accuracy gap (final − static final, points)."""
    return [
        {
            "update": log.update,
            "episodes": log.episodes,
            "mean_return": log.mean_reward,
            "mean_accuracy_gap": log.mean_accuracy_gap,
            "approx_kl": log.approx_kl,
            "entropy": log.entropy,
            "env_steps_per_second": log.env_steps_per_second,
        }
        for log in training.history
    ]


def overhead(training: Training) -> dict[str, float] | None:
    """Features, masks, normaliser, policy forward and reward per PPO env step, against the env's own time."""
    history = training.history
    if not history:
        return None
    controller = sum(log.controller_seconds for log in history)
    env = sum(log.env_seconds for log in history)
    steps = training.run.episodes_done * training.run.ppo.episode_epochs
    return {
        "fraction": controller / env,
        "controller_ms_per_step": 1e3 * controller / steps,
        "env_ms_per_step": 1e3 * env / steps,
    }


def warm_start_record(training: Training) -> dict[str, Any] | None:
    if training.warm_start is None:
        return None
    result = training.warm_start.search
    return {
        "best": result.best,
        "episodes": result.episodes,
        "imitation_agreement": training.warm_start.agreement,
        "complete": result.complete,
        "candidates": {name: list(returns) for name, returns in result.returns.items()},
    }


def plot_curve(path: Path, training: Training, rows: Sequence[ArmSummary]) -> None:
    """Mean return and mean paired accuracy gap per update, with the evaluated arms' gaps for reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = curve(training)
    updates = [point["update"] for point in points]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(updates, [point["mean_return"] for point in points], marker="o", markersize=3)
    if training.warm_start is not None:
        search = training.warm_start.search
        best = search.returns[search.best]
        left.axhline(sum(best) / len(best), color="tab:purple", linestyle="--", label=f"warm start: {search.best}")
        left.legend(fontsize=8)
    left.set_title("mean episode return (accuracy gap − rent, points)")
    right.plot(updates, [point["mean_accuracy_gap"] for point in points], marker="o", markersize=3, label="training")
    colours = {HEURISTIC: "tab:orange", POLICY: "tab:green"}
    for row in rows:
        if row.arm in colours and row.paired_diff_mean is not None:
            right.axhline(row.paired_diff_mean, color=colours[row.arm], linestyle="--", label=f"{row.arm}, held-out")
    right.set_title("mean paired accuracy gap to static (points)")
    right.legend(fontsize=8)
    for axis in (left, right):
        axis.set_xlabel("PPO update (after the warm start)")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


@attrs.frozen(kw_only=True)
class BenchResult:
    """The JSON record, and the protocol's rows it was made from (for the printed tables)."""

    record: dict[str, Any]
    rows: list[ArmSummary]
    wide: list[ArmSummary] | None


def run(config: RLBenchConfig, *, json_path: Path | None, plot_path: Path | None) -> BenchResult:
    seeds = list(config.eval_seeds)
    # Throughput, the warm start, PPO, then 3 arms per evaluation seed on each grid.
    total = 3 + 3 * len(seeds) + (3 * len(seeds) if config.wide_grid else 0)
    with bench_steps("bench rl", total) as steps, tempfile.TemporaryDirectory() as scratch:
        scaling = throughput(config, steps)
        training = train_on_budget(config, steps)
        policy_path = save_policy(training.run, Path(scratch))
        rows = evaluate(TASK, seeds, policy_path, steps)
        wide = wide_grid(seeds, policy_path, steps) if config.wide_grid else None
    policy_row = next(row for row in rows if row.arm == POLICY)
    low = (policy_row.paired_diff_ci95 or (0.0, 0.0))[0]
    heuristic_row = next(row for row in rows if row.arm == HEURISTIC)
    record = {
        "task": TASK,
        "budget": {
            "limit_seconds": config.budget_seconds,
            "seconds": training.seconds,
            "warm_start_seconds": training.warm_start_seconds,
            "episodes": {
                "warm_start": training.warm_start.search.episodes if training.warm_start else 0,
                "ppo": training.run.episodes_done,
            },
            "updates": len(training.history),
            "n_envs": config.n_envs,
            "workers": config.workers,
        },
        "throughput": scaling,
        "controller_overhead": overhead(training),
        "arms": to_json_rows(rows),
        "policy_minus_heuristic": versus(rows, POLICY, HEURISTIC),
        "target": {
            "policy_interval_above_zero": low > 0.0,
            "policy_at_least_heuristic": (policy_row.paired_diff_mean or 0.0)
            >= (heuristic_row.paired_diff_mean or 0.0),
        },
        "six_slots": None
        if wide is None
        else {"arms": to_json_rows(wide), "policy_minus_heuristic": versus(wide, POLICY, HEURISTIC)},
        "warm_start": warm_start_record(training),
        "curve": curve(training),
    }
    if json_path is not None:
        Path(json_path).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if plot_path is not None:
        plot_curve(Path(plot_path), training, rows)
    return BenchResult(record=record, rows=rows, wide=wide)


def report(result: BenchResult) -> str:
    record = result.record
    budget = record["budget"]
    episodes = budget["episodes"]
    lines = [
        f"rl benchmark on {record['task']}: {budget['seconds']:.0f} s of training (limit {budget['limit_seconds']:.0f} s, "
        f"the pool's static runs included), {episodes['warm_start']} warm-start + "
        f"{episodes['ppo']} PPO episodes ({budget['updates']} updates, {budget['n_envs']} envs, {budget['workers']} workers)",
    ]
    scaling = record["throughput"]
    if scaling is not None:
        rates = scaling["env_steps_per_second"]
        lines.append(
            f"throughput: {' / '.join(f'{rate:.2f}' for rate in rates.values())} env-steps/s with "
            f"{' / '.join(rates)} workers: x{scaling['ratio']:.2f} (load average {scaling['load_average']:.2f})"
        )
    cost = record["controller_overhead"]
    if cost is not None:
        lines.append(
            f"controller overhead: {cost['fraction']:.2%} of env time ({cost['controller_ms_per_step']:.2f} ms "
            f"per env step vs {cost['env_ms_per_step']:.1f} ms of env)"
        )
    warm = record["warm_start"]
    if warm is not None:
        lines.append(
            f"warm start ({budget['warm_start_seconds']:.0f} s{'' if warm['complete'] else ', stopped early for time'}): "
            f"best of {len(warm['candidates'])} candidates {warm['best']!r}; imitation agreement "
            f"{warm['imitation_agreement']:.0%}"
        )
    lines += ["", table(result.rows)]
    versus_heuristic = record["policy_minus_heuristic"]
    low, high = versus_heuristic["ci95"]
    lines.append(
        f"\npolicy − heuristic, same seeds: {versus_heuristic['mean']:+.2f} [{low:+.2f}, {high:+.2f}], "
        f"policy better in {versus_heuristic['wins']}/{versus_heuristic['n']}"
    )
    target = record["target"]
    lines.append(
        f"target: policy − static interval above 0: {'met' if target['policy_interval_above_zero'] else 'MISSED'}; "
        f"policy ≥ heuristic: {'met' if target['policy_at_least_heuristic'] else 'MISSED'}"
    )
    if result.wide is not None:
        six = record["six_slots"]["policy_minus_heuristic"]
        lines += ["", "the same policy on the six-slot grid:", table(result.wide)]
        lines.append(
            f"policy − heuristic: {six['mean']:+.2f} [{six['ci95'][0]:+.2f}, {six['ci95'][1]:+.2f}], {six['wins']}/{six['n']}"
        )
    return "\n".join(lines)
