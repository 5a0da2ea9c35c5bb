"""One epoch driver: Trainer runs and VecEnv episodes go through the same Trainer.run_epoch."""

from __future__ import annotations

import math

import attrs
import pytest
import torch
from typer.testing import CliRunner

from esper_core import (
    FactoredAction,
    HeuristicController,
    LifecycleOp,
    Observation,
    RunConfig,
    SeedStage,
    check_blueprints,
)
from esper_core.rewards import RewardConfig
from esper_shell.cli import app
from esper_shell.engine.run import Run
from esper_shell.engine.trainer import Trainer, drive
from esper_shell.errors import DivergenceError
from esper_shell.rl.env import VecEnv
from esper_shell.runs import start, train
from esper_shell.tasks import Task, get_task
from tests.engine_helpers import eager_config

EPOCHS = 7


def _config(seed: int = 0) -> RunConfig:
    config = eager_config(epochs=EPOCHS)
    return attrs.evolve(config, seed=seed)


def _heuristic(config: RunConfig, blueprints: tuple[str, ...]) -> HeuristicController:
    return HeuristicController(
        check_blueprints(config.controller.heuristic, blueprints).unwrap(), config.lifecycle.gates
    )


def _digits(seed: int) -> Task:
    return get_task("digits").task(seed, 64, None)


def _untimed(history: list) -> list[dict]:
    """Wall time differs by construction; NaN (a poisoned epoch's loss) compares as itself."""
    rows = [attrs.asdict(attrs.evolve(summary, seconds=0.0)) for summary in history]
    return [{k: "nan" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()} for row in rows]


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    left, right = _weights(a), _weights(b)
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


def _vec_env_under_heuristic(config: RunConfig, make_task, n_envs: int) -> VecEnv:
    """Episodes whose actions are the heuristic's decisions, made by the caller between steps."""
    envs = VecEnv(config, make_task, n_envs=n_envs, reward=RewardConfig())
    observations = envs.reset(0)
    controller = _heuristic(config, envs.trainers[0].model.known_blueprints)
    states = [controller.initial_state()] * n_envs
    while envs.running:
        decided = [controller.decide(state, obs) for state, obs in zip(states, observations, strict=True)]
        states = [state for _, state in decided]
        observations = tuple(step.observation for step in envs.step([action for action, _ in decided]))
    return envs


class TestVecEnvIsTheTrainersEpoch:
    def test_heuristic_decisions_give_identical_histories_and_weights(self) -> None:
        envs = _vec_env_under_heuristic(_config(), _digits, n_envs=2)
        for index in range(2):
            run = start("digits", _config(seed=index))
            train(run)
            assert run.trainer.model.seeds_created > 0
            assert _untimed(envs.trainers[index].history) == _untimed(run.history)
            assert _same_weights(envs.trainers[index].model, run.trainer.model)

    def test_a_forced_rollback_happens_identically_in_both(self) -> None:
        def poisoned(seed: int) -> Task:
            task = _digits(seed)
            calls = {"n": 0}

            def loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
                calls["n"] += 1
                value = task.loss(logits, targets)
                return value * math.nan if calls["n"] == 60 else value  # a batch of epoch 2

            return attrs.evolve(task, loss=loss)

        envs = _vec_env_under_heuristic(_config(), poisoned, n_envs=1)
        run = start(poisoned(0), _config())
        train(run)
        assert [summary.rolled_back for summary in run.history].count(True) == 1
        assert _untimed(envs.trainers[0].history) == _untimed(run.history)
        assert _same_weights(envs.trainers[0].model, run.trainer.model)


class TestDrive:
    def test_a_rollback_epoch_still_asks_one_decision_about_the_restored_model(self) -> None:
        task = _digits(0)
        trainer = Trainer(
            _config(), attrs.evolve(task, loss=lambda logits, targets: task.loss(logits, targets) * math.nan)
        )
        asked: list[Observation] = []

        def decide(observation: Observation) -> FactoredAction:
            asked.append(observation)
            return FactoredAction(op=LifecycleOp.WAIT)

        result = drive(trainer.run_epoch(), decide)
        assert result.summary.rolled_back and [o.epoch for o in asked] == [0]
        assert all(math.isfinite(p.sum().item()) for p in trainer.model.parameters())
        assert trainer.epoch == 1  # the epoch still ended in its lifecycle step

    def test_trainers_stepped_in_turn_keep_their_own_rng_streams(self) -> None:
        alone = start("digits", _config(seed=3))
        train(alone)
        interleaved = [start("digits", _config(seed=seed)) for seed in (3, 4)]
        while not interleaved[0].finished:
            for run in interleaved:
                run.run_epoch()
        assert _same_weights(alone.trainer.model, interleaved[0].trainer.model)

    def test_germinated_seeds_get_optimizers_through_the_module_listener(self) -> None:
        run: Run = start("digits", _config())
        train(run, stop_after=3)
        live = [s for s, slot in run.trainer.model.seed_slots.items() if slot.stage is SeedStage.TRAINING]
        assert live and all(run.trainer.seed_optimizers.get(slot_id) is not None for slot_id in live)


class TestDivergence:
    def test_a_run_that_diverges_from_its_first_epoch_stops_with_the_likely_cause(self) -> None:
        task = _digits(0)
        poisoned = attrs.evolve(task, loss=lambda logits, targets: task.loss(logits, targets) * math.nan)
        run = start(poisoned, attrs.evolve(_config(), task=poisoned.name))
        with pytest.raises(DivergenceError, match="lower lr"):
            train(run)
        assert [summary.rolled_back for summary in run.history] == [True, True]
        assert not run.finished

    def test_the_cli_says_so_in_one_line(self) -> None:
        result = CliRunner().invoke(app, ["static", "--task", "digits", "--lr", "1e9", "--epochs", "8", "--quiet"])
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert result.output.splitlines()[-1].startswith("Error: Training diverged 3 times in a row")
