"""The training engine: one host on one task, and ``Trainer.epoch``, the one place an epoch runs.

An epoch reads top to bottom like the algorithm: train → validate (with fused
counterfactuals) → governor → lifecycle step → decide → apply → record. The decision is the
generator's single ``yield``: it hands the observation out and takes the action back, so a
controller (``drive``), a batch of RL environments or rank 0 of a distributed run supplies it
at the same well-defined point. Every epoch has exactly one lifecycle step and one decision,
a rolled-back epoch too (the controller then sees the restored model). Nothing is carried
between epochs except the trainer's own state; the model's epoch counter is the only one.

Each trainer owns its stream of torch's global RNG (seed modules are initialised from it):
swapped in while its epoch runs and out again at the ``yield``, so many trainers stepped in
turn give exactly what each would alone.

Under torchrun the trainer is one rank of a data-parallel run (``collective``, docs/scale.md):
it trains on its slice of every global batch through DDP, and every figure the epoch decides
on (train loss, validation, contributions) is summed over the ranks first, so the governor,
the signals and the lifecycle step see the same numbers on every rank.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import torch

from esper_core import (
    LIVE_STAGES,
    ActionError,
    FactoredAction,
    GateFailedError,
    GovernorAction,
    GovernorState,
    LifecycleOp,
    Observation,
    RunConfig,
    Severity,
    SignalTracker,
    TelemetryEvent,
    after_rollback,
    check_action,
    check_vitals,
    cosine_lr,
    is_measured,
    record_accuracy,
    record_contribution,
    record_gradient_health,
    reset_signals,
    rollbacks_exhausted,
    should_snapshot,
    to_primitives,
    update_signals,
)
from esper_shell.checkpoint import model_payload, restore_model
from esper_shell.distributed.collective import Collective, SingleProcess, rank_rng, train_shards
from esper_shell.distributed.data_parallel import DataParallelModel
from esper_shell.engine.device import MachineConfig, resolve_device
from esper_shell.engine.evaluation import Evaluation, evaluate
from esper_shell.engine.optimizers import SeedOptimizers
from esper_shell.engine.restore import checked_trainer_state
from esper_shell.engine.summary import EpochResult, EpochSummary
from esper_shell.errors import CheckpointError, DivergenceError, unwrap
from esper_shell.health import GradientHealthMonitor
from esper_shell.model import MorphogeneticModel
from esper_shell.tasks import Task
from esper_shell.telemetry.slots import slot_events

# What ``Trainer.run_epoch`` is: yields the observation once, receives the action, returns
# the epoch's result.
EpochSteps = Generator[Observation, FactoredAction, EpochResult]
Decide = Callable[[Observation], FactoredAction]

SEED_OPTIMIZERS_MESSAGE = "{path}: the checkpoint's seed optimizer states do not fit its seeds ({details})."
DIVERGED_MESSAGE = (
    "Training diverged {count} times in a row (last: {reason}); each rollback to the epoch-{restored} "
    "snapshot diverged again, so the run stopped rather than finish on a broken model. "
    "The likely cause is the learning rate: lower lr (now {lr:g}) and start again."
)


class Trainer:
    """One run of one task: model, optimizers, data order, governor and signals. Decides nothing."""

    def __init__(
        self,
        config: RunConfig,
        task: Task,
        *,
        machine: MachineConfig | None = None,
        collective: Collective | None = None,
    ) -> None:
        machine = machine or MachineConfig()
        self.config = config
        self.task = task
        self.collective = collective or SingleProcess()
        self.device = self.collective.local_device(resolve_device(machine.device))
        torch.set_num_threads(machine.threads)
        self._rng_state = torch.Generator().manual_seed(config.seed).get_state()
        with self._own_rng():
            host = task.build_host()
            self.model = MorphogeneticModel(host, config.slots, lifecycle_config=config.lifecycle, device=self.device)
        self.host_optimizer = self._optimizer(self.model.host_parameters())
        self.seed_optimizers = SeedOptimizers(self._optimizer)
        self.model.add_module_listener(self.seed_optimizers.on_module_change)
        self.parallel = DataParallelModel(self.model, self.collective)
        self.signals = SignalTracker()
        self.governor = GovernorState()
        self.health = GradientHealthMonitor()
        self.data_generator = torch.Generator().manual_seed(config.seed)
        self.step = 0
        self.history: list[EpochSummary] = []
        # Taken before the first epoch, so that a rollback always has a target (DESIGN §11).
        self.snapshot = self.take_snapshot()
        # Called after every training batch with (batches done this epoch, epoch): progress within long epochs.
        self.on_batch: Callable[[int, int], None] | None = None
        # Called after validation, on the model validation saw; its events join the epoch's (Shapley values).
        self.on_validated: Callable[[Trainer], list[TelemetryEvent]] | None = None

    def _optimizer(self, params: Iterable[Any]) -> torch.optim.Optimizer:
        training = self.config.training
        return torch.optim.SGD(
            params, lr=training.lr, momentum=training.momentum, nesterov=True, weight_decay=training.weight_decay
        )

    @property
    def epoch(self) -> int:
        """The next epoch to train (the model's counter)."""
        return self.model.epoch

    @property
    def total_epochs(self) -> int:
        return self.config.training.epochs

    @property
    def finished(self) -> bool:
        return self.model.epoch >= self.total_epochs

    @contextlib.contextmanager
    def _own_rng(self) -> Iterator[None]:
        outer = torch.get_rng_state()
        torch.set_rng_state(self._rng_state)
        try:
            yield
        finally:
            self._rng_state = torch.get_rng_state()
            torch.set_rng_state(outer)

    # -- one epoch -------------------------------------------------------------------------------
    def run_epoch(self) -> EpochSteps:
        """One epoch end to end; the decision is the one ``yield``."""
        started = time.perf_counter()
        epoch = self.model.epoch
        with self._own_rng():
            lr = self._set_lr(epoch)
            train_loss = self._train()
            evaluation = self._validate()
            measured = self.on_validated(self) if self.on_validated is not None else []
            verdict, self.governor = check_vitals(
                self.governor, loss=train_loss, num_classes=self.task.num_classes, config=self.config.governor
            )
            rolled_back = verdict.action is GovernorAction.ROLLBACK
            events = list(measured)
            if rolled_back:
                events += self._rollback(verdict.reason)
            else:
                self._record(evaluation)
                if should_snapshot(epoch, self.config.governor, verdict=verdict):
                    self.snapshot = self.take_snapshot(evaluation.accuracy)
            # The accuracy a new seed is born at: after a rollback, the restored model's.
            accuracy = self.snapshot["accuracy"] if rolled_back else evaluation.accuracy
            events += self.model.step_epoch()
        action = yield self.observation(epoch)
        with self._own_rng():
            applied = self._apply(action, epoch, accuracy)
        summary = EpochSummary(
            epoch=epoch,
            train_loss=train_loss,
            val_loss=evaluation.loss,
            val_accuracy=evaluation.accuracy,
            lr=lr,
            live_seeds=self.model.active_seed_count,
            fossilized_seeds=self.model.fossilized_seed_count,
            params=self.model.total_params(),
            action=action.op.name,
            rolled_back=rolled_back,
            seconds=time.perf_counter() - started,
        )
        self.history.append(summary)
        events += [*applied, TelemetryEvent(kind="epoch", epoch=epoch, payload=attrs.asdict(summary))]
        events += slot_events(self.model, epoch)
        return EpochResult(summary=summary, events=tuple(events), refused="refused" in applied[0].payload)

    def _set_lr(self, epoch: int) -> float:
        training = self.config.training
        lr = cosine_lr(epoch, self.total_epochs, base_lr=training.lr, final_fraction=training.final_lr_fraction)
        for group in self.host_optimizer.param_groups:
            group["lr"] = lr
        self.seed_optimizers.set_lr(lr)
        return lr

    def _train(self) -> float:
        device, loss_fn, world = self.device, self.task.loss, self.collective.world_size
        self.model.train()
        network = self.parallel.for_training()
        loss_sum = torch.zeros((), device=device)
        count = 0
        batches = self.task.train(self.data_generator, self.config.training.batch_size)
        with rank_rng(self.config.seed, self.model.epoch, self.collective):
            for done, (x, y, share) in enumerate(train_shards(batches, self.collective), start=1):
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                loss = loss_fn(network(x), y)
                self.host_optimizer.zero_grad(set_to_none=True)
                for optimizer in self.seed_optimizers:
                    optimizer.zero_grad(set_to_none=True)
                # DDP averages the ranks' gradients; ``share`` makes that the global batch's mean.
                (loss if share == 1.0 else loss * share).backward()
                if self.health.due(self.step):
                    self.health.measure(self.model.host_parameters(), self._live_seed_parameters())
                self.host_optimizer.step()
                for optimizer in self.seed_optimizers:
                    optimizer.step()
                loss_sum += loss.detach() * y.shape[0]
                count += y.shape[0]
                self.step += 1
                if self.on_batch is not None:
                    self.on_batch(done, self.model.epoch)
        self.parallel.sync_buffers()
        loss_sum = self.collective.all_reduce_sum(loss_sum)
        if world > 1:
            count = int(self.collective.all_reduce_sum(torch.tensor(count, device=device)).item())
        return loss_sum.item() / count

    def _validate(self) -> Evaluation:
        measured = tuple(slot_id for slot_id, slot in self.model.seed_slots.items() if is_measured(slot.state))
        return evaluate(
            self.model,
            self.task.val,
            ablate=measured,
            loss=self.task.loss,
            device=self.device,
            collective=self.collective,
        )

    def _live_seed_parameters(self) -> dict[str, list[torch.nn.Parameter]]:
        return {
            slot_id: list(slot.trainable_parameters())
            for slot_id, slot in self.model.seed_slots.items()
            if slot.stage in LIVE_STAGES
        }

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
    def observation(self, epoch: int | None = None) -> Observation:
        """What a controller sees; ``epoch`` is the epoch just trained (default: the next one)."""
        return Observation(
            epoch=self.model.epoch if epoch is None else epoch,
            max_epochs=self.total_epochs,
            slots=self.model.slot_config,
            seeds=tuple(slot.state for slot in self.model.seed_slots.values()),
            signals=self.signals,
            max_seeds=self.config.max_seeds,
            seeds_germinated=self.model.seeds_created,
            blueprints=self.model.known_blueprints,
        )

    def _apply(self, action: FactoredAction, epoch: int, accuracy: float) -> list[TelemetryEvent]:
        """Apply one decision; the first event is the decision, a refused one reported, never half-applied."""
        payload: dict[str, Any] = {"op": action.op.name, "blueprint": action.blueprint}
        slot_id: str | None = None
        events: list[TelemetryEvent] = []
        try:
            unwrap(check_action(self.observation(epoch), action))
            if action.op is not LifecycleOp.WAIT:
                slot_id = self.model.slot_config.slot_id_for_index(action.slot_index)
            if action.op is LifecycleOp.GERMINATE:
                self.health.forget(slot_id)  # a new seed starts with no gradient history
                blend = action.blend or self.config.lifecycle.default_blend
                events += self.model.germinate(slot_id, action.blueprint, blend, accuracy=accuracy)
            elif action.op is LifecycleOp.CULL:
                events += self.model.cull(slot_id)
            elif action.op is LifecycleOp.FOSSILIZE:
                events += self.model.fossilize(slot_id)
        except (ActionError, GateFailedError) as refused:
            payload["refused"] = str(refused)
            warning = TelemetryEvent(
                kind="decision", epoch=epoch, slot_id=slot_id, severity=Severity.WARNING, payload=payload
            )
            return [warning]
        severity = Severity.DEBUG if action.op is LifecycleOp.WAIT else Severity.INFO
        return [
            TelemetryEvent(kind="decision", epoch=epoch, slot_id=slot_id, severity=severity, payload=payload),
            *events,
        ]

    # -- governor --------------------------------------------------------------------------------
    def take_snapshot(self, accuracy: float = 0.0) -> dict[str, Any]:
        """What a rollback restores; ``accuracy`` is the model's validation accuracy at that point.

        Public for one case: a caller that changes the model before the first epoch (e.g. installs
        a from-scratch architecture) retakes the initial snapshot so a rollback keeps the change.
        """
        return {
            "epoch": self.model.epoch,
            "accuracy": accuracy,
            "model": copy.deepcopy(self.model.state_dict()),
            "host_optimizer": copy.deepcopy(self.host_optimizer.state_dict()),
            "seed_optimizers": copy.deepcopy(self.seed_optimizers.state_dict()),
        }

    def _rollback(self, reason: str) -> list[TelemetryEvent]:
        """Restore host + fossilized seeds + optimizers from the snapshot, cull live seeds, forget history."""
        snapshot = self.snapshot
        self.governor = after_rollback(self.governor)
        if rollbacks_exhausted(self.governor, self.config.governor):
            count = self.governor.consecutive_rollbacks
            base_lr = self.config.training.lr
            message = DIVERGED_MESSAGE.format(count=count, reason=reason, restored=snapshot["epoch"], lr=base_lr)
            raise DivergenceError(message, value=count)
        self.model.restore_weights(snapshot["model"])
        self.host_optimizer.load_state_dict(snapshot["host_optimizer"])
        self.seed_optimizers.load_state_dict(self.model, snapshot["seed_optimizers"])
        events = [
            TelemetryEvent(
                kind="rollback",
                epoch=self.model.epoch,
                severity=Severity.WARNING,
                payload={"reason": reason, "restored_epoch": snapshot["epoch"]},
            )
        ]
        for slot_id, slot in self.model.seed_slots.items():
            if slot.stage in LIVE_STAGES:
                events += self.model.cull(slot_id)
            self.health.forget(slot_id)
        self.signals = reset_signals(self.signals)
        return events

    # -- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue as if never stopped (tensors and primitives)."""
        return {
            "step": self.step,
            "model": model_payload(self.model),
            "host_optimizer": self.host_optimizer.state_dict(),
            "seed_optimizers": self.seed_optimizers.state_dict(),
            "signals": to_primitives(self.signals),
            "governor": to_primitives(self.governor),
            "health": self.health.state_dict(),
            "rng": {"torch": self._rng_state, "data": self.data_generator.get_state()},
            "history": [attrs.asdict(summary) for summary in self.history],
            "snapshot": self.snapshot,
        }

    def load_state_dict(self, state: dict[str, Any], *, path: Path) -> None:
        """Take a checkpoint's state, checked whole first (``engine.restore``)."""
        checked = checked_trainer_state(state, self.model, self.host_optimizer, path=path)
        restore_model(checked.model, self.model, path=path)
        self.host_optimizer.load_state_dict(checked.host_optimizer)
        try:
            self.seed_optimizers.load_state_dict(self.model, checked.seed_optimizers)
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(SEED_OPTIMIZERS_MESSAGE.format(path=path, details=exc)) from exc
        self.signals, self.governor = checked.signals, checked.governor
        self.health.load_state_dict(checked.health)
        self._rng_state = checked.rng_torch
        self.data_generator.set_state(checked.rng_data)
        self.history = checked.history
        self.snapshot = checked.snapshot
        self.step = checked.step


def conclude(epoch: EpochSteps, action: FactoredAction) -> EpochResult:
    """Answer a paused epoch's decision point with ``action``; the epoch's result."""
    try:
        epoch.send(action)
    except StopIteration as done:
        return done.value
    raise RuntimeError("Trainer.run_epoch asked for a second decision in one epoch")


def drive(epoch: EpochSteps, decide: Decide) -> EpochResult:
    """Run one epoch, answering its decision point with ``decide``."""
    return conclude(epoch, decide(next(epoch)))
