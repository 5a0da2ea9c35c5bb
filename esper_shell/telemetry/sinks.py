"""Sinks receive every event; each decides what to keep. Events are written as primitives."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Protocol

from rich.console import Console
from rich.markup import escape

from esper_core import Severity, TelemetryEvent, to_primitives
from esper_shell.telemetry.stream import Clock, header, stamp


class TelemetrySink(Protocol):
    def emit(self, event: TelemetryEvent) -> None: ...

    def close(self) -> None: ...


def fan_out(sinks: Iterable[TelemetrySink], events: Iterable[TelemetryEvent]) -> None:
    sinks = tuple(sinks)
    for event in events:
        for sink in sinks:
            sink.emit(event)


class MemorySink:
    """Keeps events in a list: for tests and for callers embedding the engine."""

    def __init__(self) -> None:
        self.events: list[TelemetryEvent] = []

    def emit(self, event: TelemetryEvent) -> None:
        self.events.append(event)

    def close(self) -> None:
        return None


class JsonlSink:
    """One JSON object per line, appended and flushed per event so a crash loses at most one.

    Opening writes a header line (schema version, run id); every event line carries the
    wall-clock ``time`` it was written and the ``run_id`` (docs/telemetry.md).
    """

    def __init__(self, path: Path, *, run_id: str, clock: Clock = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.run_id = run_id
        self._clock = clock
        self._handle: IO[str] = path.open("a", encoding="utf-8")
        self._write(header(run_id, clock()))

    def emit(self, event: TelemetryEvent) -> None:
        self._write(stamp(to_primitives(event), self.run_id, self._clock()))

    def _write(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, sort_keys=True) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


_STYLE = {Severity.DEBUG: "dim", Severity.INFO: "", Severity.WARNING: "yellow", Severity.ERROR: "bold red"}
# Kinds worth a line on the console; everything still goes to the JSONL file.
CONSOLE_KINDS = frozenset({"stage_entered", "decision", "rollback"})


class ConsoleSink:
    """Human-readable lines for lifecycle moves, decisions and rollbacks."""

    def __init__(self, console: Console | None = None, *, kinds: frozenset[str] = CONSOLE_KINDS) -> None:
        self.console = console or Console(stderr=True)
        self.kinds = kinds

    def emit(self, event: TelemetryEvent) -> None:
        if event.kind not in self.kinds or event.severity is Severity.DEBUG:
            return
        where = f" {event.slot_id}" if event.slot_id else ""
        details = " ".join(f"{key}={value}" for key, value in event.payload.items())
        style = _STYLE[event.severity]
        line = f"epoch {event.epoch:>3}{where} {event.kind}: {details}"
        # soft_wrap: one event, one line, whatever the width (rich wraps at 80 columns off a terminal).
        self.console.print(
            f"[{style}]{escape(line)}[/{style}]" if style else line,
            highlight=False,
            markup=bool(style),
            soft_wrap=True,
        )

    def close(self) -> None:
        return None
