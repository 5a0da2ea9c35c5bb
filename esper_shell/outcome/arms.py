"""The arms of the outcome protocol: ways to train one seed, all compared with the static host.

``static`` (always run; it is the reference) trains the preset's host alone, cached.
``heuristic`` uses the task preset's heuristic, ``fixed`` a written schedule, ``policy`` a
learned policy file. ``from-scratch`` trains, per seed, the final architecture of another
arm's run of that seed (the heuristic's by default) from epoch 0 with fresh weights.
Each arm sees the same seed's data split, host init and batch order: the engine fixes
those by the seed alone, whatever the controller does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import attrs

from esper_core import (
    BlendAlgorithm,
    ConfigError,
    ControllerConfig,
    FixedControllerConfig,
    Germination,
    PolicyControllerConfig,
    RunConfig,
)
from esper_shell.engine.device import MachineConfig
from esper_shell.engine.run import Run
from esper_shell.outcome.architecture import Architecture, architecture_of_run, start_from_scratch
from esper_shell.outcome.cache import StaticBaseline, static_baseline, static_config, train_static
from esper_shell.runs import start, train

STATIC = "static"
HEURISTIC = "heuristic"
FROM_SCRATCH = "from-scratch"

COPIES_MISSING_MESSAGE = (
    "Arm {arm!r} trains the final architecture of arm {copies!r}, which is not in the comparison; add it before."
)
DUPLICATE_ARM_MESSAGE = "Arm names must be unique; {name!r} appears twice (name one of them differently)."


@attrs.frozen(kw_only=True)
class ArmRun:
    """One arm's run on one seed."""

    seed: int
    final_accuracy: float
    params: int
    accuracies: tuple[float, ...] = attrs.field(converter=tuple)
    # What the run ended with (None for the static host, which has no seeds).
    architecture: Architecture | None = None


@attrs.frozen(kw_only=True)
class Arm:
    """A named way to train a seed: a controller over the task's run config, or a from-scratch copy.

    ``controller`` None means the config's own controller (a task preset's is its heuristic).
    ``copies`` names the arm whose final architecture this one trains from epoch 0.
    """

    name: str
    controller: ControllerConfig | None = None
    copies: str | None = None

    def config_for(self, config: RunConfig, seed: int) -> RunConfig:
        if self.copies is not None:
            return static_config(config, seed)
        controller = self.controller if self.controller is not None else config.controller
        return attrs.evolve(config, seed=seed, controller=controller)


def heuristic_arm() -> Arm:
    return Arm(name=HEURISTIC)


def from_scratch_arm(copies: str = HEURISTIC) -> Arm:
    return Arm(name=FROM_SCRATCH, copies=copies)


def fixed_arm(schedule: tuple[Germination, ...], *, blend: BlendAlgorithm | None = None, name: str = "fixed") -> Arm:
    return Arm(name=name, controller=FixedControllerConfig(schedule=schedule, blend=blend))


def policy_arm(path: Path, *, name: str = "policy") -> Arm:
    return Arm(name=name, controller=PolicyControllerConfig(path=str(path)))


def check_arms(arms: tuple[Arm, ...]) -> None:
    """Unique names; a from-scratch arm comes after the arm it copies."""
    seen: set[str] = {STATIC}
    for arm in arms:
        if arm.name in seen:
            raise ConfigError(DUPLICATE_ARM_MESSAGE.format(name=arm.name), value=arm.name)
        if arm.copies is not None and arm.copies not in seen - {STATIC}:
            raise ConfigError(COPIES_MISSING_MESSAGE.format(arm=arm.name, copies=arm.copies), value=arm.copies)
        seen.add(arm.name)


def run_static(
    task: str, config: RunConfig, seed: int, *, machine: MachineConfig, cache_dir: Path | None, use_cache: bool
) -> ArmRun:
    baseline: StaticBaseline = (
        static_baseline(task, config, seed, machine=machine, cache_dir=cache_dir)
        if use_cache
        else train_static(task, static_config(config, seed), machine)
    )
    return ArmRun(
        seed=seed, final_accuracy=baseline.final_accuracy, params=baseline.params, accuracies=baseline.accuracies
    )


def finished_run(run: Run, seed: int) -> ArmRun:
    """Train ``run`` to the end and record it as an arm's run on ``seed``."""
    train(run)
    metrics = run.metrics()
    return ArmRun(
        seed=seed,
        final_accuracy=metrics["final_accuracy"],
        params=metrics["params"],
        accuracies=tuple(summary.val_accuracy for summary in run.history),
        architecture=architecture_of_run(run),
    )


def start_arm(
    arm: Arm, task: str, config: RunConfig, seed: int, *, machine: MachineConfig, earlier: Mapping[str, ArmRun]
) -> Run:
    """``arm``'s run on ``seed``, ready to train; ``earlier`` holds this seed's runs of the arms before it."""
    arm_config = arm.config_for(config, seed)
    if arm.copies is None:
        return start(task, arm_config, machine=machine)
    architecture = earlier[arm.copies].architecture
    if architecture is None:
        architecture = Architecture(task=config.task, slots=config.slots, fossilized=())
    return start_from_scratch(task, arm_config, architecture, machine=machine)


def run_arm(
    arm: Arm, task: str, config: RunConfig, seed: int, *, machine: MachineConfig, earlier: Mapping[str, ArmRun]
) -> ArmRun:
    """Train ``arm`` on ``seed`` to the end."""
    return finished_run(start_arm(arm, task, config, seed, machine=machine, earlier=earlier), seed)
