"""A training checkpoint's state, checked whole before a resumed trainer takes any of it.

A file can be damaged or edited anywhere: a missing key, a string where a tensor belongs, an
optimizer state of another shape, a governor snapshot that would only fail at the next
rollback. Each is refused here with a ``CheckpointError`` naming the part and the file,
instead of a ``KeyError`` now or a crash epochs later.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import torch

from esper_core import GovernorState, SignalTracker, from_primitives
from esper_shell.checkpoint import FORMAT, VERSION, check_compatible, host_signature
from esper_shell.engine.summary import EpochSummary
from esper_shell.errors import CheckpointError, unwrap
from esper_shell.health import GradientHealthMonitor
from esper_shell.model import MorphogeneticModel

RUN_FIELDS: dict[str, type] = {"config": dict, "machine": dict, "trainer": dict, "controller_state": object}
PPO_FIELDS: dict[str, type] = {
    "run_config": dict,
    "ppo_config": dict,
    "machine": dict,
    "episodes": int,
    "episodes_done": int,
    "policy": dict,
    "optimizer": dict,
    "reward_scaler": dict,
    "generator": torch.Tensor,
    "history": list,
}
TRAINER_FIELDS: dict[str, type] = {
    "step": int,
    "model": dict,
    "host_optimizer": dict,
    "seed_optimizers": dict,
    "signals": dict,
    "governor": dict,
    "health": dict,
    "rng": dict,
    "history": list,
    "snapshot": dict,
}
SNAPSHOT_FIELDS: dict[str, type] = {
    "epoch": int,
    "accuracy": float,
    "model": dict,
    "host_optimizer": dict,
    "seed_optimizers": dict,
}

MISSING_MESSAGE = "{path}: the checkpoint's {where} lacks {keys}; it is damaged or not from this version of Esper."
TYPE_MESSAGE = "{path}: the checkpoint's {where}.{key} should be a {expected}, got {found}."
DOES_NOT_FIT_MESSAGE = "{path}: the checkpoint's {where} does not fit this run ({details}); it is damaged."


@attrs.frozen(kw_only=True)
class TrainerState:
    """What a trainer takes from a checkpoint, each part already checked."""

    step: int
    model: dict[str, Any]
    host_optimizer: dict[str, Any]
    seed_optimizers: dict[str, Any]
    signals: SignalTracker
    governor: GovernorState
    health: dict[str, Any]
    rng_torch: torch.Tensor
    rng_data: torch.Tensor
    history: list[EpochSummary]
    snapshot: dict[str, Any]


def check_fields(data: Any, fields: Mapping[str, type], where: str, path: Path) -> None:
    """``data`` is a dict holding every field, each of its type; else a ``CheckpointError`` naming it."""
    _fields(data, fields, where, path)


def fits(where: str, path: Path, load: Any, state: Any) -> None:
    """Load ``state`` with ``load`` (into something thrown away); what torch refuses becomes a ``CheckpointError``."""
    _fits(where, path, load, state)


def _fields(data: Any, fields: Mapping[str, type], where: str, path: Path) -> None:
    if not isinstance(data, dict):
        raise CheckpointError(TYPE_MESSAGE.format(path=path, where=where, key="", expected="dict", found=_kind(data)))
    missing = sorted(set(fields) - data.keys())
    if missing:
        raise CheckpointError(MISSING_MESSAGE.format(path=path, where=where, keys=", ".join(missing)))
    for key, expected in fields.items():
        value = data[key]
        wrong = isinstance(value, bool) or not isinstance(value, expected)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            wrong = False
        if wrong:
            found = _kind(value)
            raise CheckpointError(
                TYPE_MESSAGE.format(path=path, where=where, key=key, expected=expected.__name__, found=found)
            )


def _kind(value: Any) -> str:
    return type(value).__name__


def _fits(where: str, path: Path, load: Any, state: Any) -> None:
    """Load ``state`` into a throw-away copy: whatever torch refuses is refused here, not later."""
    try:
        load(state)
    except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as exc:
        raise CheckpointError(DOES_NOT_FIT_MESSAGE.format(path=path, where=where, details=exc)) from exc


def _seed_optimizer_states(states: dict[str, Any], where: str, path: Path) -> None:
    for slot_id, saved in states.items():
        _fields(saved, {"seed_id": str, "state": dict}, f"{where}[{slot_id!r}]", path)
        _fields(saved["state"], {"state": dict, "param_groups": list}, f"{where}[{slot_id!r}].state", path)


def _rng(state: Any, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    _fields(state, {"torch": torch.Tensor, "data": torch.Tensor}, "trainer.rng", path)
    for key in ("torch", "data"):
        _fits(f"trainer.rng.{key}", path, torch.Generator().set_state, state[key])
    return state["torch"], state["data"]


def _history(rows: list[Any], path: Path) -> list[EpochSummary]:
    history = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise CheckpointError(
                TYPE_MESSAGE.format(path=path, where="trainer.history", key=index, expected="dict", found=_kind(row))
            )
        try:
            history.append(EpochSummary(**row))
        except TypeError as exc:
            raise CheckpointError(
                DOES_NOT_FIT_MESSAGE.format(path=path, where=f"trainer.history[{index}]", details=exc)
            ) from exc
    return history


def _snapshot(
    snapshot: dict[str, Any], model: MorphogeneticModel, host_optimizer: torch.optim.Optimizer, path: Path
) -> None:
    """The governor's snapshot is what a rollback restores: checked like the model and optimizer themselves."""
    _fields(snapshot, SNAPSHOT_FIELDS, "trainer.snapshot", path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "host": host_signature(model),
        "slot_ids": list(model.slot_ids),
        "model": snapshot["model"],
        "extra": {},
    }
    try:
        check_compatible(payload, model, path=path)
    except CheckpointError as exc:
        raise CheckpointError(
            DOES_NOT_FIT_MESSAGE.format(path=path, where="trainer.snapshot.model", details=exc)
        ) from exc
    _fits(
        "trainer.snapshot.host_optimizer",
        path,
        copy.deepcopy(host_optimizer).load_state_dict,
        snapshot["host_optimizer"],
    )
    _seed_optimizer_states(snapshot["seed_optimizers"], "trainer.snapshot.seed_optimizers", path)


def checked_trainer_state(
    state: Any, model: MorphogeneticModel, host_optimizer: torch.optim.Optimizer, *, path: Path
) -> TrainerState:
    """Every part of ``state`` checked against this trainer's model and optimizer; nothing is changed."""
    _fields(state, TRAINER_FIELDS, "trainer", path)
    check_compatible(state["model"], model, path=path)
    _fits("trainer.host_optimizer", path, copy.deepcopy(host_optimizer).load_state_dict, state["host_optimizer"])
    _seed_optimizer_states(state["seed_optimizers"], "trainer.seed_optimizers", path)
    _fits("trainer.health", path, GradientHealthMonitor().load_state_dict, state["health"])
    rng_torch, rng_data = _rng(state["rng"], path)
    prefix = f"{path}: "
    _snapshot(state["snapshot"], model, host_optimizer, path)
    return TrainerState(
        step=state["step"],
        model=state["model"],
        host_optimizer=state["host_optimizer"],
        seed_optimizers=state["seed_optimizers"],
        signals=unwrap(from_primitives(state["signals"], SignalTracker), CheckpointError, prefix=prefix),
        governor=unwrap(from_primitives(state["governor"], GovernorState), CheckpointError, prefix=prefix),
        health=state["health"],
        rng_torch=rng_torch,
        rng_data=rng_data,
        history=_history(state["history"], path),
        snapshot=state["snapshot"],
    )
