"""Model checkpoints that load with the default ``torch.load`` (``weights_only=True``).

Everything in the file is a tensor or a primitive. Loading validates the whole file
against the model first (slots, host, seed states, keys and shapes) and only then calls a
strict ``load_state_dict``, so a mismatched checkpoint leaves the model untouched.
Saving is atomic: a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import functools
import os
import pickle
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from returns.result import Failure

from esper_core import SEED_MODULE_STAGES, BlendAlgorithm, SeedStage, structure_slot
from esper_shell.blueprints import blueprint_names, build_seed
from esper_shell.errors import CheckpointError
from esper_shell.gated_blend import GatedBlend
from esper_shell.model import MorphogeneticModel

FORMAT = "esper.model"
VERSION = 1

MISSING_MESSAGE = "No checkpoint at {path}: check the path (a run directory keeps its checkpoints in checkpoints/)."
UNSAFE_MESSAGE = (
    "Refusing {path}: it holds pickled Python objects beyond tensors and primitives, which "
    "torch.load(weights_only=True) will not execute. Esper checkpoints never contain them; only "
    "load files you trust. Details: {details}"
)
CORRUPT_MESSAGE = "Cannot read {path} as a torch checkpoint (truncated or not a checkpoint?): {details}"
NOT_ESPER_MESSAGE = "{path} is not an Esper model checkpoint (expected format {fmt!r}, version {version})."
SLOTS_MESSAGE = "Checkpoint slots {saved} differ from this model's slots {current}; build the model with slots={saved}."
HOST_MESSAGE = "Checkpoint was saved from host {saved}; this model's host is {current}. Build the same host to load it."
KEYS_MESSAGE = "Checkpoint does not match the model's parameters: {details}."
SLOT_STATE_MESSAGE = "Slot {slot}: the checkpoint holds the state of slot {other} there; it was saved from other slots."
BLUEPRINT_MESSAGE = "Slot {slot}: blueprint {blueprint!r} is not registered for {topology} hosts (known: {known})."


def host_signature(model: MorphogeneticModel) -> dict[str, Any]:
    host = model.host
    return {
        "class": type(host).__name__,
        "topology": host.topology,
        "injection_points": dict(host.injection_points),
    }


def atomic_torch_save(payload: Mapping[str, Any], path: Path) -> None:
    """Write to a temp file in the same directory, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(dict(payload), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def safe_torch_load(path: Path, *, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load`` with its safe default, turning every failure into a ``CheckpointError``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(MISSING_MESSAGE.format(path=path))
    try:
        return torch.load(path, map_location=map_location)
    except pickle.UnpicklingError as exc:
        # torch refuses both pickled objects (an unsupported GLOBAL) and plain garbage this way.
        lines = str(exc).splitlines()
        refused = next((line.strip() for line in lines if "GLOBAL" in line.upper()), None)
        if refused is None:
            raise CheckpointError(CORRUPT_MESSAGE.format(path=path, details=lines[0] if lines else exc)) from exc
        raise CheckpointError(UNSAFE_MESSAGE.format(path=path, details=refused)) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(CORRUPT_MESSAGE.format(path=path, details=exc)) from exc


def model_payload(model: MorphogeneticModel, *, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The model checkpoint as a dict: what it was built from, its state, and caller extras."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "host": host_signature(model),
        "slot_ids": list(model.slot_ids),
        "model": model.state_dict(),
        "extra": dict(extra or {}),
    }


def restore_model(payload: Any, model: MorphogeneticModel, *, path: Path) -> None:
    """Validate ``payload`` against ``model`` completely, then load it strictly."""
    check_compatible(payload, model, path=path)
    model.load_state_dict(payload["model"], strict=True)


def save_checkpoint(path: Path, model: MorphogeneticModel, *, extra: Mapping[str, Any] | None = None) -> None:
    atomic_torch_save(model_payload(model, extra=extra), path)


def load_checkpoint(path: Path, model: MorphogeneticModel) -> dict[str, Any]:
    """Restore ``model`` (seeds, stages, schedules, weights) and return the checkpoint's ``extra``."""
    payload = safe_torch_load(path)
    restore_model(payload, model, path=Path(path))
    return payload["extra"]


def check_compatible(payload: Any, model: MorphogeneticModel, *, path: Path) -> None:
    """Raise one ``CheckpointError`` naming what differs; change nothing."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or payload.get("version") != VERSION:
        raise CheckpointError(NOT_ESPER_MESSAGE.format(path=path, fmt=FORMAT, version=VERSION))
    if payload.get("slot_ids") != list(model.slot_ids):
        raise CheckpointError(SLOTS_MESSAGE.format(saved=payload.get("slot_ids"), current=list(model.slot_ids)))
    if payload.get("host") != host_signature(model):
        raise CheckpointError(HOST_MESSAGE.format(saved=payload.get("host"), current=host_signature(model)))
    state_dict = payload.get("model")
    if not isinstance(state_dict, dict):
        raise CheckpointError(NOT_ESPER_MESSAGE.format(path=path, fmt=FORMAT, version=VERSION))
    expected = _expected_shapes(model, state_dict)
    _compare_shapes(expected, state_dict)


def _expected_shapes(model: MorphogeneticModel, state_dict: Mapping[str, Any]) -> dict[str, torch.Size | None]:
    """Key → shape the checkpoint must have, with seeds rebuilt on the meta device (no memory)."""
    expected: dict[str, torch.Size | None] = {"_extra_state": None}
    for key, value in model.host.state_dict().items():
        expected[f"host.{key}"] = value.shape
    topology = model.host.topology
    known = blueprint_names(topology)
    for slot_id, slot in model.seed_slots.items():
        prefix = f"seed_slots.{slot_id}."
        extra = state_dict.get(prefix + "_extra_state")
        restored = structure_slot(extra)
        if isinstance(restored, Failure):
            raise CheckpointError(f"Slot {slot_id}: {restored.failure()}")
        seed_state = restored.unwrap()
        if seed_state is not None and seed_state.slot_id != slot_id:
            raise CheckpointError(SLOT_STATE_MESSAGE.format(slot=slot_id, other=seed_state.slot_id))
        if seed_state is not None and seed_state.blueprint_id not in known:
            raise CheckpointError(
                BLUEPRINT_MESSAGE.format(
                    slot=slot_id, blueprint=seed_state.blueprint_id, topology=topology, known=", ".join(known)
                )
            )
        expected[prefix + "_extra_state"] = None
        if seed_state is not None:
            gated = seed_state.stage is SeedStage.BLENDING and seed_state.blend_algorithm is BlendAlgorithm.GATED
            modules = seed_state.blueprint_id if seed_state.stage in SEED_MODULE_STAGES else None
            for key, shape in _seed_shapes(slot.topology, slot.channels, modules, gated):
                expected[prefix + key] = shape
    return expected


@functools.lru_cache(maxsize=256)
def _seed_shapes(
    topology: str, channels: int, blueprint: str | None, gated: bool
) -> tuple[tuple[str, torch.Size], ...]:
    """Parameter and buffer shapes of a slot's seed (and gate), built once on the meta device."""
    shapes: list[tuple[str, torch.Size]] = []
    with torch.device("meta"):
        if blueprint is not None:
            seed = build_seed(topology, blueprint, channels)
            shapes += [(f"seed.{key}", value.shape) for key, value in seed.state_dict().items()]
        if gated:
            gate = GatedBlend(channels)
            shapes += [(f"gate.{key}", value.shape) for key, value in gate.state_dict().items()]
    return tuple(shapes)


def _compare_shapes(expected: Mapping[str, torch.Size | None], state_dict: Mapping[str, Any]) -> None:
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = sorted(
        f"{key} {tuple(state_dict[key].shape)} != {tuple(shape)}"
        for key, shape in expected.items()
        if shape is not None and key in state_dict and getattr(state_dict[key], "shape", None) != shape
    )
    problems = [
        f"{label}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong))
        if items
    ]
    if problems:
        raise CheckpointError(KEYS_MESSAGE.format(details="; ".join(problems)))
