"""Reading a run directory back: its config and its event stream, replays after a resume removed.

A resumed run redoes the epochs (or PPO updates) after its last checkpoint, so the stream
may hold some of them twice; a ``resumed`` event at epoch E means "what follows replaces
everything at epoch >= E". Streams written before schema 2 (no header, no time) read too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from esper_core import EsperError

NOT_A_RUN_MESSAGE = "{path} is not a run directory: expected {path}/config.json (made by esper-train ... --run-dir)."
NO_EVENTS_MESSAGE = "{path} has no events.jsonl to report on: runs made with --run-dir write one."
BAD_LINE_MESSAGE = "{path}:{line} is not a JSON event ({reason}); the file may be truncated: remove that line."


class ReportError(EsperError):
    """A directory cannot be reported on."""


@attrs.frozen(kw_only=True)
class RunRecord:
    """One run as the report sees it. ``kind`` is "training" or "ppo"."""

    path: Path
    kind: str
    config: dict[str, Any]
    run_id: str | None
    events: tuple[dict[str, Any], ...]

    def of(self, *kinds: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["kind"] in kinds]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def label(self) -> str:
        """How the run is called in legends: controller, task and seed."""
        run = self.config["run"]
        controller = "ppo" if self.kind == "ppo" else run["controller"]["kind"]
        return f"{self.name} ({controller}, {run['task']}, seed {run['seed']})"

    @property
    def epochs(self) -> list[dict[str, Any]]:
        return [event["payload"] for event in self.of("epoch")]

    @property
    def finished(self) -> dict[str, Any] | None:
        done = self.of("run_finished")
        return done[-1]["payload"] if done else None


def read_events(path: Path) -> tuple[str | None, list[dict[str, Any]]]:
    """(run id, events in order with replays removed); header lines are dropped."""
    run_id: str | None = None
    events: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReportError(BAD_LINE_MESSAGE.format(path=path, line=number, reason=exc.msg)) from None
        if record.get("kind") == "schema":
            run_id = record.get("run_id", run_id)
            continue
        if record["kind"] == "resumed":
            replayed_from = record["epoch"]
            events = [e for e in events if e["epoch"] < replayed_from or e["kind"] == "run_started"]
        events.append(record)
    return run_id, events


def load_run(path: Path) -> RunRecord:
    config_path = path / "config.json"
    if not config_path.is_file():
        raise ReportError(NOT_A_RUN_MESSAGE.format(path=path))
    config = json.loads(config_path.read_text(encoding="utf-8"))
    kind = "ppo" if "ppo" in config and "run" in config else "training"
    events_path = path / "events.jsonl"
    if events_path.is_file():
        run_id, events = read_events(events_path)
    elif kind == "ppo" and (path / "summary.json").is_file():
        # PPO runs made before they wrote events: their summary holds the updates.
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
        run_id = None
        events = [{"kind": "update", "epoch": u["update"], "payload": u} for u in summary["updates"]]
    else:
        raise ReportError(NO_EVENTS_MESSAGE.format(path=path))
    return RunRecord(path=path, kind=kind, config=config, run_id=run_id, events=tuple(events))
