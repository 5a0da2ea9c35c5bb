"""`esper-train`: grow a host on a task with the heuristic, or train the static baseline.

Every user error exits with status 2 and one line that says what to do; tracebacks are
for bugs only.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import attrs
import typer
from returns.result import Failure
from rich.console import Console
from rich.table import Table

from esper_core import (
    ConfigError,
    EsperError,
    RunConfig,
    from_primitives,
    parse_slot_id_result,
)
from esper_shell.bench.cli import bench_app
from esper_shell.engine.run import final_metrics, resume, start, train
from esper_shell.engine.trainer import Trainer
from esper_shell.report.cli import register as register_report
from esper_shell.rl.cli import register as register_ppo
from esper_shell.tasks import TASKS, get_task
from esper_shell.telemetry.launch import attach_probes, launch_sinks
from esper_shell.telemetry.live import console_view
from esper_shell.telemetry.stream import TelemetryOptions, read_meta

MULTI_VALUE_OPTIONS = frozenset({"--slots"})
INVALID_SLOT_MESSAGE = (
    "Invalid slot {slot!r}. Use canonical format: r0c0, r0c1, r0c2, ... Valid slots for task {task}: {valid}."
)
RESUME_CONFLICT_MESSAGE = "--resume continues a run with its saved config; drop {options} (or start a new run)."
RESUME_CONTROLLER_MESSAGE = "{path} holds a {saved} run; continue it with: esper-train {saved} --resume {path}"
CONTROLLER_KEY_MESSAGE = (
    "Config file {path} sets controller = {value!r}; the command chooses it (esper-train {value} ...)."
)
CONFIG_READ_MESSAGE = "Cannot read config file {path}: {reason}."
CONFIG_SHAPE_MESSAGE = "Config file {path} must hold RunConfig fields at the top level (see docs/cli.md)."

EXAMPLES = """

Examples:

\b
  esper-train heuristic                                  # grow on the embedded digits task
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

Task = Annotated[str | None, typer.Option(help=f"Task preset: {', '.join(TASKS)} (default digits).")]
Slots = Annotated[list[str] | None, typer.Option(help="Slots to enable, e.g. --slots r0c0 r1c0 (default: the task's).")]
Epochs = Annotated[int | None, typer.Option(help="Epochs to train (default: the task's).")]
MaxSeeds = Annotated[int | None, typer.Option("--max-seeds", help="Most seeds the controller may germinate.")]
Device = Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N (default auto).")]
Seed = Annotated[int | None, typer.Option(help="Random seed (default 0).")]
Threads = Annotated[int | None, typer.Option(help="torch CPU threads (default: the task's).")]
RunDir = Annotated[Path | None, typer.Option("--run-dir", help="Directory for config, events and checkpoints.")]
Resume = Annotated[Path | None, typer.Option(help="Continue the stopped run in this directory.")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="TOML file of RunConfig fields; flags override it.")]
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


