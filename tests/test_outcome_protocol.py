"""esper_shell.outcome.protocol and report: paired arms, their rows, the JSON and the PNG."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
import torch

from esper_core import ConfigError, Germination, RunConfig
from esper_shell.engine.device import MachineConfig
from esper_shell.outcome import (
    Arm,
    ArmSummary,
    compare,
    fixed_arm,
    from_scratch_arm,
    heuristic_arm,
    summarize,
)
from esper_shell.outcome.arms import run_static, start_arm
from esper_shell.outcome.report import plot, table, to_json_rows
from esper_shell.runs import start
from esper_shell.tasks import get_task

MACHINE = MachineConfig(device="cpu", threads=1)
JSON_FIELDS = {
    "task",
    "arm",
    "n_seeds",
    "final_acc_mean",
    "final_acc_std",
    "params_mean",
    "paired_diff_mean",
    "paired_diff_ci95",
    "wins",
}


def _config(epochs: int = 2) -> RunConfig:
    preset = get_task("digits").run_config()
    return attrs.evolve(preset, training=attrs.evolve(preset.training, epochs=epochs))


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[ArmSummary]:
    """Two epochs: nothing fossilizes, so every arm is exactly static's run (the pairing at work)."""
    arms = [heuristic_arm(), from_scratch_arm(), fixed_arm((Germination(0, "r2c0", "conv_light"),))]
    cache_dir = tmp_path_factory.mktemp("cache")
    outcome = compare("digits", arms, [0, 1], config=_config(), machine=MACHINE, cache_dir=cache_dir)
    return summarize(outcome)


class TestPairing:
    ARMS = (heuristic_arm(), fixed_arm((Germination(0, "r2c0", "conv_light"),)))

    @pytest.mark.parametrize("arm", ARMS, ids=lambda arm: arm.name)
    def test_an_arm_and_static_start_from_the_same_host_and_data_order(self, arm: Arm) -> None:
        config = _config()
        grown = start_arm(arm, "digits", config, 3, machine=MACHINE, earlier={})
        static = start("digits", attrs.evolve(config, seed=3), machine=MACHINE)
        hosts = grown.trainer.model.host.state_dict(), static.trainer.model.host.state_dict()
        assert all(torch.equal(hosts[0][key], hosts[1][key]) for key in hosts[0])
        orders = [
            [
                y
                for _, y in run.trainer.task.train(
                    torch.Generator().set_state(run.trainer.data_generator.get_state()), 64
                )
            ]
            for run in (grown, static)
        ]
        assert all(torch.equal(a, b) for a, b in zip(*orders, strict=True))

    def test_arms_that_do_not_change_the_model_end_exactly_as_static(self, rows: list[ArmSummary]) -> None:
        by_arm = {row.arm: row for row in rows}
        assert by_arm["heuristic"].final_acc == by_arm["static"].final_acc
        assert by_arm["from-scratch"].paired_diffs == (0.0, 0.0)

    def test_the_static_arm_is_the_cached_baseline(self, tmp_path: Path) -> None:
        first = run_static("digits", _config(epochs=1), 0, machine=MACHINE, cache_dir=tmp_path, use_cache=True)
        assert len(list(tmp_path.glob("*.json"))) == 1 and first.params == 163


class TestRows:
    def test_one_row_per_arm_static_first(self, rows: list[ArmSummary]) -> None:
        assert [row.arm for row in rows] == ["static", "heuristic", "from-scratch", "fixed"]

    def test_static_has_no_paired_fields(self, rows: list[ArmSummary]) -> None:
        assert (rows[0].paired_diff_mean, rows[0].paired_diff_ci95, rows[0].wins) == (None, None, None)

    def test_a_grown_arm_counts_its_seeds_parameters(self, rows: list[ArmSummary]) -> None:
        assert rows[3].params_mean > rows[0].params_mean == 163

    def test_json_has_the_documented_fields_and_types(self, rows: list[ArmSummary]) -> None:
        data = json.loads(json.dumps(to_json_rows(rows)))
        assert all(JSON_FIELDS <= row.keys() for row in data)
        fixed = data[3]
        low, high = fixed["paired_diff_ci95"]
        assert (fixed["task"], fixed["arm"], fixed["n_seeds"]) == ("digits", "fixed", 2)
        assert low <= fixed["paired_diff_mean"] <= high and isinstance(fixed["wins"], int)

    def test_the_table_shows_the_interval_and_wins(self, rows: list[ArmSummary]) -> None:
        assert "| digits | fixed | 2 |" in table(rows) and "/2 |" in table(rows)

    def test_the_plot_is_a_png(self, rows: list[ArmSummary], tmp_path: Path) -> None:
        plot(tmp_path / "diffs.png", rows)
        assert (tmp_path / "diffs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class TestRefusals:
    def test_one_seed_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="at least 2"):
            compare("digits", [heuristic_arm()], [0], config=_config())

    def test_from_scratch_without_the_arm_it_copies_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="heuristic"):
            compare("digits", [from_scratch_arm()], [0, 1], config=_config())

    def test_two_arms_of_one_name_are_refused(self) -> None:
        with pytest.raises(ConfigError, match="twice"):
            compare("digits", [heuristic_arm(), heuristic_arm()], [0, 1], config=_config())
