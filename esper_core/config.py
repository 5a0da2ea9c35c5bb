"""Every lifecycle threshold, in records validated once at construction."""

from __future__ import annotations

import attrs
from attrs.validators import ge, gt, instance_of

from esper_core.blending import BlendAlgorithm


@attrs.frozen(kw_only=True)
class GateConfig:
    """Thresholds of the gates (DESIGN §4). Accuracies are percentages."""

    min_training_epochs: int = attrs.field(default=3, validator=ge(0))
    min_gradient_ratio: float = attrs.field(default=0.05, validator=ge(0.0))
    min_contribution: float = attrs.field(default=1.0)


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
    sigmoid_steepness: float = attrs.field(default=10.0, validator=gt(0.0))
    probation_epochs: int = attrs.field(default=5, validator=ge(1))
    embargo_epochs: int = attrs.field(default=5, validator=ge(0))
    history_limit: int = attrs.field(default=64, validator=ge(1))
    blend_gradient_to_host: bool = attrs.field(default=False, validator=instance_of(bool))
