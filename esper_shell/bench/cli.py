"""`esper-train bench ...` and `python -m esper_shell.bench ...`: benchmarks that print ratios."""

from __future__ import annotations

from typing import Annotated

import typer

from esper_shell.bench import counterfactual, ddp, outcome, overhead, rl

bench_app = typer.Typer(
    help="Benchmarks: each prints figures measured side by side in one run.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@bench_app.command("overhead")
def overhead_command(
    repeats: Annotated[int, typer.Option(help="Timed steps per candidate.")] = overhead.OverheadConfig().repeats,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="Run host and input channels_last.")] = False,
) -> None:
    """What slots cost over the bare host, and checkpoints over torch.save/load."""
    typer.echo(overhead.report(overhead.OverheadConfig(repeats=repeats, channels_last=channels_last)))


@bench_app.command("counterfactual")
def counterfactual_command(
    repeats: Annotated[
        int, typer.Option(help="Timed passes per candidate.")
    ] = counterfactual.CounterfactualConfig().repeats,
) -> None:
    """Fused counterfactual validation against a plain pass and the naive 1 + n passes."""
    typer.echo(counterfactual.report(counterfactual.CounterfactualConfig(repeats=repeats)))


@bench_app.command("outcome")
def outcome_command(
    task: Annotated[list[str] | None, typer.Option(help="Tasks (default digits and synthetic).")] = None,
    seeds: Annotated[int, typer.Option(help="Number of seeds (0..N-1).")] = 3,
) -> None:
    """Heuristic growth against the static baseline: accuracy, parameters and time per task."""
    config = outcome.OutcomeConfig(seeds=tuple(range(seeds)))
    if task:
        config = outcome.OutcomeConfig(tasks=tuple(task), seeds=config.seeds)
    typer.echo(outcome.report(config))


@bench_app.command("rl")
def rl_command(
    episodes: Annotated[
        int, typer.Option(help="PPO episodes before the outcome comparison.")
    ] = rl.RLBenchConfig().episodes,
) -> None:
    """The learned controller: overhead per epoch, env throughput, outcome vs heuristic and static."""
    typer.echo(rl.report(rl.RLBenchConfig(episodes=episodes)))


@bench_app.command("ddp")
def ddp_command(
    task: Annotated[str, typer.Option(help="Task preset.")] = ddp.DDPBenchConfig().task,
    repeats: Annotated[int, typer.Option(help="Timed epochs of each kind.")] = ddp.DDPBenchConfig().repeats,
) -> None:
    """Data-parallel throughput for 1 and 2 ranks on this machine: samples/s, communication share, PPO env-steps/s."""
    typer.echo(ddp.report(ddp.DDPBenchConfig(task=task, repeats=repeats)))
