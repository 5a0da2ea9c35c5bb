"""PPO's update: the clipped losses as named functions, then epochs x minibatches over a rollout.

Follows CleanRL's ``ppo.py``: advantages normalised per minibatch, clipped value loss,
entropy bonus, global gradient-norm clipping, Adam. One difference: the target-KL early stop
is checked per minibatch, before its step (as in Spinning Up), so an update never takes the
step that carries the policy past ``target_kl``. The KL reported is measured once more after
the last step, over the whole rollout: the one checked before a step understates how far the
update moved the policy.
"""

from __future__ import annotations

import attrs
import torch
from torch import nn

from esper_core.ppo_config import PPOConfig
from esper_shell.distributed.collective import Collective, SingleProcess
from esper_shell.rl.batch import ActionBatch, MaskBatch, ObservationBatch, select
from esper_shell.rl.distributed import average_gradients, mean_over_ranks
from esper_shell.rl.policy import PolicyNetwork

# Keeps the advantage normalisation finite when a minibatch's advantages are all equal.
ADVANTAGE_EPSILON = 1e-8


def clipped_policy_loss(
    new_log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor, clip: float
) -> torch.Tensor:
    """``mean(max(-A r, -A clamp(r, 1-clip, 1+clip)))`` with ``r = exp(new - old)``: PPO's pessimistic bound."""
    ratio = torch.exp(new_log_prob - old_log_prob)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip, 1.0 + clip)
    return torch.max(unclipped, clipped).mean()


def clipped_value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip: float
) -> torch.Tensor:
    """``0.5 mean(max((v - R)^2, (v_old + clamp(v - v_old, -clip, clip) - R)^2))``.

    The value may not profit from moving further than ``clip`` from the rollout's estimate
    in one update, which keeps the shared encoder from being dragged by the critic.
    """
    unclipped = (values - returns).square()
    moved = old_values + (values - old_values).clamp(-clip, clip)
    clipped = (moved - returns).square()
    return 0.5 * torch.max(unclipped, clipped).mean()


def approx_kl(new_log_prob: torch.Tensor, old_log_prob: torch.Tensor) -> torch.Tensor:
    """``mean((r - 1) - log r)``: an unbiased, never negative estimate of KL(old || new)."""
    log_ratio = new_log_prob - old_log_prob
    return ((log_ratio.exp() - 1.0) - log_ratio).mean()


def clip_fraction(new_log_prob: torch.Tensor, old_log_prob: torch.Tensor, clip: float) -> torch.Tensor:
    """The share of samples whose ratio left ``[1-clip, 1+clip]`` (how hard the clip is biting)."""
    return ((new_log_prob - old_log_prob).exp().sub(1.0).abs() > clip).float().mean()


def normalise_advantages(advantages: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit (population) std; a single sample becomes 0, never NaN."""
    centred = advantages - advantages.mean()
    return centred / (advantages.std(unbiased=False) + ADVANTAGE_EPSILON)


@attrs.frozen(eq=False)
class RolloutBatch:
    """A rollout flattened to one row per env step, with its advantages and returns."""

    observations: ObservationBatch
    masks: MaskBatch
    actions: ActionBatch
    log_prob: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor

    @property
    def size(self) -> int:
        return self.log_prob.shape[0]


@attrs.frozen(kw_only=True)
class UpdateStats:
    """Means over the minibatch steps taken; ``approx_kl`` is the finished update's, over the whole rollout."""

    policy_loss: float
    value_loss: float
    entropy: float
    approx_kl: float
    clip_fraction: float
    steps: int
    stopped_early: bool


def ppo_update(
    policy: PolicyNetwork,
    optimizer: torch.optim.Optimizer,
    batch: RolloutBatch,
    *,
    config: PPOConfig,
    entropy_coefficient: float,
    generator: torch.Generator,
    collective: Collective | None = None,
) -> UpdateStats:
    """``config.update_epochs`` passes over ``batch`` in ``config.minibatches`` shuffled minibatches.

    Under torchrun every rank passes over its own rollout; the ranks take each step together,
    on their averaged gradients, and stop early together on their mean KL.
    """
    collective = collective or SingleProcess()
    totals = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "clip_fraction": 0.0}
    steps, stopped_early = 0, False
    minibatches = min(config.minibatches, batch.size)
    for _epoch in range(config.update_epochs):
        for mb_rows in torch.randperm(batch.size, generator=generator).tensor_split(minibatches):
            new = policy.evaluate_actions(
                select(batch.observations, mb_rows),
                select(batch.actions, mb_rows),
                select(batch.masks, mb_rows),
                mask_value=config.mask_value,
            )
            mb_old_log_prob = batch.log_prob[mb_rows]
            mb_kl = approx_kl(new.log_prob, mb_old_log_prob)
            if mean_over_ranks(mb_kl.item(), collective) > config.target_kl:
                stopped_early = True
                break

            mb_advantages = normalise_advantages(batch.advantages[mb_rows])
            policy_loss = clipped_policy_loss(new.log_prob, mb_old_log_prob, mb_advantages, config.clip)
            value_loss = clipped_value_loss(new.value, batch.values[mb_rows], batch.returns[mb_rows], config.clip)
            entropy = new.entropy.mean()
            loss = policy_loss - entropy_coefficient * entropy + config.value_coef * value_loss

            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            average_gradients(policy.parameters(), collective)
            nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            optimizer.step()

            steps += 1
            totals["policy_loss"] += policy_loss.item()
            totals["value_loss"] += value_loss.item()
            totals["entropy"] += entropy.item()
            totals["clip_fraction"] += clip_fraction(new.log_prob, mb_old_log_prob, config.clip).item()
        if stopped_early:
            break
    means = {name: mean_over_ranks(total / max(steps, 1), collective) for name, total in totals.items()}
    kl = mean_over_ranks(rollout_kl(policy, batch, config.mask_value), collective)
    return UpdateStats(**means, approx_kl=kl, steps=steps, stopped_early=stopped_early)


def rollout_kl(policy: PolicyNetwork, batch: RolloutBatch, mask_value: float) -> float:
    """``approx_kl`` of the policy as it is now against the one that collected ``batch``, over every row."""
    with torch.no_grad():
        new = policy.evaluate_actions(batch.observations, batch.actions, batch.masks, mask_value=mask_value)
    return approx_kl(new.log_prob, batch.log_prob).item()
