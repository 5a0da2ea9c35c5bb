"""The seed lifecycle as a reducer.

``on_enter_stage`` is the only function that changes a seed's stage; every path that
moves a seed (``advance_stage`` on request, ``step_epoch`` once per epoch, ``germinate``,
``cull``, ``fossilize``) ends in it, so a transition has the same entry effects however it
was triggered. Each function returns the new state and the effects the shell must execute.
"""

from __future__ import annotations

from collections.abc import Collection

import attrs
from returns.result import Failure, Result, Success

from esper_core.blending import BlendAlgorithm, BlendSchedule, advance_schedule, schedule_alpha
from esper_core.config import LifecycleConfig
from esper_core.effects import BuildGate, BuildSeed, DiscardGate, DropSeed, Effect, Emit
from esper_core.errors import EsperError, GateFailedError, IllegalTransitionError, LifecycleError
from esper_core.gates import GateResult, gate_for, gate_g0_germinate
from esper_core.slot_ids import parse_slot_id_result
from esper_core.stages import SeedStage, is_legal, legal_targets
from esper_core.state import SeedMetrics, SeedState, StageRecord
from esper_core.telemetry import Severity, TelemetryEvent

Step = tuple[SeedState, tuple[Effect, ...]]

ILLEGAL_MESSAGE = "Seed {seed!r} in slot {slot} cannot move from {stage} to {target}; legal targets: {legal}."
GATE_MESSAGE = "Seed {seed!r} in slot {slot} cannot enter {target}: gate {gate} failed: {failed}."
GERMINATE_ONLY_MESSAGE = (
    "Seed {seed!r} in slot {slot}: a seed enters GERMINATED only through germinate(), which names its blueprint."
)
NOT_GATED_MESSAGE = "Seed {seed!r} in slot {slot}: a measured alpha is recorded only for gated blending in BLENDING (stage {stage}, blend {blend})."
ALPHA_RANGE_MESSAGE = "Measured alpha must lie in [0, 1], got {alpha!r}."


@attrs.frozen(kw_only=True)
class StageContext:
    """What a lifecycle step needs from outside: the epoch, the time (passed in) and the config."""

    epoch: int
    timestamp: float
    config: LifecycleConfig = attrs.field(factory=LifecycleConfig)


def on_enter_stage(state: SeedState, new_stage: SeedStage, ctx: StageContext) -> Step:
    """Enter ``new_stage`` and apply its entry effects. Callers check legality and gates first."""
    effects: list[Effect] = []
    if state.stage is SeedStage.BLENDING and state.blend_algorithm is BlendAlgorithm.GATED:
        effects.append(DiscardGate())
    current = state.metrics.current_accuracy
    metrics = attrs.evolve(state.metrics, epochs_in_stage=0, accuracy_at_stage_start=current)
    changes: dict[str, object] = {}
    match new_stage:
        case SeedStage.GERMINATED:
            metrics = SeedMetrics(
                accuracy_at_germination=current,
                accuracy_at_stage_start=current,
                current_accuracy=current,
                best_accuracy=current,
                seed_param_count=state.metrics.seed_param_count,
                host_param_count=state.metrics.host_param_count,
            )
            changes = {"alpha": 0.0, "blend": None}
            effects.append(BuildSeed(state.blueprint_id))
        case SeedStage.TRAINING:
            changes = {"alpha": 0.0}
        case SeedStage.BLENDING:
            schedule = BlendSchedule(algorithm=state.blend_algorithm, total_steps=ctx.config.blend_steps)
            metrics = attrs.evolve(metrics, accuracy_at_blending_start=current)
            changes = {"blend": schedule, "alpha": schedule_alpha(schedule, ctx.config.sigmoid_steepness)}
            if state.blend_algorithm is BlendAlgorithm.GATED:
                effects.append(BuildGate())
        case SeedStage.PROBATIONARY | SeedStage.FOSSILIZED:
            changes = {"blend": None, "alpha": 1.0}
        case SeedStage.CULLED:
            changes = {"blend": None, "alpha": 0.0}
            effects.append(DropSeed())
        case SeedStage.EMBARGOED:
            changes = {"embargo_remaining": ctx.config.embargo_epochs}
        case SeedStage.DORMANT:
            changes = {"blend": None, "alpha": 0.0, "embargo_remaining": 0}
    history = (*state.history, StageRecord(new_stage, ctx.epoch, ctx.timestamp))[-ctx.config.history_limit :]
    new_state = attrs.evolve(
        state, stage=new_stage, metrics=metrics, stage_entered_at=ctx.timestamp, history=history, **changes
    )
    effects.append(
        Emit(
            TelemetryEvent(
                kind="stage_entered",
                epoch=ctx.epoch,
                slot_id=state.slot_id,
                seed_id=state.seed_id,
                payload={"from": state.stage.name, "to": new_stage.name, "blueprint": state.blueprint_id},
            )
        )
    )
    return new_state, tuple(effects)


