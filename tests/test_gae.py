"""GAE over one trajectory: hand-computed steps, terminal vs truncation, and the Monte-Carlo limit."""

from __future__ import annotations

import math

import pytest

from esper_core.errors import ConfigError, EsperError
from esper_core.gae import gae

# gamma = lam = 0.5 keep every hand-computed value an exact binary fraction.
REWARDS = (1.0, 0.0, 2.0)
VALUES = (0.5, 1.0, 1.5)
NEXT_VALUES = (1.0, 1.5, 2.0)
NONE = (False, False, False)
AT_STEP_1 = (False, True, False)


class TestHandComputed:
    def test_three_steps_without_an_episode_end(self) -> None:
        # delta = (1 + .5*1 - .5, 0 + .5*1.5 - 1, 2 + .5*2 - 1.5) = (1, -.25, 1.5); gamma*lam = .25
        advantages, returns = gae(REWARDS, VALUES, NEXT_VALUES, NONE, NONE, gamma=0.5, lam=0.5)
        assert advantages == (1.03125, 0.125, 1.5)  # (1 + .25*.125, -.25 + .25*1.5, 1.5)
        assert returns == (1.53125, 1.125, 3.0)

    def test_terminated_step_bootstraps_zero_and_cuts_the_trace(self) -> None:
        # step 1: delta = 0 + 0 - 1 = -1; step 0: 1 + .25*(-1)
        advantages, _ = gae(REWARDS, VALUES, (1.0, 3.0, 2.0), AT_STEP_1, NONE, gamma=0.5, lam=0.5)
        assert advantages == (0.75, -1.0, 1.5)

    def test_truncated_step_bootstraps_next_value_but_cuts_the_trace(self) -> None:
        # step 1: delta = 0 + .5*3 - 1 = .5 (V of the state the time limit cut off); step 0: 1 + .25*.5
        advantages, _ = gae(REWARDS, VALUES, (1.0, 3.0, 2.0), NONE, AT_STEP_1, gamma=0.5, lam=0.5)
        assert advantages == (1.125, 0.5, 1.5)

    def test_terminated_wins_when_both_flags_are_set(self) -> None:
        both = gae(REWARDS, VALUES, (1.0, 3.0, 2.0), AT_STEP_1, AT_STEP_1, gamma=0.5, lam=0.5)
        assert both == gae(REWARDS, VALUES, (1.0, 3.0, 2.0), AT_STEP_1, NONE, gamma=0.5, lam=0.5)

    def test_last_step_of_an_unfinished_rollout_bootstraps(self) -> None:
        advantages, _ = gae((0.0,), (1.0,), (4.0,), (False,), (False,), gamma=0.5, lam=0.9)
        assert advantages == (1.0,)  # 0 + .5*4 - 1


class TestLimits:
    def test_lam_one_gamma_one_is_monte_carlo_return_minus_value(self) -> None:
        rewards, values = (1.0, 2.0, 3.0), (0.5, 0.25, 2.0)
        advantages, returns = gae(rewards, values, (0.25, 2.0, 99.0), (False, False, True), NONE, gamma=1.0, lam=1.0)
        assert returns == (6.0, 5.0, 3.0)
        assert advantages == (5.5, 4.75, 1.0)

    def test_lam_zero_is_one_step_td_error(self) -> None:
        advantages, _ = gae(REWARDS, VALUES, NEXT_VALUES, NONE, NONE, gamma=0.5, lam=0.0)
        assert advantages == (1.0, -0.25, 1.5)

    def test_empty_trajectory(self) -> None:
        assert gae((), (), (), (), (), gamma=0.9, lam=0.9) == ((), ())


class TestRefusals:
    def test_sequences_of_different_lengths_are_a_caller_bug_not_a_user_error(self) -> None:
        with pytest.raises(ValueError, match="values=2") as caught:
            gae(REWARDS, (0.0, 0.0), NEXT_VALUES, NONE, NONE, gamma=0.9, lam=0.9)
        assert not isinstance(caught.value, EsperError)

    @pytest.mark.parametrize(("name", "value"), [("gamma", 1.5), ("gamma", -0.1), ("lam", math.nan), ("lam", 2.0)])
    def test_discount_outside_zero_one(self, name: str, value: float) -> None:
        discounts = {"gamma": 0.9, "lam": 0.9, name: value}
        with pytest.raises(ConfigError, match=f"0 <= {name} <= 1"):
            gae(REWARDS, VALUES, NEXT_VALUES, NONE, NONE, **discounts)
