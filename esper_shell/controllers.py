"""Composition: the controller object a ``ControllerConfig`` describes.

The engine takes a ``Controller`` and never asks which kind it is; this module, above both
the engine and the RL package, is the one place that turns a config into an object.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from esper_core import (
    ConfigError,
    Controller,
    ControllerConfig,
    CustomControllerConfig,
    FixedControllerConfig,
    FixedScheduleController,
    HeuristicController,
    HeuristicControllerConfig,
    LifecycleConfig,
    PolicyControllerConfig,
    SlotConfig,
    StaticController,
    StaticControllerConfig,
    check_blueprints,
    check_schedule,
)
from esper_shell.errors import unwrap
from esper_shell.rl.controller import load_policy_controller

CUSTOM_MISSING_MESSAGE = (
    "This run was driven by your controller {name!r}: pass it again, e.g. resume(run_dir, controller={name}(...))."
)
CUSTOM_MISMATCH_MESSAGE = (
    "This run was driven by controller {saved!r}, not {given!r}: pass the same kind of controller to continue it."
)
BUILT_IN_MESSAGE = (
    "This run is driven by the built-in {kind} controller, which its config describes; do not pass a controller."
)


def controller_name(controller: Controller[Any]) -> str:
    """How a run's config names a controller object it was given."""
    return type(controller).__qualname__


def build_controller(
    config: ControllerConfig,
    *,
    slots: SlotConfig,
    blueprints: Sequence[str],
    lifecycle: LifecycleConfig,
    given: Controller[Any] | None = None,
) -> Controller[Any]:
    """The controller for a run with these slots, the host's blueprints and the run's lifecycle gates."""
    if given is not None and not isinstance(config, CustomControllerConfig):
        raise ConfigError(BUILT_IN_MESSAGE.format(kind=config.kind), value=given)
    match config:
        case StaticControllerConfig():
            return StaticController()
        case HeuristicControllerConfig(heuristic=heuristic):
            return HeuristicController(unwrap(check_blueprints(heuristic, blueprints)), lifecycle.gates)
        case FixedControllerConfig(schedule=schedule, blend=blend):
            checked = unwrap(check_schedule(schedule, slots, blueprints))
            return FixedScheduleController(schedule=checked, gates=lifecycle.gates, blend=blend)
        case PolicyControllerConfig(path=path):
            return load_policy_controller(Path(path), slots, blueprints, gates=lifecycle.gates)
        case CustomControllerConfig(name=name):
            if given is None:
                raise ConfigError(CUSTOM_MISSING_MESSAGE.format(name=name), value=name)
            if controller_name(given) != name:
                raise ConfigError(CUSTOM_MISMATCH_MESSAGE.format(saved=name, given=controller_name(given)), value=given)
            return given
