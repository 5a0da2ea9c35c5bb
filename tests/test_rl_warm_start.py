"""The warm start: candidates, successive halving over the run's own envs, and imitation of the winner."""

from __future__ import annotations

import attrs
import pytest

from esper_core import ConfigError, FactoredAction, FixedScheduleController, Germination, LifecycleOp, StaticController
from esper_core.ppo_config import PPOConfig
from esper_shell.distributed.collective import SingleProcess
from esper_shell.rl.batch import GERMINATE_INDEX, action_batch
from esper_shell.rl.train import PPORun
from esper_shell.rl.warm_start import default_candidates, halving_rounds, imitate, play, search
from esper_shell.tasks import get_task

EPOCHS = 3
PPO = PPOConfig(n_envs=2, episode_epochs=EPOCHS, seed_pool=8)


@pytest.fixture(scope="module")
def run() -> PPORun:
    config = get_task("digits").run_config()
    return PPORun(attrs.evolve(config, slots=("r0c0", "r1c0")), PPO, episodes=2)


def _plan(slot: str) -> FixedScheduleController:
    return FixedScheduleController(
        schedule=(Germination(0, slot, "conv_light"),), blend=get_task("digits").heuristic.blend
    )


def test_candidates_are_the_heuristic_and_every_plan(run: PPORun) -> None:
    names = list(default_candidates(run, start_epochs=(0, 1)))
    assert names[0] == "heuristic"
    assert len(names) == 1 + 4 * len(run.layout.blueprints) * 2


def test_a_played_episode_records_one_decision_per_epoch_per_env(run: PPORun) -> None:
    returns, demonstrations = play(run, lambda: _plan("r1c0"), first_episode=0)
    assert len(returns) == 2 and demonstrations.actions.op.shape == (2 * EPOCHS,)
    # Rows are step-major: the first two are both envs' decisions at epoch 0, the plan's germination.
    assert demonstrations.actions.op[:2].tolist() == [GERMINATE_INDEX, GERMINATE_INDEX]
    assert demonstrations.actions.slot[:2].tolist() == [1, 1]


def test_halving_plays_the_winner_in_every_round_and_imitates_only_it(run: PPORun) -> None:
    candidates = {"static": StaticController, "r0c0": lambda: _plan("r0c0"), "r1c0": lambda: _plan("r1c0")}
    result = search(run, candidates)
    played = {name: len(returns) for name, returns in result.returns.items()}
    # Three candidates -> two -> one: the winner played three rounds of two episodes.
    assert played[result.best] == 6 and sorted(played.values()) == [2, 4, 6]
    assert result.episodes == 12 and result.complete
    assert result.demonstrations.actions.op.shape == (6 * EPOCHS,)


def test_out_of_time_the_search_keeps_the_best_survivor_so_far(run: PPORun) -> None:
    candidates = {"static": StaticController, "r0c0": lambda: _plan("r0c0"), "r1c0": lambda: _plan("r1c0")}
    result = search(run, candidates, out_of_time=lambda: True)
    assert not result.complete and result.episodes == 6  # one round of three candidates, two envs
    means = {name: sum(returns) / len(returns) for name, returns in result.returns.items()}
    assert result.best == max(means, key=means.__getitem__)


def test_a_pool_too_small_for_new_seeds_in_every_round_is_refused(run: PPORun) -> None:
    candidates = {"static": StaticController, "r0c0": lambda: _plan("r0c0"), "r1c0": lambda: _plan("r1c0")}
    with pytest.raises(ConfigError, match="need 12 distinct training seeds, but the seed pool has 8"):
        search(run, candidates, resets_per_round=2)


def test_the_warm_start_is_refused_under_torchrun() -> None:
    two_ranks = attrs.evolve(SingleProcess(), world_size=2)
    config = attrs.evolve(get_task("digits").run_config(), slots=("r0c0", "r1c0"))
    run = PPORun(config, PPO, episodes=2, collective=two_ranks)
    with pytest.raises(ConfigError, match="runs in one process"):
        search(run, {"static": StaticController})


@pytest.mark.parametrize(("candidates", "rounds"), [(1, 1), (2, 2), (3, 3), (13, 5), (16, 5), (17, 6)])
def test_halving_rounds(candidates: int, rounds: int) -> None:
    assert halving_rounds(candidates) == rounds


def test_imitation_reproduces_the_demonstrated_decisions(run: PPORun) -> None:
    _returns, demonstrations = play(run, lambda: _plan("r1c0"), first_episode=2)
    assert imitate(run, demonstrations) == 1.0


def test_a_germinate_without_a_blend_is_a_bug_not_a_default() -> None:
    action = FactoredAction(op=LifecycleOp.GERMINATE, slot_index=0, blueprint="conv_light")
    with pytest.raises(ValueError, match="names no blend"):
        action_batch([action], ("conv_light",))
