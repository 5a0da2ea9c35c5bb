"""Starting, resuming and driving a run: the trainer plus its run directory and sinks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs
from returns.result import Failure

from esper_core import RunConfig, TelemetryEvent, from_primitives, to_primitives
from esper_shell.engine.run_files import RunDirectory
from esper_shell.engine.trainer import EpochSummary, Trainer, resolve_config
from esper_shell.tasks import get_task
from esper_shell.telemetry import JsonlSink, TelemetrySink
from esper_shell.telemetry.stream import RunMeta, TelemetryOptions, ensure_meta, new_run_id, resumed_event, write_meta

EpochCallback = Callable[[Trainer, EpochSummary], None]


def start(
    config: RunConfig,
    run_dir: Path | None,
    *,
    sinks: Iterable[TelemetrySink] = (),
    telemetry: TelemetryOptions = TelemetryOptions(),  # noqa: B008 - a frozen record
) -> tuple[Trainer, RunDirectory | None]:
    """Build a fresh run; every check (task, slots, blueprints, data, run dir) happens before any file is written."""
    task = get_task(config.task)
    resolved = resolve_config(config, task)
    directory = RunDirectory(run_dir) if run_dir is not None else None
    trainer = Trainer(resolved, task, sinks=sinks)
    if directory is not None:
        directory.create(to_primitives(resolved))
        meta = RunMeta(run_id=new_run_id(), options=telemetry)
        write_meta(directory.path, meta)
        trainer.sinks = (*trainer.sinks, JsonlSink(directory.events, run_id=meta.run_id))
    trainer.emit(
        [TelemetryEvent(kind="run_started", epoch=0, payload={"task": task.name, "controller": resolved.controller})]
    )
    return trainer, directory


def resume(run_dir: Path, *, sinks: Iterable[TelemetrySink] = ()) -> tuple[Trainer, RunDirectory]:
    """Rebuild a stopped run from its checkpoint; it continues as if it had never stopped."""
    directory = RunDirectory(run_dir)
    state = directory.load()
    config = from_primitives(state["config"], RunConfig)
    if isinstance(config, Failure):
        raise config.failure()
    trainer = Trainer(config.unwrap(), get_task(config.unwrap().task), sinks=sinks)
    trainer.load_state_dict(state, path=directory.checkpoint)
    run_id = ensure_meta(directory.path).run_id
    trainer.sinks = (*trainer.sinks, JsonlSink(directory.events, run_id=run_id))
    trainer.emit([resumed_event(trainer.epoch, run_id)])
    return trainer, directory


def train(
    trainer: Trainer,
    directory: RunDirectory | None,
    *,
    stop_after: int | None = None,
    on_epoch: EpochCallback | None = None,
) -> list[EpochSummary]:
    """Run epochs to the end (or ``stop_after`` more), checkpointing every ``checkpoint_every``."""
    done = 0
    while not trainer.finished and (stop_after is None or done < stop_after):
        summary = trainer.run_epoch()
        done += 1
        if directory is not None:
            if trainer.epoch % trainer.config.checkpoint_every == 0 or trainer.finished:
                directory.save(trainer.state_dict())
            directory.write_summary(run_summary(trainer))
        if on_epoch is not None:
            on_epoch(trainer, summary)
    if trainer.finished:
        trainer.emit([TelemetryEvent(kind="run_finished", epoch=trainer.epoch, payload=final_metrics(trainer))])
        for sink in trainer.sinks:
            sink.close()
    return trainer.history


def final_metrics(trainer: Trainer) -> dict[str, Any]:
    history = trainer.history
    return {
        "final_accuracy": history[-1].val_accuracy if history else None,
        "best_accuracy": max((s.val_accuracy for s in history), default=None),
        "params": trainer.model.total_params(),
        "host_params": sum(p.numel() for p in trainer.model.host_parameters()),
        "fossilized_seeds": trainer.model.fossilized_seed_count,
        "seeds_germinated": trainer.model.seeds_created,
        "seconds": sum(s.seconds for s in history),
    }


def run_summary(trainer: Trainer) -> dict[str, Any]:
    return {"final": final_metrics(trainer), "epochs": [attrs.asdict(s) for s in trainer.history]}
