"""Run directories: one process at a time, interrupted writes cleaned up, unfinished runs restartable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
import torch

from esper_core import StaticControllerConfig
from esper_core.ppo_config import PPOConfig
from esper_shell.engine.run_files import RunDirectory
from esper_shell.errors import CheckpointError
from esper_shell.rl.run_files import PPODirectory
from esper_shell.rl.train import start_ppo
from esper_shell.runs import start
from esper_shell.tasks import get_task
from tests.cli_helpers import assert_user_error, invoke
from tests.test_checkpoint_files import write_exploit

TINY_PPO = ["--episodes", "1", "--n-envs", "1", "--episode-epochs", "2"]


def _unfinished_training_run(path: Path) -> None:
    """What a run killed before its first checkpoint leaves: its config and its first events."""
    preset = get_task("digits").run_config()
    config = attrs.evolve(preset, controller=StaticControllerConfig(), training=attrs.evolve(preset.training, epochs=2))
    directory = start("digits", config, run_dir=path).directory
    assert directory is not None
    directory.close()
    assert directory.config.is_file() and not directory.checkpoint.exists()


def _unfinished_ppo_run(path: Path) -> None:
    """A PPO run killed anywhere in its first update: the config, no checkpoint, no policy."""
    config = get_task("digits").run_config()
    _run, directory = start_ppo(config, PPOConfig(n_envs=1, episode_epochs=2), episodes=1, run_dir=path)
    assert directory is not None
    directory.close()
    assert directory.config.is_file() and not directory.checkpoint.exists()


class TestSecurity:
    def test_resume_does_not_run_a_pickled_payload_even_with_the_force_variable(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
        run, marker = tmp_path / "run", tmp_path / "ran"
        (run / "checkpoints").mkdir(parents=True)
        (run / "config.json").write_text("{}")
        write_exploit(run / "checkpoints" / "latest.pt", marker, format="esper.run", version=1)
        assert_user_error(invoke("heuristic", "--resume", str(run)), "Refusing")
        assert not marker.exists()

    def test_ppo_resume_does_not_run_a_pickled_payload_even_with_the_force_variable(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
        run, marker = tmp_path / "run", tmp_path / "ran"
        (run / "checkpoints").mkdir(parents=True)
        write_exploit(run / "checkpoints" / "latest.pt", marker, format="esper.ppo", version=1)
        assert_user_error(invoke("ppo", "--resume", str(run)), "Refusing")
        assert not marker.exists()


class TestLock:
    def test_second_resume_of_a_running_directory_is_refused(self, tmp_path: Path) -> None:
        invoke("static", "--epochs", "1", "--quiet", "--run-dir", str(tmp_path / "run"))
        running = RunDirectory(tmp_path / "run")
        running.load()
        assert_user_error(invoke("static", "--resume", str(tmp_path / "run")), "in use by another esper-train")
        running.close()
        assert invoke("static", "--resume", str(tmp_path / "run"), "--quiet").exit_code == 0

    def test_second_start_into_a_running_directory_is_refused(self, tmp_path: Path) -> None:
        running = RunDirectory(tmp_path / "run")
        running.create({})
        result = invoke("static", "--epochs", "1", "--quiet", "--run-dir", str(tmp_path / "run"))
        assert_user_error(result, "in use by another esper-train")

    def test_lock_is_held_against_another_process_and_released_by_close(self, tmp_path: Path) -> None:
        running = RunDirectory(tmp_path / "run")
        running.create({})
        probe = (
            "import sys; from esper_shell.engine.run_files import RunDirectory\n"
            "try:\n    RunDirectory(sys.argv[1]).create({})\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
        )
        held = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "run")], capture_output=True, text=True)
        assert "CheckpointError" in held.stdout and "in use" in held.stdout
        running.close()
        free = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "run")], capture_output=True, text=True)
        assert free.stdout == "" and free.returncode == 0

    def test_directory_dropped_without_close_frees_its_lock(self, tmp_path: Path) -> None:
        RunDirectory(tmp_path / "run").create({})
        RunDirectory(tmp_path / "run").create({})

    def test_ppo_directory_is_locked_too(self, tmp_path: Path) -> None:
        running = PPODirectory(tmp_path / "run")
        running.create({})
        with pytest.raises(CheckpointError, match="in use"):
            PPODirectory(tmp_path / "run").load()


class TestInterruptedWrites:
    def test_leftover_temp_files_are_cleaned_when_a_run_resumes(self, tmp_path: Path) -> None:
        run = tmp_path / "run"
        assert invoke("static", "--epochs", "1", "--quiet", "--run-dir", str(run)).exit_code == 0
        leftover = run / "checkpoints" / ".latest.pt.k3j2.tmp"
        leftover.write_bytes(b"half a checkpoint")
        (run / "summary.json.tmp").write_text("{")
        RunDirectory(run).load()
        assert not leftover.exists() and not (run / "summary.json.tmp").exists()
        assert (run / "checkpoints" / "latest.pt").is_file()

    def test_leftover_policy_temp_files_are_cleaned(self, tmp_path: Path) -> None:
        directory = PPODirectory(tmp_path / "run")
        leftover = directory.path / ".policy.pt.x1.tmp"
        directory.path.mkdir()
        leftover.write_bytes(b"half a policy")
        directory.create({})
        assert not leftover.exists()

    def test_run_dir_naming_a_file_is_refused(self, tmp_path: Path) -> None:
        (tmp_path / "file").write_text("")
        result = invoke("static", "--epochs", "1", "--quiet", "--run-dir", str(tmp_path / "file"))
        assert_user_error(result, "is not a directory")


class TestKilledBeforeTheFirstCheckpoint:
    def test_training_resume_says_to_start_again(self, tmp_path: Path) -> None:
        run = tmp_path / "run"
        _unfinished_training_run(run)
        assert_user_error(
            invoke("static", "--resume", str(run)), "stopped before its first checkpoint", f"--run-dir {run}"
        )

    def test_training_run_can_be_started_again_into_its_directory(self, tmp_path: Path) -> None:
        run = tmp_path / "run"
        _unfinished_training_run(run)
        result = invoke("static", "--epochs", "1", "--quiet", "--run-dir", str(run))
        assert result.exit_code == 0, result.output
        events = [json.loads(line)["kind"] for line in (run / "events.jsonl").read_text().splitlines()]
        assert events.count("run_started") == 1
        assert json.loads((run / "config.json").read_text())["run"]["training"]["epochs"] == 1
        assert torch.load(run / "checkpoints" / "latest.pt")["format"] == "esper.run"

    def test_ppo_resume_says_to_start_again(self, tmp_path: Path) -> None:
        run = tmp_path / "run"
        _unfinished_ppo_run(run)
        assert_user_error(
            invoke("ppo", "--resume", str(run)), "stopped before its first checkpoint", f"--run-dir {run}"
        )

    def test_ppo_run_can_be_started_again_into_its_directory(self, tmp_path: Path) -> None:
        run = tmp_path / "run"
        _unfinished_ppo_run(run)
        result = invoke("ppo", *TINY_PPO, "--run-dir", str(run))
        assert result.exit_code == 0, result.output
        assert (run / "policy.pt").is_file() and (run / "checkpoints" / "latest.pt").is_file()

    def test_a_run_with_a_checkpoint_is_never_replaced(self, tmp_path: Path) -> None:
        run = tmp_path / "run"
        assert invoke("static", "--epochs", "1", "--quiet", "--run-dir", str(run)).exit_code == 0
        before = (run / "checkpoints" / "latest.pt").read_bytes()
        assert_user_error(invoke("static", "--epochs", "1", "--quiet", "--run-dir", str(run)), "--resume")
        assert (run / "checkpoints" / "latest.pt").read_bytes() == before


class TestBackgroundCheckpoints:
    def test_checkpoint_is_durable_and_the_directory_free_when_train_returns(self, tmp_path: Path) -> None:
        run = tmp_path / "run"
        assert invoke("static", "--epochs", "2", "--quiet", "--run-dir", str(run)).exit_code == 0
        assert list((run / "checkpoints").iterdir()) == [run / "checkpoints" / "latest.pt"]
        RunDirectory(run).load()

    def test_a_failed_background_write_stops_the_run_with_a_clear_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from esper_shell import checkpoint_files

        def disk_full(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(checkpoint_files.os, "fsync", disk_full)
        result = invoke("static", "--epochs", "2", "--quiet", "--run-dir", str(tmp_path / "run"))
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        last = result.output.strip().splitlines()[-1]
        assert last.startswith("Error: Writing checkpoint") and "No space left on device" in last
        assert "previous checkpoint is intact" in last
