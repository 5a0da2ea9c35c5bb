"""The rule-based controller (DESIGN §10): a transparent baseline to compare learned policies with.

One action per epoch, by priority: keep a seed that has proved itself, remove one that is
hurting, grow a new one when the host has stalled, else wait. Blueprints are tried in turn;
each cull the heuristic decides penalises the culled blueprint for a while, so a blueprint
that keeps failing is skipped until its penalty has decayed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import attrs
from attrs.validators import ge, gt, instance_of, le
from returns.result import Failure, Result, Success

from esper_core.action_space import FactoredAction, LifecycleOp
from esper_core.blending import BlendAlgorithm
from esper_core.config import GateConfig, finite
from esper_core.errors import ConfigError
from esper_core.gates import gate_g5_fossilized
from esper_core.observation import Observation, slot_is_free
from esper_core.stages import SeedStage
from esper_core.state import SeedState

EMPTY_BLUEPRINTS_MESSAGE = "HeuristicConfig.blueprints must name at least one blueprint, or be None for all known ones."
DUPLICATE_BLUEPRINTS_MESSAGE = "HeuristicConfig.blueprints lists {repeated} more than once; name each blueprint once."
UNKNOWN_BLUEPRINTS_MESSAGE = (
    "HeuristicConfig.blueprints names {unknown}, unknown for this host; known blueprints: {known}. "
    "Remove them, or leave blueprints unset to use every known one."
)
DUPLICATE_PENALTY_MESSAGE = (
    "HeuristicState.penalties lists {repeated} more than once; a checkpoint holding it is corrupt, "
    "resume from another one."
)

# Stages in which a seed is still being judged on its own and may be culled for hurting accuracy.
CULL_CANDIDATE_STAGES = frozenset({SeedStage.TRAINING, SeedStage.BLENDING})


def _optional_names(names: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if names is None else tuple(names)


def _check_blueprint_names(
    _instance: object, _attribute: attrs.Attribute[tuple[str, ...] | None], names: tuple[str, ...] | None
) -> None:
    if names is None:
        return
    if not names:
        raise ConfigError(EMPTY_BLUEPRINTS_MESSAGE)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(DUPLICATE_BLUEPRINTS_MESSAGE.format(repeated=", ".join(repeated)))


@attrs.frozen(kw_only=True)
class HeuristicConfig:
    """Thresholds of the heuristic. Accuracies are percentages (0-100); epochs are counts."""

    min_epoch: int = attrs.field(default=5, validator=ge(0))
    plateau_epochs: int = attrs.field(default=3, validator=ge(0))
    # Live seeds (GERMINATED to PROBATIONARY) allowed at once before germination waits.
    max_concurrent: int = attrs.field(default=1, validator=ge(1))
    cull_after_epochs: int = attrs.field(default=5, validator=ge(0))
    cull_accuracy_drop: float = attrs.field(default=2.0, validator=[finite, ge(0.0)])
    blueprint_penalty_per_cull: float = attrs.field(default=2.0, validator=[finite, ge(0.0)])
    # Factor applied to every penalty once per decision (once per epoch).
    penalty_decay: float = attrs.field(default=0.5, validator=[finite, ge(0.0), le(1.0)])
    penalty_skip_threshold: float = attrs.field(default=3.0, validator=[finite, gt(0.0)])
    # Blueprints to try, in round-robin order; None means every known one, in registry order.
    blueprints: tuple[str, ...] | None = attrs.field(
        default=None, converter=_optional_names, validator=_check_blueprint_names
    )
    blend: BlendAlgorithm = attrs.field(default=BlendAlgorithm.SIGMOID, validator=instance_of(BlendAlgorithm))


@attrs.frozen
class BlueprintPenalty:
    blueprint: str
    # Positive: a blueprint without a penalty has no entry at all.
    penalty: float = attrs.field(validator=gt(0.0))


Penalties = tuple[BlueprintPenalty, ...]


def _check_unique_penalties(_instance: object, _attribute: attrs.Attribute[Penalties], penalties: Penalties) -> None:
    names = [entry.blueprint for entry in penalties]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(DUPLICATE_PENALTY_MESSAGE.format(repeated=", ".join(repeated)))


@attrs.frozen(kw_only=True)
class HeuristicState:
    """The heuristic's memory between epochs; checkpointed by the engine."""

    # The blueprint germinated last; the round-robin continues after it.
    last_blueprint: str | None = None
    # Only penalised blueprints appear, each once, the latest penalised last.
    penalties: Penalties = attrs.field(default=(), validator=_check_unique_penalties)


def penalty_for(state: HeuristicState, blueprint: str) -> float:
    return next((entry.penalty for entry in state.penalties if entry.blueprint == blueprint), 0.0)


