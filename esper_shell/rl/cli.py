"""`esper-train ppo`: learn the lifecycle controller with PPO (registered on the main app by ``register``)."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import attrs
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from esper_core import ConfigError, CustomControllerConfig, EsperError, RunConfig, from_primitives, to_primitives
from esper_core.ppo_config import PPOConfig
from esper_shell.config_file import directory_option
from esper_shell.distributed.collective import Collective, close, from_environment
from esper_shell.engine.device import MachineConfig, resolve_device
from esper_shell.errors import unwrap
from esper_shell.rl.run_files import PPODirectory
from esper_shell.rl.train import PPORun, UpdateLog, resume_ppo, start_ppo, train_ppo
from esper_shell.rl.warm_start import DISTRIBUTED_MESSAGE
from esper_shell.rl.warm_start import warm_start as warm_up
from esper_shell.tasks import get_task

DEFAULT_TASK = "mnist1d"

DEFAULT_EPISODES = 100
RESUME_CONFLICT_MESSAGE = (
    "--resume continues a run with its saved config; drop {options} (only --episodes may change, to extend it)."
)
BAD_CONFIG_MESSAGE = "Bad configuration: {details}"
INTERRUPTED_MESSAGE = "Interrupted; continue with: esper-train ppo --resume {path}"
INTERRUPTED_NO_DIR_MESSAGE = "Interrupted; nothing was kept (pass --run-dir to make a PPO run resumable)."
EPISODES_MESSAGE = (
    "--episodes {episodes} is not a multiple of --n-envs {n_envs}: an update plays one episode in every env; "
    "choose a multiple, e.g. {n_envs} x k."
)


class RewardMode(str, enum.Enum):
    shaped = "shaped"
    sparse = "sparse"
    accuracy_gap = "accuracy_gap"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code=2)


def _build(cls: type, data: dict[str, Any]) -> Any:
    return unwrap(from_primitives(data, cls), ConfigError, prefix=BAD_CONFIG_MESSAGE.format(details=""))


def _configs(options: dict[str, Any], reward: RewardMode) -> tuple[RunConfig, PPOConfig, MachineConfig]:
    preset = get_task(options["task"] or DEFAULT_TASK)
    # The episodes are driven by the policy being learned: a controller object, not a built-in.
    run = to_primitives(attrs.evolve(preset.run_config(), controller=CustomControllerConfig(name="ppo")))
    run |= {key: options[key] for key in ("slots", "max_seeds", "seed") if options[key] is not None}
    config = _build(RunConfig, run)
    # An episode is a run of the task: its preset's epochs unless told otherwise.
    ppo_fields = {
        "n_envs": options["n_envs"],
        "episode_epochs": options["episode_epochs"] or preset.training.epochs,
        "seed_pool": options["seed_pool"],
    }
    ppo = _build(PPOConfig, {k: v for k, v in ppo_fields.items() if v is not None})
    machine = MachineConfig(device=options["device"] or "auto", threads=preset.threads, data_dir=options["data_dir"])
    return config, attrs.evolve(ppo, reward=attrs.evolve(ppo.reward, mode=reward.value)), machine


def _check_episodes(episodes: int, n_envs: int) -> None:
    if episodes % n_envs:
        raise ConfigError(EPISODES_MESSAGE.format(episodes=episodes, n_envs=n_envs), value=episodes)


def _status(log: UpdateLog) -> str:
    return (
        f"reward {log.mean_reward:+.3f}  acc {log.mean_final_accuracy:5.1f}%  "
        f"entropy {log.entropy:.2f}  kl {log.approx_kl:.4f}  {log.env_steps_per_second:.1f} env-steps/s"
    )


def _warm_start(run: PPORun) -> None:
    typer.echo("warm start: playing the heuristic and every plan on the training seeds ...", err=True)
    warm = warm_up(run)
    best = warm.search.returns[warm.search.best]
    typer.echo(
        f"warm start: {warm.search.best!r} is the best of {len(warm.search.returns)} candidates (mean return "
        f"{sum(best) / len(best):+.2f} over {len(best)} episodes, {warm.search.episodes} played); the policy "
        f"now matches {warm.agreement:.0%} of its decisions",
        err=True,
    )


def _drive(run: PPORun, directory: Any) -> None:
    progress = Progress(
        TextColumn("[bold]ppo {task.fields[name]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("episodes  {task.fields[status]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    with progress:
        task_id = progress.add_task(
            "", total=run.episodes, completed=run.episodes_done, name=run.config.task, status=""
        )

        def on_update(current: PPORun, log: UpdateLog) -> None:
            progress.update(task_id, completed=current.episodes_done, status=_status(log))

        train_ppo(run, directory, on_update=on_update)
    _print_summary(run, directory)


def _print_summary(run: PPORun, directory: Any) -> None:
    table = Table(title=f"ppo on {run.config.task} (seed {run.config.seed}, slots {' '.join(run.layout.slot_ids)})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("episodes", str(run.episodes_done))
    if run.history:
        last = run.history[-1]
        table.add_row("mean episode reward (last update)", f"{last.mean_reward:+.3f}")
        table.add_row("mean final accuracy (last update)", f"{last.mean_final_accuracy:.2f} %")
        table.add_row("illegal actions", f"{sum(log.illegal_fraction for log in run.history) / len(run.history):.3%}")
    if directory is not None:
        table.add_row("policy file", str(directory.policy))
    Console().print(table)


def ppo(
    episodes: Annotated[
        int | None, typer.Option(min=1, help=f"Episodes in all, over every env (default {DEFAULT_EPISODES}).")
    ] = None,
    n_envs: Annotated[
        int | None, typer.Option("--n-envs", min=1, help="Envs (hosts) trained side by side (default 2).")
    ] = None,
    task: Annotated[str | None, typer.Option(help="Task preset (default mnist1d).")] = None,
    slots: Annotated[
        list[str] | None, typer.Option(help="Slots to enable, e.g. --slots r0c0 r1c0 (default: the task's).")
    ] = None,
    reward: Annotated[
        RewardMode | None,
        typer.Option(
            help="accuracy_gap (the default: accuracy minus the paired static run's, minus rent), shaped (dense terms) or sparse (terminal accuracy only)."
        ),
    ] = None,
    max_seeds: Annotated[int | None, typer.Option("--max-seeds", help="Most seeds per episode.")] = None,
    run_dir: Annotated[
        str | None, typer.Option("--run-dir", help="Directory for config, checkpoint, policy.pt and summary.")
    ] = None,
    resume: Annotated[str | None, typer.Option(help="Continue the stopped PPO run in this directory.")] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Random seed; episode k trains its host with seed + k % --seed-pool (default 0)."),
    ] = None,
    seed_pool: Annotated[
        int | None,
        typer.Option(
            "--seed-pool",
            min=1,
            help="Training episodes cycle over this many seeds; each one's static run is trained once and cached (default 16).",
        ),
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="Device of the hosts: auto, cpu, cuda or cuda:N (the policy runs on CPU).")
    ] = None,
    episode_epochs: Annotated[
        int | None,
        typer.Option("--episode-epochs", min=1, help="Host epochs per episode (default: the task's epochs)."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Local copy of cifar10 / tinystories data.")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes stepping the envs, n-envs / workers each (1: this process); must divide --n-envs. "
            "Results do not depend on it, so it is not saved and may be given with --resume.",
        ),
    ] = 1,
    warm_start: Annotated[
        bool,
        typer.Option(
            "--warm-start",
            help="Before PPO, play the task's heuristic and every per-episode plan on the training seeds, keep the "
            "best by successive halving, and imitate it (one process only, not under torchrun).",
        ),
    ] = False,
) -> None:
    """Learn the growth controller with PPO; the policy drives 'esper-train heuristic --policy RUN_DIR/policy.pt'."""
    options = {
        "n_envs": n_envs,
        "task": task,
        "slots": slots,
        "max_seeds": max_seeds,
        "seed": seed,
        "device": device,
        "episode_epochs": episode_epochs,
        "seed_pool": seed_pool,
        "data_dir": None if data_dir is None else str(data_dir),
    }
    collective: Collective | None = None
    directory: PPODirectory | None = None
    try:
        run_dir, resume = directory_option("--run-dir", run_dir), directory_option("--resume", resume)
        collective = from_environment(resolve_device(device or "auto"))
        if resume is not None:
            given = [f"--{k.replace('_', '-')}" for k, v in options.items() if v is not None]
            given += ["--run-dir"] if run_dir is not None else []
            given += ["--reward"] if reward is not None else []
            given += ["--warm-start"] if warm_start else []
            if given:
                raise ConfigError(RESUME_CONFLICT_MESSAGE.format(options=", ".join(given)))
            run, directory = resume_ppo(resume, episodes=episodes, collective=collective, workers=workers)
            _check_episodes(run.episodes, run.ppo.n_envs)
        else:
            if warm_start and collective.world_size > 1:  # refused before the run directory is written
                raise ConfigError(DISTRIBUTED_MESSAGE.format(world=collective.world_size), value=collective.world_size)
            config, ppo_config, machine = _configs(options, reward or RewardMode.accuracy_gap)
            total = episodes or DEFAULT_EPISODES
            _check_episodes(total, ppo_config.n_envs)
            run, directory = start_ppo(
                config,
                ppo_config,
                episodes=total,
                run_dir=run_dir,
                machine=machine,
                collective=collective,
                workers=workers,
            )
            if warm_start:
                _warm_start(run)
        if collective.is_root:
            _drive(run, directory)
        else:
            train_ppo(run, None)
    except EsperError as error:
        raise _fail(str(error)) from None
    except KeyboardInterrupt:
        where = directory.path if directory is not None else None
        hint = INTERRUPTED_MESSAGE.format(path=where) if where is not None else INTERRUPTED_NO_DIR_MESSAGE
        typer.echo(hint, err=True)
        raise typer.Exit(code=130) from None
    finally:
        if directory is not None:
            directory.close()  # on error paths too: the lock is given up, the last checkpoint durable
        if collective is not None:
            close(collective)


def register(app: typer.Typer) -> None:
    """Add the ``ppo`` command to ``esper-train``."""
    app.command("ppo")(ppo)
