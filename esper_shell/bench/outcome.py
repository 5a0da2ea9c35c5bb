"""`esper-train bench outcome`: the paired outcome protocol (``esper_shell.outcome``) from the command line.

Static (cached) and each arm on the same seeds of each task; a markdown table on stdout,
progress on stderr, optionally the JSON rows and a PNG of the paired differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from esper_core import ConfigError, Germination, HeuristicControllerConfig, RunConfig
from esper_shell.outcome import (
    FROM_SCRATCH,
    HEURISTIC,
    Arm,
    ArmRun,
    ArmSummary,
    compare,
    fixed_arm,
    from_scratch_arm,
    heuristic_arm,
    policy_arm,
    summarize,
)
from esper_shell.outcome.protocol import check_seeds
from esper_shell.outcome.report import plot, table, write_json
from esper_shell.tasks import get_task

FIXED = "fixed"
POLICY = "policy"
ARM_CHOICES = (HEURISTIC, FROM_SCRATCH, FIXED, POLICY)
DEFAULT_ARMS = (HEURISTIC, FROM_SCRATCH)

FIXED_SPEC_MESSAGE = "--fixed takes EPOCH:SLOT:BLUEPRINT, e.g. --fixed 2:r2c0:conv_light; got {spec!r}."
UNKNOWN_ARM_MESSAGE = "Unknown arm {arm!r}; choose from: {choices} (static always runs: it is the reference)."
FIXED_NEEDS_MESSAGE = "The fixed arm needs a schedule: add --fixed EPOCH:SLOT:BLUEPRINT (repeat for more seeds)."
POLICY_NEEDS_MESSAGE = "The policy arm needs a policy file: add --policy RUN_DIR/policy.pt."


@attrs.frozen(kw_only=True)
class OutcomeOptions:
    tasks: tuple[str, ...] = ("mnist1d", "synthetic")
    seeds: int = 12
    arms: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    policy: Path | None = None
    epochs: int | None = None
    cache_dir: Path | None = None
    use_cache: bool = True
    json_path: Path | None = None
    plot_path: Path | None = None


def parse_fixed(spec: str) -> Germination:
    parts = spec.split(":")
    if len(parts) != 3 or not parts[0].strip().isdigit():
        raise ConfigError(FIXED_SPEC_MESSAGE.format(spec=spec), value=spec)
    return Germination(int(parts[0]), parts[1].strip(), parts[2].strip())


def arm_names(options: OutcomeOptions) -> tuple[str, ...]:
    """The arms asked for, in protocol order; from-scratch brings the heuristic run it copies."""
    names = list(options.arms) or [*DEFAULT_ARMS]
    if not options.arms:
        names += [FIXED] if options.fixed else []
        names += [POLICY] if options.policy is not None else []
    for name in names:
        if name not in ARM_CHOICES:
            raise ConfigError(UNKNOWN_ARM_MESSAGE.format(arm=name, choices=", ".join(ARM_CHOICES)), value=name)
    if FROM_SCRATCH in names and HEURISTIC not in names:
        names.insert(0, HEURISTIC)
    return tuple(name for name in ARM_CHOICES if name in names)


def task_config(task: str, epochs: int | None) -> RunConfig:
    config = get_task(task).run_config()
    return config if epochs is None else attrs.evolve(config, training=attrs.evolve(config.training, epochs=epochs))


def build_arms(names: Sequence[str], options: OutcomeOptions, config: RunConfig) -> tuple[Arm, ...]:
    """The arms for one task; a fixed schedule blends like the task's heuristic, so only what/where/when differ."""
    arms = []
    for name in names:
        if name == HEURISTIC:
            arms.append(heuristic_arm())
        elif name == FROM_SCRATCH:
            arms.append(from_scratch_arm())
        elif name == FIXED:
            if not options.fixed:
                raise ConfigError(FIXED_NEEDS_MESSAGE)
            controller = config.controller
            blend = controller.heuristic.blend if isinstance(controller, HeuristicControllerConfig) else None
            arms.append(fixed_arm(tuple(parse_fixed(spec) for spec in options.fixed), blend=blend))
        elif options.policy is None:
            raise ConfigError(POLICY_NEEDS_MESSAGE)
        else:
            arms.append(policy_arm(options.policy))
    return tuple(arms)


def run(options: OutcomeOptions, console: Console) -> list[ArmSummary]:
    names = arm_names(options)
    plans = [(task, task_config(task, options.epochs)) for task in options.tasks]
    arms = {task: build_arms(names, options, config) for task, config in plans}
    seeds = check_seeds(range(options.seeds))
    progress = Progress(
        TextColumn("[bold]outcome"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
    )
    rows: list[ArmSummary] = []
    with progress:
        bar = progress.add_task("outcome", total=len(plans) * len(seeds) * (1 + len(names)), status="")

        def hook(task: str, seed: int, arm: str, result: ArmRun | None) -> None:
            if result is None:
                progress.update(bar, status=f"{task} seed {seed} {arm}")
            else:
                progress.advance(bar)
                progress.console.log(f"{task} seed {seed} {arm}: {result.final_accuracy:.2f} %, {result.params} params")

        for task, config in plans:
            outcome = compare(
                task,
                arms[task],
                seeds,
                config=config,
                cache_dir=options.cache_dir,
                use_cache=options.use_cache,
                progress=hook,
            )
            rows += summarize(outcome)
    if options.json_path is not None:
        write_json(options.json_path, rows)
    if options.plot_path is not None:
        plot(options.plot_path, rows)
    return rows


def report(rows: Sequence[ArmSummary]) -> str:
    header = (
        "paired outcome: final validation accuracy; difference = arm − static on the same seed, "
        "mean with 95 % t-interval; better in = seeds with a positive difference"
    )
    return header + "\n" + table(rows)
