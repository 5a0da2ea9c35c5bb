"""The paired outcome protocol: every arm on the same seeds, each compared with the static host.

For one task: per seed, the static run (cached) and then each arm in order, so that a
from-scratch arm finds the architecture it copies and an interrupted comparison still has
whole seeds. ``summarize`` gives, per arm, mean ± std of final accuracy and parameters and
the paired difference to static with its 95 % t-interval and win count (``stats``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from esper_core import ConfigError, RunConfig
from esper_shell.engine.device import MachineConfig
from esper_shell.outcome.arms import STATIC, Arm, ArmRun, check_arms, run_arm, run_static
from esper_shell.outcome.cache import default_machine
from esper_shell.outcome.stats import mean_std, paired_difference
from esper_shell.tasks import get_task

# Told before each run (result None) and after it (its result): task, seed, arm name.
ProgressHook = Callable[[str, int, str, ArmRun | None], None]

SEEDS_MESSAGE = "The paired protocol needs at least 2 distinct seeds for an interval, got {seeds}."


@attrs.frozen(kw_only=True)
class TaskOutcome:
    """Every run of one comparison: ``runs[arm][i]`` is that arm's run on ``seeds[i]``."""

    task: str
    seeds: tuple[int, ...]
    runs: dict[str, tuple[ArmRun, ...]]


@attrs.frozen(kw_only=True)
class ArmSummary:
    """One (task, arm) row; the paired fields are None for the static arm itself."""

    task: str
    arm: str
    n_seeds: int
    final_acc_mean: float
    final_acc_std: float
    params_mean: float
    paired_diff_mean: float | None
    paired_diff_ci95: tuple[float, float] | None
    wins: int | None
    seeds: tuple[int, ...]
    final_acc: tuple[float, ...]
    paired_diffs: tuple[float, ...] | None


def check_seeds(seeds: Sequence[int]) -> tuple[int, ...]:
    """At least two distinct seeds, each once: an interval needs two differences."""
    seeds = tuple(seeds)
    if len(set(seeds)) < 2 or len(set(seeds)) != len(seeds):
        raise ConfigError(SEEDS_MESSAGE.format(seeds=list(seeds)), value=seeds)
    return seeds


def compare(
    task: str,
    arms: Sequence[Arm],
    seeds: Sequence[int],
    *,
    config: RunConfig | None = None,
    machine: MachineConfig | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    progress: ProgressHook | None = None,
) -> TaskOutcome:
    """Run static and every arm on every seed of ``task``; ``config`` defaults to the task preset's."""
    arms = tuple(arms)
    check_arms(arms)
    seeds = check_seeds(seeds)
    config = config if config is not None else get_task(task).run_config()
    machine = machine if machine is not None else default_machine(task)
    hook: ProgressHook = progress if progress is not None else (lambda *_: None)
    runs: dict[str, list[ArmRun]] = {STATIC: [], **{arm.name: [] for arm in arms}}
    for seed in seeds:
        hook(task, seed, STATIC, None)
        done = {STATIC: run_static(task, config, seed, machine=machine, cache_dir=cache_dir, use_cache=use_cache)}
        hook(task, seed, STATIC, done[STATIC])
        for arm in arms:
            hook(task, seed, arm.name, None)
            done[arm.name] = run_arm(arm, task, config, seed, machine=machine, earlier=done)
            hook(task, seed, arm.name, done[arm.name])
        for name, result in done.items():
            runs[name].append(result)
    return TaskOutcome(task=task, seeds=seeds, runs={name: tuple(results) for name, results in runs.items()})


def summarize(outcome: TaskOutcome) -> list[ArmSummary]:
    """One row per arm, static first; differences are arm − static per seed, in points."""
    static = [run.final_accuracy for run in outcome.runs[STATIC]]
    rows = []
    for name, runs in outcome.runs.items():
        finals = [run.final_accuracy for run in runs]
        acc_mean, acc_std = mean_std(finals)
        params_mean, _ = mean_std([float(run.params) for run in runs])
        paired: dict[str, Any] = {
            "paired_diff_mean": None,
            "paired_diff_ci95": None,
            "wins": None,
            "paired_diffs": None,
        }
        if name != STATIC:
            diffs = tuple(arm - base for arm, base in zip(finals, static))
            difference = paired_difference(diffs)
            paired = {
                "paired_diff_mean": difference.mean,
                "paired_diff_ci95": (difference.low, difference.high),
                "wins": difference.wins,
                "paired_diffs": diffs,
            }
        rows.append(
            ArmSummary(
                task=outcome.task,
                arm=name,
                n_seeds=len(runs),
                final_acc_mean=acc_mean,
                final_acc_std=acc_std,
                params_mean=params_mean,
                seeds=outcome.seeds,
                final_acc=tuple(finals),
                **paired,
            )
        )
    return rows
