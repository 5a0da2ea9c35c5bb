"""Starting and resuming runs from Python: the composition root of the engine.

``start`` takes a preset's name or your own ``Task``, an optional ``RunConfig`` and an
optional controller object; it builds everything (data, host, slots, controller, device)
and checks it before any file is written. ``resume`` rebuilds a stopped run from its
directory; give it the same task object and controller when the run used your own.

Under torchrun (``collective``, docs/scale.md) every rank builds the same run; rank 0 alone
creates or reads the run directory and writes into it, and hands what it read to the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from esper_core import (
    ConfigError,
    Controller,
    CustomControllerConfig,
    RunConfig,
    SlotConfig,
    TelemetryEvent,
    from_primitives,
    to_primitives,
)
from esper_shell.controllers import build_controller, controller_name
from esper_shell.distributed.collective import Collective, SingleProcess, on_root
from esper_shell.engine.device import MachineConfig
from esper_shell.engine.restore import RUN_FIELDS, check_fields
from esper_shell.engine.run import Run, train
from esper_shell.engine.run_files import RunDirectory
from esper_shell.engine.trainer import Trainer
from esper_shell.errors import CheckpointError, unwrap
from esper_shell.tasks import TASKS, Task, get_task
from esper_shell.telemetry import JsonlSink, TelemetrySink
from esper_shell.telemetry.stream import RunMeta, TelemetryOptions, ensure_meta, new_run_id, resumed_event, write_meta

__all__ = ["Run", "resume", "start", "train"]

TASK_NAME_MESSAGE = "The config names task {config!r}, but the task object given is {task!r}; make them agree."
USER_TASK_MESSAGE = (
    "This run trained on your own task {task!r}: pass the same task object again, resume(run_dir, task=...)."
)
WORLD_SIZE_MESSAGE = (
    "{path} was trained by {saved} process(es) and this launch has {world}: resume it with the same "
    "world size (torchrun --nproc_per_node {saved} ... , or no torchrun for 1), since each rank's "
    "shard of every batch depends on it."
)


def _default_config(task: str | Task) -> RunConfig:
    if isinstance(task, str):
        return get_task(task).run_config()
    return RunConfig(task=task.name, slots=SlotConfig(task.build_host().slot_order))


def _resolve_task(task: str | Task, config: RunConfig, machine: MachineConfig) -> Task:
    if isinstance(task, Task):
        if task.name != config.task:
            raise ConfigError(TASK_NAME_MESSAGE.format(config=config.task, task=task.name), value=task.name)
        return task
    if task != config.task:
        raise ConfigError(TASK_NAME_MESSAGE.format(config=config.task, task=task), value=task)
    return get_task(task).task(config.seed, config.training.batch_size, machine.data_dir)


def _build(
    config: RunConfig,
    task: Task,
    controller: Controller[Any] | None,
    machine: MachineConfig,
    directory: RunDirectory | None,
    sinks: Iterable[TelemetrySink],
    collective: Collective,
) -> Run:
    trainer = Trainer(config, task, machine=machine, collective=collective)
    model = trainer.model
    built = build_controller(
        config.controller,
        slots=model.slot_config,
        blueprints=model.known_blueprints,
        lifecycle=config.lifecycle,
        given=controller,
    )
    # Rank 0 alone writes the run directory and telemetry.
    if not collective.is_root:
        directory, sinks = None, ()
    return Run(trainer, built, machine=machine, directory=directory, sinks=sinks)


def start(
    task: str | Task,
    config: RunConfig | None = None,
    *,
    controller: Controller[Any] | None = None,
    machine: MachineConfig | None = None,
    run_dir: Path | None = None,
    sinks: Iterable[TelemetrySink] = (),
    collective: Collective | None = None,
    telemetry: TelemetryOptions = TelemetryOptions(),  # noqa: B008 - a frozen record
) -> Run:
    """A fresh run; every check (task, slots, blueprints, data, device, run dir) happens before any file is written.

    ``task`` is a preset's name or your own ``Task``; ``config`` defaults to the preset's tuned
    run (or, for your task, every slot of its host under the heuristic). A ``controller``
    object decides instead of the config's built-in one and is recorded by name.
    """
    config = config if config is not None else _default_config(task)
    if controller is not None:
        config = attrs.evolve(config, controller=CustomControllerConfig(name=controller_name(controller)))
    if machine is None:
        machine = (
            MachineConfig(threads=TASKS[task].threads) if isinstance(task, str) and task in TASKS else MachineConfig()
        )
    collective = collective or SingleProcess()
    directory = RunDirectory(Path(run_dir)) if run_dir is not None else None
    run = _build(config, _resolve_task(task, config, machine), controller, machine, directory, sinks, collective)
    if directory is not None:
        saved = {
            "run": to_primitives(config),
            "machine": to_primitives(machine),
            "device": str(run.trainer.device),
            "world_size": collective.world_size,
        }
        on_root(collective, lambda: directory.create(saved))
    if run.directory is not None:
        meta = RunMeta(run_id=new_run_id(), options=telemetry)
        write_meta(run.directory.path, meta)
        run.sinks = (*run.sinks, JsonlSink(run.directory.events, run_id=meta.run_id))
    run.emit(
        [
            TelemetryEvent(
                kind="run_started", epoch=0, payload={"task": config.task, "controller": config.controller.kind}
            )
        ]
    )
    return run


def resume(
    run_dir: Path,
    *,
    task: Task | None = None,
    controller: Controller[Any] | None = None,
    machine: MachineConfig | None = None,
    sinks: Iterable[TelemetrySink] = (),
    collective: Collective | None = None,
) -> Run:
    """Rebuild a stopped run from its checkpoint; it continues as if it had never stopped.

    ``machine`` defaults to the options the run was started with. Under torchrun the world
    size must be the one the run was started with.
    """
    collective = collective or SingleProcess()
    directory = RunDirectory(Path(run_dir))
    state = on_root(collective, lambda: _load(directory, collective.world_size))
    prefix = f"{directory.checkpoint}: "
    config = unwrap(from_primitives(state["config"], RunConfig), CheckpointError, prefix=prefix)
    if machine is None:
        machine = unwrap(from_primitives(state["machine"], MachineConfig), CheckpointError, prefix=prefix)
    if task is None and config.task not in TASKS:
        raise ConfigError(USER_TASK_MESSAGE.format(task=config.task), value=config.task)
    resolved = _resolve_task(task if task is not None else config.task, config, machine)
    run = _build(config, resolved, controller, machine, directory, sinks, collective)
    run.load_state_dict(state, path=directory.checkpoint)
    if run.directory is not None:
        run_id = ensure_meta(run.directory.path).run_id
        run.sinks = (*run.sinks, JsonlSink(run.directory.events, run_id=run_id))
        run.emit([resumed_event(run.trainer.epoch, run_id)])
    return run


def _load(directory: RunDirectory, world_size: int) -> dict[str, Any]:
    """The checkpoint, refused if another number of processes trained it (runs before torchrun: one)."""
    state = directory.load()
    check_fields(state, RUN_FIELDS, "run", directory.checkpoint)
    saved = state.get("world_size", 1)
    if saved != world_size:
        message = WORLD_SIZE_MESSAGE.format(path=directory.path, saved=saved, world=world_size)
        raise ConfigError(message, value=world_size)
    return state
