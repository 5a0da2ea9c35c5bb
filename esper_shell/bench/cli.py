"""`esper-train bench ...` and `python -m esper_shell.bench ...`: benchmarks that print ratios."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from esper_core import EsperError
from esper_shell.bench import counterfactual, ddp, outcome, overhead, rl

bench_app = typer.Typer(
    help="Benchmarks: each prints figures measured side by side in one run.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


AT_LEAST_ONE_MESSAGE = "{option} {value} measures nothing; give at least 1."


def _at_least_one(option: str, value: int) -> None:
    if value < 1:
        typer.echo(f"Error: {AT_LEAST_ONE_MESSAGE.format(option=option, value=value)}", err=True)
        raise typer.Exit(code=2)


@bench_app.command("overhead")
def overhead_command(
    repeats: Annotated[int, typer.Option(help="Timed steps per candidate.")] = overhead.OverheadConfig().repeats,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="Run host and input channels_last.")] = False,
) -> None:
    """What slots cost over the bare host, and checkpoints over torch.save/load."""
    _at_least_one("--repeats", repeats)
    typer.echo(overhead.report(overhead.OverheadConfig(repeats=repeats, channels_last=channels_last)))


@bench_app.command("counterfactual")
def counterfactual_command(
    repeats: Annotated[
        int, typer.Option(help="Timed passes per candidate.")
    ] = counterfactual.CounterfactualConfig().repeats,
) -> None:
    """Fused counterfactual validation against a plain pass and the naive 1 + n passes."""
    _at_least_one("--repeats", repeats)
    typer.echo(counterfactual.report(counterfactual.CounterfactualConfig(repeats=repeats)))


@bench_app.command("outcome")
def outcome_command(
    task: Annotated[
        list[str] | None, typer.Option(help="Tasks (repeat the flag; default mnist1d and synthetic).")
    ] = None,
    seeds: Annotated[int, typer.Option(help="Paired seeds 0..N-1 (at least 2).")] = outcome.OutcomeOptions().seeds,
    arm: Annotated[
        list[str] | None,
        typer.Option(
            help="Arms besides static (repeat): heuristic, from-scratch, fixed, policy (default heuristic, from-scratch, plus fixed/policy when given)."
        ),
    ] = None,
    fixed: Annotated[
        list[str] | None, typer.Option(help="A fixed-schedule entry EPOCH:SLOT:BLUEPRINT (repeat for more).")
    ] = None,
    policy: Annotated[Path | None, typer.Option(help="A policy file (RUN_DIR/policy.pt) for the policy arm.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs per run (default: each task preset's).")] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir", help="Static-run cache (default $ESPER_CACHE_DIR/static or ~/.cache/esper/static)."
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Train the static runs again, and keep nothing.")
    ] = False,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write one object per (task, arm) here.")] = None,
    plot_path: Annotated[
        Path | None, typer.Option("--plot", help="Write a PNG of the paired differences here.")
    ] = None,
) -> None:
    """Paired outcome protocol: static and each arm on the same seeds, differences with 95 % t-intervals."""
    options = outcome.OutcomeOptions(
        tasks=tuple(task) if task else outcome.OutcomeOptions().tasks,
        seeds=seeds,
        arms=tuple(arm or ()),
        fixed=tuple(fixed or ()),
        policy=policy,
        epochs=epochs,
        cache_dir=cache_dir,
        use_cache=not no_cache,
        json_path=json_path,
        plot_path=plot_path,
    )
    try:
        rows = outcome.run(options, Console(stderr=True))
    except EsperError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(outcome.report(rows))


@bench_app.command("rl")
def rl_command(
    budget: Annotated[
        float, typer.Option(min=1.0, help="Training budget in seconds (static pool, warm start and PPO).")
    ] = rl.RLBenchConfig().budget_seconds,
    eval_seeds: Annotated[
        int, typer.Option("--eval-seeds", min=2, help="Held-out paired evaluation seeds (1000, 1001, ...).")
    ] = len(rl.RLBenchConfig().eval_seeds),
    workers: Annotated[int, typer.Option(min=1, help="Env worker processes.")] = rl.RLBenchConfig().workers,
    no_warm_start: Annotated[
        bool, typer.Option("--no-warm-start", help="PPO from a uniform policy, without plan search and imitation.")
    ] = False,
    no_wide: Annotated[bool, typer.Option("--no-wide", help="Skip the six-slot grid.")] = False,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the figures here as JSON.")] = None,
    plot_path: Annotated[Path | None, typer.Option("--plot", help="Write the learning curve here as a PNG.")] = None,
) -> None:
    """Train the learned controller on a budget, then compare it with the heuristic and static on held-out seeds."""
    config = rl.RLBenchConfig(
        budget_seconds=budget,
        eval_seeds=tuple(range(1000, 1000 + eval_seeds)),
        workers=workers,
        warm_start=not no_warm_start,
        wide_grid=not no_wide,
    )
    try:
        result = rl.run(config, json_path=json_path, plot_path=plot_path)
    except EsperError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(rl.report(result))


@bench_app.command("ddp")
def ddp_command(
    task: Annotated[str, typer.Option(help="Task preset.")] = ddp.DDPBenchConfig().task,
    repeats: Annotated[int, typer.Option(help="Timed epochs of each kind.")] = ddp.DDPBenchConfig().repeats,
) -> None:
    """Data-parallel throughput for 1 and 2 ranks on this machine: samples/s, communication share, PPO env-steps/s."""
    _at_least_one("--repeats", repeats)
    typer.echo(ddp.report(ddp.DDPBenchConfig(task=task, repeats=repeats)))
