"""A trained policy as a file: weights, input statistics, and what its inputs mean.

The file holds tensors and primitives only (it loads with the default ``torch.load``). It
records the feature layout the policy was trained with, and loading compares that layout
with the one of the run that will use it:

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
from returns.result import Failure

from esper_core.features import FeatureConfig, FeatureLayout
from esper_core.ppo_config import PPOConfig
from esper_core.serialization import from_primitives, to_primitives
from esper_shell.checkpoint import safe_torch_load
from esper_shell.errors import CheckpointError
from esper_shell.rl.normalize import NormaliserConfig, ObservationNormaliser
from esper_shell.rl.policy import PolicyNetwork

POLICY_FORMAT = "esper.policy"
POLICY_VERSION = 1
# Blueprints first: the slot block names them too, and "other blueprints" is the clearer message.
LAYOUT_FIELDS = ("blueprints", "global_names", "slot_names")

NOT_A_POLICY_MESSAGE = (
    "{path} is not an Esper policy file (expected format {fmt!r} version {version}); "
    "a PPO run writes its policy to RUN_DIR/policy.pt."
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
    if (
        not isinstance(payload, dict)
        or payload.get("format") != POLICY_FORMAT
        or payload.get("version") != POLICY_VERSION
    ):
        raise CheckpointError(NOT_A_POLICY_MESSAGE.format(path=path, fmt=POLICY_FORMAT, version=POLICY_VERSION))
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


def policy_from_payload(payload: Any, layout: FeatureLayout, *, path: Path, same_slots: bool) -> Policy:
    """Check the layout, then rebuild the network and normaliser and load their weights."""
    check_layout_matches(payload, layout, path=path, same_slots=same_slots)
    ppo = from_primitives(payload["ppo"], PPOConfig)
    if isinstance(ppo, Failure):
        raise CheckpointError(f"Policy {path}: {ppo.failure()}")
    sizes = payload["sizes"]
    network = PolicyNetwork(sizes["global_size"], sizes["slot_size"], sizes["n_blueprints"], hidden=sizes["hidden"])
    try:
        network.load_state_dict(payload["network"])
    except RuntimeError as exc:
        raise CheckpointError(f"Policy {path} does not fit its own recorded sizes {sizes}: {exc}") from exc
    normaliser = ObservationNormaliser(sizes["global_size"], sizes["slot_size"], NormaliserConfig())
    normaliser.load_state_dict(payload["normaliser"])
    return Policy(
        network=network, normaliser=normaliser, features=ppo.unwrap().features, mask_value=ppo.unwrap().mask_value
    )


def load_policy(path: Path, layout: FeatureLayout) -> Policy:
    """A policy file, for a run whose observations have ``layout`` (any slots)."""
    return policy_from_payload(safe_torch_load(path), layout, path=Path(path), same_slots=False)
