"""Starting and resuming runs from Python: the composition root of the engine.

``start`` takes a preset's name or your own ``Task``, an optional ``RunConfig`` and an
optional controller object; it builds everything (data, host, slots, controller, device)
and checks it before any file is written. ``resume`` rebuilds a stopped run from its
directory; give it the same task object and controller when the run used your own.
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
from esper_shell.engine.device import MachineConfig
from esper_shell.engine.run import Run, train
from esper_shell.engine.run_files import RunDirectory
from esper_shell.engine.trainer import Trainer
from esper_shell.errors import CheckpointError, unwrap
from esper_shell.tasks import TASKS, Task, get_task
from esper_shell.telemetry import JsonlSink, TelemetrySink

__all__ = ["Run", "resume", "start", "train"]

TASK_NAME_MESSAGE = "The config names task {config!r}, but the task object given is {task!r}; make them agree."
USER_TASK_MESSAGE = (
    "This run trained on your own task {task!r}: pass the same task object again, resume(run_dir, task=...)."
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
) -> Run:
    trainer = Trainer(config, task, machine=machine)
    model = trainer.model
    built = build_controller(
        config.controller,
        slots=model.slot_config,
        blueprints=model.known_blueprints,
        lifecycle=config.lifecycle,
        given=controller,
    )
    return Run(trainer, built, machine=machine, directory=directory, sinks=sinks)


def start(
    task: str | Task,
    config: RunConfig | None = None,
    *,
    controller: Controller[Any] | None = None,
    machine: MachineConfig | None = None,
    run_dir: Path | None = None,
    sinks: Iterable[TelemetrySink] = (),
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
    directory = RunDirectory(Path(run_dir)) if run_dir is not None else None
    run = _build(config, _resolve_task(task, config, machine), controller, machine, directory, sinks)
    if directory is not None:
        directory.create(
            {"run": to_primitives(config), "machine": to_primitives(machine), "device": str(run.trainer.device)}
        )
        run.sinks = (*run.sinks, JsonlSink(directory.events))
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
) -> Run:
    """Rebuild a stopped run from its checkpoint; it continues as if it had never stopped.

    ``machine`` defaults to the options the run was started with.
    """
    directory = RunDirectory(Path(run_dir))
    state = directory.load()
    prefix = f"{directory.checkpoint}: "
    config = unwrap(from_primitives(state["config"], RunConfig), CheckpointError, prefix=prefix)
    if machine is None:
        machine = unwrap(from_primitives(state["machine"], MachineConfig), CheckpointError, prefix=prefix)
    if task is None and config.task not in TASKS:
        raise ConfigError(USER_TASK_MESSAGE.format(task=config.task), value=config.task)
    resolved = _resolve_task(task if task is not None else config.task, config, machine)
    run = _build(config, resolved, controller, machine, directory, sinks)
    run.load_state_dict(state, path=directory.checkpoint)
    run.sinks = (*run.sinks, JsonlSink(directory.events))
    return run