def decay_penalties(state: HeuristicState, config: HeuristicConfig) -> HeuristicState:
    """Age every penalty by one epoch; a penalty that reaches zero is forgotten."""
    decayed = ((entry.blueprint, entry.penalty * config.penalty_decay) for entry in state.penalties)
    return attrs.evolve(state, penalties=tuple(BlueprintPenalty(name, value) for name, value in decayed if value > 0.0))


def add_cull_penalty(state: HeuristicState, blueprint: str, config: HeuristicConfig) -> HeuristicState:
    raised = penalty_for(state, blueprint) + config.blueprint_penalty_per_cull
    others = tuple(entry for entry in state.penalties if entry.blueprint != blueprint)
    added = (BlueprintPenalty(blueprint, raised),) if raised > 0.0 else ()
    return attrs.evolve(state, penalties=(*others, *added))


def allowed_blueprints(config: HeuristicConfig, known: Collection[str]) -> tuple[str, ...]:
    """The blueprints the round-robin visits: the configured ones this host knows, else all known."""
    if config.blueprints is None:
        return tuple(known)
    return tuple(name for name in config.blueprints if name in known)


def check_blueprints(config: HeuristicConfig, known: Collection[str]) -> Result[HeuristicConfig, ConfigError]:
    """Refuse, before training starts, a configuration naming blueprints this host cannot grow.

    ``decide`` would otherwise just never pick them, which hides the mistake.
    """
    unknown = [name for name in config.blueprints or () if name not in known]
    if unknown:
        message = UNKNOWN_BLUEPRINTS_MESSAGE.format(unknown=", ".join(unknown), known=", ".join(known) or "none")
        return Failure(ConfigError(message))
    return Success(config)


def next_blueprint(state: HeuristicState, allowed: tuple[str, ...], config: HeuristicConfig) -> str | None:
    """The next blueprint in turn after the last one germinated, skipping penalised ones; None if all are."""
    start = allowed.index(state.last_blueprint) + 1 if state.last_blueprint in allowed else 0
    rotation = allowed[start:] + allowed[:start]
    return next((name for name in rotation if penalty_for(state, name) < config.penalty_skip_threshold), None)


def is_failing(seed: SeedState, config: HeuristicConfig) -> bool:
    """A seed still on trial that has had time to help, yet accuracy fell while it was there."""
    metrics = seed.metrics
    return (
        seed.stage in CULL_CANDIDATE_STAGES
        and metrics.epochs_in_stage >= config.cull_after_epochs
        and metrics.accuracy_change_in_stage < -config.cull_accuracy_drop
    )


def may_germinate(observation: Observation, config: HeuristicConfig) -> bool:
    """The host has settled and stalled, and there is room and budget for another seed."""
    signals = observation.signals
    return (
        signals.host_stabilised
        and observation.epoch >= config.min_epoch
        and signals.plateau_epochs >= config.plateau_epochs
        and observation.live_seed_count < config.max_concurrent
        and observation.germination_budget_left
    )


WAIT_ACTION = FactoredAction(op=LifecycleOp.WAIT)


@attrs.frozen
class HeuristicController:
    """Implements ``Controller[HeuristicState]``.

    ``gates`` must be the lifecycle's own ``GateConfig`` (the engine passes it), so that the
    heuristic proposes FOSSILIZE exactly when G5 will accept it; it is not a second copy in
    the heuristic's config that could drift from the lifecycle's.
    """

    config: HeuristicConfig = attrs.field(factory=HeuristicConfig, validator=instance_of(HeuristicConfig))
    gates: GateConfig = attrs.field(factory=GateConfig, validator=instance_of(GateConfig))

    def initial_state(self) -> HeuristicState:
        return HeuristicState()

    def decide(self, state: HeuristicState, observation: Observation) -> tuple[FactoredAction, HeuristicState]:
        config = self.config
        state = decay_penalties(state, config)
        seeds = tuple(enumerate(observation.seeds))
        for index, seed in seeds:
            if seed is not None and seed.stage is SeedStage.PROBATIONARY and gate_g5_fossilized(seed, self.gates).ok:
                return FactoredAction(op=LifecycleOp.FOSSILIZE, slot_index=index), state
        for index, seed in seeds:
            if seed is not None and is_failing(seed, config):
                culled = FactoredAction(op=LifecycleOp.CULL, slot_index=index)
                return culled, add_cull_penalty(state, seed.blueprint_id, config)
        if not may_germinate(observation, config):
            return WAIT_ACTION, state
        free = next((index for index, seed in seeds if slot_is_free(seed)), None)
        blueprint = next_blueprint(state, allowed_blueprints(config, observation.blueprints), config)
        if free is None or blueprint is None:
            return WAIT_ACTION, state
        action = FactoredAction(op=LifecycleOp.GERMINATE, slot_index=free, blueprint=blueprint, blend=config.blend)
        return action, attrs.evolve(state, last_blueprint=blueprint)
