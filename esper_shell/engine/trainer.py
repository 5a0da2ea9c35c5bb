"""The training engine: one epoch = train, validate (+ counterfactuals), govern, step, decide.

Reads top to bottom like the algorithm. Every lifecycle decision of an epoch is made in
``_decide`` and applied in ``_apply``, once, so a multi-process version can make it on one
rank and apply it on all.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import torch
from returns.result import Failure

from esper_core import (
    LIVE_STAGES,
    ActionError,
    Controller,
    FactoredAction,
    GateFailedError,
    GovernorAction,
    GovernorState,
    HeuristicController,
    LifecycleOp,
    Observation,
    RunConfig,
    SeedStage,
    Severity,
    SignalTracker,
    SlotConfig,
    TelemetryEvent,
    after_rollback,
    check_action,
    check_blueprints,
    check_vitals,
    cosine_lr,
    from_primitives,
    record_accuracy,
    record_contribution,
    record_gradient_health,
    reset_signals,
    should_snapshot,
    to_primitives,
    update_signals,
)
from esper_core.static_controller import StaticController
from esper_shell.checkpoint import model_payload, restore_model
from esper_shell.engine.device import resolve_device
from esper_shell.engine.evaluation import Evaluation, evaluate, task_loss
from esper_shell.engine.optimizers import SeedOptimizers
from esper_shell.health import GradientHealthMonitor
from esper_shell.model import MorphogeneticModel
from esper_shell.rl.controller import load_policy_controller
from esper_shell.tasks import TaskSpec
from esper_shell.telemetry import TelemetrySink, fan_out
from esper_shell.telemetry.slots import slot_events

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@attrs.frozen(kw_only=True)
class EpochSummary:
    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    lr: float
    live_seeds: int
    fossilized_seeds: int
    params: int
    action: str
    seconds: float


def resolve_config(config: RunConfig, task: TaskSpec) -> RunConfig:
    """Fill every field left to the task preset, so the saved config says what actually ran."""
    training = task.training
    return attrs.evolve(
        config,
        epochs=config.epochs if config.epochs is not None else training.epochs,
        max_seeds=config.max_seeds if config.max_seeds is not None else training.max_seeds,
        slots=config.slots if config.slots is not None else task.default_slots,
        threads=config.threads if config.threads is not None else training.threads,
        heuristic=config.heuristic if config.heuristic is not None else task.heuristic,
        signals=config.signals if config.signals is not None else task.signals,
        lifecycle=config.lifecycle if config.lifecycle is not None else task.lifecycle,
    )


def build_controller(config: RunConfig, known_blueprints: Sequence[str]) -> Controller[Any]:
    if config.controller == "static":
        return StaticController()
    if config.policy is not None:
        return load_policy_controller(
            Path(config.policy), SlotConfig(config.slots), known_blueprints, gates=config.lifecycle.gates
        )
    heuristic = check_blueprints(config.heuristic, known_blueprints)
    if isinstance(heuristic, Failure):
        raise heuristic.failure()
    return HeuristicController(heuristic.unwrap(), config.lifecycle.gates)


class Trainer:
    """One run of one task under one controller. ``config`` must be resolved."""

    def __init__(self, config: RunConfig, task: TaskSpec, *, sinks: Iterable[TelemetrySink] = ()) -> None:
        self.config = config
        self.task = task
        self.sinks = tuple(sinks)
        self.device = resolve_device(config.device)
        torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        data_dir = Path(config.data_dir) if config.data_dir is not None else None
        self.batches = task.load(data_dir, config.seed, task.training.batch_size)
        self.model = MorphogeneticModel(
            task.build_host(), list(config.slots), lifecycle_config=config.lifecycle, device=self.device
        )
        self.host_optimizer = self._optimizer(self.model.host_parameters())
        self.seed_optimizers = SeedOptimizers(self._optimizer)
        self.controller = build_controller(config, self.model.known_blueprints)
        self.controller_state = self.controller.initial_state()
        self.signals = SignalTracker()
        self.governor = GovernorState()
        self.health = GradientHealthMonitor()
        self.data_generator = torch.Generator().manual_seed(config.seed)
        self.loss_fn: LossFn = task_loss
        self.epoch = 0
        self.step = 0
        self.history: list[EpochSummary] = []
        self.snapshot: dict[str, Any] | None = None
        self._pending: list[TelemetryEvent] = []
        self._measured: tuple[float, float, Evaluation] | None = None
        self._started = 0.0
        # Called after every training batch with (batches done this epoch, epoch): progress within long epochs.
        self.on_batch: Callable[[int, int], None] | None = None
        # Called after validation, on the model validation saw; its events join the epoch's (Shapley values).
        self.on_validated: Callable[[Trainer], list[TelemetryEvent]] | None = None

    def _optimizer(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        training = self.task.training
        return torch.optim.SGD(
            params, lr=training.lr, momentum=training.momentum, nesterov=True, weight_decay=training.weight_decay
        )

    @property
    def total_epochs(self) -> int:
        assert self.config.epochs is not None  # resolved at construction by resolve_config
        return self.config.epochs

    @property
    def finished(self) -> bool:
        return self.epoch >= self.total_epochs

    def emit(self, events: Iterable[TelemetryEvent]) -> None:
        fan_out(self.sinks, events)

    # -- one epoch -------------------------------------------------------------------------------
    def run_epoch(self) -> EpochSummary:
        """One epoch under this trainer's own controller: train, measure, step, decide, apply."""
        evaluation = self.train_epoch()
        if evaluation is None:
            return self.close_epoch("ROLLBACK")
        decision = self._decide()
        self.act(decision)
        return self.close_epoch(decision.op.name)

    def train_epoch(self) -> Evaluation | None:
        """Train and validate, let the governor and the lifecycle step; None after a rollback.

        The decision is left out so that another driver (a batch of RL environments) can
        decide between this and ``act``.
        """
        self._started = time.perf_counter()
        lr = cosine_lr(
            self.epoch,
            self.total_epochs,
            base_lr=self.task.training.lr,
            final_fraction=self.task.training.final_lr_fraction,
        )
        for group in self.host_optimizer.param_groups:
            group["lr"] = lr
        self.seed_optimizers.set_lr(lr)

        train_loss = self._train()
        evaluation = evaluate(self.model, self.batches.val(), ablate=self._blended_slots(), device=self.device)
        if self.on_validated is not None:
            self._pending += self.on_validated(self)
        self._measured = (lr, train_loss, evaluation)

        verdict, self.governor = check_vitals(
            self.governor, loss=train_loss, num_classes=self.batches.num_classes, config=self.config.governor
        )
        if verdict.action is GovernorAction.ROLLBACK:
            self._pending += self._rollback(verdict.reason)
            self.seed_optimizers.sync(self.model)
            # No lifecycle step this epoch, but the model's epoch counter must still move on.
            self.model.epoch += 1
            return None
        self._record(evaluation)
        if should_snapshot(self.epoch, self.config.governor, verdict=verdict):
            self.snapshot = self._take_snapshot()
        self._pending += self.model.step_epoch()
        self.seed_optimizers.sync(self.model)
        return evaluation

    def act(self, action: FactoredAction) -> bool:
        """Apply one decision, once; False (and a WARNING event) when it was refused."""
        accuracy = self._measured[2].accuracy if self._measured is not None else 0.0
        events = self._apply(action, accuracy)
        self._pending += events
        self.seed_optimizers.sync(self.model)
        return "refused" not in events[0].payload

    def close_epoch(self, action: str) -> EpochSummary:
        """Record the epoch's summary, emit its events, and move to the next epoch."""
        lr, train_loss, evaluation = self._measured
        summary = EpochSummary(
            epoch=self.epoch,
            train_loss=train_loss,
            val_loss=evaluation.loss,
            val_accuracy=evaluation.accuracy,
            lr=lr,
            live_seeds=self.model.active_seed_count,
            fossilized_seeds=self.model.fossilized_seed_count,
            params=self.model.total_params(),
            action=action,
            seconds=time.perf_counter() - self._started,
        )
        events = [*self._pending, TelemetryEvent(kind="epoch", epoch=self.epoch, payload=attrs.asdict(summary))]
        events += slot_events(self.model, self.epoch)
        self._pending = []
        self.emit(events)
        self.history.append(summary)
        self.epoch += 1
        return summary

    def _train(self) -> float:
        model, device = self.model, self.device
        model.train()
        loss_sum = torch.zeros((), device=device)
        count = 0
        first_step = self.step
        for x, y in self.batches.train(self.data_generator):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = self.loss_fn(model(x), y)
            self.host_optimizer.zero_grad(set_to_none=True)
            for optimizer in self.seed_optimizers:
                optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.health.due(self.step):
                self.health.measure(model.host_parameters(), self._live_seed_parameters())
            self.host_optimizer.step()
            for optimizer in self.seed_optimizers:
                optimizer.step()
            loss_sum += loss.detach() * y.shape[0]
            count += y.shape[0]
            self.step += 1
            if self.on_batch is not None:
                self.on_batch(self.step - first_step, self.epoch)
        return loss_sum.item() / count

    def _live_seed_parameters(self) -> dict[str, list[torch.nn.Parameter]]:
        return {
            slot_id: list(slot.trainable_parameters())
            for slot_id, slot in self.model.seed_slots.items()
            if slot.stage in LIVE_STAGES
        }

    def _blended_slots(self) -> tuple[str, ...]:
        """Live seeds whose output is mixed in (alpha > 0): only they have a contribution to measure."""
        return tuple(
            slot_id
            for slot_id, slot in self.model.seed_slots.items()
            if slot.stage in (SeedStage.BLENDING, SeedStage.PROBATIONARY) and slot.state.alpha > 0.0
        )

    def _record(self, evaluation: Evaluation) -> None:
        for slot_id, slot in self.model.seed_slots.items():
            if slot.stage not in LIVE_STAGES:
                continue
            state = record_accuracy(slot.state, evaluation.accuracy)
            if slot_id in evaluation.contributions:
                state = record_contribution(state, evaluation.contributions[slot_id])
            health = self.health.report(slot_id)
            if health is not None:
                state = record_gradient_health(state, ratio=health.ratio, finite=health.finite)
            slot.update_state(state)
        self.signals = update_signals(
            self.signals, val_accuracy=evaluation.accuracy, val_loss=evaluation.loss, config=self.config.signals
        )

    # -- decisions -------------------------------------------------------------------------------
    def observation(self) -> Observation:
        return Observation(
            epoch=self.epoch,
            max_epochs=self.total_epochs,
            slots=self.model.slot_config,
            seeds=tuple(slot.state for slot in self.model.seed_slots.values()),
            signals=self.signals,
            max_seeds=self.config.max_seeds,
            seeds_germinated=self.model.seeds_created,
            blueprints=self.model.known_blueprints,
        )

    def _decide(self) -> FactoredAction:
        action, self.controller_state = self.controller.decide(self.controller_state, self.observation())
        return action

    def _apply(self, action: FactoredAction, accuracy: float) -> list[TelemetryEvent]:
        """Apply one decision; a refused one is reported, never half-applied."""
        checked = check_action(self.observation(), action)
        in_range = 0 <= action.slot_index < self.model.slot_config.num_slots
        slot_id = self.model.slot_ids[action.slot_index] if in_range and action.op is not LifecycleOp.WAIT else None
        payload: dict[str, Any] = {"op": action.op.name, "blueprint": action.blueprint}
        events: list[TelemetryEvent] = []
        try:
            if isinstance(checked, Failure):
                raise checked.failure()
            if action.op is LifecycleOp.GERMINATE:
                self.health.forget(slot_id)  # a new seed starts with no gradient history
                events += self.model.germinate(
                    slot_id, action.blueprint, action.blend or self.config.lifecycle.default_blend, accuracy=accuracy
                )
            elif action.op is LifecycleOp.CULL:
                events += self.model.cull(slot_id)
            elif action.op is LifecycleOp.FOSSILIZE:
                events += self.model.fossilize(slot_id)
        except (ActionError, GateFailedError) as refused:
            payload["refused"] = str(refused)
            return [
                TelemetryEvent(
                    kind="decision", epoch=self.epoch, slot_id=slot_id, severity=Severity.WARNING, payload=payload
                )
            ]
        severity = Severity.DEBUG if action.op is LifecycleOp.WAIT else Severity.INFO
        return [
            TelemetryEvent(kind="decision", epoch=self.epoch, slot_id=slot_id, severity=severity, payload=payload),
            *events,
        ]

    # -- governor --------------------------------------------------------------------------------
    def _take_snapshot(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "model": copy.deepcopy(self.model.state_dict()),
            "host_optimizer": copy.deepcopy(self.host_optimizer.state_dict()),
            "seed_optimizers": copy.deepcopy(self.seed_optimizers.state_dict()),
        }

    def _rollback(self, reason: str) -> list[TelemetryEvent]:
        """Restore host + fossilized seeds + optimizers from the snapshot, cull live seeds, forget history."""
        snapshot = self.snapshot
        events: list[TelemetryEvent] = []
        if snapshot is not None:
            epoch, seeds_created = self.model.epoch, self.model.seeds_created
            self.model.load_state_dict(snapshot["model"])
            self.model.epoch, self.model.seeds_created = epoch, seeds_created
            self.host_optimizer.load_state_dict(snapshot["host_optimizer"])
            self.seed_optimizers.load_state_dict(self.model, snapshot["seed_optimizers"])
        for slot_id, slot in self.model.seed_slots.items():
            if slot.stage in LIVE_STAGES:
                events += self.model.cull(slot_id)
            self.health.forget(slot_id)
        self.governor = after_rollback(self.governor)
        self.signals = reset_signals(self.signals)
        restored = "none (no snapshot yet)" if snapshot is None else snapshot["epoch"]
        events.insert(
            0,
            TelemetryEvent(
                kind="rollback",
                epoch=self.epoch,
                severity=Severity.WARNING,
                payload={"reason": reason, "restored_epoch": restored},
            ),
        )
        return events

    # -- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue as if never stopped (tensors and primitives)."""
        return {
            "config": to_primitives(self.config),
            "epoch": self.epoch,
            "step": self.step,
            "model": model_payload(self.model),
            "host_optimizer": self.host_optimizer.state_dict(),
            "seed_optimizers": self.seed_optimizers.state_dict(),
            "controller_state": to_primitives(self.controller_state),
            "signals": to_primitives(self.signals),
            "governor": to_primitives(self.governor),
            "health": self.health.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "data": self.data_generator.get_state()},
            "history": [attrs.asdict(summary) for summary in self.history],
            "snapshot": self.snapshot,
        }

    def load_state_dict(self, state: dict[str, Any], *, path: Path) -> None:
        restore_model(state["model"], self.model, path=path)
        self.host_optimizer.load_state_dict(state["host_optimizer"])
        self.seed_optimizers.load_state_dict(self.model, state["seed_optimizers"])
        self.controller_state = _structure(state["controller_state"], type(self.controller.initial_state()))
        self.signals = _structure(state["signals"], SignalTracker)
        self.governor = _structure(state["governor"], GovernorState)
        self.health.load_state_dict(state["health"])
        torch.set_rng_state(state["rng"]["torch"])
        self.data_generator.set_state(state["rng"]["data"])
        self.history = [EpochSummary(**summary) for summary in state["history"]]
        self.snapshot = state["snapshot"]
        self.epoch = state["epoch"]
        self.step = state["step"]


def _structure(data: Any, cls: type) -> Any:
    result = from_primitives(data, cls)
    if isinstance(result, Failure):
        raise result.failure()
    return result.unwrap()
