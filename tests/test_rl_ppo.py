"""PPO's loss pieces against hand-computed values, its update, and the running normalisers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from esper_core import BlendAlgorithm, LifecycleOp
from esper_core.ppo_config import PPOConfig
from esper_shell.errors import CheckpointError
from esper_shell.rl.batch import OPS, ActionBatch, MaskBatch, ObservationBatch
from esper_shell.rl.normalize import NormaliserConfig, ObservationNormaliser, RewardScaler, RunningMeanStd
from esper_shell.rl.policy import PolicyNetwork
from esper_shell.rl.ppo import (
    RolloutBatch,
    approx_kl,
    clip_fraction,
    clipped_policy_loss,
    clipped_value_loss,
    normalise_advantages,
    ppo_update,
)

EXACT = NormaliserConfig(prior_count=0.0)


class TestLosses:
    def test_clipped_policy_loss(self) -> None:
        new = torch.tensor([math.log(1.5), math.log(0.5), math.log(0.5)])
        advantages = torch.tensor([1.0, 1.0, -1.0])
        # Per sample max(-A r, -A clip(r)): max(-1.5, -1.2) = -1.2; max(-0.5, -0.8) = -0.5; max(0.5, 0.8) = 0.8.
        loss = clipped_policy_loss(new, torch.zeros(3), advantages, 0.2)
        assert loss.item() == pytest.approx((-1.2 - 0.5 + 0.8) / 3, rel=1e-6)

    def test_clipped_value_loss(self) -> None:
        values, old, returns = torch.tensor([1.0, 0.5]), torch.tensor([0.5, 0.5]), torch.tensor([0.0, 1.0])
        # Sample 1: max((1-0)^2, (0.7-0)^2) = 1; sample 2: max(0.25, 0.25) = 0.25; times 0.5, mean.
        assert clipped_value_loss(values, old, returns, 0.2).item() == pytest.approx(0.5 * (1.0 + 0.25) / 2)

    def test_approx_kl(self) -> None:
        new, old = torch.tensor([math.log(2.0), 0.0]), torch.zeros(2)
        assert approx_kl(new, old).item() == pytest.approx((1.0 - math.log(2.0)) / 2, rel=1e-6)

    def test_clip_fraction(self) -> None:
        new = torch.tensor([math.log(1.5), math.log(1.1), math.log(0.7), 0.0])
        assert clip_fraction(new, torch.zeros(4), 0.2).item() == pytest.approx(0.5)

    def test_advantage_normalisation(self) -> None:
        normalised = normalise_advantages(torch.tensor([1.0, 3.0]))
        torch.testing.assert_close(normalised, torch.tensor([-1.0, 1.0]))
        assert normalise_advantages(torch.tensor([5.0])).tolist() == [0.0]


def _batch(network: PolicyNetwork, advantages: list[float]) -> RolloutBatch:
    """Rows that all choose GERMINATE in slot 0 or WAIT, with the given advantages."""
    rows = len(advantages)
    generator = torch.Generator().manual_seed(0)
    observations = ObservationBatch(
        torch.randn(rows, 5, generator=generator), torch.randn(rows, 2, 7, generator=generator)
    )
    masks = MaskBatch(
        op=torch.ones(rows, len(OPS), dtype=torch.bool),
        slot=torch.ones(rows, len(OPS), 2, dtype=torch.bool),
        blueprint=torch.ones(rows, 3, dtype=torch.bool),
        blend=torch.ones(rows, len(BlendAlgorithm), dtype=torch.bool),
    )
    ops = [LifecycleOp.GERMINATE if i % 2 == 0 else LifecycleOp.WAIT for i in range(rows)]
    actions = ActionBatch(
        op=torch.tensor([OPS.index(op) for op in ops]),
        slot=torch.zeros(rows, dtype=torch.long),
        blueprint=torch.ones(rows, dtype=torch.long),
        blend=torch.zeros(rows, dtype=torch.long),
    )
    with torch.no_grad():
        evaluated = network.evaluate_actions(observations, actions, masks, mask_value=-1e9)
    return RolloutBatch(
        observations=observations,
        masks=masks,
        actions=actions,
        log_prob=evaluated.log_prob,
        values=evaluated.value,
        advantages=torch.tensor(advantages),
        returns=torch.tensor(advantages),
    )


def _network() -> PolicyNetwork:
    torch.manual_seed(0)
    return PolicyNetwork(5, 7, 3, hidden=16)


class TestUpdate:
    def test_update_makes_advantaged_actions_more_likely(self) -> None:
        network = _network()
        batch = _batch(network, [1.0, -1.0] * 8)
        optimizer = torch.optim.Adam(network.parameters(), lr=1e-2)
        stats = ppo_update(
            network,
            optimizer,
            batch,
            config=PPOConfig(target_kl=10.0, minibatches=1),
            entropy_coefficient=0.0,
            generator=torch.Generator().manual_seed(0),
        )
        with torch.no_grad():
            after = network.evaluate_actions(batch.observations, batch.actions, batch.masks, mask_value=-1e9).log_prob
        change = after - batch.log_prob
        assert stats.steps == 4 and not stats.stopped_early
        assert (change[0::2] > 0).all() and (change[1::2] < 0).all()

    def test_update_stops_once_kl_exceeds_the_target(self) -> None:
        network = _network()
        optimizer = torch.optim.Adam(network.parameters(), lr=1e-1)
        stats = ppo_update(
            network,
            optimizer,
            _batch(network, [1.0, -1.0] * 8),
            config=PPOConfig(target_kl=1e-6),
            entropy_coefficient=0.0,
            generator=torch.Generator().manual_seed(0),
        )
        assert stats.stopped_early
        assert stats.steps < 4 * 4
        assert stats.approx_kl > 1e-6

    def test_reported_kl_is_the_finished_updates_over_the_whole_rollout(self) -> None:
        network = _network()
        batch = _batch(network, [1.0, -1.0] * 8)
        stats = ppo_update(
            network,
            torch.optim.Adam(network.parameters(), lr=1e-2),
            batch,
            config=PPOConfig(target_kl=10.0),
            entropy_coefficient=0.0,
            generator=torch.Generator().manual_seed(0),
        )
        with torch.no_grad():
            after = network.evaluate_actions(batch.observations, batch.actions, batch.masks, mask_value=-1e9).log_prob
        assert stats.approx_kl == pytest.approx(approx_kl(after, batch.log_prob).item())
        assert stats.approx_kl > 0.0


class TestRunningMeanStd:
    def test_batched_updates_equal_one_update_of_everything(self) -> None:
        data = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 4 + 2
        stats = RunningMeanStd((3,), EXACT)
        for chunk in data.split([1, 7, 30, 12]):
            stats.update(chunk)
        torch.testing.assert_close(stats.mean, data.mean(0))
        torch.testing.assert_close(stats.var, data.var(0, unbiased=False))

    def test_normalised_values_are_clipped(self) -> None:
        stats = RunningMeanStd((1,), NormaliserConfig(clip=2.0, prior_count=0.0))
        stats.update(torch.tensor([[0.0], [2.0]]))  # mean 1, std 1
        assert stats.normalise(torch.tensor([[2.0], [100.0]])).flatten().tolist() == pytest.approx([1.0, 2.0])

    def test_state_round_trips_through_the_default_torch_load(self, tmp_path: Path) -> None:
        normaliser = ObservationNormaliser(4, 6, NormaliserConfig())
        normaliser.update(ObservationBatch(torch.randn(5, 4), torch.randn(5, 3, 6)))
        torch.save(normaliser.state_dict(), tmp_path / "n.pt")
        restored = ObservationNormaliser(4, 6, NormaliserConfig())
        restored.load_state_dict(torch.load(tmp_path / "n.pt"))
        probe = ObservationBatch(torch.randn(2, 4), torch.randn(2, 5, 6))
        torch.testing.assert_close(restored.normalise(probe).slot_features, normaliser.normalise(probe).slot_features)

    def test_state_of_another_shape_is_refused(self) -> None:
        with pytest.raises(CheckpointError, match=r"shape \(4,\).*shape \(5,\)"):
            RunningMeanStd((5,), EXACT).load_state_dict(RunningMeanStd((4,), EXACT).state_dict())


class TestRewardScaler:
    def test_rewards_are_divided_by_the_std_of_discounted_returns(self) -> None:
        scaler = RewardScaler(2, gamma=0.5, config=EXACT)
        first = scaler.scale(torch.tensor([1.0, 3.0]))  # returns (1, 3): var 1
        second = scaler.scale(torch.tensor([1.0, 1.0]))  # returns (1.5, 2.5); over (1, 3, 1.5, 2.5): var 0.625
        assert first.tolist() == pytest.approx([1.0, 3.0], rel=1e-6)
        assert second.tolist() == pytest.approx([1 / math.sqrt(0.625)] * 2, rel=1e-6)

    def test_episode_end_restarts_the_returns(self) -> None:
        scaler = RewardScaler(1, gamma=0.9, config=EXACT)
        scaler.scale(torch.tensor([5.0]))
        scaler.end_episodes()
        assert scaler.returns.tolist() == [0.0]
