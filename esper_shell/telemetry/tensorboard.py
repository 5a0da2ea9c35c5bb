"""``--tensorboard``: epoch figures and per-slot alpha, stage and contribution as TensorBoard scalars.

The ``tensorboard`` package is an optional extra (``pip install 'esper[tensorboard]'``);
``require_tensorboard`` checks for it before a run writes anything. The writer opens on the
first event: after a ``resumed`` event it purges the steps the resumed run will redo, so
the curves show each epoch once.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from esper_core import SeedStage, TelemetryEvent
from esper_shell.telemetry.errors import TelemetryError

MISSING_MESSAGE = (
    "--tensorboard needs the tensorboard package, which is not installed: "
    "pip install 'esper[tensorboard]' (or pip install tensorboard), or drop --tensorboard."
)
# Scalar per stage: its position in the lifecycle (docs/telemetry.md).
STAGE_INDEX = {stage.name: index for index, stage in enumerate(SeedStage)}
EPOCH_SCALARS = {
    "val_accuracy": "accuracy/val",
    "val_loss": "loss/val",
    "train_loss": "loss/train",
    "lr": "lr",
    "params": "params",
    "live_seeds": "seeds/live",
    "fossilized_seeds": "seeds/fossilized",
    "seconds": "time/epoch_seconds",
}


def require_tensorboard() -> None:
    if importlib.util.find_spec("tensorboard") is None:
        raise TelemetryError(MISSING_MESSAGE)


class TensorBoardSink:
    """Writes ``log_dir`` (``RUN_DIR/tensorboard``); step = epoch."""

    def __init__(self, log_dir: Path) -> None:
        require_tensorboard()
        self.log_dir = log_dir
        self._writer: Any = None

    def _open(self, purge_step: int | None) -> Any:
        from torch.utils.tensorboard import SummaryWriter  # needs the optional package: imported on use

        self._writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=purge_step)
        return self._writer

    def emit(self, event: TelemetryEvent) -> None:
        if self._writer is None:
            self._open(event.epoch if event.kind == "resumed" and event.epoch > 0 else None)
        writer, step, payload = self._writer, event.epoch, event.payload
        if event.kind == "epoch":
            for key, tag in EPOCH_SCALARS.items():
                writer.add_scalar(tag, payload[key], step)
        elif event.kind == "slot":
            slot = event.slot_id
            writer.add_scalar(f"slot/{slot}/alpha", payload["alpha"], step)
            writer.add_scalar(f"slot/{slot}/stage", STAGE_INDEX[payload["stage"]], step)
            if payload["contribution"] is not None:
                writer.add_scalar(f"slot/{slot}/contribution", payload["contribution"], step)
        elif event.kind == "shapley":
            writer.add_scalar(f"shapley/{event.slot_id}", payload["value"], step)
        elif event.kind == "stage_entered":
            writer.add_text(
                f"lifecycle/{event.slot_id}", f"{payload['from']} -> {payload['to']} ({payload['blueprint']})", step
            )

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
