"""A trained policy as a file: weights, input statistics, and what its inputs mean.

The file holds tensors and primitives only (it loads with the default ``torch.load``). A
file is input like any other: every field is checked (keys, types, ranges, and the tensors
against a network of the recorded sizes built on the meta device) before anything is built,
so a damaged or hostile file is refused by name instead of failing halfway or allocating what
it asks for. It records the feature layout the policy was trained with, and loading compares
that layout with the one of the run that will use it:

- global and per-slot feature names, and the blueprints (the blueprint head's entries):
  must match, or the policy would read features in the wrong positions and name the wrong
  blueprints;
- slot ids: need not match when the policy only acts (its network is not sized by the slot
  count: a policy trained on three slots drives a six-slot host), but must match when a
  training run resumes, whose rollouts and normaliser statistics belong to its slots.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import torch
from returns.result import Failure

from esper_core.features import FeatureConfig, FeatureLayout
from esper_core.ppo_config import PPOConfig
from esper_core.serialization import from_primitives, to_primitives
from esper_shell.checkpoint import is_format, safe_torch_load
from esper_shell.errors import CheckpointError
from esper_shell.rl.normalize import NormaliserConfig, ObservationNormaliser
from esper_shell.rl.policy import PolicyNetwork

POLICY_FORMAT = "esper.policy"
POLICY_VERSION = 1
# Blueprints first: the slot block names them too, and "other blueprints" is the clearer message.
LAYOUT_FIELDS = ("blueprints", "global_names", "slot_names")
PAYLOAD_KEYS = ("layout", "sizes", "ppo", "network", "normaliser")
SIZE_KEYS = ("global_size", "slot_size", "n_blueprints", "hidden")
# Far above any policy Esper trains (hidden 64): a file asking for more is refused before allocation.
MAX_SIZE = 4096

NOT_A_POLICY_MESSAGE = (
    "{path} is not an Esper policy file (expected format {fmt!r} version {version}); "
    "a PPO run writes its policy to RUN_DIR/policy.pt."
)
MISSING_KEYS_MESSAGE = "Policy {path} is incomplete: it lacks {missing}; a PPO run writes whole policy files."
FIELD_MESSAGE = "Policy {path}: {field} must be {expected}; it holds {found!r}. The file is damaged or not Esper's."
SIZE_RANGE_MESSAGE = (
    "Policy {path}: sizes.{name} = {value!r}; it must be an integer from 1 to {limit}. The file is damaged or "
    "not Esper's."
)
SIZE_MISMATCH_MESSAGE = (
    "Policy {path}: sizes.{name} = {saved}, but its layout and PPO settings imply {implied}; the file is inconsistent."
)
TENSOR_MESSAGE = "Policy {path}: {key} is {found}; the file does not fit its own recorded sizes."
STATISTICS_MESSAGE = (
    "Policy {path}: the {part} input statistics are not finite, or have a negative variance or a non-positive count."
)
LAYOUT_MESSAGE = (
    "Policy {path} was trained with {field} {saved}, but this run has {current}. A policy only reads the "
    "features and blueprints it was trained with: use the task it was trained on, or train a new policy."
)
SLOTS_MESSAGE = (
    "Checkpoint {path} was trained with slots {saved}, but this run has slots {current}; "
    "resume with the same slots (--slots {saved_args}) or start a new run."
)


@attrs.frozen(eq=False)
class Policy:
    """A policy network with the statistics that normalise its input and the settings it reads them with."""

    network: PolicyNetwork
    normaliser: ObservationNormaliser
    features: FeatureConfig
    mask_value: float


def layout_primitives(layout: FeatureLayout) -> dict[str, list[str]]:
    return {name: list(getattr(layout, name)) for name in ("slot_ids", *LAYOUT_FIELDS)}


def policy_payload(policy: Policy, layout: FeatureLayout, ppo: PPOConfig) -> dict[str, Any]:
    return {
        "format": POLICY_FORMAT,
        "version": POLICY_VERSION,
        "layout": layout_primitives(layout),
        "sizes": dict(policy.network.sizes),
        "ppo": to_primitives(ppo),
        "network": policy.network.state_dict(),
        "normaliser": policy.normaliser.state_dict(),
    }


def check_layout_matches(payload: Any, layout: FeatureLayout, *, path: Path, same_slots: bool) -> None:
    """Raise one ``CheckpointError`` naming the saved and the current value of the first field that differs."""
    _check_structure(payload, path)
    saved, current = payload["layout"], layout_primitives(layout)
    if same_slots and saved["slot_ids"] != current["slot_ids"]:
        raise CheckpointError(
            SLOTS_MESSAGE.format(
                path=path, saved=saved["slot_ids"], current=current["slot_ids"], saved_args=" ".join(saved["slot_ids"])
            )
        )
    for field in LAYOUT_FIELDS:
        if saved[field] != current[field]:
            raise CheckpointError(
                LAYOUT_MESSAGE.format(path=path, field=field, saved=saved[field], current=current[field])
            )


def saved_blueprints(payload: Any, *, path: Path) -> tuple[str, ...]:
    """The blueprints a policy file chooses among (its structure checked first)."""
    _check_structure(payload, path)
    return tuple(payload["layout"]["blueprints"])


def _check_structure(payload: Any, path: Path) -> None:
    """Format, keys and the layout's types: what every later check may take for granted."""
    if not is_format(payload, POLICY_FORMAT, POLICY_VERSION):
        raise CheckpointError(NOT_A_POLICY_MESSAGE.format(path=path, fmt=POLICY_FORMAT, version=POLICY_VERSION))
    missing = [key for key in PAYLOAD_KEYS if key not in payload]
    if missing:
        raise CheckpointError(MISSING_KEYS_MESSAGE.format(path=path, missing=", ".join(missing)))
    layout = payload["layout"]
    layout_keys = {"slot_ids", *LAYOUT_FIELDS}
    if not isinstance(layout, dict) or set(layout) != layout_keys:
        found = sorted(map(str, layout)) if isinstance(layout, dict) else type(layout).__name__
        raise CheckpointError(
            FIELD_MESSAGE.format(path=path, field="layout", expected=sorted(layout_keys), found=found)
        )
    for name in sorted(layout_keys):
        names = layout[name]
        if not isinstance(names, list) or not all(isinstance(item, str) for item in names):
            raise CheckpointError(
                FIELD_MESSAGE.format(path=path, field=f"layout.{name}", expected="a list of strings", found=names)
            )


