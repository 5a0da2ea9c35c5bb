"""A grown run's final architecture, and the *from-scratch* run that trains it from epoch 0.

The from-scratch baseline tells growing apart from simply having more parameters: the host
plus the seeds a grown run ended with fossilized (alpha 1), built with fresh weights before
the first epoch and trained like a static run, on the same seed (data split, host init and
batch order) and budget. Seeds are installed through ``MorphogeneticModel.install_fossilized``
(``esper_core.fossilized_at_birth``), never by faking the lifecycle's gates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import attrs
import torch

from esper_core import ConfigError, RunConfig, SeedStage, SlotConfig, from_primitives, structure_slot
from esper_shell.engine.device import MachineConfig
from esper_shell.engine.run import Run
from esper_shell.engine.run_files import RunDirectory
from esper_shell.errors import CheckpointError, unwrap
from esper_shell.runs import start
from esper_shell.tasks import Task
from esper_shell.telemetry import TelemetrySink
from esper_shell.telemetry.stream import TelemetryOptions

ARCHITECTURE_FILE = "architecture.json"
# Seed modules of a from-scratch run are initialised from torch's RNG seeded with this plus the
# run's seed: reproducible, and drawn apart from the trainer's own stream.
FRESH_SEED_OFFSET = 0x5EED

TASK_MESSAGE = (
    "The architecture was grown on task {grown!r}, but this run is for task {task!r}; use --task {grown} "
    "(or drop --task)."
)
SLOT_MESSAGE = (
    "The architecture has a fossilized seed in slot {slot}, which this run does not enable ({valid}); "
    "enable it with --slots (or drop --slots to use the grown run's)."
)
NOT_A_RUN_MESSAGE = "{path}: its checkpoint holds no model state for slot {slot}; is this a run directory?"


@attrs.frozen(kw_only=True)
class Architecture:
    """What a run ended with: its task, enabled slots, and (slot, blueprint) of every fossilized seed."""

    task: str
    slots: SlotConfig
    fossilized: tuple[tuple[str, str], ...] = attrs.field(converter=lambda pairs: tuple(map(tuple, pairs)))

    def describe(self) -> str:
        seeds = ", ".join(f"{blueprint} in {slot}" for slot, blueprint in self.fossilized) or "no seeds"
        return f"{self.task} host + {seeds}"


def architecture_of_run(run: Run) -> Architecture:
    reports = run.trainer.model.slot_reports()
    fossilized = tuple(
        (slot_id, report.blueprint_id) for slot_id, report in reports.items() if report.stage is SeedStage.FOSSILIZED
    )
    return Architecture(task=run.config.task, slots=run.config.slots, fossilized=fossilized)


def architecture_of(run_dir: Path) -> Architecture:
    """Read a run directory's config and latest checkpoint (no data, no task built)."""
    directory = RunDirectory(Path(run_dir))
    state = directory.load()
    prefix = f"{directory.checkpoint}: "
    config = unwrap(from_primitives(state["config"], RunConfig), CheckpointError, prefix=prefix)
    weights = state["trainer"]["model"]["model"]
    fossilized = []
    for slot_id in config.slots.slot_ids:
        key = f"seed_slots.{slot_id}._extra_state"
        if key not in weights:
            raise CheckpointError(NOT_A_RUN_MESSAGE.format(path=directory.checkpoint, slot=slot_id), value=slot_id)
        release = config.lifecycle.blend_gradient_to_host
        seed = unwrap(structure_slot(weights[key], blend_gradient_to_host=release), CheckpointError, prefix=prefix)
        if seed is not None and seed.stage is SeedStage.FOSSILIZED:
            fossilized.append((slot_id, seed.blueprint_id))
    return Architecture(task=config.task, slots=config.slots, fossilized=fossilized)


def check_architecture(architecture: Architecture, config: RunConfig) -> None:
    if architecture.task != config.task:
        raise ConfigError(TASK_MESSAGE.format(grown=architecture.task, task=config.task), value=config.task)
    for slot_id, _ in architecture.fossilized:
        if slot_id not in config.slots.slot_ids:
            message = SLOT_MESSAGE.format(slot=slot_id, valid=", ".join(config.slots.slot_ids))
            raise ConfigError(message, value=slot_id)


def start_from_scratch(
    task: str | Task,
    config: RunConfig,
    architecture: Architecture,
    *,
    machine: MachineConfig | None = None,
    run_dir: Path | None = None,
    sinks: Iterable[TelemetrySink] = (),
    telemetry: TelemetryOptions = TelemetryOptions(),  # noqa: B008 - a frozen record
) -> Run:
    """A run of ``task`` with ``config`` whose model starts as ``architecture``: its seeds fossilized and fresh at epoch 0.

    Use a static controller to train the architecture as it is. With ``run_dir`` the
    architecture is also written to ``RUN_DIR/architecture.json`` (the checkpoints hold the
    seeds, so ``resume`` needs nothing more).
    """
    check_architecture(architecture, config)
    run = start(task, config, machine=machine, run_dir=run_dir, sinks=sinks, telemetry=telemetry)
    model = run.trainer.model
    events = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(FRESH_SEED_OFFSET + config.seed)
        for slot_id, blueprint in architecture.fossilized:
            events += model.install_fossilized(slot_id, blueprint)
    # The trainer's first snapshot predates the seeds; a rollback to it would drop them.
    run.trainer.snapshot = run.trainer.take_snapshot()
    run.emit(events)
    if run.directory is not None:
        text = json.dumps(architecture_record(architecture), indent=2, sort_keys=True) + "\n"
        (run.directory.path / ARCHITECTURE_FILE).write_text(text, encoding="utf-8")
    return run


def architecture_record(architecture: Architecture) -> dict[str, object]:
    return {
        "task": architecture.task,
        "slots": list(architecture.slots.slot_ids),
        "fossilized": [{"slot": slot, "blueprint": blueprint} for slot, blueprint in architecture.fossilized],
    }
