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
    gates: GateConfig = attrs.field(factory=GateConfig, validator=instance_of(GateConfig))
    blend_steps: int = attrs.field(default=5, validator=ge(1))
    default_blend: BlendAlgorithm = attrs.field(default=BlendAlgorithm.SIGMOID, validator=instance_of(BlendAlgorithm))
    sigmoid_steepness: float = attrs.field(default=10.0, validator=gt(0.0))
    probation_epochs: int = attrs.field(default=5, validator=ge(1))
    embargo_epochs: int = attrs.field(default=5, validator=ge(0))
    history_limit: int = attrs.field(default=64, validator=ge(1))
