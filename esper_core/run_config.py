"""Everything that defines a training run, resolved: one record, saved with its checkpoints.

A ``RunConfig`` holds no "ask the preset later" blanks: the edge (``esper_shell.config_file``
for the CLI, ``esper_shell.runs`` for Python callers) fills every field from the task's
preset, a config file and flags, validates the whole once, and from then on the record is
the proof. Where a run executes (device, threads, data directory) is not part of what it is:
that lives in the shell's ``MachineConfig``.

The controller is a tagged union: the built-ins are described completely by their record;
``CustomControllerConfig`` names a controller object the caller passes in (and passes again
to resume).
"""

from __future__ import annotations

import math
from typing import ClassVar

import attrs
from attrs.validators import ge, gt, instance_of, le, lt, optional

from esper_core.action_space import SlotConfig
from esper_core.blending import BlendAlgorithm
from esper_core.config import LifecycleConfig
from esper_core.errors import ConfigError
from esper_core.fixed_schedule import Schedule, as_schedule
from esper_core.governor import GovernorConfig
from esper_core.heuristic import HeuristicConfig
from esper_core.signals import SignalConfig

# Far beyond any real run; a typo such as 1e9 epochs is refused rather than started.
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 1 << 24
# torch.manual_seed takes seeds in [0, 2**64); the generator's state holds them as int64 here.
MAX_SEED = (1 << 63) - 1

FINITE_MESSAGE = "{field} must be a finite number, got {value!r}"
INTEGER_MESSAGE = "{field} must be an integer, got {value!r}."
EMPTY_NAME_MESSAGE = "{field} must be a non-empty name, got {value!r}."


def _finite(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        field = f"{type(instance).__name__}.{attribute.name}"
        raise ConfigError(FINITE_MESSAGE.format(field=field, value=value), value=value)


def _integer(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        field = f"{type(instance).__name__}.{attribute.name}"
        raise ConfigError(INTEGER_MESSAGE.format(field=field, value=value), value=value)


def _name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        field = f"{type(instance).__name__}.{attribute.name}"
        raise ConfigError(EMPTY_NAME_MESSAGE.format(field=field, value=value), value=value)


def _slot_config(value: object) -> SlotConfig:
    return value if isinstance(value, SlotConfig) else SlotConfig(value)  # type: ignore[arg-type]


@attrs.frozen(kw_only=True)
class TrainingConfig:
    """SGD with Nesterov momentum, decayed by a cosine to ``final_lr_fraction`` of ``lr``."""

    epochs: int = attrs.field(default=20, validator=[_integer, ge(1), le(MAX_EPOCHS)])
    batch_size: int = attrs.field(default=64, validator=[_integer, ge(1), le(MAX_BATCH_SIZE)])
    lr: float = attrs.field(default=0.05, validator=[_finite, gt(0.0)])
    momentum: float = attrs.field(default=0.9, validator=[_finite, ge(0.0), lt(1.0)])
    weight_decay: float = attrs.field(default=5e-4, validator=[_finite, ge(0.0)])
    final_lr_fraction: float = attrs.field(default=0.0, validator=[_finite, ge(0.0), le(1.0)])


@attrs.frozen
class StaticControllerConfig:
    """The baseline: nothing ever grows."""

    kind: ClassVar[str] = "static"


@attrs.frozen(kw_only=True)
class HeuristicControllerConfig:
    """The rule-based controller (DESIGN §10) with its thresholds."""

    kind: ClassVar[str] = "heuristic"
    heuristic: HeuristicConfig = attrs.field(factory=HeuristicConfig, validator=instance_of(HeuristicConfig))


@attrs.frozen(kw_only=True)
class PolicyControllerConfig:
    """A policy trained by ``esper-train ppo``, acting greedily; ``path`` is its ``policy.pt``."""

    kind: ClassVar[str] = "policy"
    path: str = attrs.field(validator=_name)


@attrs.frozen(kw_only=True)
class FixedControllerConfig:
    """A schedule written in advance: which blueprint in which slot at which epoch (``esper_core.fixed_schedule``).

    ``blend`` None means the lifecycle's default blend.
    """

    kind: ClassVar[str] = "fixed"
    schedule: Schedule = attrs.field(converter=as_schedule)
    blend: BlendAlgorithm | None = attrs.field(default=None, validator=optional(instance_of(BlendAlgorithm)))


@attrs.frozen(kw_only=True)
class CustomControllerConfig:
    """A controller object the caller passed in; ``name`` lets resume check it gets the same kind back."""

    kind: ClassVar[str] = "custom"
    name: str = attrs.field(validator=_name)


ControllerConfig = (
    StaticControllerConfig
    | HeuristicControllerConfig
    | PolicyControllerConfig
    | FixedControllerConfig
    | CustomControllerConfig
)
CONTROLLER_CONFIGS: tuple[type, ...] = (
    StaticControllerConfig,
    HeuristicControllerConfig,
    PolicyControllerConfig,
    FixedControllerConfig,
    CustomControllerConfig,
)


@attrs.frozen(kw_only=True)
class RunConfig:
    task: str = attrs.field(validator=_name)
    slots: SlotConfig = attrs.field(converter=_slot_config)
    seed: int = attrs.field(default=0, validator=[_integer, ge(0), le(MAX_SEED)])
    max_seeds: int = attrs.field(default=3, validator=[_integer, ge(0)])
    training: TrainingConfig = attrs.field(factory=TrainingConfig, validator=instance_of(TrainingConfig))
    controller: ControllerConfig = attrs.field(
        factory=HeuristicControllerConfig, validator=instance_of(CONTROLLER_CONFIGS)
    )
    lifecycle: LifecycleConfig = attrs.field(factory=LifecycleConfig, validator=instance_of(LifecycleConfig))
    signals: SignalConfig = attrs.field(factory=SignalConfig, validator=instance_of(SignalConfig))
    governor: GovernorConfig = attrs.field(factory=GovernorConfig, validator=instance_of(GovernorConfig))
    checkpoint_every: int = attrs.field(default=1, validator=[_integer, ge(1)])
