"""Every lifecycle threshold, in records validated once at construction."""

from __future__ import annotations

import math
from typing import Any

import attrs
from attrs.validators import ge, gt, instance_of

from esper_core.blending import BlendAlgorithm
from esper_core.errors import ConfigError

NON_FINITE_MESSAGE = (
    "{record}.{field} = {value!r}: a config value must be a finite number (NaN passes no threshold and "
    "inf passes every one, so either would silently switch the rule off)."
)


def finite(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator for float config fields: NaN and inf are refused by name, before any range check."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(NON_FINITE_MESSAGE.format(record=type(instance).__name__, field=attribute.name, value=value))


@attrs.frozen(kw_only=True)
class GateConfig:
    """Thresholds of the gates (DESIGN §4). Accuracies are percentages."""

    min_training_epochs: int = attrs.field(default=3, validator=ge(0))
    min_gradient_ratio: float = attrs.field(default=0.05, validator=[finite, ge(0.0)])
    min_contribution: float = attrs.field(default=1.0, validator=finite)


@attrs.frozen(kw_only=True)
class LifecycleConfig:
    """Lifecycle thresholds and the blend schedule.

    ``blend_gradient_to_host`` (DESIGN §6): while BLENDING the seed reads ``h.detach()`` by
    default, so the layers upstream of the slot get only ``(1 - alpha)`` of their gradient;
    ``True`` lets the seed's path pass gradient to the host too (as in PROBATIONARY). Off by
    default; a preset turns it on only where the paired outcome study says it pays.
    """

    gates: GateConfig = attrs.field(factory=GateConfig, validator=instance_of(GateConfig))
    blend_steps: int = attrs.field(default=5, validator=ge(1))
    default_blend: BlendAlgorithm = attrs.field(default=BlendAlgorithm.SIGMOID, validator=instance_of(BlendAlgorithm))
    sigmoid_steepness: float = attrs.field(default=10.0, validator=[finite, gt(0.0)])
    probation_epochs: int = attrs.field(default=5, validator=ge(1))
    embargo_epochs: int = attrs.field(default=5, validator=ge(0))
    history_limit: int = attrs.field(default=64, validator=ge(1))
    blend_gradient_to_host: bool = attrs.field(default=False, validator=instance_of(bool))
