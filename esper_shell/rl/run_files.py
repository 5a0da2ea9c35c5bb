"""A PPO run directory: the shared run files plus the deployable policy.

RUN_DIR/config.json            the resolved RunConfig and the PPOConfig (primitives)
RUN_DIR/checkpoints/latest.pt  the whole training state, written atomically after every update
RUN_DIR/policy.pt              the policy alone: esper-train heuristic --policy RUN_DIR/policy.pt
RUN_DIR/summary.json           one entry per update, rewritten after each
RUN_DIR/events.jsonl           update and episode events (rl/telemetry.py)
RUN_DIR/.lock                  held by the process that runs here (see ``engine.run_files``)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from esper_shell.engine.run_files import TRAINING_RUN_MESSAGE, RunFiles, training_run_kind
from esper_shell.errors import CheckpointError

NO_RUN_MESSAGE = "No PPO run to resume in {path}: expected {checkpoint} (a run directory made by esper-train ppo)."
NOT_A_DICT_MESSAGE = "{path} is not an Esper PPO checkpoint (it does not hold a dict of training state)."


@attrs.frozen
class PPODirectory(RunFiles):
    @property
    def policy(self) -> Path:
        return self.path / "policy.pt"

    def run_outputs(self) -> tuple[Path, ...]:
        return (self.summary, self.policy)

    def durable_files(self) -> tuple[Path, ...]:
        return (self.policy,)

    def save(self, state: dict[str, Any], policy: dict[str, Any]) -> None:
        """The checkpoint first: a crash between the two leaves a resumable run with an older policy file."""
        self.write_checkpoints([(self.checkpoint, state), (self.policy, policy)])

    def load(self) -> dict[str, Any]:
        state = self.read_checkpoint(NO_RUN_MESSAGE)
        kind = training_run_kind(state)
        if kind is not None:
            command = "static" if kind == "static" else "heuristic"
            message = TRAINING_RUN_MESSAGE.format(path=self.path, kind=kind, command=command)
            raise CheckpointError(message, value=self.path)
        if not isinstance(state, dict):
            raise CheckpointError(NOT_A_DICT_MESSAGE.format(path=self.checkpoint))
        return state
