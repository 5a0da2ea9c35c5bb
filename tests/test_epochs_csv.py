"""--csv: RUN_DIR/epochs.csv has one row per epoch, also after a resume that redoes epochs."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from esper_core import StaticControllerConfig
from esper_shell.cli import app
from esper_shell.runs import resume, start, train
from esper_shell.telemetry.epochs_csv import COLUMNS
from esper_shell.telemetry.launch import launch_sinks
from esper_shell.telemetry.stream import TelemetryOptions, read_meta
from tests.engine_helpers import eager_config

runner = CliRunner()


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_one_row_per_epoch_with_every_column(tmp_path: Path) -> None:
    result = runner.invoke(app, ["heuristic", "--epochs", "3", "--quiet", "--run-dir", str(tmp_path / "r"), "--csv"])
    assert result.exit_code == 0, result.output
    table = rows(tmp_path / "r" / "epochs.csv")
    assert [row["epoch"] for row in table] == ["0", "1", "2"]
    assert tuple(table[0]) == COLUMNS and float(table[2]["val_accuracy"]) > 0


def test_a_resume_replaces_the_rows_of_the_epochs_it_redoes(tmp_path: Path) -> None:
    run, options = tmp_path / "run", TelemetryOptions(csv=True)
    config = eager_config(epochs=4, controller=StaticControllerConfig(), checkpoint_every=2)
    run_dir = run
    run = start("digits", config, run_dir=run_dir, sinks=launch_sinks(options, run_dir), telemetry=options)
    train(run, stop_after=3)  # rows 0-2 written, the checkpoint holds epoch 2
    for sink in run.sinks:
        sink.close()
    run = resume(run_dir, sinks=launch_sinks(read_meta(run_dir).options, run_dir))
    train(run)
    assert [row["epoch"] for row in rows(run_dir / "epochs.csv")] == ["0", "1", "2", "3"]


def test_needs_a_run_directory() -> None:
    result = runner.invoke(app, ["static", "--epochs", "1", "--csv"])
    assert result.exit_code == 2 and "--csv writes into the run directory: add --run-dir DIR." in result.output


def test_resume_keeps_the_options_chosen_at_launch_and_refuses_new_ones(tmp_path: Path) -> None:
    run = str(tmp_path / "r")
    assert runner.invoke(app, ["static", "--epochs", "2", "--quiet", "--run-dir", run, "--csv"]).exit_code == 0
    refused = runner.invoke(app, ["static", "--resume", run, "--tensorboard"])
    assert refused.exit_code == 2 and "drop --tensorboard" in refused.output
