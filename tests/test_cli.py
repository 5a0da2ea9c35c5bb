"""esper-train: commands through typer's runner, one real subprocess, every user-error path."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from esper_shell import cli
from tests.cli_helpers import assert_user_error, invoke

TINY = ["--epochs", "2", "--quiet"]


class TestCommands:
    def test_help_shows_examples(self) -> None:
        result = invoke("--help")
        assert result.exit_code == 0
        assert "esper-train heuristic --resume runs/a" in result.output

    def test_slots_prints_the_task_grid(self) -> None:
        result = invoke("slots", "--task", "pydoc")
        assert result.exit_code == 0
        for slot_id in ("r0c0", "r0c1", "r1c0", "r1c1"):
            assert slot_id in result.output

    def test_heuristic_runs_with_space_separated_slots(self, tmp_path: Path) -> None:
        result = invoke("heuristic", *TINY, "--slots", "r0c0", "r1c0", "--run-dir", str(tmp_path / "run"))
        assert result.exit_code == 0, result.output
        assert json.loads((tmp_path / "run" / "config.json").read_text())["run"]["slots"] == ["r0c0", "r1c0"]

    def test_static_runs(self) -> None:
        result = invoke("static", *TINY)
        assert result.exit_code == 0, result.output
        assert "final val accuracy" in result.output

    def test_config_file_sets_fields_and_flags_override_it(self, tmp_path: Path) -> None:
        config = tmp_path / "run.toml"
        config.write_text("seed = 3\n[training]\nepochs = 5\n[lifecycle]\nblend_steps = 2\n")
        result = invoke("static", "--config", str(config), "--epochs", "1", "--quiet", "--run-dir", str(tmp_path / "r"))
        assert result.exit_code == 0, result.output
        saved = json.loads((tmp_path / "r" / "config.json").read_text())["run"]
        assert (saved["training"]["epochs"], saved["seed"], saved["lifecycle"]["blend_steps"]) == (1, 3, 2)

    def test_resume_continues_a_stopped_run(self, tmp_path: Path) -> None:
        run = str(tmp_path / "run")
        assert invoke("static", "--epochs", "3", "--quiet", "--run-dir", run).exit_code == 0
        result = invoke("static", "--resume", run, "--quiet")
        assert result.exit_code == 0, result.output
        assert "final val accuracy" in result.output


class TestUserErrors:
    def test_legacy_slot_name(self) -> None:
        assert_user_error(
            invoke("heuristic", "--slots", "early"),
            "Invalid slot 'early'. Slot names were replaced by grid coordinates: use r0c0",
            "Valid slots for task mnist1d: r0c0, r1c0.",
        )

    def test_non_canonical_slot(self) -> None:
        assert_user_error(invoke("heuristic", "--slots", "R0C0"), "Invalid slot 'R0C0'")

    def test_unknown_slot_lists_valid_ids(self) -> None:
        assert_user_error(invoke("heuristic", *TINY, "--slots", "r1c3"), "r1c3", "valid slots: r0c0, r1c0.")

    def test_unknown_task(self) -> None:
        assert_user_error(invoke("heuristic", "--task", "imagenet"), "Unknown task 'imagenet'", "digits")

    def test_missing_data_dir(self) -> None:
        assert_user_error(invoke("heuristic", "--task", "cifar10"), "--data-dir")

    def test_data_dir_without_the_data(self, tmp_path: Path) -> None:
        result = invoke("heuristic", "--task", "cifar10", "--data-dir", str(tmp_path))
        assert_user_error(result, str(tmp_path), one_line=False)
        assert "never downloads" in result.output

    def test_bad_config_key(self, tmp_path: Path) -> None:
        config = tmp_path / "run.toml"
        config.write_text("epoch = 5\n")
        assert_user_error(invoke("heuristic", "--config", str(config)), "epoch", str(config))

    def test_unreadable_config_file(self, tmp_path: Path) -> None:
        assert_user_error(invoke("heuristic", "--config", str(tmp_path / "nope.toml")), "nope.toml")

    def test_malformed_toml(self, tmp_path: Path) -> None:
        config = tmp_path / "run.toml"
        config.write_text("epochs = = 5\n")
        assert_user_error(invoke("heuristic", "--config", str(config)), "run.toml")

    def test_corrupt_checkpoint(self, tmp_path: Path) -> None:
        run = tmp_path / "run"
        assert invoke("static", "--epochs", "1", "--quiet", "--run-dir", str(run)).exit_code == 0
        (run / "checkpoints" / "latest.pt").write_bytes(b"not a checkpoint")
        assert_user_error(invoke("static", "--resume", str(run)), "latest.pt")

    def test_resume_without_a_run(self, tmp_path: Path) -> None:
        assert_user_error(invoke("static", "--resume", str(tmp_path)), "No run to resume")

    def test_resume_with_conflicting_flags(self, tmp_path: Path) -> None:
        assert_user_error(invoke("static", "--resume", str(tmp_path), "--epochs", "3"), "--epochs")

    def test_run_dir_already_used(self, tmp_path: Path) -> None:
        run = str(tmp_path / "run")
        assert invoke("static", "--epochs", "1", "--quiet", "--run-dir", run).exit_code == 0
        assert_user_error(invoke("static", "--epochs", "1", "--run-dir", run), "--resume")

    def test_cuda_device_without_cuda(self) -> None:
        pytest.importorskip("torch")
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
        assert_user_error(invoke("static", "--device", "cuda:0"), "CUDA is not available")

    def test_out_of_range_epochs(self) -> None:
        assert_user_error(invoke("static", "--epochs", "0"), "epochs")


def test_console_script_runs_the_default_task_end_to_end(tmp_path: Path) -> None:
    script = shutil.which("esper-train", path=str(Path(sys.executable).parent))
    assert script is not None, "esper-train is not installed next to this Python"
    completed = subprocess.run(
        [script, "heuristic", "--epochs", "2", "--run-dir", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "final val accuracy" in completed.stdout
    assert (tmp_path / "run" / "checkpoints" / "latest.pt").is_file()


class TestControllerConsistency:
    def test_resume_with_the_other_command_is_refused(self, tmp_path: Path) -> None:
        run = str(tmp_path / "run")
        assert invoke("static", "--epochs", "2", "--quiet", "--run-dir", run).exit_code == 0
        assert_user_error(invoke("heuristic", "--resume", run), "esper-train static --resume")

    def test_config_file_cannot_choose_another_controller(self, tmp_path: Path) -> None:
        config = tmp_path / "run.toml"
        config.write_text('controller = "static"\n')
        # The command chooses the controller: a file has no such key.
        assert_user_error(invoke("heuristic", "--config", str(config)), "unknown key(s) controller")


class TestRefusedInsteadOfIgnored:
    """Inputs that used to run silently wrong (issue 9): each is refused in one line naming the fix."""

    @pytest.mark.parametrize("seed", ["-1", "18446744073709551616"])
    def test_a_seed_outside_what_torch_takes(self, seed: str) -> None:
        assert_user_error(invoke("static", "--seed", seed), "'seed' must be")

    @pytest.mark.parametrize("seed", ["-1", "18446744073709551616"])
    def test_a_seed_outside_what_torch_takes_in_a_config_file(self, tmp_path: Path, seed: str) -> None:
        (tmp_path / "run.toml").write_text(f"seed = {seed}\n")
        assert_user_error(invoke("static", "--config", str(tmp_path / "run.toml")), "'seed' must be")

    def test_a_config_file_that_is_not_utf8(self, tmp_path: Path) -> None:
        (tmp_path / "run.toml").write_bytes(b"\xff\xfe seed = 1\n")
        assert_user_error(invoke("static", "--config", str(tmp_path / "run.toml")), "not UTF-8")

    def test_a_cpu_device_with_an_index(self) -> None:
        assert_user_error(invoke("static", "--device", "cpu:3"), "the CPU has no index; use --device cpu")

    def test_epochs_beyond_any_real_run(self) -> None:
        assert_user_error(invoke("static", "--epochs", "1000000"), "'epochs' must be <= 100000")

    def test_a_non_finite_learning_rate(self) -> None:
        assert_user_error(invoke("static", "--lr", "nan"), "lr must be a finite number")

    def test_a_data_directory_for_an_embedded_task(self, tmp_path: Path) -> None:
        assert_user_error(invoke("static", "--data-dir", str(tmp_path)), "is embedded", "drop --data-dir")

    @pytest.mark.parametrize("option", ["--run-dir", "--resume"])
    def test_an_empty_directory_option(self, option: str) -> None:
        assert_user_error(invoke("static", option, ""), f"{option} is empty")

    def test_static_refuses_a_heuristic_table(self, tmp_path: Path) -> None:
        (tmp_path / "run.toml").write_text("[heuristic]\nmin_epoch = 2\n")
        assert_user_error(invoke("static", "--config", str(tmp_path / "run.toml")), "static never grows")

    def test_static_refuses_a_policy(self, tmp_path: Path) -> None:
        (tmp_path / "run.toml").write_text('policy = "p.pt"\n')
        assert_user_error(invoke("static", "--config", str(tmp_path / "run.toml")), "static never grows")

    def test_a_policy_refuses_a_heuristic_table(self, tmp_path: Path) -> None:
        (tmp_path / "run.toml").write_text("[heuristic]\nmin_epoch = 2\n")
        result = invoke("heuristic", "--config", str(tmp_path / "run.toml"), "--policy", str(tmp_path / "p.pt"))
        assert_user_error(result, "A policy decides this run")

    def test_machine_options_in_a_config_file(self, tmp_path: Path) -> None:
        (tmp_path / "run.toml").write_text('device = "cpu"\n')
        assert_user_error(invoke("static", "--config", str(tmp_path / "run.toml")), "pass them as flags (--device)")


class TestMessagesThatHelp:
    def test_a_ppo_directory_resumed_by_heuristic_names_the_ppo_command(self, tmp_path: Path) -> None:
        run = tmp_path / "ppo"
        assert (
            invoke("ppo", "--episodes", "2", "--n-envs", "2", "--episode-epochs", "2", "--run-dir", str(run)).exit_code
            == 0
        )
        assert_user_error(
            invoke("heuristic", "--resume", str(run)), f"continue it with: esper-train ppo --resume {run}"
        )

    def test_ctrl_c_prints_the_command_that_resumes(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        def interrupted(*_args: object, **_kwargs: object) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(cli, "train", interrupted)
        result = invoke("static", "--quiet", "--run-dir", str(tmp_path / "run"))
        assert result.exit_code == 130
        assert f"esper-train static --resume {tmp_path / 'run'}" in result.output
