"""The event stream's envelope: schema version, run id and wall-clock time, stamped by the shell.

The core builds events without a clock (it is pure), so ``time`` and ``run_id`` are added
where an event leaves the process: ``JsonlSink`` writes a header line declaring the schema
each time it opens the file (a fresh run, then every resume), and stamps each event line.
The run id is made once, when the run starts, and kept in ``RUN_DIR/telemetry.json`` with
the telemetry options chosen at launch, so a resumed run keeps both.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from attrs.validators import ge, instance_of, optional

from esper_core import TelemetryEvent

EVENTS_FORMAT = "esper.events"
# 1: events without time or run id (before the header existed). 2: header line, time, run_id.
SCHEMA_VERSION = 2
META_FILE = "telemetry.json"

Clock = Callable[[], float]


def new_run_id(clock: Clock = time.time) -> str:
    """``YYYYmmdd-HHMMSS-xxxxxx``: sortable by start time, unique across machines in practice."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(clock())) + "-" + secrets.token_hex(3)


def header(run_id: str, now: float) -> dict[str, Any]:
    """The first line written at every opening of a stream."""
    return {"kind": "schema", "format": EVENTS_FORMAT, "version": SCHEMA_VERSION, "run_id": run_id, "time": now}


def stamp(record: dict[str, Any], run_id: str, now: float) -> dict[str, Any]:
    return {**record, "time": now, "run_id": run_id}


@attrs.frozen(kw_only=True)
class TelemetryOptions:
    """What a run reports besides ``events.jsonl``; chosen at launch, kept for ``--resume``."""

    tensorboard: bool = attrs.field(default=False, validator=instance_of(bool))
    csv: bool = attrs.field(default=False, validator=instance_of(bool))
    shapley_every: int | None = attrs.field(default=None, validator=optional(ge(1)))


@attrs.frozen(kw_only=True)
class RunMeta:
    run_id: str
    options: TelemetryOptions = attrs.field(factory=TelemetryOptions)


def write_meta(run_dir: Path, meta: RunMeta) -> None:
    data = {"run_id": meta.run_id, "schema_version": SCHEMA_VERSION, **attrs.asdict(meta.options)}
    tmp = run_dir / (META_FILE + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(run_dir / META_FILE)


def read_meta(run_dir: Path) -> RunMeta:
    """The run's id and options; a run made before this file existed gets a new id (``ensure_meta`` keeps it)."""
    path = run_dir / META_FILE
    if not path.is_file():
        return RunMeta(run_id=new_run_id())
    data = json.loads(path.read_text(encoding="utf-8"))
    fields = {field.name for field in attrs.fields(TelemetryOptions)}
    return RunMeta(run_id=data["run_id"], options=TelemetryOptions(**{k: v for k, v in data.items() if k in fields}))


def ensure_meta(run_dir: Path) -> RunMeta:
    """``read_meta``, writing the file if the run has none yet, so every later resume keeps the same id."""
    meta = read_meta(run_dir)
    if not (run_dir / META_FILE).is_file():
        write_meta(run_dir, meta)
    return meta


def resumed_event(epoch: int, run_id: str) -> TelemetryEvent:
    """Marks a resume: events after it with ``epoch >= this epoch`` replace any written before it."""
    return TelemetryEvent(kind="resumed", epoch=epoch, payload={"run_id": run_id})
