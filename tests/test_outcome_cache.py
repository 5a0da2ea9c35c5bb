"""esper_shell.outcome.cache: static runs keyed by everything that defines them, trained once."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from esper_core import ConfigError, HeuristicControllerConfig, RunConfig, StaticControllerConfig
from esper_shell.engine.device import MachineConfig
from esper_shell.outcome import cache
from esper_shell.outcome.cache import cache_key, default_cache_dir, static_baseline, static_config
from esper_shell.tasks import get_task

MACHINE = MachineConfig(device="cpu", threads=1)


def _config(epochs: int = 1, **training: float) -> RunConfig:
    preset = get_task("digits").run_config()
    return attrs.evolve(preset, training=attrs.evolve(preset.training, epochs=epochs, **training))


class TestKey:
    def test_the_same_config_gives_the_same_key(self) -> None:
        assert cache_key(static_config(_config(), 0), MACHINE) == cache_key(static_config(_config(), 0), MACHINE)

    @pytest.mark.parametrize("change", [{"lr": 0.04}, {"batch_size": 32}, {"weight_decay": 0.0}, {"epochs": 2}])
    def test_a_changed_hyperparameter_changes_the_key(self, change: dict) -> None:
        changed = _config(**change) if "epochs" not in change else _config(epochs=change["epochs"])
        assert cache_key(static_config(changed, 0), MACHINE) != cache_key(static_config(_config(), 0), MACHINE)

    def test_another_seed_changes_the_key(self) -> None:
        assert cache_key(static_config(_config(), 1), MACHINE) != cache_key(static_config(_config(), 0), MACHINE)

    def test_the_controller_is_not_part_of_the_key(self) -> None:
        grown = attrs.evolve(_config(), controller=HeuristicControllerConfig())
        static = attrs.evolve(_config(), controller=StaticControllerConfig())
        assert cache_key(grown, MACHINE) == cache_key(static, MACHINE)

    def test_threads_change_the_key(self) -> None:
        assert cache_key(_config(), MACHINE) != cache_key(_config(), attrs.evolve(MACHINE, threads=2))

    def test_a_bumped_code_version_changes_the_key(self, monkeypatch: pytest.MonkeyPatch) -> None:
        before = cache_key(_config(), MACHINE)
        monkeypatch.setattr(cache, "CACHE_VERSION", cache.CACHE_VERSION + 1)
        assert cache_key(_config(), MACHINE) != before


class TestStaticBaseline:
    @pytest.fixture
    def trainings(self, monkeypatch: pytest.MonkeyPatch) -> list[RunConfig]:
        """The configs actually trained (a cache hit trains nothing)."""
        trained: list[RunConfig] = []
        real = cache.train_static

        def counting(task: str, config: RunConfig, machine: MachineConfig) -> cache.StaticBaseline:
            trained.append(config)
            return real(task, config, machine)

        monkeypatch.setattr(cache, "train_static", counting)
        return trained

    def test_a_second_call_hits_the_cache(self, tmp_path: Path, trainings: list[RunConfig]) -> None:
        first = static_baseline("digits", _config(), 0, machine=MACHINE, cache_dir=tmp_path)
        second = static_baseline("digits", _config(), 0, machine=MACHINE, cache_dir=tmp_path)
        assert (first, len(trainings)) == (second, 1)

    def test_a_changed_hyperparameter_misses_the_cache(self, tmp_path: Path, trainings: list[RunConfig]) -> None:
        static_baseline("digits", _config(), 0, machine=MACHINE, cache_dir=tmp_path)
        static_baseline("digits", _config(lr=0.04), 0, machine=MACHINE, cache_dir=tmp_path)
        assert [config.training.lr for config in trainings] == [0.05, 0.04]

    def test_reports_every_epoch_and_the_final_accuracy(self, tmp_path: Path) -> None:
        result = static_baseline("digits", _config(epochs=2), 0, machine=MACHINE, cache_dir=tmp_path)
        assert len(result.accuracies) == 2 and result.final_accuracy == result.accuracies[-1]
        assert result.params == 163

    def test_an_unreadable_entry_is_retrained(self, tmp_path: Path, trainings: list[RunConfig]) -> None:
        static_baseline("digits", _config(), 0, machine=MACHINE, cache_dir=tmp_path)
        next(tmp_path.glob("*.json")).write_text("{not json", encoding="utf-8")
        static_baseline("digits", _config(), 0, machine=MACHINE, cache_dir=tmp_path)
        assert len(trainings) == 2

    def test_only_built_in_tasks_are_cached(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="built-in tasks"):
            static_baseline("mine", attrs.evolve(_config(), task="mine"), 0, cache_dir=tmp_path)


class TestLocation:
    def test_esper_cache_dir_wins(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("ESPER_CACHE_DIR", str(tmp_path))
        assert default_cache_dir() == tmp_path / "static"

    def test_then_xdg_cache_home(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.delenv("ESPER_CACHE_DIR", raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        assert default_cache_dir() == tmp_path / "esper" / "static"
