"""The training engine: lifecycle in real runs, resume equivalence, governor rollback."""

from __future__ import annotations

import math
from pathlib import Path

import attrs
import pytest
import torch

from esper_core import (
    BlendAlgorithm,
    FactoredAction,
    LifecycleOp,
    RunConfig,
    SeedStage,
    SeedState,
    StaticControllerConfig,
)
from esper_shell.runs import Run, resume, start, train
from esper_shell.tasks import get_task
from esper_shell.telemetry import MemorySink
from tests.engine_helpers import eager_config


def _run(config: RunConfig | None, run_dir: Path | None = None) -> tuple[Run, MemorySink]:
    """A whole run of digits (``config`` None: the preset's tuned run)."""
    sink = MemorySink()
    run = start("digits", config, run_dir=run_dir, sinks=[sink])
    train(run)
    return run, sink


def _untimed(state: SeedState | None) -> SeedState | None:
    """Wall-clock timestamps differ between two runs by construction; everything else may not."""
    if state is None:
        return None
    history = tuple(attrs.evolve(record, timestamp=0.0) for record in state.history)
    return attrs.evolve(state, stage_entered_at=0.0, history=history)


class TestLifecycleInRealRuns:
    def test_eager_heuristic_germinates_blends_and_fossilizes(self) -> None:
        run, sink = _run(eager_config(epochs=12))
        trainer = run.trainer
        entered = {e.payload["to"] for e in sink.events if e.kind == "stage_entered"}
        assert {"GERMINATED", "TRAINING", "BLENDING", "PROBATIONARY"} <= entered
        assert (
            trainer.model.fossilized_seed_count
            + len([e for e in sink.events if e.kind == "stage_entered" and e.payload["to"] == "CULLED"])
            >= 1
        )

    def test_default_heuristic_run_on_the_default_task_fossilizes_a_seed(self) -> None:
        run, sink = _run(None)
        trainer = run.trainer
        assert trainer.config.task == "digits" and trainer.model.seeds_created >= 1
        assert trainer.model.fossilized_seed_count >= 1
        fossilized = [e for e in sink.events if e.kind == "stage_entered" and e.payload["to"] == "FOSSILIZED"]
        assert fossilized and all(e.epoch < trainer.total_epochs for e in fossilized)

    def test_static_run_never_grows(self) -> None:
        run, sink = _run(eager_config(epochs=6, controller=StaticControllerConfig()))
        trainer = run.trainer
        assert trainer.model.seeds_created == 0
        assert not [e for e in sink.events if e.kind == "stage_entered"]
        assert trainer.model.total_params() == sum(p.numel() for p in trainer.model.host_parameters())

    def test_every_epoch_emits_a_summary_and_a_decision(self) -> None:
        _, sink = _run(eager_config(epochs=4))
        assert [e.epoch for e in sink.events if e.kind == "epoch"] == [0, 1, 2, 3]
        assert len([e for e in sink.events if e.kind == "decision"]) == 4

    def test_seed_optimizer_survives_another_seeds_death(self) -> None:
        run = start("digits", eager_config(epochs=4))
        train(run, stop_after=5)
        trainer = run.trainer
        live = [
            s for s, slot in trainer.model.seed_slots.items() if slot.stage in (SeedStage.TRAINING, SeedStage.BLENDING)
        ]
        assert len(live) >= 2
        keep, kill = live[0], live[1]
        optimizer = trainer.seed_optimizers.get(keep)
        assert optimizer is not None
        momentum = {id(p): optimizer.state[p]["momentum_buffer"].clone() for p in optimizer.param_groups[0]["params"]}
        trainer.model.cull(kill)  # the seed optimizers follow the DropSeed effect themselves
        assert trainer.seed_optimizers.get(keep) is optimizer
        assert all(
            torch.equal(optimizer.state[p]["momentum_buffer"], momentum[id(p)])
            for p in optimizer.param_groups[0]["params"]
        )
        assert trainer.seed_optimizers.get(kill) is None


class TestResume:
    @pytest.mark.parametrize("blend", [BlendAlgorithm.LINEAR, BlendAlgorithm.GATED])
    def test_stopped_and_resumed_run_ends_identical(self, tmp_path: Path, blend: BlendAlgorithm) -> None:
        config = eager_config(epochs=12, blend=blend)
        straight = _run(config, tmp_path / "straight")[0].trainer

        first = start("digits", config, run_dir=tmp_path / "stopped")
        train(first, stop_after=6)
        resumed_run = resume(tmp_path / "stopped")
        train(resumed_run)
        resumed = resumed_run.trainer

        assert [s.val_accuracy for s in resumed.history] == [s.val_accuracy for s in straight.history]
        assert [s.train_loss for s in resumed.history] == [s.train_loss for s in straight.history]
        a, b = straight.model.state_dict(), resumed.model.state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))
        assert [_untimed(slot.state) for slot in straight.model.seed_slots.values()] == [
            _untimed(slot.state) for slot in resumed.model.seed_slots.values()
        ]

    def test_run_directory_holds_config_events_and_checkpoint(self, tmp_path: Path) -> None:
        _run(eager_config(epochs=2), tmp_path / "run")
        run = tmp_path / "run"
        assert (run / "config.json").is_file() and (run / "summary.json").is_file()
        assert (run / "checkpoints" / "latest.pt").is_file()
        assert (run / "events.jsonl").read_text().count('"kind": "epoch"') == 2
        torch.load(run / "checkpoints" / "latest.pt")  # the default, weights-only load


class TestGovernor:
    def test_injected_nan_loss_rolls_back_and_the_run_finishes(self) -> None:
        sink = MemorySink()
        config = eager_config(epochs=9)
        task = get_task("digits").task(config.seed, config.training.batch_size, None)
        runs: list[Run] = []

        def poisoned(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            loss = task.loss(logits, targets)
            return loss * math.nan if runs[0].trainer.epoch == 6 else loss

        runs.append(start(attrs.evolve(task, loss=poisoned), config, sinks=[sink]))
        train(runs[0])
        trainer = runs[0].trainer
        rollbacks = [e for e in sink.events if e.kind == "rollback"]
        assert [e.epoch for e in rollbacks] == [6]
        assert rollbacks[0].payload["restored_epoch"] == 5
        assert trainer.finished
        assert all(math.isfinite(p.detach().sum().item()) for p in trainer.model.parameters())
        assert math.isfinite(trainer.history[-1].train_loss)
        assert trainer.model.active_seed_count == 0 or trainer.history[6].rolled_back

    def test_rollback_culls_every_live_seed(self) -> None:
        run = start("digits", eager_config(epochs=9))
        train(run, stop_after=4)
        trainer = run.trainer
        assert trainer.model.active_seed_count > 0
        trainer._rollback("test")
        assert trainer.model.active_seed_count == 0


class TestDecisions:
    def test_out_of_range_slot_from_a_users_controller_is_refused(self) -> None:
        trainer = start("digits", eager_config(epochs=2)).trainer
        events = trainer._apply(FactoredAction(op=LifecycleOp.CULL, slot_index=7), 0, accuracy=50.0)
        assert "slot index 7" in events[0].payload["refused"]
        assert events[0].slot_id is None

    def test_refused_action_is_reported_not_applied(self) -> None:
        trainer = start("digits", eager_config(epochs=2)).trainer
        events = trainer._apply(FactoredAction(op=LifecycleOp.FOSSILIZE, slot_index=0), 0, accuracy=50.0)
        assert events[0].payload["refused"]
        assert trainer.model.slot("r0c0").state is None
