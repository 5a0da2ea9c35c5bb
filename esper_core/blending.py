"""Blend schedules: how far a seed's output has replaced the host's, per blending step.

``linear`` and ``sigmoid`` give the alpha itself. ``gated`` gives a ramp that the shell
multiplies by a learned per-sample gate, so its actual alpha is measured in the shell.
Every schedule ends at exactly 1.0 after ``total_steps`` steps; that is when the seed is
integrated and the gate (if any) is dropped.
"""

from __future__ import annotations

import enum
import math

import attrs


class BlendAlgorithm(enum.Enum):
    LINEAR = enum.auto()
    SIGMOID = enum.auto()
    GATED = enum.auto()


@attrs.frozen(kw_only=True)
class BlendSchedule:
    algorithm: BlendAlgorithm
    total_steps: int = attrs.field(validator=attrs.validators.ge(1))
    current_step: int = attrs.field(default=0, validator=attrs.validators.ge(0))

    @property
    def complete(self) -> bool:
        return self.current_step >= self.total_steps


def linear_alpha(step: int, total_steps: int) -> float:
    return _clamp(step / total_steps)


def sigmoid_alpha(step: int, total_steps: int, steepness: float) -> float:
    """A logistic ramp rescaled so that alpha(0) == 0.0 and alpha(total_steps) == 1.0 exactly."""
    if step <= 0:
        return 0.0
    if step >= total_steps:
        return 1.0

    def logistic(k: float) -> float:
        return 1.0 / (1.0 + math.exp(-steepness * (k / total_steps - 0.5)))

    low, high = logistic(0), logistic(total_steps)
    return _clamp((logistic(step) - low) / (high - low))


def schedule_alpha(schedule: BlendSchedule, steepness: float) -> float:
    """The alpha a schedule prescribes now; for ``gated`` this is the ramp (an upper bound)."""
    if schedule.algorithm is BlendAlgorithm.SIGMOID:
        return sigmoid_alpha(schedule.current_step, schedule.total_steps, steepness)
    return linear_alpha(schedule.current_step, schedule.total_steps)


def advance_schedule(schedule: BlendSchedule) -> BlendSchedule:
    return attrs.evolve(schedule, current_step=min(schedule.current_step + 1, schedule.total_steps))


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))
