"""The signal tracker (DESIGN §10): plateau counting and the host-stabilised latch."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pytest

from esper_core.signals import SignalConfig, SignalTracker, relative_loss_change, reset_signals, update_signals
from tests.test_config import assert_refused_by_name, non_finite_cases

CONFIG = SignalConfig()


def feed(readings: Iterable[tuple[float, float]], config: SignalConfig = CONFIG) -> SignalTracker:
    tracker = SignalTracker()
    for accuracy, loss in readings:
        tracker = update_signals(tracker, val_accuracy=accuracy, val_loss=loss, config=config)
    return tracker


def settled_losses(count: int) -> list[tuple[float, float]]:
    """Accuracy climbing fast (no plateau) while the loss moves 1% per epoch (stable)."""
    return [(10.0 * epoch, 1.0 * 0.99**epoch) for epoch in range(count)]


class TestSignalConfig:
    def test_defaults_follow_the_design(self) -> None:
        assert (CONFIG.plateau_gain, CONFIG.stabilization_rel_improvement, CONFIG.stabilization_epochs) == (
            0.5,
            0.03,
            3,
        )

    def test_rejects_a_negative_plateau_gain(self) -> None:
        with pytest.raises(ValueError, match="plateau_gain"):
            SignalConfig(plateau_gain=-0.1)

    def test_rejects_zero_stabilization_epochs(self) -> None:
        with pytest.raises(ValueError, match="stabilization_epochs"):
            SignalConfig(stabilization_epochs=0)

    def test_rejects_an_empty_history(self) -> None:
        with pytest.raises(ValueError, match="history_limit"):
            SignalConfig(history_limit=0)


class TestFirstEpoch:
    def test_records_the_reading(self) -> None:
        tracker = feed([(42.0, 1.5)])
        assert (tracker.accuracy_history, tracker.loss_history, tracker.epochs_seen) == ((42.0,), (1.5,), 1)

    def test_sets_the_best_accuracy(self) -> None:
        assert feed([(42.0, 1.5)]).best_accuracy == 42.0

    def test_has_no_delta_and_no_plateau(self) -> None:
        tracker = feed([(42.0, 1.5)])
        assert (tracker.acc_delta, tracker.plateau_epochs) == (0.0, 0)

    def test_does_not_count_as_stable(self) -> None:
        assert feed([(42.0, 1.5)]).stable_epochs == 0


class TestAccuracySignals:
    def test_acc_delta_is_the_change_since_the_previous_epoch(self) -> None:
        assert feed([(50.0, 1.0), (53.5, 0.9)]).acc_delta == pytest.approx(3.5)

    def test_a_gain_below_plateau_gain_extends_the_plateau(self) -> None:
        assert feed([(50.0, 1.0), (50.4, 1.0), (50.8, 1.0)]).plateau_epochs == 2

    def test_a_drop_in_accuracy_extends_the_plateau(self) -> None:
        assert feed([(50.0, 1.0), (45.0, 1.0)]).plateau_epochs == 1

    def test_a_gain_of_exactly_plateau_gain_resets_the_plateau(self) -> None:
        assert feed([(50.0, 1.0), (50.0, 1.0), (50.5, 1.0)]).plateau_epochs == 0

    def test_best_accuracy_keeps_the_maximum(self) -> None:
        assert feed([(50.0, 1.0), (70.0, 1.0), (60.0, 1.0)]).best_accuracy == 70.0

    def test_histories_keep_only_the_most_recent_epochs(self) -> None:
        tracker = feed([(float(i), float(i + 1)) for i in range(5)], SignalConfig(history_limit=3))
        assert (tracker.accuracy_history, tracker.loss_history) == ((2.0, 3.0, 4.0), (3.0, 4.0, 5.0))

    def test_epochs_seen_counts_beyond_the_history_limit(self) -> None:
        assert feed([(float(i), 1.0) for i in range(5)], SignalConfig(history_limit=3)).epochs_seen == 5


class TestHostStabilisedLatch:
    def test_latches_after_three_consecutive_stable_epochs(self) -> None:
        assert feed(settled_losses(4)).host_stabilised

    def test_stays_open_after_two_stable_epochs(self) -> None:
        tracker = feed(settled_losses(3))
        assert (tracker.stable_epochs, tracker.host_stabilised) == (2, False)

    def test_a_large_improvement_breaks_the_streak(self) -> None:
        tracker = feed([(0.0, 1.0), (0.0, 0.99), (0.0, 0.98), (0.0, 0.5), (0.0, 0.495)])
        assert (tracker.stable_epochs, tracker.host_stabilised) == (1, False)

    def test_a_clear_loss_regression_is_not_stable(self) -> None:
        tracker = feed([(0.0, 1.0), (0.0, 0.99), (0.0, 0.98), (0.0, 1.2)])
        assert (tracker.stable_epochs, tracker.host_stabilised) == (0, False)

    def test_a_small_loss_regression_is_stable(self) -> None:
        assert feed([(0.0, 1.0), (0.0, 1.01)]).stable_epochs == 1

    def test_stays_latched_when_the_loss_drops_fast_again(self) -> None:
        tracker = feed([*settled_losses(4), (50.0, 0.1), (60.0, 0.01)])
        assert tracker.host_stabilised and tracker.stable_epochs == 0


class TestNonFiniteReadings:
    @pytest.mark.parametrize(("accuracy", "loss"), [(50.0, math.nan), (math.nan, 1.0), (50.0, math.inf)])
    def test_leave_the_tracker_unchanged(self, accuracy: float, loss: float) -> None:
        before = feed(settled_losses(2))
        assert update_signals(before, val_accuracy=accuracy, val_loss=loss, config=CONFIG) == before


class TestRelativeLossChange:
    def test_is_the_fraction_of_the_previous_loss(self) -> None:
        assert relative_loss_change(2.0, 1.5) == pytest.approx(0.25)

    def test_counts_a_regression_as_movement(self) -> None:
        assert relative_loss_change(2.0, 2.5) == pytest.approx(0.25)

    def test_is_zero_from_zero_to_zero(self) -> None:
        assert relative_loss_change(0.0, 0.0) == 0.0

    def test_is_infinite_away_from_zero(self) -> None:
        assert relative_loss_change(0.0, 0.1) == math.inf


class TestResetSignals:
    def test_clears_the_recent_curve_and_the_latch(self) -> None:
        tracker = reset_signals(feed([*settled_losses(4), (30.0, 0.96), (30.1, 0.96)]))
        assert (tracker.accuracy_history, tracker.loss_history, tracker.plateau_epochs, tracker.host_stabilised) == (
            (),
            (),
            0,
            False,
        )

    def test_clears_the_stable_streak(self) -> None:
        assert reset_signals(feed(settled_losses(3))).stable_epochs == 0

    def test_keeps_the_run_level_facts(self) -> None:
        tracker = reset_signals(feed([(80.0, 1.0), (60.0, 2.0)]))
        assert (tracker.best_accuracy, tracker.epochs_seen) == (80.0, 2)

    def test_the_next_epoch_is_compared_with_nothing(self) -> None:
        tracker = reset_signals(feed([(80.0, 1.0)]))
        after = update_signals(tracker, val_accuracy=20.0, val_loss=1.0, config=CONFIG)
        assert (after.acc_delta, after.plateau_epochs, after.stable_epochs) == (0.0, 0, 0)


@pytest.mark.parametrize(("cls", "name", "value"), non_finite_cases(SignalConfig))
def test_non_finite_float_config_is_refused_naming_the_field(cls: type, name: str, value: float) -> None:
    assert_refused_by_name(cls, name, value)
