"""PPO hyperparameters (DESIGN §10): the design's defaults, validation, and the entropy schedule."""

from __future__ import annotations

import math

import attrs
import pytest

from esper_core.errors import ConfigError
from esper_core.features import FeatureConfig
from esper_core.ppo_config import PPOConfig, entropy_coef
from esper_core.rewards import ACCURACY_GAP, SPARSE, RewardConfig
from esper_core.serialization import from_primitives, to_primitives
from tests.test_config import assert_refused_by_name, non_finite_cases


class TestPPOConfig:
    def test_defaults_are_the_design_s(self) -> None:
        config = PPOConfig()
        assert attrs.asdict(config, recurse=False) == {
            "gamma": 0.995,
            "gae_lambda": 0.97,
            "clip": 0.2,
            "lr": 3e-4,
            "adam_eps": 1e-5,
            "value_coef": 0.5,
            "entropy_start": 0.05,
            "entropy_end": 0.01,
            "max_grad_norm": 0.5,
            "update_epochs": 4,
            "minibatches": 4,
            "target_kl": 0.015,
            "episode_epochs": 25,
            "n_envs": 2,
            "seed_pool": 16,
            "hidden": 64,
            "mask_value": -1e9,
            "reward": RewardConfig(mode=ACCURACY_GAP),
            "features": FeatureConfig(),
        }

    def test_reward_left_unset_follows_gamma(self) -> None:
        assert PPOConfig(gamma=0.9).reward.gamma == 0.9

    def test_refuses_reward_discounting_differently(self) -> None:
        with pytest.raises(ConfigError, match=r"reward=RewardConfig\(gamma=0.9"):
            PPOConfig(gamma=0.9, reward=RewardConfig(gamma=0.995))

    def test_accepts_reward_with_the_same_gamma(self) -> None:
        assert PPOConfig(gamma=0.9, reward=RewardConfig(gamma=0.9, mode=SPARSE)).reward.mode == SPARSE

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("gamma", 0.0),
            ("gae_lambda", 1.1),
            ("clip", 0.0),
            ("lr", math.inf),
            ("adam_eps", -1e-5),
            ("value_coef", math.nan),
            ("update_epochs", 0),
            ("minibatches", 0),
            ("target_kl", 0.0),
            ("episode_epochs", 0),
            ("n_envs", 0),
            ("hidden", 0),
            ("mask_value", 0.0),
            ("mask_value", -math.inf),
        ],
    )
    def test_refuses_out_of_range_value(self, field: str, value: float) -> None:
        with pytest.raises(ValueError, match=field):
            PPOConfig(**{field: value})  # type: ignore[arg-type]

    def test_round_trips_through_primitives(self) -> None:
        config = PPOConfig(gamma=0.99, n_envs=4, features=FeatureConfig(feature_clip=3.0))
        assert from_primitives(to_primitives(config), PPOConfig).unwrap() == config

    def test_primitives_without_reward_table_follow_gamma(self) -> None:
        data = to_primitives(PPOConfig(gamma=0.9))
        del data["reward"]
        assert from_primitives(data, PPOConfig).unwrap().reward.gamma == 0.9

    def test_is_keyword_only(self) -> None:
        with pytest.raises(TypeError):
            PPOConfig(0.99)  # type: ignore[misc]


class TestEntropyCoef:
    config = PPOConfig(entropy_start=0.05, entropy_end=0.01)

    @pytest.mark.parametrize(("progress", "expected"), [(0.0, 0.05), (0.25, 0.04), (0.5, 0.03), (1.0, 0.01)])
    def test_linear_from_start_to_end(self, progress: float, expected: float) -> None:
        assert entropy_coef(progress, self.config) == pytest.approx(expected)

    @pytest.mark.parametrize(("progress", "expected"), [(-1.0, 0.05), (2.0, 0.01)])
    def test_progress_clamped_to_zero_one(self, progress: float, expected: float) -> None:
        assert entropy_coef(progress, self.config) == pytest.approx(expected)

    def test_constant_when_start_equals_end(self) -> None:
        assert entropy_coef(0.7, PPOConfig(entropy_start=0.02, entropy_end=0.02)) == 0.02


@pytest.mark.parametrize(("cls", "name", "value"), non_finite_cases(PPOConfig))
def test_non_finite_float_config_is_refused_naming_the_field(cls: type, name: str, value: float) -> None:
    assert_refused_by_name(cls, name, value)
