"""Run directories: one run per directory, its config, checkpoint and summary.

    RUN_DIR/config.json            the resolved configuration (primitives)
    RUN_DIR/checkpoints/latest.pt  the training state, written atomically
    RUN_DIR/summary.json           per-epoch (or per-update) figures, rewritten as they come
    RUN_DIR/events.jsonl           every telemetry event, one per line (docs/telemetry.md)
    RUN_DIR/telemetry.json         the run id and the telemetry options chosen at launch
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from esper_shell.checkpoint import atomic_torch_save, safe_torch_load
from esper_shell.errors import CheckpointError

RUN_FORMAT = "esper.run"
RUN_VERSION = 1

EXISTS_MESSAGE = (
    "Run directory {path} already holds a run; continue it with --resume {path}, or choose a new --run-dir."
)
NO_RUN_MESSAGE = "No run to resume in {path}: expected {checkpoint} (a run directory made by esper-train)."
NOT_A_RUN_MESSAGE = "{path} is not an Esper training checkpoint (expected format {fmt!r} version {version})."


def write_json(path: Path, data: Any) -> None:
    """Replace ``path`` whole (temp file + rename): a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


@attrs.frozen
class RunFiles:
    """What every run directory has, whatever trains in it."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoints" / "latest.pt"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    def create(self, config: dict[str, Any]) -> None:
        """Start a new run here; refuse to mix two runs in one directory."""
        if self.checkpoint.exists() or self.config.exists():
            raise CheckpointError(EXISTS_MESSAGE.format(path=self.path))
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.config, config)

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.summary, summary)

    def read_checkpoint(self, missing_message: str) -> Any:
        if not self.checkpoint.is_file():
            raise CheckpointError(missing_message.format(path=self.path, checkpoint=self.checkpoint))
        return safe_torch_load(self.checkpoint)


@attrs.frozen
class RunDirectory(RunFiles):
    """A training run (``esper-train heuristic|static``)."""

    @property
    def events(self) -> Path:
        return self.path / "events.jsonl"

    def save(self, state: dict[str, Any]) -> None:
        atomic_torch_save({"format": RUN_FORMAT, "version": RUN_VERSION, **state}, self.checkpoint)

    def load(self) -> dict[str, Any]:
        payload = self.read_checkpoint(NO_RUN_MESSAGE)
        if not isinstance(payload, dict) or payload.get("format") != RUN_FORMAT or payload.get("version") != RUN_VERSION:
            raise CheckpointError(NOT_A_RUN_MESSAGE.format(path=self.checkpoint, fmt=RUN_FORMAT, version=RUN_VERSION))
        return payload
