"""Everything that defines a training run, as one record saved with its checkpoints.

Fields left ``None`` take the task preset's value (a nested table given in a config file
replaces the preset's record whole; its unspecified fields take the record's defaults).
Resolution is done by the shell, which knows the presets. A config file is this record's primitives (TOML tables for the nested
records); unknown keys are errors, never ignored.
"""

from __future__ import annotations

import attrs
from attrs.validators import ge, in_, instance_of, optional

from esper_core.config import LifecycleConfig
from esper_core.governor import GovernorConfig
from esper_core.heuristic import HeuristicConfig
from esper_core.signals import SignalConfig
from esper_core.slot_ids import parse_slot_id

CONTROLLERS = ("heuristic", "static")


def _slot_tuple(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    slots = tuple(value)  # type: ignore[call-overload]
    for slot_id in slots:
        parse_slot_id(slot_id)
    return slots


@attrs.frozen(kw_only=True)
class RunConfig:
    task: str = "mnist1d"
    controller: str = attrs.field(default="heuristic", validator=in_(CONTROLLERS))
    epochs: int | None = attrs.field(default=None, validator=optional(ge(1)))
    seed: int = 0
    max_seeds: int | None = attrs.field(default=None, validator=optional(ge(0)))
    slots: tuple[str, ...] | None = attrs.field(default=None, converter=_slot_tuple)
    device: str = "auto"
    threads: int | None = attrs.field(default=None, validator=optional(ge(1)))
    data_dir: str | None = None
    checkpoint_every: int = attrs.field(default=1, validator=ge(1))
    # A policy file from `esper-train ppo` (RUN_DIR/policy.pt): when set it decides instead of
    # the heuristic's rules. Recorded here so that a resumed run keeps using it.
    policy: str | None = None
    lifecycle: LifecycleConfig | None = attrs.field(default=None, validator=optional(instance_of(LifecycleConfig)))
    heuristic: HeuristicConfig | None = attrs.field(default=None, validator=optional(instance_of(HeuristicConfig)))
    signals: SignalConfig | None = attrs.field(default=None, validator=optional(instance_of(SignalConfig)))
    governor: GovernorConfig = attrs.field(factory=GovernorConfig, validator=instance_of(GovernorConfig))
