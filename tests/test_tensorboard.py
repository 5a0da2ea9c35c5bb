"""--tensorboard: event files read back with tensorboard's own reader; a clear error without the package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from typer.testing import CliRunner

from esper_core import StaticControllerConfig
from esper_shell.cli import app
from esper_shell.runs import resume, start, train
from esper_shell.telemetry.launch import launch_sinks
from esper_shell.telemetry.stream import TelemetryOptions, read_meta
from esper_shell.telemetry.tensorboard import MISSING_MESSAGE
from tests.engine_helpers import eager_config

runner = CliRunner()


def scalars(log_dir: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(log_dir))
    accumulator.Reload()
    return accumulator


def steps(accumulator: EventAccumulator, tag: str) -> list[int]:
    return [event.step for event in accumulator.Scalars(tag)]


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("tb") / "run"
    result = runner.invoke(app, ["heuristic", "--epochs", "12", "--quiet", "--run-dir", str(run), "--tensorboard"])
    assert result.exit_code == 0, result.output
    return run


class TestTensorBoard:
    def test_epoch_scalars_have_one_point_per_epoch(self, grown: Path) -> None:
        accumulator = scalars(grown / "tensorboard")
        for tag in ("accuracy/val", "loss/train", "loss/val", "lr", "params"):
            assert steps(accumulator, tag) == list(range(12)), tag

    def test_slots_have_alpha_and_stage(self, grown: Path) -> None:
        tags = scalars(grown / "tensorboard").Tags()["scalars"]
        assert any(tag.endswith("/alpha") for tag in tags) and any(tag.endswith("/stage") for tag in tags)

    def test_a_resume_purges_the_epochs_it_redoes(self, tmp_path: Path) -> None:
        run, options = tmp_path / "run", TelemetryOptions(tensorboard=True)
        run_dir = run
        run = start(
            "digits",
            eager_config(epochs=4, controller=StaticControllerConfig(), checkpoint_every=2),
            run_dir=run_dir,
            sinks=launch_sinks(options, run_dir),
            telemetry=options,
        )
        train(run, stop_after=3)  # epochs 0-2 written, the checkpoint holds epoch 2
        for sink in run.sinks:
            sink.close()  # the process dies here
        run = resume(run_dir, sinks=launch_sinks(read_meta(run_dir).options, run_dir))
        assert run.trainer.epoch == 2
        train(run)
        assert steps(scalars(run_dir / "tensorboard"), "accuracy/val") == [0, 1, 2, 3]

    def test_without_the_package_the_run_is_refused_before_it_starts(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name))
        result = runner.invoke(app, ["static", "--epochs", "1", "--run-dir", str(tmp_path / "r"), "--tensorboard"])
        assert result.exit_code == 2 and MISSING_MESSAGE in result.output
        assert not (tmp_path / "r").exists()

    def test_needs_a_run_directory(self) -> None:
        result = runner.invoke(app, ["static", "--epochs", "1", "--tensorboard"])
        assert (
            result.exit_code == 2 and "--tensorboard writes into the run directory: add --run-dir DIR." in result.output
        )
