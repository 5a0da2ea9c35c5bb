"""Model checkpoints that load with the default ``torch.load`` (``weights_only=True``).

Everything in the file is a tensor or a primitive. Loading validates the whole file
against the model first (slots, host, seed states, keys and shapes) and only then calls a
strict ``load_state_dict``, so a mismatched checkpoint leaves the model untouched.
Saving is atomic: a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from esper_core import SEED_MODULE_STAGES, BlendAlgorithm, SeedStage, structure_slot
from esper_shell.blueprints import blueprint_names, build_seed
from esper_shell.checkpoint_files import atomic_torch_save, safe_torch_load
from esper_shell.errors import CheckpointError, unwrap
from esper_shell.gated_blend import GatedBlend
from esper_shell.model import MorphogeneticModel

FORMAT = "esper.model"
VERSION = 1
PAYLOAD_KEYS = ("host", "slot_ids", "model", "extra")
MODEL_SCHEMA_VERSION = 1
MODEL_EXTRA_KEYS = frozenset({"schema", "epoch", "seeds_created"})

TensorSpec = tuple[torch.Size, torch.dtype]

NOT_ESPER_MESSAGE = "{path} is not an Esper model checkpoint (expected format {fmt!r}, version {version})."
SLOTS_MESSAGE = "Checkpoint slots {saved} differ from this model's slots {current}; build the model with slots={saved}."
HOST_MESSAGE = "Checkpoint was saved from host {saved}; this model's host is {current}. Build the same host to load it."
KEYS_MESSAGE = "Checkpoint does not match the model's parameters: {details}."
SLOT_STATE_MESSAGE = "Slot {slot}: the checkpoint holds the state of slot {other} there; it was saved from other slots."
PAYLOAD_KEYS_MESSAGE = "{path} is not a complete Esper model checkpoint: it lacks {missing}."
FIELD_TYPE_MESSAGE = "{path}: the checkpoint's {field!r} must be a dict; it holds a {found}."
MODEL_EXTRA_KEYS_MESSAGE = "The model's own state (_extra_state) must be a dict with keys {expected}; got {found}."
MODEL_SCHEMA_MESSAGE = "The model's state has schema version {found!r}; this version of Esper reads version {expected}."
MODEL_COUNTER_MESSAGE = "The model's state has {name} = {found!r}; it must be a non-negative integer."
BLUEPRINT_MESSAGE = "Slot {slot}: blueprint {blueprint!r} is not registered for {topology} hosts (known: {known})."


def host_signature(model: MorphogeneticModel) -> dict[str, Any]:
    host = model.host
    return {
        "class": type(host).__name__,
        "topology": host.topology,
        "injection_points": dict(host.injection_points),
    }


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


def same_primitives(saved: Any, expected: Any) -> bool:
    """``saved == expected`` for trees of primitives, and False (never an error) for anything else.

    A file may hold a tensor where a string belongs, and ``tensor == "x"`` neither is False nor
    raises a user error; types must match exactly (``True`` is not ``1`` here).
    """
    if type(saved) is not type(expected):
        return False
    if isinstance(expected, dict):
        return saved.keys() == expected.keys() and all(same_primitives(saved[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return len(saved) == len(expected) and all(map(same_primitives, saved, expected))
    return isinstance(expected, (str, int, float, type(None))) and saved == expected


def is_format(payload: Any, fmt: str, version: int) -> bool:
    return (
        isinstance(payload, dict)
        and same_primitives(payload.get("format"), fmt)
        and (same_primitives(payload.get("version"), version))
    )


def check_compatible(payload: Any, model: MorphogeneticModel, *, path: Path) -> None:
    """Raise one ``CheckpointError`` naming what differs; change nothing."""
    if not is_format(payload, FORMAT, VERSION):
        raise CheckpointError(NOT_ESPER_MESSAGE.format(path=path, fmt=FORMAT, version=VERSION))
    missing = [key for key in PAYLOAD_KEYS if key not in payload]
    if missing:
        raise CheckpointError(PAYLOAD_KEYS_MESSAGE.format(path=path, missing=", ".join(missing)))
    if not same_primitives(payload["slot_ids"], list(model.slot_ids)):
        raise CheckpointError(SLOTS_MESSAGE.format(saved=payload["slot_ids"], current=list(model.slot_ids)))
    if not same_primitives(payload["host"], host_signature(model)):
        raise CheckpointError(HOST_MESSAGE.format(saved=payload["host"], current=host_signature(model)))
    if not isinstance(payload["extra"], dict):
        raise CheckpointError(
            FIELD_TYPE_MESSAGE.format(path=path, field="extra", found=type(payload["extra"]).__name__)
        )
    state_dict = payload["model"]
    if not isinstance(state_dict, dict):
        raise CheckpointError(FIELD_TYPE_MESSAGE.format(path=path, field="model", found=type(state_dict).__name__))
    odd_keys = sorted(repr(key) for key in state_dict if not isinstance(key, str))
    if odd_keys:
        raise CheckpointError(KEYS_MESSAGE.format(details=f"keys that are not strings: {', '.join(odd_keys[:5])}"))
    _check_model_extra(state_dict.get("_extra_state"))
    expected = _expected_tensors(model, state_dict)
    _compare_tensors(expected, state_dict)


def _check_model_extra(extra: Any) -> None:
    """The model's own counters (``MorphogeneticModel.get_extra_state``): exact keys, non-negative ints."""
    if not isinstance(extra, dict) or set(extra) != MODEL_EXTRA_KEYS:
        found = sorted(map(str, extra)) if isinstance(extra, dict) else type(extra).__name__
        raise CheckpointError(MODEL_EXTRA_KEYS_MESSAGE.format(expected=sorted(MODEL_EXTRA_KEYS), found=found))
    if type(extra["schema"]) is not int or extra["schema"] != MODEL_SCHEMA_VERSION:
        raise CheckpointError(MODEL_SCHEMA_MESSAGE.format(found=extra["schema"], expected=MODEL_SCHEMA_VERSION))
    for name in ("epoch", "seeds_created"):
        if type(extra[name]) is not int or extra[name] < 0:
            raise CheckpointError(MODEL_COUNTER_MESSAGE.format(name=name, found=extra[name]))


