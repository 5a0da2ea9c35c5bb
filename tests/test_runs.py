"""The Python API (esper_shell.runs): your own task and controller, stopped, resumed, refused."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import torch

from esper_core import (
    ConfigError,
    CustomControllerConfig,
    FactoredAction,
    HeuristicControllerConfig,
    LifecycleOp,
    Observation,
    RunConfig,
    TrainingConfig,
)
from esper_shell.engine.run import Run
from esper_shell.runs import resume, start, train
from esper_shell.tasks import Task, get_task


@attrs.frozen
class Planted:
    count: int = 0


@attrs.frozen
class PlantEveryOtherEpoch:
    """A controller written here: germinate conv_light into the first free slot on even epochs."""

    def initial_state(self) -> Planted:
        return Planted()

    def decide(self, state: Planted, observation: Observation) -> tuple[FactoredAction, Planted]:
        free = [i for i, seed in enumerate(observation.seeds) if seed is None]
        if observation.epoch % 2 == 0 and free and observation.germination_budget_left:
            action = FactoredAction(op=LifecycleOp.GERMINATE, slot_index=free[0], blueprint="conv_light")
            return action, Planted(count=state.count + 1)
        return FactoredAction(op=LifecycleOp.WAIT), state


@attrs.frozen
class AlwaysWait:
    def initial_state(self) -> Planted:
        return Planted()

    def decide(self, state: Planted, observation: Observation) -> tuple[FactoredAction, Planted]:
        return FactoredAction(op=LifecycleOp.WAIT), state


def _config(epochs: int = 6) -> RunConfig:
    preset = get_task("digits").run_config()
    return attrs.evolve(preset, training=attrs.evolve(preset.training, epochs=epochs))


def _untimed(run: Run) -> list[dict[str, object]]:
    return [attrs.asdict(attrs.evolve(summary, seconds=0.0)) for summary in run.history]


def _same_weights(a: Run, b: Run) -> bool:
    left, right = a.trainer.model.state_dict(), b.trainer.model.state_dict()
    tensors = [k for k in left if isinstance(left[k], torch.Tensor)]
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in tensors)


class TestYourController:
    def test_is_recorded_by_name_in_the_config(self) -> None:
        run = start("digits", _config(), controller=PlantEveryOtherEpoch())
        assert run.config.controller == CustomControllerConfig(name="PlantEveryOtherEpoch")

    def test_stopped_and_resumed_ends_as_the_uninterrupted_run(self, tmp_path: Path) -> None:
        straight = start("digits", _config(), controller=PlantEveryOtherEpoch())
        train(straight)

        stopped = start("digits", _config(), controller=PlantEveryOtherEpoch(), run_dir=tmp_path / "run")
        train(stopped, stop_after=3)
        resumed = resume(tmp_path / "run", controller=PlantEveryOtherEpoch())
        assert resumed.controller_state == stopped.controller_state
        train(resumed)

        assert straight.controller_state == resumed.controller_state == Planted(count=3)
        assert _untimed(resumed) == _untimed(straight)
        assert _same_weights(straight, resumed)

    def test_resume_without_it_names_what_to_pass(self, tmp_path: Path) -> None:
        train(start("digits", _config(2), controller=PlantEveryOtherEpoch(), run_dir=tmp_path / "run"), stop_after=1)
        with pytest.raises(ConfigError, match="PlantEveryOtherEpoch"):
            resume(tmp_path / "run")

    def test_resume_with_another_kind_is_refused(self, tmp_path: Path) -> None:
        train(start("digits", _config(2), controller=PlantEveryOtherEpoch(), run_dir=tmp_path / "run"), stop_after=1)
        with pytest.raises(ConfigError, match="not 'AlwaysWait'"):
            resume(tmp_path / "run", controller=AlwaysWait())

    def test_a_built_in_run_takes_no_controller_object_on_resume(self, tmp_path: Path) -> None:
        train(start("digits", _config(2), run_dir=tmp_path / "run"), stop_after=1)
        with pytest.raises(ConfigError, match="built-in heuristic"):
            resume(tmp_path / "run", controller=AlwaysWait())


class TestYourTask:
    @staticmethod
    def _task(name: str = "mine") -> Task:
        return attrs.evolve(get_task("digits").task(0, 64, None), name=name)

    def test_without_a_config_every_host_slot_is_enabled_under_the_heuristic(self) -> None:
        run = start(self._task())
        assert run.config.slots.slot_ids == ("r0c0", "r1c0", "r2c0")
        assert isinstance(run.config.controller, HeuristicControllerConfig)

    def test_runs_get_a_directory_and_resume_with_the_same_task(self, tmp_path: Path) -> None:
        task = self._task()
        config = RunConfig(task="mine", slots=["r0c0"], training=TrainingConfig(epochs=3))
        train(start(task, config, run_dir=tmp_path / "run"), stop_after=2)
        run = resume(tmp_path / "run", task=task)
        train(run)
        assert [s.epoch for s in run.history] == [0, 1, 2]
        assert (tmp_path / "run" / "events.jsonl").read_text().count('"kind": "epoch"') == 3

    def test_resume_without_the_task_says_to_pass_it(self, tmp_path: Path) -> None:
        config = RunConfig(task="mine", slots=["r0c0"], training=TrainingConfig(epochs=2))
        train(start(self._task(), config, run_dir=tmp_path / "run"), stop_after=1)
        with pytest.raises(ConfigError, match="pass the same task object"):
            resume(tmp_path / "run")

    def test_a_task_whose_name_differs_from_the_config_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="names task 'digits'"):
            start(self._task("other"), _config())

    def test_one_shot_validation_iterator_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="re-iterable"):
            attrs.evolve(self._task(), val=iter([]))


def test_an_embedded_preset_refuses_a_data_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="drop --data-dir"):
        get_task("digits").task(0, 64, str(tmp_path))
