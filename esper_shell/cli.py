"""`esper-train`: grow a host on a task with the heuristic, or train the static baseline.

Every user error exits with status 2 and one line that says what to do; tracebacks are
for bugs only.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import attrs
import typer
from rich.console import Console
from rich.table import Table

from esper_core import ConfigError, EsperError, parse_slot_id
from esper_shell.bench.cli import bench_app
from esper_shell.config_file import DEFAULT_TASK, RunFlags, build_run_config, directory_option
from esper_shell.distributed.collective import Collective, close, from_environment
from esper_shell.engine.device import MachineConfig, resolve_device
from esper_shell.engine.run import Run
from esper_shell.engine.shapley import attach_probes
from esper_shell.live_view import console_view
from esper_shell.outcome.architecture import Architecture, architecture_of, start_from_scratch
from esper_shell.report.cli import register as register_report
from esper_shell.rl.cli import register as register_ppo
from esper_shell.runs import resume, start, train
from esper_shell.tasks import TASKS, get_task
from esper_shell.telemetry.launch import launch_sinks
from esper_shell.telemetry.stream import TelemetryOptions, read_meta

MULTI_VALUE_OPTIONS = frozenset({"--slots"})
RESUME_CONFLICT_MESSAGE = (
    "--resume continues a run with its saved config; drop {options} (or start a new run). "
    "Only --device, --threads and --data-dir may change."
)
RESUME_CONTROLLER_MESSAGE = "{path} holds a {saved} run; continue it with: esper-train {command} --resume {path}"
INTERRUPTED_MESSAGE = "Interrupted at epoch {epoch}; continue with: esper-train {command} --resume {path}"
INTERRUPTED_NO_DIR_MESSAGE = "Interrupted at epoch {epoch}; nothing was kept (pass --run-dir to make a run resumable)."

EXAMPLES = """

Examples:

\b
  esper-train heuristic                                  # grow on the embedded mnist1d task
  esper-train static                                     # the same host and budget, no growth
  esper-train heuristic --task synthetic --slots r0c0 r1c0 --epochs 20 --seed 1
  esper-train heuristic --run-dir runs/a                 # keep config, events and checkpoints
  esper-train heuristic --resume runs/a                  # continue a stopped run
  esper-train slots --task pydoc                         # the grid of a task's host
  esper-train ppo --episodes 200 --run-dir runs/ppo      # learn a controller with PPO
  esper-train heuristic --policy runs/ppo/policy.pt      # let the learned policy decide
  esper-train heuristic --run-dir runs/b --tensorboard --csv --shapley-every 5
  esper-train report runs/a                              # plots and report.md in runs/a/report/
