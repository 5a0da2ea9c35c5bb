"""Learning outcome: the heuristic against the static baseline, same host, data and epochs."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import attrs

from esper_core import RunConfig
from esper_shell.bench.progress import Steps, bench_steps
from esper_shell.engine.run import final_metrics, start, train


@attrs.frozen(kw_only=True)
class OutcomeConfig:
    tasks: tuple[str, ...] = ("digits", "synthetic")
    seeds: tuple[int, ...] = (0, 1, 2)
    controllers: tuple[str, ...] = ("static", "heuristic")


def _mean_std(values: Sequence[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):6.2f} ± {spread:5.2f}"


def run_one(task: str, controller: str, seed: int, steps: Steps | None = None) -> dict[str, float]:
    trainer, _ = start(RunConfig(task=task, controller=controller, seed=seed), None)
    label = f"{task} {controller} seed {seed}"
    if steps is not None:

        def on_batch(done: int, epoch: int) -> None:
            steps.show(f"{label}: epoch {epoch + 1}/{trainer.total_epochs}, batch {done}")

        trainer.on_batch = on_batch
    train(trainer, None)
    if steps is not None:
        steps.advance()
    metrics = final_metrics(trainer)
    metrics["added_params"] = metrics["params"] - metrics["host_params"]
    return metrics


def report(config: OutcomeConfig) -> str:
    lines = [f"outcome benchmark: seeds {list(config.seeds)}, task presets' epochs; mean ± std over seeds"]
    header = f"  {'task':<10} {'controller':<10} {'final acc %':>15} {'best acc %':>15} {'added params':>13} {'fossilized':>10} {'seconds':>8}"
    lines.append(header)
    with bench_steps("bench outcome", len(config.tasks) * len(config.controllers) * len(config.seeds)) as steps:
        lines += _rows(config, steps)
    return "\n".join(lines)


def _rows(config: OutcomeConfig, steps: Steps) -> list[str]:
    lines = []
    for task in config.tasks:
        finals: dict[str, list[float]] = {}
        for controller in config.controllers:
            runs = [run_one(task, controller, seed, steps) for seed in config.seeds]
            finals[controller] = [r["final_accuracy"] for r in runs]
            lines.append(
                f"  {task:<10} {controller:<10} {_mean_std(finals[controller]):>15} "
                f"{_mean_std([r['best_accuracy'] for r in runs]):>15} "
                f"{statistics.mean(r['added_params'] for r in runs):>13.0f} "
                f"{statistics.mean(r['fossilized_seeds'] for r in runs):>10.1f} "
                f"{statistics.mean(r['seconds'] for r in runs):>8.1f}"
            )
        if {"static", "heuristic"} <= finals.keys():
            gains = [h - s for h, s in zip(finals["heuristic"], finals["static"], strict=True)]
            wins = sum(g > 0 for g in gains)
            lines.append(
                f"  {task:<10} heuristic - static, paired by seed: {_mean_std(gains)} points "
                f"(better in {wins} of {len(gains)})"
            )
    return lines
