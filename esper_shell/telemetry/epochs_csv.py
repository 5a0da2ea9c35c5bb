"""``--csv``: ``RUN_DIR/epochs.csv``, one row per epoch, for spreadsheets and pandas.

A resume drops the rows of the epochs it will redo (those after the last checkpoint), so
the file keeps one row per epoch however often the run was stopped.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import IO

from esper_core import TelemetryEvent
from esper_shell.telemetry.stream import Clock

COLUMNS = (
    "epoch",
    "val_accuracy",
    "val_loss",
    "train_loss",
    "lr",
    "params",
    "live_seeds",
    "fossilized_seeds",
    "action",
    "seconds",
    "time",
)


class EpochCsvSink:
    def __init__(self, path: Path, *, clock: Clock = time.time) -> None:
        self.path = path
        self._clock = clock
        self._handle: IO[str] | None = None
        self._writer: csv.DictWriter | None = None

    def _open(self, resume_epoch: int | None) -> csv.DictWriter:
        kept: list[dict[str, str]] = []
        if resume_epoch is not None and self.path.is_file():
            with self.path.open(newline="", encoding="utf-8") as handle:
                kept = [row for row in csv.DictReader(handle) if int(row["epoch"]) < resume_epoch]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("w", newline="", encoding="utf-8")
        writer = csv.DictWriter(self._handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(kept)
        self._writer = writer
        return writer

    def emit(self, event: TelemetryEvent) -> None:
        writer = self._writer or self._open(event.epoch if event.kind == "resumed" else None)
        if event.kind != "epoch":
            return
        writer.writerow({**{key: event.payload[key] for key in COLUMNS[:-1]}, "time": self._clock()})
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self._writer = None
