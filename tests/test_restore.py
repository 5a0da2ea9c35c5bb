"""A damaged training or PPO checkpoint is refused in one line when resumed, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import torch
from typer.testing import CliRunner

from esper_core import StaticControllerConfig
from esper_shell.checkpoint_files import atomic_torch_save
from esper_shell.cli import app
from esper_shell.runs import start, train
from esper_shell.tasks import get_task

runner = CliRunner()


def _user_error(*args: str) -> str:
    result = runner.invoke(app, list(args))
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The state of a static run stopped after two epochs."""
    path = tmp_path_factory.mktemp("runs") / "run"
    preset = get_task("digits").run_config()
    config = attrs.evolve(preset, controller=StaticControllerConfig(), training=attrs.evolve(preset.training, epochs=4))
    train(start("digits", config, run_dir=path), stop_after=2)
    return {"path": path, "state": torch.load(path / "checkpoints" / "latest.pt")}


def _tampered(saved: dict[str, Any], tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text((saved["path"] / "config.json").read_text())
    state = {key: value for key, value in saved["state"].items()}
    state["trainer"] = dict(state["trainer"])
    edit(state)
    atomic_torch_save(state, run / "checkpoints" / "latest.pt")
    return run


def _drop(*keys: str) -> Callable[[dict[str, Any]], None]:
    def edit(state: dict[str, Any]) -> None:
        target = state
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return edit


def _set(value: Any, *keys: str) -> Callable[[dict[str, Any]], None]:
    def edit(state: dict[str, Any]) -> None:
        target = state
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (_drop("trainer", "host_optimizer"), "lacks host_optimizer"),
        (_drop("trainer", "model"), "lacks model"),
        (_drop("trainer", "history"), "lacks history"),
        (_drop("trainer", "rng"), "lacks rng"),
        (_drop("trainer", "health"), "lacks health"),
        (_drop("trainer"), "lacks trainer"),
        (_set("garbage", "trainer", "rng"), "trainer.rng should be a dict"),
        (_set({"torch": "x", "data": "y"}, "trainer", "rng"), "trainer.rng.torch should be a Tensor"),
        (
            _set({"state": {}, "param_groups": [{"params": [0, 1, 2, 3, 4, 5, 6]}]}, "trainer", "host_optimizer"),
            "host_optimizer does not fit",
        ),
        (_set([{"epoch": "zero"}], "trainer", "history"), "history[0] does not fit"),
        (_set("3", "trainer", "step"), "trainer.step should be a int"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_missing_or_ill_typed_part_is_refused(
    saved: dict[str, Any], tmp_path: Path, edit: Any, fragment: str
) -> None:
    run = _tampered(saved, tmp_path, edit)
    assert fragment in _user_error("static", "--resume", str(run), "--quiet")


def test_a_tampered_governor_snapshot_is_refused_on_resume_not_at_the_next_rollback(
    saved: dict[str, Any], tmp_path: Path
) -> None:
    def edit(state: dict[str, Any]) -> None:
        snapshot = dict(state["trainer"]["snapshot"])
        model = dict(snapshot["model"])
        key = next(k for k in model if k.startswith("host.") and k.endswith("weight"))
        model[key] = torch.zeros(1)
        snapshot["model"] = model
        state["trainer"]["snapshot"] = snapshot

    run = _tampered(saved, tmp_path, edit)
    assert "trainer.snapshot.model does not fit" in _user_error("static", "--resume", str(run), "--quiet")


def test_the_untampered_state_resumes(saved: dict[str, Any], tmp_path: Path) -> None:
    run = _tampered(saved, tmp_path, lambda state: None)
    assert runner.invoke(app, ["static", "--resume", str(run), "--quiet"]).exit_code == 0


class TestPPOCheckpoints:
    @pytest.fixture(scope="class")
    @classmethod
    def ppo_run(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        run = tmp_path_factory.mktemp("ppo") / "run"
        args = [
            "ppo",
            "--task",
            "digits",
            "--episodes",
            "2",
            "--n-envs",
            "2",
            "--episode-epochs",
            "2",
            "--run-dir",
            str(run),
        ]
        assert runner.invoke(app, args).exit_code == 0
        return run

    @pytest.mark.parametrize(
        ("key", "value", "fragment"),
        [
            ("episodes_done", None, "lacks episodes_done"),
            ("policy", None, "lacks policy"),
            ("episodes_done", "two", "episodes_done should be a int"),
            ("optimizer", {"state": {}, "param_groups": []}, "optimizer does not fit"),
        ],
    )
    def test_a_missing_or_ill_typed_part_is_refused(
        self, ppo_run: Path, tmp_path: Path, key: str, value: Any, fragment: str
    ) -> None:
        state = torch.load(ppo_run / "checkpoints" / "latest.pt")
        if value is None:
            del state[key]
        else:
            state[key] = value
        run = tmp_path / "run"
        run.mkdir()
        (run / "config.json").write_text((ppo_run / "config.json").read_text())
        atomic_torch_save(state, run / "checkpoints" / "latest.pt")
        assert fragment in _user_error("ppo", "--resume", str(run))

    def test_garbage_in_place_of_the_checkpoint_is_refused(self, ppo_run: Path, tmp_path: Path) -> None:
        run = tmp_path / "run"
        (run / "checkpoints").mkdir(parents=True)
        (run / "config.json").write_text((ppo_run / "config.json").read_text())
        (run / "checkpoints" / "latest.pt").write_bytes(b"not a checkpoint")
        assert "Cannot read" in _user_error("ppo", "--resume", str(run))
