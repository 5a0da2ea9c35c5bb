"""Every PPO hyperparameter (DESIGN §10), in one record saved with the policy.

Defaults are the design's. The reward's discount is tied to PPO's: potential-based
shaping leaves the optimal policy unchanged only when it discounts as the learner does,
so a reward config left unset follows ``gamma``, and a mismatched one is refused.
"""

from __future__ import annotations

import math

import attrs
from attrs.validators import ge, gt, instance_of, le, lt, optional

from esper_core.config import finite
from esper_core.errors import ConfigError
from esper_core.features import FeatureConfig
from esper_core.rewards import ACCURACY_GAP, RewardConfig

GAMMA_MISMATCH_MESSAGE = (
    "PPOConfig.gamma ({gamma}) and reward.gamma ({reward_gamma}) differ; reward shaping is policy-invariant only "
    "with the learner's discount. Set reward=RewardConfig(gamma={gamma}, ...) or leave reward unset."
)

_POSITIVE = (gt(0.0), lt(math.inf))
_NON_NEGATIVE = (ge(0.0), lt(math.inf))


def _reward_for(config: PPOConfig) -> RewardConfig:
    # Defaults are built before validators run: name PPOConfig's own gamma, not the reward's copy of it.
    finite(config, attrs.fields(PPOConfig).gamma, config.gamma)
    # The default pays the user's objective: final accuracy against the paired static run (DESIGN §10).
    return RewardConfig(mode=ACCURACY_GAP, gamma=config.gamma)


def _check_reward_gamma(instance: PPOConfig, _attribute: attrs.Attribute[RewardConfig], reward: RewardConfig) -> None:
    if reward.gamma != instance.gamma:
        raise ConfigError(GAMMA_MISMATCH_MESSAGE.format(gamma=instance.gamma, reward_gamma=reward.gamma))


@attrs.frozen(kw_only=True)
class PPOConfig:
    gamma: float = attrs.field(default=0.995, validator=[finite, gt(0.0), le(1.0)])
    gae_lambda: float = attrs.field(default=0.97, validator=[finite, ge(0.0), le(1.0)])
    # Probability-ratio clip range: the update keeps ratio within [1 - clip, 1 + clip].
    clip: float = attrs.field(default=0.2, validator=[finite, *_POSITIVE])
    lr: float = attrs.field(default=3e-4, validator=[finite, *_POSITIVE])
    adam_eps: float = attrs.field(default=1e-5, validator=[finite, *_POSITIVE])
    value_coef: float = attrs.field(default=0.5, validator=[finite, *_NON_NEGATIVE])
    # Entropy bonus coefficient, annealed linearly from start to end over training (entropy_coef).
    entropy_start: float = attrs.field(default=0.05, validator=[finite, *_NON_NEGATIVE])
    entropy_end: float = attrs.field(default=0.01, validator=[finite, *_NON_NEGATIVE])
    max_grad_norm: float = attrs.field(default=0.5, validator=[finite, *_POSITIVE])
    # Passes over each rollout, each split into this many minibatches.
    update_epochs: int = attrs.field(default=4, validator=ge(1))
    minibatches: int = attrs.field(default=4, validator=ge(1))
    # An update stops its remaining passes once the approximate KL to the rollout policy exceeds this.
    target_kl: float = attrs.field(default=0.015, validator=[finite, *_POSITIVE])
    # One env step is one host training epoch; an episode is this many.
    episode_epochs: int = attrs.field(default=25, validator=ge(1))
    n_envs: int = attrs.field(default=2, validator=ge(1))
    # Training episodes cycle over this many seeds (seed, seed + 1, ...), None = a new seed every
    # episode. A pool bounds the paired static runs the accuracy-gap reward needs (each trained
    # once, then cached) and the data generated; evaluation seeds lie outside it.
    seed_pool: int | None = attrs.field(default=16, validator=optional(ge(1)))
    hidden: int = attrs.field(default=64, validator=ge(1))
    # Added to masked logits: far below any real logit, yet finite so no NaN appears in softmax.
    mask_value: float = attrs.field(default=-1e9, validator=[finite, gt(-math.inf), lt(0.0)])
    reward: RewardConfig = attrs.field(
        default=attrs.Factory(_reward_for, takes_self=True),
        validator=[instance_of(RewardConfig), _check_reward_gamma],
    )
    features: FeatureConfig = attrs.field(factory=FeatureConfig, validator=instance_of(FeatureConfig))


def entropy_coef(progress: float, config: PPOConfig) -> float:
    """The entropy bonus at ``progress`` through training (0 = start, 1 = end; clamped to [0, 1])."""
    fraction = min(1.0, max(0.0, progress))
    return config.entropy_start + (config.entropy_end - config.entropy_start) * fraction
