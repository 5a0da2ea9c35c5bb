"""A PPO run directory: its configs, its checkpoint, its deployable policy, its per-update log.

RUN_DIR/config.json            the resolved RunConfig and the PPOConfig (primitives)
RUN_DIR/checkpoints/latest.pt  the whole training state, written atomically after every update
RUN_DIR/policy.pt              the policy alone: esper-train heuristic --policy RUN_DIR/policy.pt
RUN_DIR/summary.json           one entry per update, rewritten after each
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from esper_shell.checkpoint import atomic_torch_save, safe_torch_load
from esper_shell.errors import CheckpointError

EXISTS_MESSAGE = (
    "Run directory {path} already holds a run; continue it with --resume {path}, or choose a new --run-dir."
)
NO_RUN_MESSAGE = "No PPO run to resume in {path}: expected {checkpoint} (a run directory made by esper-train ppo)."
NOT_A_DICT_MESSAGE = "{path} is not an Esper PPO checkpoint (it does not hold a dict of training state)."


@attrs.frozen
class PPODirectory:
    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoints" / "latest.pt"

    @property
    def policy(self) -> Path:
        return self.path / "policy.pt"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    def create(self, config: dict[str, Any]) -> None:
        """Start a new run here; refuse to mix two runs in one directory."""
        if self.checkpoint.exists() or self.config.exists():
            raise CheckpointError(EXISTS_MESSAGE.format(path=self.path))
        self.path.mkdir(parents=True, exist_ok=True)
        _write_json(self.config, config)

    def save(self, state: dict[str, Any], policy: dict[str, Any]) -> None:
        """The checkpoint first: a crash between the two leaves a resumable run with an older policy file."""
        atomic_torch_save(state, self.checkpoint)
        atomic_torch_save(policy, self.policy)

    def load(self) -> dict[str, Any]:
        if not self.checkpoint.is_file():
            raise CheckpointError(NO_RUN_MESSAGE.format(path=self.path, checkpoint=self.checkpoint))
        state = safe_torch_load(self.checkpoint)
        if not isinstance(state, dict):
            raise CheckpointError(NOT_A_DICT_MESSAGE.format(path=self.checkpoint))
        return state

    def write_summary(self, summary: dict[str, Any]) -> None:
        _write_json(self.summary, summary)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
