"""`esper-train ppo`: a tiny run, resume, and the user-error paths (exit 2, one line)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import assert_user_error, invoke

TINY = ["--episodes", "1", "--n-envs", "1", "--episode-epochs", "2"]


def test_ppo_trains_and_writes_a_policy(tmp_path: Path) -> None:
    result = invoke("ppo", *TINY, "--slots", "r0c0", "r1c0", "--reward", "sparse", "--run-dir", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "policy.pt").is_file()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["run"]["slots"] == ["r0c0", "r1c0"] and config["ppo"]["reward"]["mode"] == "sparse"


def test_resume_extends_a_run(tmp_path: Path) -> None:
    run = str(tmp_path / "run")
    assert invoke("ppo", *TINY, "--run-dir", run).exit_code == 0
    result = invoke("ppo", "--resume", run, "--episodes", "2")
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "run" / "summary.json").read_text())["updates"]) == 2


def test_resume_accepts_a_worker_count(tmp_path: Path) -> None:
    """--workers is a machine setting (results do not depend on it), so a resumed run may change it."""
    run = str(tmp_path / "run")
    assert invoke("ppo", *TINY, "--run-dir", run).exit_code == 0
    result = invoke("ppo", "--resume", run, "--episodes", "2", "--workers", "1")
    assert result.exit_code == 0, result.output


def test_workers_that_do_not_divide_the_envs_are_refused() -> None:
    result = invoke("ppo", "--episodes", "4", "--n-envs", "4", "--episode-epochs", "1", "--workers", "3")
    assert_user_error(result, "--workers 3 does not divide the 4 envs", "--workers 2")


def test_resume_refuses_other_settings(tmp_path: Path) -> None:
    assert_user_error(invoke("ppo", "--resume", str(tmp_path), "--seed", "3"), "drop --seed")


def test_legacy_slot_name_is_refused() -> None:
    assert_user_error(invoke("ppo", *TINY, "--slots", "early"), "Invalid slot 'early'", "r0c0")


def test_slot_the_host_lacks_is_refused() -> None:
    assert_user_error(invoke("ppo", *TINY, "--slots", "r5c0"), "r5c0", "r0c0, r1c0.")


def test_missing_run_to_resume(tmp_path: Path) -> None:
    assert_user_error(invoke("ppo", "--resume", str(tmp_path / "none")), "No PPO run to resume")


def test_heuristic_command_runs_a_trained_policy_and_records_it_in_the_config(tmp_path: Path) -> None:
    assert invoke("ppo", *TINY, "--run-dir", str(tmp_path / "ppo")).exit_code == 0
    policy = str(tmp_path / "ppo" / "policy.pt")
    run = str(tmp_path / "run")
    result = invoke("heuristic", "--policy", policy, "--epochs", "3", "--quiet", "--run-dir", run)
    assert result.exit_code == 0, result.output
    controller = json.loads((tmp_path / "run" / "config.json").read_text())["run"]["controller"]
    assert controller == {"kind": "policy", "path": policy}


def test_missing_policy_file_is_a_user_error(tmp_path: Path) -> None:
    result = invoke("heuristic", "--policy", str(tmp_path / "nope.pt"), "--epochs", "1")
    assert result.exit_code == 2 and "nope.pt" in result.output and "Traceback" not in result.output


def test_episodes_that_do_not_fill_every_env_are_refused() -> None:
    assert_user_error(invoke("ppo", "--episodes", "3", "--n-envs", "2"), "not a multiple of --n-envs 2")


def test_a_reward_given_on_resume_is_refused_whatever_its_value(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert (
        invoke("ppo", "--episodes", "2", "--n-envs", "2", "--episode-epochs", "2", "--run-dir", str(run)).exit_code == 0
    )
    assert_user_error(invoke("ppo", "--resume", str(run), "--reward", "shaped"), "drop --reward")


def test_a_training_directory_resumed_by_ppo_names_the_training_command(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert invoke("static", "--epochs", "1", "--quiet", "--run-dir", str(run)).exit_code == 0
    assert_user_error(invoke("ppo", "--resume", str(run)), f"continue it with: esper-train static --resume {run}")


def test_an_empty_run_directory_is_refused() -> None:
    assert_user_error(invoke("ppo", "--run-dir", ""), "--run-dir is empty")


def test_a_warm_start_reports_the_winner_it_imitated(tmp_path: Path) -> None:
    result = invoke(
        "ppo", *TINY, "--task", "digits", "--slots", "r0c0", "--warm-start", "--run-dir", str(tmp_path / "r")
    )
    assert result.exit_code == 0, result.output
    assert "candidates (mean return" in result.output and "of its decisions" in result.output
    assert (tmp_path / "r" / "policy.pt").is_file()


def test_a_warm_start_on_resume_is_refused(tmp_path: Path) -> None:
    assert_user_error(invoke("ppo", "--resume", str(tmp_path), "--warm-start"), "drop --warm-start")
