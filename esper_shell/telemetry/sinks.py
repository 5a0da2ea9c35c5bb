"""Sinks receive every event; each decides what to keep. Events are written as primitives."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Protocol

from rich.console import Console
from rich.markup import escape

from esper_core import Severity, TelemetryEvent, to_primitives


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
    """One JSON object per line, appended and flushed per event so a crash loses at most one."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle: IO[str] = path.open("a", encoding="utf-8")

    def emit(self, event: TelemetryEvent) -> None:
        self._handle.write(json.dumps(to_primitives(event), sort_keys=True) + "\n")
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
        self.console.print(f"[{style}]{escape(line)}[/{style}]" if style else line, highlight=False, markup=bool(style))

    def close(self) -> None:
        return None