def _fail(message: str) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code=2)


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(CONFIG_READ_MESSAGE.format(path=path, reason=exc.strerror or exc)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(CONFIG_READ_MESSAGE.format(path=path, reason=exc)) from exc
    return data


def _check_slots(slots: Sequence[str], task_name: str) -> None:
    for slot_id in slots:
        if isinstance(parse_slot_id_result(slot_id), Failure):
            valid = ", ".join(get_task(task_name).build_host().slot_order)
            raise ConfigError(INVALID_SLOT_MESSAGE.format(slot=slot_id, task=task_name, valid=valid))


def build_config(controller: str, config_file: Path | None, overrides: dict[str, Any]) -> RunConfig:
    """File values, then flags; the result is validated as a whole (unknown keys are errors)."""
    data = _read_config_file(config_file) if config_file is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(CONFIG_SHAPE_MESSAGE.format(path=config_file))
    if "controller" in data and data["controller"] != controller:
        raise ConfigError(CONTROLLER_KEY_MESSAGE.format(path=config_file, value=data["controller"]))
    data.update({key: value for key, value in overrides.items() if value is not None})
    data["controller"] = controller
    slots = data.get("slots")
    if isinstance(slots, list):
        _check_slots(slots, data.get("task", RunConfig().task) if isinstance(data.get("task"), str) else "digits")
    result = from_primitives(data, RunConfig)
    if isinstance(result, Failure):
        where = f" in {config_file}" if config_file is not None else ""
        raise ConfigError(f"Bad configuration{where}: {result.failure()}")
    return result.unwrap()


def _drive(trainer: Trainer, directory: Any, quiet: bool, telemetry: TelemetryOptions) -> None:
    attach_probes(trainer, telemetry)
    with console_view(trainer, quiet=quiet, console=stderr) as view:
        train(trainer, directory, on_epoch=view.on_epoch)
    _print_summary(trainer, directory)


def _print_summary(trainer: Trainer, directory: Any) -> None:
    metrics = final_metrics(trainer)
    table = Table(title=f"{trainer.config.controller} on {trainer.config.task} (seed {trainer.config.seed})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("final val accuracy", f"{metrics['final_accuracy']:.2f} %")
    table.add_row("best val accuracy", f"{metrics['best_accuracy']:.2f} %")
    table.add_row("parameters (host)", f"{metrics['params']} ({metrics['host_params']})")
    table.add_row("seeds germinated / fossilized", f"{metrics['seeds_germinated']} / {metrics['fossilized_seeds']}")
    table.add_row("training time", f"{metrics['seconds']:.1f} s")
    if directory is not None:
        table.add_row("run directory", str(directory.path))
    Console().print(table)


def _overrides(
    *,
    task: str | None,
    slots: list[str] | None,
    epochs: int | None,
    max_seeds: int | None,
    device: str | None,
    seed: int | None,
    threads: int | None,
    data_dir: Path | None,
    policy: Path | None = None,
) -> dict[str, Any]:
    """The RunConfig fields the flags set (None: not given, so the file or the preset decides)."""
    return {
        "task": task,
        "slots": slots,
        "epochs": epochs,
        "max_seeds": max_seeds,
        "device": device,
        "seed": seed,
        "threads": threads,
        "data_dir": None if data_dir is None else str(data_dir),
        "policy": None if policy is None else str(policy),
    }


def _run(
    controller: str,
    overrides: dict[str, Any],
    *,
    run_dir: Path | None,
    resume_dir: Path | None,
    config_file: Path | None,
    quiet: bool,
    telemetry: TelemetryOptions,
) -> None:
    try:
        if resume_dir is not None:
            given = [f"--{k.replace('_', '-')}" for k, v in overrides.items() if v is not None]
            given += ["--config"] if config_file is not None else []
            given += ["--run-dir"] if run_dir is not None else []
            given += [f"--{k.replace('_', '-')}" for k, v in attrs.asdict(telemetry).items() if v not in (None, False)]
            if given:
                raise ConfigError(RESUME_CONFLICT_MESSAGE.format(options=", ".join(given)))
            telemetry = read_meta(resume_dir).options
            trainer, directory = resume(resume_dir, sinks=launch_sinks(telemetry, resume_dir))
            if trainer.config.controller != controller:
                raise ConfigError(
                    RESUME_CONTROLLER_MESSAGE.format(
                        path=resume_dir, saved=trainer.config.controller, command=controller
                    )
                )
        else:
            config = build_config(controller, config_file, overrides)
            sinks = launch_sinks(telemetry, run_dir)
            trainer, directory = start(config, run_dir, sinks=sinks, telemetry=telemetry)
        _drive(trainer, directory, quiet, telemetry)
    except EsperError as error:
        raise _fail(str(error)) from None


@app.command()
def heuristic(
    task: Task = None,
    slots: Slots = None,
    epochs: Epochs = None,
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
    flags = _overrides(
        task=task,
        slots=slots,
        epochs=epochs,
        max_seeds=max_seeds,
        device=device,
        seed=seed,
        threads=threads,
        data_dir=data_dir,
        policy=policy,
    )
    telemetry = TelemetryOptions(tensorboard=tensorboard, csv=csv, shapley_every=shapley_every)
    _run("heuristic", flags, run_dir=run_dir, resume_dir=resume, config_file=config, quiet=quiet, telemetry=telemetry)


@app.command()
def static(
    task: Task = None,
    slots: Slots = None,
    epochs: Epochs = None,
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
) -> None:
    """The baseline: the same host, data and budget, and nothing ever grows."""
    flags = _overrides(
        task=task,
        slots=slots,
        epochs=epochs,
        max_seeds=max_seeds,
        device=device,
        seed=seed,
        threads=threads,
        data_dir=data_dir,
    )
    telemetry = TelemetryOptions(tensorboard=tensorboard, csv=csv, shapley_every=shapley_every)
    _run("static", flags, run_dir=run_dir, resume_dir=resume, config_file=config, quiet=quiet, telemetry=telemetry)


@app.command("slots")
def slots_command(task: Task = None) -> None:
    """Print the grid of a task's host: slot ids, tier, position and channels."""
    try:
        spec = get_task(task or "digits")
    except EsperError as error:
        raise _fail(str(error)) from None
    host = spec.build_host()
    table = Table(title=f"slots of the {spec.name} host ({type(host).__name__}, {spec.topology})")
    for column in ("slot", "tier (row)", "position (col)", "channels", "default"):
        table.add_column(column)
    for slot_id in host.slot_order:
        row, col = parse_slot_id_result(slot_id).unwrap()
        default = "yes" if slot_id in spec.default_slots else ""
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
