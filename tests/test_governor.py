"""The governor (DESIGN §11): when a blow-up in the loss must roll training back."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pytest

from esper_core.errors import ConfigError
from esper_core.governor import (
    NON_FINITE_REASON,
    GovernorAction,
    GovernorConfig,
    GovernorState,
    GovernorVerdict,
    after_rollback,
    check_vitals,
    should_snapshot,
)
from tests.test_config import assert_refused_by_name, non_finite_cases

CONFIG = GovernorConfig()
OK = GovernorVerdict(GovernorAction.OK, "healthy")
WATCH = GovernorVerdict(GovernorAction.WATCH, "watching")
# Mean 1.0, population sigma sqrt(0.004) = 0.0632: the sigma bar is 1.379, the mean bar 3.0.
CALM_HISTORY = (1.0, 1.1, 0.9, 1.0, 1.0)
# Mean 1.8, population sigma sqrt(0.96) = 0.980: the sigma bar is 7.679, the mean bar 5.4.
NOISY_HISTORY = (1.0, 3.0, 1.0, 3.0, 1.0)


def judge(
    losses: Iterable[float], *, num_classes: int = 10, state: GovernorState | None = None
) -> list[GovernorAction]:
    """The actions for a sequence of losses, starting from ``state``."""
    current = state if state is not None else GovernorState()
    actions = []
    for loss in losses:
        verdict, current = check_vitals(current, loss=loss, num_classes=10, config=CONFIG)
        actions.append(verdict.action)
    return actions


def vitals(history: tuple[float, ...], loss: float, num_classes: int) -> tuple[GovernorVerdict, GovernorState]:
    return check_vitals(GovernorState(losses=history), loss=loss, num_classes=num_classes, config=CONFIG)


class TestGovernorConfig:
    def test_defaults_follow_the_design(self) -> None:
        assert (
            CONFIG.sigma_multiple,
            CONFIG.mean_multiple,
            CONFIG.min_loss_ln_multiple,
            CONFIG.consecutive_epochs,
            CONFIG.snapshot_every,
        ) == (6.0, 3.0, 2.0, 3, 5)

    def test_rejects_a_history_shorter_than_the_minimum_needed(self) -> None:
        with pytest.raises(ConfigError, match="history_limit"):
            GovernorConfig(min_history=10, history_limit=5)

    def test_rejects_zero_consecutive_epochs(self) -> None:
        with pytest.raises(ValueError, match="consecutive_epochs"):
            GovernorConfig(consecutive_epochs=0)


class TestNonFiniteLoss:
    @pytest.mark.parametrize("loss", [math.nan, math.inf, -math.inf])
    def test_rolls_back_at_once(self, loss: float) -> None:
        verdict, _ = vitals((), loss, 10)
        assert verdict == GovernorVerdict(GovernorAction.ROLLBACK, NON_FINITE_REASON)

    def test_is_not_added_to_the_history(self) -> None:
        _, state = vitals(CALM_HISTORY, math.nan, 10)
        assert state.losses == CALM_HISTORY


class TestAnomalyBars:
    def test_a_loss_above_all_three_bars_is_watched(self) -> None:
        verdict, _ = vitals(CALM_HISTORY, 5.0, 10)
        assert verdict.action is GovernorAction.WATCH

    def test_a_loss_below_the_ln_classes_bar_is_ok(self) -> None:
        # 2 ln(10) = 4.605 > 4.0, although 4.0 clears the sigma and mean bars.
        verdict, _ = vitals(CALM_HISTORY, 4.0, 10)
        assert verdict.action is GovernorAction.OK

    def test_a_loss_below_the_mean_bar_is_ok(self) -> None:
        # 2.5 clears the sigma bar (1.379) and 2 ln(2) = 1.386, not 3 x mean = 3.0.
        verdict, _ = vitals(CALM_HISTORY, 2.5, 2)
        assert verdict.action is GovernorAction.OK

    def test_a_loss_below_the_sigma_bar_is_ok(self) -> None:
        # 6.0 clears 3 x mean = 5.4 and 2 ln(2), not mean + 6 sigma = 7.679.
        verdict, _ = vitals(NOISY_HISTORY, 6.0, 2)
        assert verdict.action is GovernorAction.OK

    def test_a_loss_above_the_sigma_bar_is_watched(self) -> None:
        verdict, _ = vitals(NOISY_HISTORY, 8.0, 2)
        assert verdict.action is GovernorAction.WATCH

    def test_the_reason_names_the_bars(self) -> None:
        verdict, _ = vitals(CALM_HISTORY, 5.0, 10)
        assert "1/3" in verdict.reason and "3 x mean = 3" in verdict.reason and "2 ln(10) = 4.605" in verdict.reason

    def test_nothing_finite_is_anomalous_before_min_history_epochs(self) -> None:
        assert judge([1.0, 1.0, 1.0, 1.0, 1e9]) == [GovernorAction.OK] * 5

    def test_rejects_fewer_than_one_class(self) -> None:
        with pytest.raises(ConfigError, match="num_classes"):
            vitals(CALM_HISTORY, 1.0, 0)


class TestConsecutiveAnomalies:
    def test_roll_back_on_the_third_in_a_row(self) -> None:
        actions = judge([50.0, 50.0, 50.0], state=GovernorState(losses=CALM_HISTORY))
        assert actions == [GovernorAction.WATCH, GovernorAction.WATCH, GovernorAction.ROLLBACK]

    def test_a_healthy_epoch_in_between_restarts_the_count(self) -> None:
        actions = judge([50.0, 50.0, 1.0, 50.0, 50.0], state=GovernorState(losses=CALM_HISTORY))
        assert GovernorAction.ROLLBACK not in actions

    def test_are_not_added_to_the_history(self) -> None:
        _, state = vitals(CALM_HISTORY, 50.0, 10)
        assert (state.losses, state.consecutive_anomalies) == (CALM_HISTORY, 1)


class TestHealthyEpochs:
    def test_join_the_history(self) -> None:
        _, state = vitals(CALM_HISTORY, 1.05, 10)
        assert state.losses == (*CALM_HISTORY, 1.05)

    def test_history_keeps_only_the_most_recent(self) -> None:
        config = GovernorConfig(min_history=2, history_limit=3)
        state = GovernorState()
        for loss in (1.0, 2.0, 3.0, 4.0):
            _, state = check_vitals(state, loss=loss, num_classes=10, config=config)
        assert state.losses == (2.0, 3.0, 4.0)

    def test_reset_the_anomaly_count(self) -> None:
        _, state = vitals(CALM_HISTORY, 1.0, 10)
        assert state.consecutive_anomalies == 0


class TestShouldSnapshot:
    @pytest.mark.parametrize("epoch", [0, 5, 10])
    def test_on_every_fifth_epoch_including_the_start(self, epoch: int) -> None:
        assert should_snapshot(epoch, CONFIG, verdict=OK)

    @pytest.mark.parametrize("epoch", [1, 4, 6])
    def test_not_in_between(self, epoch: int) -> None:
        assert not should_snapshot(epoch, CONFIG, verdict=OK)

    def test_not_while_watching_a_possible_blow_up(self) -> None:
        assert not should_snapshot(10, CONFIG, verdict=WATCH)


class TestGovernorState:
    def test_refuses_a_non_finite_loss_in_its_history(self) -> None:
        with pytest.raises(ConfigError, match="corrupt"):
            GovernorState(losses=(1.0, math.nan))


class TestAfterRollback:
    def test_forgets_the_history_and_the_anomaly_count(self) -> None:
        restored = after_rollback(GovernorState(losses=CALM_HISTORY, consecutive_anomalies=3))
        # The rollback itself is counted (GovernorConfig.max_consecutive_rollbacks); all else is forgotten.
        assert restored == GovernorState(consecutive_rollbacks=1)


@pytest.mark.parametrize(("cls", "name", "value"), non_finite_cases(GovernorConfig))
def test_non_finite_float_config_is_refused_naming_the_field(cls: type, name: str, value: float) -> None:
    assert_refused_by_name(cls, name, value)
