"""A run directory: its config, its event log, its checkpoint, its summary.

RUN_DIR/config.json          the resolved RunConfig (primitives)
RUN_DIR/events.jsonl         every telemetry event, one per line
RUN_DIR/checkpoints/latest.pt  training state, written atomically every N epochs
RUN_DIR/summary.json         per-epoch metrics, rewritten at the end of each epoch
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from esper_core import RunConfig, to_primitives
from esper_shell.checkpoint import atomic_torch_save, safe_torch_load
from esper_shell.errors import CheckpointError

RUN_FORMAT = "esper.run"
RUN_VERSION = 1

EXISTS_MESSAGE = (
    "Run directory {path} already holds a run; continue it with --resume {path}, or choose a new --run-dir."
)
NO_RUN_MESSAGE = "No run to resume in {path}: expected {checkpoint} (a run directory made by esper-train)."
NOT_A_RUN_MESSAGE = "{path} is not an Esper training checkpoint (expected format {fmt!r} version {version})."


@attrs.frozen
class RunDirectory:
    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def events(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoints" / "latest.pt"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    def create(self, config: RunConfig) -> None:
        """Start a new run here; refuse to mix two runs in one directory."""
        if self.checkpoint.exists() or self.config.exists():
            raise CheckpointError(EXISTS_MESSAGE.format(path=self.path))
        self.path.mkdir(parents=True, exist_ok=True)
        _write_json(self.config, to_primitives(config))

    def save(self, state: dict[str, Any]) -> None:
        atomic_torch_save({"format": RUN_FORMAT, "version": RUN_VERSION, **state}, self.checkpoint)

    def load(self) -> dict[str, Any]:
        if not self.checkpoint.is_file():
            raise CheckpointError(NO_RUN_MESSAGE.format(path=self.path, checkpoint=self.checkpoint))
        payload = safe_torch_load(self.checkpoint)
        if (
            not isinstance(payload, dict)
            or payload.get("format") != RUN_FORMAT
            or payload.get("version") != RUN_VERSION
        ):
            raise CheckpointError(NOT_A_RUN_MESSAGE.format(path=self.checkpoint, fmt=RUN_FORMAT, version=RUN_VERSION))
        return payload

    def write_summary(self, summary: dict[str, Any]) -> None:
        _write_json(self.summary, summary)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