def advance_stage(state: SeedState, target: SeedStage, ctx: StageContext) -> Result[Step, LifecycleError]:
    """Move to ``target`` if the stage table allows it and its gate passes."""
    if not is_legal(state.stage, target):
        legal = ", ".join(stage.name for stage in legal_targets(state.stage)) or "none (terminal)"
        message = ILLEGAL_MESSAGE.format(
            seed=state.seed_id, slot=state.slot_id, stage=state.stage.name, target=target.name, legal=legal
        )
        return Failure(IllegalTransitionError(message))
    if target is SeedStage.GERMINATED:
        return Failure(IllegalTransitionError(GERMINATE_ONLY_MESSAGE.format(seed=state.seed_id, slot=state.slot_id)))
    gate = gate_for(state, target, ctx.config.gates)
    if gate is not None and not gate.ok:
        message = GATE_MESSAGE.format(
            seed=state.seed_id, slot=state.slot_id, target=target.name, gate=gate.gate, failed="; ".join(gate.failed)
        )
        return Failure(GateFailedError(message, gate))
    new_state, effects = on_enter_stage(state, target, ctx)
    gate_effects = () if gate is None else (Emit(_gate_event(state, gate, ctx)),)
    return Success((new_state, gate_effects + effects))


def tick_epoch(state: SeedState, ctx: StageContext) -> SeedState:
    """Count one epoch: stage age, blend schedule position, embargo countdown."""
    metrics = attrs.evolve(
        state.metrics, epochs_total=state.metrics.epochs_total + 1, epochs_in_stage=state.metrics.epochs_in_stage + 1
    )
    changes: dict[str, object] = {}
    if state.stage is SeedStage.BLENDING and state.blend is not None:
        schedule = advance_schedule(state.blend)
        changes["blend"] = schedule
        if schedule.algorithm is not BlendAlgorithm.GATED:
            # A gated seed's alpha is measured by the shell from what forward used.
            changes["alpha"] = schedule_alpha(schedule, ctx.config.sigmoid_steepness)
    if state.stage is SeedStage.EMBARGOED:
        changes["embargo_remaining"] = max(0, state.embargo_remaining - 1)
    return attrs.evolve(state, metrics=metrics, **changes)


def automatic_target(state: SeedState, config: LifecycleConfig) -> SeedStage | None:
    """The stage ``step_epoch`` tries to enter next, if any (gates still decide)."""
    match state.stage:
        case SeedStage.GERMINATED:
            return SeedStage.TRAINING
        case SeedStage.TRAINING:
            return SeedStage.BLENDING
        case SeedStage.BLENDING:
            return SeedStage.PROBATIONARY
        case SeedStage.PROBATIONARY:
            contribution = state.metrics.counterfactual_contribution
            harmful = contribution is not None and contribution <= 0.0
            expired = state.metrics.epochs_in_stage >= config.probation_epochs
            return SeedStage.CULLED if harmful or expired else None
        case SeedStage.CULLED:
            return SeedStage.EMBARGOED
        case SeedStage.EMBARGOED:
            return SeedStage.DORMANT
        case _:
            return None


def step_epoch(state: SeedState, ctx: StageContext) -> Step:
    """Once per epoch: count it, then take the automatic transition if its gate passes."""
    ticked = tick_epoch(state, ctx)
    target = automatic_target(ticked, ctx.config)
    if target is None:
        return ticked, ()
    result = advance_stage(ticked, target, ctx)
    if isinstance(result, Success):
        return result.unwrap()
    error = result.failure()
    gate = error.result if isinstance(error, GateFailedError) else None
    effects = (Emit(_gate_event(ticked, gate, ctx)),) if isinstance(gate, GateResult) else ()
    return ticked, effects


def germinate(
    slot_state: SeedState | None,
    *,
    slot_id: str,
    seed_id: str,
    blueprint_id: str,
    known_blueprints: Collection[str],
    ctx: StageContext,
    blend: BlendAlgorithm | None = None,
    accuracy: float = 0.0,
    seed_param_count: int = 0,
    host_param_count: int = 0,
) -> Result[Step, EsperError]:
    """Plant a seed in an empty slot (``None`` or ``DORMANT``) if G0 passes."""
    metrics = SeedMetrics(
        current_accuracy=accuracy, seed_param_count=seed_param_count, host_param_count=host_param_count
    )
    algorithm = blend if blend is not None else ctx.config.default_blend
    return _enter_from_nothing(
        slot_state, slot_id, seed_id, blueprint_id, known_blueprints, ctx, SeedStage.GERMINATED, algorithm, metrics
    )


