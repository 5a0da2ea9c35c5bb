"""The from-scratch builder: a grown run's final architecture, fresh, FOSSILIZED from epoch 0."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import torch

from esper_core import (
    BuildSeed,
    ConfigError,
    GateFailedError,
    LifecycleConfig,
    RunConfig,
    SeedStage,
    StageContext,
    StaticControllerConfig,
    fossilized_at_birth,
)
from esper_shell.bench.staging import walk_to_stage
from esper_shell.engine.run import Run
from esper_shell.model import MorphogeneticModel
from esper_shell.outcome.architecture import (
    Architecture,
    architecture_of,
    architecture_of_run,
    start_from_scratch,
)
from esper_shell.runs import start, train
from esper_shell.tasks import get_task

GROWN = (("r0c0", "depthwise"), ("r2c0", "conv_light"))


def _config(epochs: int = 2) -> RunConfig:
    preset = get_task("digits").run_config()
    return attrs.evolve(preset, training=attrs.evolve(preset.training, epochs=epochs))


def _grown_run(run_dir: Path | None = None) -> Run:
    """A run whose seeds reached FOSSILIZED along the lifecycle, then trained an epoch."""
    run = start("digits", attrs.evolve(_config(), controller=StaticControllerConfig()), run_dir=run_dir)
    for slot_id, blueprint in GROWN:
        walk_to_stage(run.trainer.model, slot_id, SeedStage.FOSSILIZED, blueprint=blueprint)
    train(run, stop_after=1)
    return run


def _seed_weights(run: Run) -> dict[str, torch.Tensor]:
    return {key: value for key, value in run.trainer.model.state_dict().items() if ".seed." in key}


class TestFossilizedAtBirth:
    CTX = StageContext(epoch=0, timestamp=0.0, config=LifecycleConfig())

    def test_builds_the_seed_and_enters_fossilized_at_alpha_1(self) -> None:
        state, effects = fossilized_at_birth(
            None, slot_id="r0c0", seed_id="s", blueprint_id="conv_light", known_blueprints=("conv_light",), ctx=self.CTX
        ).unwrap()
        assert (state.stage, state.alpha) == (SeedStage.FOSSILIZED, 1.0)
        assert BuildSeed("conv_light") in effects

    def test_an_unknown_blueprint_fails_g0(self) -> None:
        result = fossilized_at_birth(
            None, slot_id="r0c0", seed_id="s", blueprint_id="nope", known_blueprints=("conv_light",), ctx=self.CTX
        )
        assert isinstance(result.failure(), GateFailedError)


class TestInstallFossilized:
    def test_the_seed_is_integrated_and_not_counted_as_germinated(self) -> None:
        model = MorphogeneticModel(get_task("digits").build_host(), ["r0c0", "r1c0", "r2c0"])
        before = model.total_params()
        model.install_fossilized("r1c0", "conv_light")
        report = model.slot_reports()["r1c0"]
        assert (report.stage, report.alpha, model.seeds_created) == (SeedStage.FOSSILIZED, 1.0, 0)
        assert model.total_params() > before

    def test_an_occupied_slot_is_refused(self) -> None:
        model = MorphogeneticModel(get_task("digits").build_host(), ["r0c0"])
        model.germinate("r0c0", "conv_light")
        with pytest.raises(GateFailedError):
            model.install_fossilized("r0c0", "depthwise")


@pytest.fixture(scope="module")
def grown() -> Run:
    return _grown_run()


@pytest.fixture(scope="module")
def scratch(grown: Run) -> Run:
    return start_from_scratch("digits", _config(), architecture_of_run(grown))


class TestStartFromScratch:
    def test_has_the_grown_runs_architecture(self, grown: Run, scratch: Run) -> None:
        assert architecture_of_run(scratch) == architecture_of_run(grown)
        assert architecture_of_run(grown).fossilized == GROWN

    def test_has_the_grown_runs_parameter_count(self, grown: Run, scratch: Run) -> None:
        assert scratch.trainer.model.total_params() == grown.trainer.model.total_params()

    def test_starts_at_epoch_0_with_every_seed_at_alpha_1(self, scratch: Run) -> None:
        reports = scratch.trainer.model.slot_reports()
        assert scratch.trainer.epoch == 0
        assert [(reports[slot].stage, reports[slot].alpha) for slot, _ in GROWN] == [(SeedStage.FOSSILIZED, 1.0)] * 2

    def test_has_fresh_seed_weights_not_the_grown_runs(self, grown: Run, scratch: Run) -> None:
        fresh, trained = _seed_weights(scratch), _seed_weights(grown)
        assert fresh.keys() == trained.keys()
        assert any(not torch.equal(fresh[key], trained[key]) for key in fresh)

    def test_has_the_static_runs_initial_host(self, scratch: Run) -> None:
        static = start("digits", attrs.evolve(_config(), controller=StaticControllerConfig()))
        left, right = scratch.trainer.model.host.state_dict(), static.trainer.model.host.state_dict()
        assert all(torch.equal(left[key], right[key]) for key in left)

    def test_a_rollback_keeps_the_seeds(self, scratch: Run) -> None:
        assert any(".seed." in key for key in scratch.trainer.snapshot["model"])

    def test_every_seed_gets_an_optimizer_and_learns(self, grown: Run) -> None:
        run = start_from_scratch("digits", _config(), architecture_of_run(grown))
        before = {key: value.clone() for key, value in _seed_weights(run).items()}
        train(run, stop_after=1)
        after = _seed_weights(run)
        assert all(not torch.equal(before[key], after[key]) for key in before if key.endswith("weight"))

    def test_a_slot_the_config_does_not_enable_is_refused(self) -> None:
        architecture = Architecture(task="digits", slots=["r0c0", "r2c0"], fossilized=[("r2c0", "conv_light")])
        with pytest.raises(ConfigError, match="r2c0"):
            start_from_scratch("digits", attrs.evolve(_config(), slots=["r0c0"]), architecture)

    def test_another_task_is_refused(self) -> None:
        architecture = Architecture(task="synthetic", slots=["r0c0"], fossilized=[])
        with pytest.raises(ConfigError, match="synthetic"):
            start_from_scratch("digits", _config(), architecture)


def test_architecture_of_a_run_directory_reads_its_checkpoint(tmp_path: Path) -> None:
    run = _grown_run(tmp_path / "grown")
    assert architecture_of(tmp_path / "grown") == architecture_of_run(run)