"""

app = typer.Typer(
    help="Esper: hosts that grow seed modules while they train." + EXAMPLES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(bench_app, name="bench")
register_ppo(app)
register_report(app)
stderr = Console(stderr=True)

Task = Annotated[str | None, typer.Option(help=f"Task preset: {', '.join(TASKS)} (default mnist1d).")]
Slots = Annotated[list[str] | None, typer.Option(help="Slots to enable, e.g. --slots r0c0 r1c0 (default: the task's).")]
Epochs = Annotated[int | None, typer.Option(help="Epochs to train (default: the task's).")]
Lr = Annotated[
    float | None, typer.Option("--lr", help="Base learning rate, decayed by a cosine (default: the task's).")
]
BatchSize = Annotated[int | None, typer.Option("--batch-size", help="Training batch size (default: the task's).")]
MaxSeeds = Annotated[int | None, typer.Option("--max-seeds", help="Most seeds the controller may germinate.")]
Device = Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N (default auto).")]
Seed = Annotated[int | None, typer.Option(help="Random seed (default 0).")]
Threads = Annotated[int | None, typer.Option(help="torch CPU threads (default: the task's).")]
RunDir = Annotated[str | None, typer.Option("--run-dir", help="Directory for config, events and checkpoints.")]
Resume = Annotated[str | None, typer.Option(help="Continue the stopped run in this directory.")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="TOML file of run settings; flags override it.")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Local copy of cifar10 / tinystories data.")]
PolicyFile = Annotated[
    Path | None,
    typer.Option("--policy", help="Let a policy trained by 'esper-train ppo' decide (RUN_DIR/policy.pt)."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No live panel or lifecycle lines: a progress bar only.")]
TensorBoard = Annotated[
    bool, typer.Option("--tensorboard", help="Also write TensorBoard scalars to RUN_DIR/tensorboard (needs --run-dir).")
]
Csv = Annotated[bool, typer.Option("--csv", help="Also write RUN_DIR/epochs.csv, one row per epoch (needs --run-dir).")]
ShapleyEvery = Annotated[
    int | None,
    typer.Option("--shapley-every", min=1, help="Every K epochs, Shapley values of the blended seeds (default off)."),
]
ArchitectureOf = Annotated[
    Path | None,
    typer.Option(
        "--architecture-of",
        help="Train that run's final architecture (host + fossilized seeds, fresh weights) from epoch 0.",
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code=2)


def _drive(run: Run, quiet: bool, telemetry: TelemetryOptions) -> None:
    attach_probes(run.trainer, telemetry)
    with console_view(run, quiet=quiet, console=stderr) as view:
        train(run, on_epoch=view.on_epoch)
    _print_summary(run)


def _print_summary(run: Run) -> None:
    metrics = run.metrics()
    config = run.config
    table = Table(title=f"{config.controller.kind} on {config.task} (seed {config.seed}, {run.trainer.device})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("final val accuracy", f"{metrics['final_accuracy']:.2f} %")
    table.add_row("best val accuracy", f"{metrics['best_accuracy']:.2f} %")
    table.add_row("parameters (host)", f"{metrics['params']} ({metrics['host_params']})")
    table.add_row("seeds germinated / fossilized", f"{metrics['seeds_germinated']} / {metrics['fossilized_seeds']}")
    table.add_row("training time", f"{metrics['seconds']:.1f} s")
    if run.directory is not None:
        table.add_row("run directory", str(run.directory.path))
    Console().print(table)


def _command_for(kind: str) -> str:
    """The esper-train command that runs a controller kind (a policy runs under heuristic --policy)."""
    return "static" if kind == "static" else "heuristic"


def _run(
    command: str,
    flags: RunFlags,
    machine: dict[str, Any],
    *,
    run_dir: str | None,
    resume_dir: str | None,
    config_file: Path | None,
    quiet: bool,
    telemetry: TelemetryOptions,
    architecture_dir: Path | None = None,
) -> None:
    run: Run | None = None
    collective: Collective | None = None
    try:
        run_dir, resume_dir = directory_option("--run-dir", run_dir), directory_option("--resume", resume_dir)
        # Under torchrun: one data-parallel run over every rank (docs/scale.md); else one process.
        collective = from_environment(resolve_device(machine["device"] or "auto"))
        if resume_dir is not None:
            given = flags.given() + (["--config"] if config_file is not None else [])
            given += ["--run-dir"] if run_dir is not None else []
            given += ["--architecture-of"] if architecture_dir is not None else []
            given += [f"--{k.replace('_', '-')}" for k, v in attrs.asdict(telemetry).items() if v not in (None, False)]
            if given:
                raise ConfigError(RESUME_CONFLICT_MESSAGE.format(options=", ".join(given)))
            telemetry = read_meta(resume_dir).options
            run = resume(
                resume_dir,
                machine=_machine(machine) if any(v is not None for v in machine.values()) else None,
                collective=collective,
                sinks=launch_sinks(telemetry, resume_dir) if collective.is_root else (),
            )
            saved = run.config.controller.kind
            if _command_for(saved) != command:
                message = RESUME_CONTROLLER_MESSAGE.format(path=resume_dir, saved=saved, command=_command_for(saved))
                raise ConfigError(message)
        elif architecture_dir is not None:
            architecture = architecture_of(architecture_dir)
            config = build_run_config(command, config_file, _grown_defaults(flags, architecture))
            machine_config = _machine(machine, task=config.task)
            run = start_from_scratch(
                config.task,
                config,
                architecture,
                machine=machine_config,
                run_dir=run_dir,
                sinks=launch_sinks(telemetry, run_dir),
                telemetry=telemetry,
            )
        else:
            config = build_run_config(command, config_file, flags)
            run = start(
                config.task,
                config,
                machine=_machine(machine, task=config.task),
                run_dir=run_dir,
                collective=collective,
                sinks=launch_sinks(telemetry, run_dir) if collective.is_root else (),
                telemetry=telemetry,
            )
        if collective.is_root:
            _drive(run, quiet, telemetry)
        else:
            train(run)
    except EsperError as error:
        raise _fail(str(error)) from None
    except KeyboardInterrupt:
        epoch = run.trainer.epoch if run is not None else 0
        directory = run.directory if run is not None else None
        if directory is None:
            typer.echo(INTERRUPTED_NO_DIR_MESSAGE.format(epoch=epoch), err=True)
        else:
            typer.echo(INTERRUPTED_MESSAGE.format(epoch=epoch, command=command, path=directory.path), err=True)
        raise typer.Exit(code=130) from None
    finally:
        if run is not None and run.directory is not None:
            run.directory.close()  # on error paths too: the lock is given up, the last checkpoint durable
        if collective is not None:
            close(collective)


def _grown_defaults(flags: RunFlags, architecture: Architecture) -> RunFlags:
    """--architecture-of: the grown run's task and slots, unless given; the rest as any static run."""
    task = flags.task if flags.task is not None else architecture.task
    slots = flags.slots if flags.slots is not None else architecture.slots.slot_ids
    return attrs.evolve(flags, task=task, slots=slots)


