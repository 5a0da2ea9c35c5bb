"""PPO itself works: a toy environment with the real observations, features and masks, where
GERMINATE conv_light is the right action, is learned to >= 95 % correct on a fixed budget.

The toy keeps everything of the real controller's decision but the host: observations are
the engine's ``Observation`` of an empty three-slot model, features and exact masks come
from ``observe`` (the preset's offered blueprints), the network is ``PolicyNetwork`` and the
update ``ppo_update``. Nothing is trained but the policy, so a failure here is a failure of
PPO, its masking or its credit assignment, not of the reward or the host. Two payment
schedules: at once (one-step episodes), and only at the end (four steps, the count of right
actions paid on the last), which exercises GAE across steps.
"""

from __future__ import annotations

import attrs
import pytest
import torch

from esper_core import GateConfig, Observation, SignalTracker, SlotConfig
from esper_core.features import FeatureConfig, feature_layout
from esper_core.gae import gae
from esper_core.ppo_config import PPOConfig
from esper_shell.blueprints import blueprint_names
from esper_shell.rl.batch import GERMINATE_INDEX, concat, observe
from esper_shell.rl.offered import preset_blueprints
from esper_shell.rl.policy import PolicyNetwork
from esper_shell.rl.ppo import RolloutBatch, ppo_update
from esper_shell.tasks import get_task

SLOTS = SlotConfig(("r0c0", "r1c0", "r2c0"))
PRESET = get_task("digits")
LAYOUT = feature_layout(SLOTS, preset_blueprints(PRESET))
RIGHT_BLUEPRINT = LAYOUT.blueprints.index("conv_light")
ENVS = 32
PPO = PPOConfig(lr=1e-3, gamma=0.99, gae_lambda=0.95, hidden=32, minibatches=4, update_epochs=4, target_kl=0.05)
ENTROPY = 0.01
TARGET = 0.95


def observation(epoch: int, epochs: int) -> Observation:
    """An empty model after ``epoch`` epochs of a run of ``epochs``: GERMINATE legal in every slot."""
    accuracies = tuple(40.0 + 5.0 * step for step in range(epoch + 1))
    return Observation(
        epoch=epoch,
        max_epochs=epochs,
        slots=SLOTS,
        seeds=(None,) * SLOTS.num_slots,
        signals=SignalTracker(accuracy_history=accuracies, loss_history=(1.5,) * len(accuracies)),
        max_seeds=3,
        seeds_germinated=0,
        blueprints=blueprint_names(PRESET.topology),
    )


@attrs.frozen
class Curve:
    """Share of right actions among those sampled, per update."""

    correct: tuple[float, ...]


def train_toy(*, steps: int, updates: int, seed: int = 0) -> Curve:
    """``updates`` PPO updates of ``ENVS`` episodes of ``steps`` steps; paid at once when ``steps`` is 1."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    network = PolicyNetwork(LAYOUT.global_size, LAYOUT.slot_size, len(LAYOUT.blueprints), hidden=PPO.hidden)
    optimizer = torch.optim.Adam(network.parameters(), lr=PPO.lr, eps=PPO.adam_eps)
    inputs = [observe([observation(t, steps)] * ENVS, LAYOUT, FeatureConfig(), GateConfig()) for t in range(steps)]
    curve = []
    for _ in range(updates):
        acted, rights = [], []
        with torch.no_grad():
            for raw, masks in inputs:
                step = network.act(raw, masks, mask_value=PPO.mask_value, generator=generator)
                acted.append(step)
                rights.append(
                    ((step.actions.op == GERMINATE_INDEX) & (step.actions.blueprint == RIGHT_BLUEPRINT)).double()
                )
        b_right = torch.stack(rights)  # (T, E)
        # Paid only at the end: the episode's count of right actions, on its last step.
        b_rewards = torch.zeros_like(b_right)
        b_rewards[-1] = b_right.sum(dim=0)
        b_values = torch.stack([step.value.double() for step in acted])
        b_advantages, b_returns = torch.zeros_like(b_values), torch.zeros_like(b_values)
        for env in range(ENVS):
            values = b_values[:, env].tolist()
            advantages, returns = gae(
                b_rewards[:, env].tolist(),
                values,
                next_values=(*values[1:], 0.0),
                terminated=(False,) * (steps - 1) + (True,),
                truncated=(False,) * steps,
                gamma=PPO.gamma,
                lam=PPO.gae_lambda,
            )
            b_advantages[:, env], b_returns[:, env] = torch.tensor(advantages), torch.tensor(returns)
        batch = RolloutBatch(
            observations=concat([raw for raw, _ in inputs]),
            masks=concat([masks for _, masks in inputs]),
            actions=concat([step.actions for step in acted]),
            log_prob=torch.cat([step.log_prob for step in acted]),
            values=b_values.flatten().float(),
            advantages=b_advantages.flatten().float(),
            returns=b_returns.flatten().float(),
        )
        ppo_update(network, optimizer, batch, config=PPO, entropy_coefficient=ENTROPY, generator=generator)
        curve.append(b_right.mean().item())
    return Curve(correct=tuple(curve))


def test_random_policy_is_mostly_wrong() -> None:
    """The bar is not met by chance: WAIT or GERMINATE (the only legal ops), then 1 of 3 blueprints: about 1 in 6."""
    assert train_toy(steps=1, updates=1).correct[0] < 0.5


@pytest.mark.parametrize(("steps", "updates"), [(1, 20), (4, 20)], ids=["paid_at_once", "paid_at_the_end"])
def test_ppo_learns_the_right_action(steps: int, updates: int) -> None:
    curve = train_toy(steps=steps, updates=updates)
    assert max(curve.correct[-3:]) >= TARGET, curve.correct


def test_training_is_deterministic() -> None:
    assert train_toy(steps=2, updates=3) == train_toy(steps=2, updates=3)
