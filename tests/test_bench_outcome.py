"""`esper-train bench outcome` and `esper-train static --architecture-of`: the CLI of the outcome protocol."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
from typer.testing import CliRunner

from esper_core import SeedStage, StaticControllerConfig
from esper_shell.bench.outcome import OutcomeOptions, arm_names
from esper_shell.bench.staging import walk_to_stage
from esper_shell.cli import app, expand_multi_value_options
from esper_shell.runs import start, train
from esper_shell.tasks import get_task

runner = CliRunner()


def invoke(*args: str):  # noqa: ANN201 - typer's Result
    return runner.invoke(app, expand_multi_value_options(list(args)))


def _one_error_line(result) -> str:  # noqa: ANN001
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.output
    return lines[0]


class TestBenchOutcome:
    def test_writes_the_json_rows_and_the_png(self, tmp_path: Path) -> None:
        result = invoke(
            *("bench", "outcome", "--task", "digits", "--seeds", "2", "--epochs", "1"),
            *(
                "--cache-dir",
                str(tmp_path / "cache"),
                "--json",
                str(tmp_path / "o.json"),
                "--plot",
                str(tmp_path / "o.png"),
            ),
        )
        assert result.exit_code == 0, result.output
        rows = json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))
        assert [(row["task"], row["arm"]) for row in rows] == [
            ("digits", "static"),
            ("digits", "heuristic"),
            ("digits", "from-scratch"),
        ]
        assert (tmp_path / "o.png").read_bytes()[:4] == b"\x89PNG"

    def test_the_fixed_arm_without_a_schedule_is_refused(self) -> None:
        line = _one_error_line(invoke("bench", "outcome", "--arm", "fixed", "--seeds", "2"))
        assert "--fixed EPOCH:SLOT:BLUEPRINT" in line

    def test_a_malformed_fixed_entry_is_refused(self) -> None:
        assert "EPOCH:SLOT:BLUEPRINT" in _one_error_line(invoke("bench", "outcome", "--fixed", "r2c0", "--seeds", "2"))

    def test_an_unknown_arm_is_refused(self) -> None:
        assert "'random'" in _one_error_line(invoke("bench", "outcome", "--arm", "random", "--seeds", "2"))

    def test_one_seed_is_refused(self) -> None:
        assert "at least 2" in _one_error_line(invoke("bench", "outcome", "--task", "digits", "--seeds", "1"))


class TestArmNames:
    def test_default_arms_add_fixed_and_policy_when_given(self) -> None:
        options = OutcomeOptions(fixed=("2:r2c0:conv_light",), policy=Path("p.pt"))
        assert arm_names(options) == ("heuristic", "from-scratch", "fixed", "policy")

    def test_from_scratch_brings_the_heuristic_it_copies(self) -> None:
        assert arm_names(OutcomeOptions(arms=("from-scratch",))) == ("heuristic", "from-scratch")


def test_static_architecture_of_trains_the_grown_architecture_from_epoch_0(tmp_path: Path) -> None:
    preset = get_task("digits").run_config()
    config = attrs.evolve(preset, training=attrs.evolve(preset.training, epochs=1), controller=StaticControllerConfig())
    grown = start("digits", config, run_dir=tmp_path / "grown")
    walk_to_stage(grown.trainer.model, "r2c0", SeedStage.FOSSILIZED, blueprint="conv_light")
    train(grown)
    result = invoke(
        "static",
        "--architecture-of",
        str(tmp_path / "grown"),
        "--epochs",
        "1",
        "--quiet",
        "--run-dir",
        str(tmp_path / "s"),
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "s" / "summary.json").read_text(encoding="utf-8"))
    assert summary["final"]["params"] == grown.trainer.model.total_params()
    assert json.loads((tmp_path / "s" / "architecture.json").read_text(encoding="utf-8"))["fossilized"] == [
        {"slot": "r2c0", "blueprint": "conv_light"}
    ]


def test_static_architecture_of_a_missing_run_is_one_error_line(tmp_path: Path) -> None:
    assert "No run to resume" in _one_error_line(invoke("static", "--architecture-of", str(tmp_path / "none")))
