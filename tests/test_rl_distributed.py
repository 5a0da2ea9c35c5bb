"""Decentralised PPO: two gloo ranks step their own envs and share one policy."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import attrs
import pytest
import torch

from esper_core import ConfigError, CustomControllerConfig, RunConfig
from esper_core.ppo_config import PPOConfig
from esper_shell.distributed.collective import ProcessGroup, SingleProcess
from esper_shell.distributed.launch import spawn
from esper_shell.rl.distributed import local_envs, rank_seed
from esper_shell.rl.train import resume_ppo, start_ppo, train_ppo
from esper_shell.tasks import get_task

PPO = PPOConfig(n_envs=2, episode_epochs=2)
EPISODES = 4  # two updates


def _config() -> RunConfig:
    return attrs.evolve(get_task("digits").run_config(), controller=CustomControllerConfig(name="ppo"))


def _policy_hash(run: Any) -> str:
    digest = hashlib.sha256()
    for value in (*run.policy.network.state_dict().values(), *_normaliser_tensors(run)):
        digest.update(value.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _normaliser_tensors(run: Any) -> list[torch.Tensor]:
    state = run.policy.normaliser.state_dict()
    return [tensor for part in state.values() for tensor in part.values()]


def _ranks(collective: ProcessGroup, out: Path) -> None:
    results: dict[str, Any] = {}
    run, directory = start_ppo(_config(), PPO, episodes=EPISODES, run_dir=out / "straight", collective=collective)
    train_ppo(run, directory)
    results["straight"] = _policy_hash(run)
    results["wrote"] = directory is not None
    results["episodes_done"] = run.episodes_done
    results["log"] = attrs.asdict(
        attrs.evolve(
            run.history[-1], env_seconds=0.0, controller_seconds=0.0, update_seconds=0.0, env_steps_per_second=0.0
        )
    )

    run, directory = start_ppo(_config(), PPO, episodes=EPISODES, run_dir=out / "resumed", collective=collective)
    train_ppo(run, directory, stop_after=1)
    run, directory = resume_ppo(out / "resumed", collective=collective)
    train_ppo(run, directory)
    results["resumed"] = _policy_hash(run)
    torch.save(results, out / f"rank{collective.rank}.pt")


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp("ddppo")
    spawn(_ranks, out)
    return out, [torch.load(out / f"rank{rank}.pt") for rank in range(2)]


@pytest.mark.slow
class TestTwoRanks:
    def test_both_ranks_end_with_one_policy_and_one_normaliser(self, ranks) -> None:
        _, (zero, one) = ranks
        assert zero["straight"] == one["straight"]

    def test_the_episodes_of_both_ranks_are_counted_and_logged_alike(self, ranks) -> None:
        _, (zero, one) = ranks
        assert zero["episodes_done"] == one["episodes_done"] == EPISODES
        assert zero["log"] == one["log"]

    def test_rank_0_alone_writes_the_checkpoint_with_every_rank_generator(self, ranks) -> None:
        out, (zero, one) = ranks
        assert zero["wrote"] and not one["wrote"]
        state = torch.load(out / "straight" / "checkpoints" / "latest.pt")
        assert state["world_size"] == 2 and len(state["rank_generators"]) == 2
        assert (out / "straight" / "policy.pt").is_file()

    def test_a_resume_under_torchrun_continues_exactly(self, ranks) -> None:
        _, (zero, one) = ranks
        assert zero["resumed"] == zero["straight"] == one["resumed"]

    def test_a_resume_with_another_world_size_is_refused(self, ranks) -> None:
        out, _ = ranks
        with pytest.raises(ConfigError, match="trained by 2 process"):
            resume_ppo(out / "straight")


class TestSplit:
    def test_each_rank_steps_its_share_of_the_envs(self) -> None:
        assert local_envs(4, ProcessGroup(rank=1, world_size=2, local_rank=1)) == 2

    def test_envs_that_do_not_split_evenly_are_refused(self) -> None:
        with pytest.raises(ConfigError, match="--n-envs 3"):
            local_envs(3, ProcessGroup(rank=0, world_size=2, local_rank=0))

    def test_rank_0_samples_with_the_run_seed_as_a_single_process_does(self) -> None:
        assert rank_seed(5, ProcessGroup(rank=0, world_size=2, local_rank=0)) == rank_seed(5, SingleProcess()) == 5
