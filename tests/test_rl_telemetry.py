"""A PPO run's events.jsonl: update and episode events, one run id, a resumed event on resume."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from esper_shell.cli import app

runner = CliRunner()
TINY = ["--episodes", "2", "--n-envs", "2", "--episode-epochs", "2"]


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


def test_a_ppo_run_writes_update_and_episode_events(tmp_path: Path) -> None:
    assert runner.invoke(app, ["ppo", *TINY, "--run-dir", str(tmp_path / "p")]).exit_code == 0
    kinds = [r["kind"] for r in records(tmp_path / "p")]
    assert kinds == ["schema", "run_started", "update", "episode", "episode", "run_finished"]


def test_episode_events_count_the_actions_of_every_epoch(tmp_path: Path) -> None:
    assert runner.invoke(app, ["ppo", *TINY, "--run-dir", str(tmp_path / "p")]).exit_code == 0
    for episode in (r["payload"] for r in records(tmp_path / "p") if r["kind"] == "episode"):
        actions = sum(episode[f"actions_{op}"] for op in ("wait", "germinate", "cull", "fossilize"))
        assert actions == 2 and 0 <= episode["final_accuracy"] <= 100


def test_a_resumed_ppo_run_marks_the_update_it_continues_from(tmp_path: Path) -> None:
    run = str(tmp_path / "p")
    assert runner.invoke(app, ["ppo", *TINY, "--run-dir", run]).exit_code == 0
    assert runner.invoke(app, ["ppo", "--resume", run, "--episodes", "4"]).exit_code == 0
    lines = records(tmp_path / "p")
    assert [r["epoch"] for r in lines if r["kind"] == "resumed"] == [1]
    assert [r["epoch"] for r in lines if r["kind"] == "update"] == [0, 1]
    assert len({r["run_id"] for r in lines}) == 1