def fossilized_at_birth(
    slot_state: SeedState | None,
    *,
    slot_id: str,
    seed_id: str,
    blueprint_id: str,
    known_blueprints: Collection[str],
    ctx: StageContext,
    seed_param_count: int = 0,
    host_param_count: int = 0,
) -> Result[Step, EsperError]:
    """A seed that is part of the architecture from the start: FOSSILIZED, alpha 1, its module built fresh.

    Not a lifecycle path (no seed earns FOSSILIZED this way): it is how a *from-scratch*
    baseline builds a grown run's final architecture before training. Only G0 applies (the
    slot is empty, the blueprint known); the effects build the module like germination does,
    so the shell and the seed's optimizer follow the same ``BuildSeed``.
    """
    metrics = SeedMetrics(seed_param_count=seed_param_count, host_param_count=host_param_count)
    return _enter_from_nothing(
        slot_state,
        slot_id,
        seed_id,
        blueprint_id,
        known_blueprints,
        ctx,
        SeedStage.FOSSILIZED,
        ctx.config.default_blend,
        metrics,
        extra_effects=(BuildSeed(blueprint_id),),
    )


def _enter_from_nothing(
    slot_state: SeedState | None,
    slot_id: str,
    seed_id: str,
    blueprint_id: str,
    known_blueprints: Collection[str],
    ctx: StageContext,
    stage: SeedStage,
    blend: BlendAlgorithm,
    metrics: SeedMetrics,
    *,
    extra_effects: tuple[Effect, ...] = (),
) -> Result[Step, EsperError]:
    """G0 for a new seed (a canonical slot id first), then its entry into ``stage``; the gate event leads."""
    slot_check = parse_slot_id_result(slot_id)
    if not isinstance(slot_check, Success):
        return Failure(slot_check.failure())
    gate = gate_g0_germinate(
        slot_state, slot_id=slot_id, seed_id=seed_id, blueprint_id=blueprint_id, known_blueprints=known_blueprints
    )
    if not gate.ok:
        message = GATE_MESSAGE.format(
            seed=seed_id, slot=slot_id, target=stage.name, gate=gate.gate, failed="; ".join(gate.failed)
        )
        return Failure(GateFailedError(message, gate))
    newborn = SeedState(
        seed_id=seed_id,
        slot_id=slot_id,
        blueprint_id=blueprint_id,
        stage=SeedStage.DORMANT,
        blend_algorithm=blend,
        metrics=metrics,
    )
    new_state, effects = on_enter_stage(newborn, stage, ctx)
    return Success((new_state, (Emit(_gate_event(newborn, gate, ctx)), *extra_effects, *effects)))


def cull(state: SeedState, ctx: StageContext) -> Result[Step, LifecycleError]:
    return advance_stage(state, SeedStage.CULLED, ctx)


def fossilize(state: SeedState, ctx: StageContext) -> Result[Step, LifecycleError]:
    return advance_stage(state, SeedStage.FOSSILIZED, ctx)


def record_accuracy(state: SeedState, accuracy: float) -> SeedState:
    """The model's validation accuracy this epoch, with the seed in place."""
    best = max(state.metrics.best_accuracy, accuracy)
    return attrs.evolve(state, metrics=attrs.evolve(state.metrics, current_accuracy=accuracy, best_accuracy=best))


def record_contribution(state: SeedState, contribution: float | None) -> SeedState:
    """Accuracy (points) lost when this seed's alpha is forced to 0."""
    return attrs.evolve(state, metrics=attrs.evolve(state.metrics, counterfactual_contribution=contribution))


def record_gradient_health(state: SeedState, *, ratio: float | None, finite: bool) -> SeedState:
    return attrs.evolve(state, metrics=attrs.evolve(state.metrics, seed_gradient_ratio=ratio, gradients_finite=finite))


def record_measured_alpha(state: SeedState, alpha: float) -> Result[SeedState, LifecycleError]:
    """The mean alpha a gated blend's forward actually used; that is the alpha reported."""
    if state.stage is not SeedStage.BLENDING or state.blend_algorithm is not BlendAlgorithm.GATED:
        message = NOT_GATED_MESSAGE.format(
            seed=state.seed_id, slot=state.slot_id, stage=state.stage.name, blend=state.blend_algorithm.name
        )
        return Failure(LifecycleError(message))
    if not 0.0 <= alpha <= 1.0:
        return Failure(LifecycleError(ALPHA_RANGE_MESSAGE.format(alpha=alpha)))
    return Success(attrs.evolve(state, alpha=alpha))


def _gate_event(state: SeedState, gate: GateResult, ctx: StageContext) -> TelemetryEvent:
    return TelemetryEvent(
        kind="gate",
        epoch=ctx.epoch,
        slot_id=state.slot_id,
        seed_id=state.seed_id,
        severity=Severity.INFO if gate.ok else Severity.DEBUG,
        payload={"gate": gate.gate, "passed": gate.ok, "failed": "; ".join(gate.failed)},
    )