def _machine(options: dict[str, Any], *, task: str | None = None) -> MachineConfig:
    """Flags over defaults (threads: the task preset's)."""
    default_threads = TASKS[task].threads if task in TASKS else MachineConfig().threads
    return MachineConfig(
        device=options["device"] or "auto",
        threads=options["threads"] or default_threads,
        data_dir=None if options["data_dir"] is None else str(options["data_dir"]),
    )


@app.command()
def heuristic(
    task: Task = None,
    slots: Slots = None,
    epochs: Epochs = None,
    lr: Lr = None,
    batch_size: BatchSize = None,
    max_seeds: MaxSeeds = None,
    device: Device = None,
    seed: Seed = None,
    threads: Threads = None,
    run_dir: RunDir = None,
    resume: Resume = None,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    policy: PolicyFile = None,
    quiet: Quiet = False,
    tensorboard: TensorBoard = False,
    csv: Csv = False,
    shapley_every: ShapleyEvery = None,
) -> None:
    """Train with growth decided by the rule-based heuristic controller (or a learned --policy)."""
    flags = RunFlags(
        task=task,
        seed=seed,
        slots=tuple(slots) if slots else None,
        max_seeds=max_seeds,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        policy=None if policy is None else str(policy),
    )
    machine = {"device": device, "threads": threads, "data_dir": data_dir}
    telemetry = TelemetryOptions(tensorboard=tensorboard, csv=csv, shapley_every=shapley_every)
    _run(
        "heuristic",
        flags,
        machine,
        run_dir=run_dir,
        resume_dir=resume,
        config_file=config,
        quiet=quiet,
        telemetry=telemetry,
    )


@app.command()
def static(
    task: Task = None,
    slots: Slots = None,
    epochs: Epochs = None,
    lr: Lr = None,
    batch_size: BatchSize = None,
    max_seeds: MaxSeeds = None,
    device: Device = None,
    seed: Seed = None,
    threads: Threads = None,
    run_dir: RunDir = None,
    resume: Resume = None,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    quiet: Quiet = False,
    tensorboard: TensorBoard = False,
    csv: Csv = False,
    shapley_every: ShapleyEvery = None,
    architecture_of: ArchitectureOf = None,
) -> None:
    """The baseline: the same host, data and budget, and nothing ever grows (--architecture-of: a grown run's
    final architecture, from epoch 0)."""
    flags = RunFlags(
        task=task,
        seed=seed,
        slots=tuple(slots) if slots else None,
        max_seeds=max_seeds,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
    )
    machine = {"device": device, "threads": threads, "data_dir": data_dir}
    _run(
        "static",
        flags,
        machine,
        run_dir=run_dir,
        resume_dir=resume,
        config_file=config,
        quiet=quiet,
        telemetry=TelemetryOptions(tensorboard=tensorboard, csv=csv, shapley_every=shapley_every),
        architecture_dir=architecture_of,
    )


@app.command("slots")
def slots_command(task: Task = None) -> None:
    """Print the grid of a task's host: slot ids, tier, position and channels."""
    try:
        spec = get_task(task or DEFAULT_TASK)
    except EsperError as error:
        raise _fail(str(error)) from None
    host = spec.build_host()
    table = Table(title=f"slots of the {spec.name} host ({type(host).__name__}, {spec.topology})")
    for column in ("slot", "tier (row)", "position (col)", "channels", "default"):
        table.add_column(column)
    for slot_id in host.slot_order:
        row, col = parse_slot_id(slot_id)
        default = "yes" if slot_id in spec.slots else ""
        table.add_row(slot_id, str(row), str(col), str(host.injection_points[slot_id]), default)
    Console().print(table)


def expand_multi_value_options(argv: Sequence[str]) -> list[str]:
    """Let ``--slots r0c0 r1c0`` mean ``--slots r0c0 --slots r1c0`` (click options take one value)."""
    expanded: list[str] = []
    current: str | None = None
    for arg in argv:
        if arg.startswith("-"):
            current = arg if arg in MULTI_VALUE_OPTIONS else None
            expanded.append(arg)
        elif current is not None and expanded[-1] != current:
            expanded += [current, arg]
        else:
            expanded.append(arg)
    return expanded


def main(argv: Sequence[str] | None = None) -> None:
    app(args=expand_multi_value_options(sys.argv[1:] if argv is None else argv), prog_name="esper-train")
