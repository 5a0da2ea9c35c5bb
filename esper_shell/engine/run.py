"""A run: a trainer driven by the controller it was given, with its run directory and sinks.

The controller is an object passed in (``esper_shell.runs`` builds the built-in ones from the
config); the run only asks it for a decision at the epoch's decision point, and keeps its
state, so that the controller's memory is checkpointed and resumed like everything else.

Under torchrun the controller decides on rank 0 alone and its action is broadcast at the
decision point, so every rank applies the same action whatever the controller is (a sampling
policy, your own object); the other ranks' controllers are never asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs

from esper_core import (
    Controller,
    FactoredAction,
    Observation,
    RunConfig,
    TelemetryEvent,
    from_primitives,
    to_primitives,
)
from esper_shell.engine.device import MachineConfig
from esper_shell.engine.run_files import RunDirectory
from esper_shell.engine.summary import EpochSummary, final_metrics
from esper_shell.engine.trainer import Trainer, drive
from esper_shell.errors import CheckpointError, unwrap
from esper_shell.telemetry import TelemetrySink, fan_out

EpochCallback = Callable[["Run", EpochSummary], None]


class Run:
    def __init__(
        self,
        trainer: Trainer,
        controller: Controller[Any],
        *,
        machine: MachineConfig,
        directory: RunDirectory | None = None,
        sinks: Iterable[TelemetrySink] = (),
    ) -> None:
        self.trainer = trainer
        self.controller = controller
        self.controller_state = controller.initial_state()
        self.machine = machine
        self.directory = directory
        self.sinks = tuple(sinks)

    @property
    def config(self) -> RunConfig:
        return self.trainer.config

    @property
    def history(self) -> list[EpochSummary]:
        return self.trainer.history

    @property
    def finished(self) -> bool:
        return self.trainer.finished

    def emit(self, events: Iterable[TelemetryEvent]) -> None:
        fan_out(self.sinks, events)

    def run_epoch(self) -> EpochSummary:
        result = drive(self.trainer.run_epoch(), self._decide)
        self.emit(result.events)
        return result.summary

    def _decide(self, observation: Observation) -> FactoredAction:
        collective = self.trainer.collective
        action: FactoredAction | None = None
        if collective.is_root:
            action, self.controller_state = self.controller.decide(self.controller_state, observation)
        return collective.broadcast_object(action)

    def metrics(self) -> dict[str, Any]:
        return final_metrics(self.trainer.history, self.trainer.model)

    def summary(self) -> dict[str, Any]:
        """summary.json: final figures, the device used, and every epoch."""
        return {
            "final": self.metrics(),
            "device": str(self.trainer.device),
            "world_size": self.trainer.collective.world_size,
            "epochs": [attrs.asdict(s) for s in self.trainer.history],
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": to_primitives(self.config),
            "machine": to_primitives(self.machine),
            "world_size": self.trainer.collective.world_size,
            "trainer": self.trainer.state_dict(),
            "controller_state": to_primitives(self.controller_state),
        }

    def load_state_dict(self, state: dict[str, Any], *, path: Path) -> None:
        self.trainer.load_state_dict(state["trainer"], path=path)
        state_type = type(self.controller.initial_state())
        self.controller_state = unwrap(
            from_primitives(state["controller_state"], state_type), CheckpointError, prefix=f"{path}: "
        )


def train(run: Run, *, stop_after: int | None = None, on_epoch: EpochCallback | None = None) -> list[EpochSummary]:
    """Run epochs to the end (or ``stop_after`` more), checkpointing every ``checkpoint_every``."""
    done = 0
    directory = run.directory
    while not run.finished and (stop_after is None or done < stop_after):
        summary = run.run_epoch()
        done += 1
        if directory is not None:
            if run.trainer.epoch % run.config.checkpoint_every == 0 or run.finished:
                directory.save(run.state_dict())
            directory.write_summary(run.summary())
        if on_epoch is not None:
            on_epoch(run, summary)
    if run.finished:
        run.emit([TelemetryEvent(kind="run_finished", epoch=run.trainer.epoch, payload=run.metrics())])
        for sink in run.sinks:
            sink.close()
    if directory is not None:
        directory.close()  # the last checkpoint is durable, and the directory free, once train returns
    return run.history