def _check_sizes(sizes: Any, layout: FeatureLayout, ppo: PPOConfig, path: Path) -> dict[str, int]:
    """Integers in range and consistent with the layout and the PPO config, before anything is built."""
    if not isinstance(sizes, dict) or set(sizes) != set(SIZE_KEYS):
        found = sorted(map(str, sizes)) if isinstance(sizes, dict) else type(sizes).__name__
        raise CheckpointError(FIELD_MESSAGE.format(path=path, field="sizes", expected=list(SIZE_KEYS), found=found))
    for name in SIZE_KEYS:
        value = sizes[name]
        if type(value) is not int or not 1 <= value <= MAX_SIZE:
            raise CheckpointError(SIZE_RANGE_MESSAGE.format(path=path, name=name, value=value, limit=MAX_SIZE))
    implied = {
        "global_size": layout.global_size,
        "slot_size": layout.slot_size,
        "n_blueprints": len(layout.blueprints),
        "hidden": ppo.hidden,
    }
    for name, value in implied.items():
        if sizes[name] != value:
            raise CheckpointError(SIZE_MISMATCH_MESSAGE.format(path=path, name=name, saved=sizes[name], implied=value))
    return dict(sizes)


def _check_tensors(saved: Any, expected: dict[str, torch.Tensor], *, path: Path, field: str) -> None:
    """Exactly the expected keys, each a dense tensor of the expected shape and dtype (never cast)."""
    if not isinstance(saved, dict) or set(saved) != set(expected):
        found = sorted(map(str, saved)) if isinstance(saved, dict) else type(saved).__name__
        raise CheckpointError(FIELD_MESSAGE.format(path=path, field=field, expected=sorted(expected), found=found))
    for key, reference in expected.items():
        value = saved[key]
        if type(value) is not torch.Tensor or value.layout is not torch.strided or value.is_meta:
            raise CheckpointError(TENSOR_MESSAGE.format(path=path, key=f"{field}.{key}", found=type(value).__name__))
        if value.shape != reference.shape or value.dtype != reference.dtype:
            found = f"{value.dtype} {tuple(value.shape)}"
            wanted = f"{reference.dtype} {tuple(reference.shape)}"
            raise CheckpointError(
                TENSOR_MESSAGE.format(path=path, key=f"{field}.{key}", found=f"{found}, not {wanted}")
            )


def _check_normaliser(saved: Any, sizes: dict[str, int], path: Path) -> None:
    if not isinstance(saved, dict) or set(saved) != {"global", "slot"}:
        found = sorted(map(str, saved)) if isinstance(saved, dict) else type(saved).__name__
        raise CheckpointError(
            FIELD_MESSAGE.format(path=path, field="normaliser", expected=["global", "slot"], found=found)
        )
    for part, size in (("global", sizes["global_size"]), ("slot", sizes["slot_size"])):
        stats = saved[part]
        vector = torch.empty(size, dtype=torch.float64, device="meta")
        scalar = torch.empty((), dtype=torch.float64, device="meta")
        _check_tensors(stats, {"mean": vector, "var": vector, "count": scalar}, path=path, field=f"normaliser.{part}")
        finite = all(bool(torch.isfinite(stats[key]).all()) for key in ("mean", "var", "count"))
        if not finite or bool((stats["var"] < 0).any()) or float(stats["count"]) <= 0:
            raise CheckpointError(STATISTICS_MESSAGE.format(path=path, part=part))


def policy_from_payload(payload: Any, layout: FeatureLayout, *, path: Path, same_slots: bool) -> Policy:
    """Check every field against the layout and the recorded sizes, then build the network and load it."""
    check_layout_matches(payload, layout, path=path, same_slots=same_slots)
    ppo = from_primitives(payload["ppo"], PPOConfig)
    if isinstance(ppo, Failure):
        raise CheckpointError(f"Policy {path}: {ppo.failure()}")
    sizes = _check_sizes(payload["sizes"], layout, ppo.unwrap(), path)
    with torch.device("meta"):
        shapes = PolicyNetwork(sizes["global_size"], sizes["slot_size"], sizes["n_blueprints"], hidden=sizes["hidden"])
    _check_tensors(payload["network"], shapes.state_dict(), path=path, field="network")
    _check_normaliser(payload["normaliser"], sizes, path)
    network = PolicyNetwork(sizes["global_size"], sizes["slot_size"], sizes["n_blueprints"], hidden=sizes["hidden"])
    network.load_state_dict(payload["network"], strict=True)
    normaliser = ObservationNormaliser(sizes["global_size"], sizes["slot_size"], NormaliserConfig())
    normaliser.load_state_dict(payload["normaliser"])
    return Policy(
        network=network, normaliser=normaliser, features=ppo.unwrap().features, mask_value=ppo.unwrap().mask_value
    )


def load_policy(path: Path, layout: FeatureLayout) -> Policy:
    """A policy file, for a run whose observations have ``layout`` (any slots)."""
    return policy_from_payload(safe_torch_load(path), layout, path=Path(path), same_slots=False)