def _expected_tensors(model: MorphogeneticModel, state_dict: Mapping[str, Any]) -> dict[str, TensorSpec | None]:
    """Key -> (shape, dtype) the checkpoint must hold, with seeds rebuilt on the meta device (no memory)."""
    expected: dict[str, TensorSpec | None] = {"_extra_state": None}
    for key, value in model.host.state_dict().items():
        expected[f"host.{key}"] = (value.shape, value.dtype)
    topology = model.host.topology
    known = blueprint_names(topology)
    for slot_id, slot in model.seed_slots.items():
        prefix = f"seed_slots.{slot_id}."
        extra = state_dict.get(prefix + "_extra_state")
        restored = structure_slot(extra, blend_gradient_to_host=slot.blend_gradient_to_host)
        seed_state = unwrap(restored, CheckpointError, prefix=f"Slot {slot_id}: ")
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
            for key, spec in _seed_tensors(slot.topology, slot.channels, modules, gated):
                expected[prefix + key] = spec
    return expected


@functools.lru_cache(maxsize=256)
def _seed_tensors(
    topology: str, channels: int, blueprint: str | None, gated: bool
) -> tuple[tuple[str, TensorSpec], ...]:
    """Parameter and buffer shapes and dtypes of a slot's seed (and gate), built once on the meta device."""
    specs: list[tuple[str, TensorSpec]] = []
    with torch.device("meta"):
        if blueprint is not None:
            seed = build_seed(topology, blueprint, channels)
            specs += [(f"seed.{key}", (value.shape, value.dtype)) for key, value in seed.state_dict().items()]
        if gated:
            gate = GatedBlend(channels)
            specs += [(f"gate.{key}", (value.shape, value.dtype)) for key, value in gate.state_dict().items()]
    return tuple(specs)


def _compare_tensors(expected: Mapping[str, TensorSpec | None], state_dict: Mapping[str, Any]) -> None:
    """Keys, then types, shapes and dtypes: a float64 or int64 where float32 belongs is refused, never cast."""
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    not_tensors, wrong_shape, wrong_dtype = [], [], []
    for key, spec in expected.items():
        if spec is None or key not in state_dict:
            continue
        value = state_dict[key]
        if type(value) is not torch.Tensor or value.layout is not torch.strided or value.is_meta:
            not_tensors.append(f"{key} ({type(value).__name__})")
        elif value.shape != spec[0]:
            wrong_shape.append(f"{key} {tuple(value.shape)} != {tuple(spec[0])}")
        elif value.dtype != spec[1]:
            wrong_dtype.append(f"{key} {value.dtype} != {spec[1]}")
    problems = [
        f"{label}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"
        for label, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("not a tensor", not_tensors),
            ("shape mismatch", wrong_shape),
            ("dtype mismatch", wrong_dtype),
        )
        if items
    ]
    if problems:
        raise CheckpointError(KEYS_MESSAGE.format(details="; ".join(problems)))
