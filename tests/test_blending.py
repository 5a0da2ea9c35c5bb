"""Blend schedules (DESIGN §5): every algorithm starts at 0 and ends at exactly 1."""

from __future__ import annotations

import pytest

from esper_core import BlendAlgorithm, BlendSchedule, advance_schedule, linear_alpha, schedule_alpha, sigmoid_alpha

STEEPNESS = 10.0


class TestBlendSchedule:
    def test_starts_at_step_zero(self) -> None:
        assert BlendSchedule(algorithm=BlendAlgorithm.LINEAR, total_steps=4).current_step == 0

    def test_is_complete_once_current_step_reaches_total(self) -> None:
        assert BlendSchedule(algorithm=BlendAlgorithm.LINEAR, total_steps=4, current_step=4).complete

    def test_is_not_complete_before_the_last_step(self) -> None:
        assert not BlendSchedule(algorithm=BlendAlgorithm.LINEAR, total_steps=4, current_step=3).complete

    def test_rejects_zero_total_steps(self) -> None:
        with pytest.raises(ValueError, match="total_steps"):
            BlendSchedule(algorithm=BlendAlgorithm.LINEAR, total_steps=0)

    def test_rejects_negative_current_step(self) -> None:
        with pytest.raises(ValueError, match="current_step"):
            BlendSchedule(algorithm=BlendAlgorithm.LINEAR, total_steps=3, current_step=-1)


class TestLinearAlpha:
    @pytest.mark.parametrize(("step", "expected"), [(0, 0.0), (1, 0.25), (2, 0.5), (3, 0.75), (4, 1.0)])
    def test_is_k_over_n(self, step: int, expected: float) -> None:
        assert linear_alpha(step, 4) == expected

    def test_is_clamped_above_one(self) -> None:
        assert linear_alpha(7, 4) == 1.0

    def test_is_clamped_below_zero(self) -> None:
        assert linear_alpha(-1, 4) == 0.0


class TestSigmoidAlpha:
    @pytest.mark.parametrize("total", [1, 2, 5, 17, 100])
    def test_starts_at_exactly_zero(self, total: int) -> None:
        assert sigmoid_alpha(0, total, STEEPNESS) == 0.0

    @pytest.mark.parametrize("total", [1, 2, 5, 17, 100])
    def test_ends_at_exactly_one(self, total: int) -> None:
        assert sigmoid_alpha(total, total, STEEPNESS) == 1.0

    @pytest.mark.parametrize("steepness", [0.5, 1.0, 10.0, 50.0])
    def test_is_strictly_increasing(self, steepness: float) -> None:
        alphas = [sigmoid_alpha(k, 20, steepness) for k in range(21)]
        assert all(a < b for a, b in zip(alphas, alphas[1:]))

    def test_is_half_way_at_the_midpoint(self) -> None:
        assert sigmoid_alpha(5, 10, STEEPNESS) == pytest.approx(0.5)

    def test_is_slower_than_linear_at_the_start(self) -> None:
        assert sigmoid_alpha(1, 10, STEEPNESS) < linear_alpha(1, 10)

    def test_saturates_beyond_the_ends(self) -> None:
        assert (sigmoid_alpha(-2, 10, STEEPNESS), sigmoid_alpha(12, 10, STEEPNESS)) == (0.0, 1.0)


class TestScheduleAlpha:
    def test_linear_schedule_gives_k_over_n(self) -> None:
        schedule = BlendSchedule(algorithm=BlendAlgorithm.LINEAR, total_steps=5, current_step=2)
        assert schedule_alpha(schedule, STEEPNESS) == 0.4

    def test_sigmoid_schedule_gives_the_sigmoid_ramp(self) -> None:
        schedule = BlendSchedule(algorithm=BlendAlgorithm.SIGMOID, total_steps=5, current_step=2)
        assert schedule_alpha(schedule, STEEPNESS) == sigmoid_alpha(2, 5, STEEPNESS)

    @pytest.mark.parametrize("step", range(6))
    def test_gated_schedule_gives_the_linear_ramp(self, step: int) -> None:
        schedule = BlendSchedule(algorithm=BlendAlgorithm.GATED, total_steps=5, current_step=step)
        assert schedule_alpha(schedule, STEEPNESS) == step / 5

    @pytest.mark.parametrize("algorithm", list(BlendAlgorithm))
    def test_every_algorithm_ends_at_exactly_one(self, algorithm: BlendAlgorithm) -> None:
        schedule = BlendSchedule(algorithm=algorithm, total_steps=7, current_step=7)
        assert schedule_alpha(schedule, STEEPNESS) == 1.0

    @pytest.mark.parametrize("algorithm", list(BlendAlgorithm))
    def test_every_algorithm_starts_at_exactly_zero(self, algorithm: BlendAlgorithm) -> None:
        schedule = BlendSchedule(algorithm=algorithm, total_steps=7)
        assert schedule_alpha(schedule, STEEPNESS) == 0.0


class TestAdvanceSchedule:
    def test_moves_one_step(self) -> None:
        schedule = BlendSchedule(algorithm=BlendAlgorithm.LINEAR, total_steps=3, current_step=1)
        assert advance_schedule(schedule).current_step == 2

    def test_saturates_at_total_steps(self) -> None:
        schedule = BlendSchedule(algorithm=BlendAlgorithm.LINEAR, total_steps=3, current_step=3)
        assert advance_schedule(schedule).current_step == 3

    def test_keeps_algorithm_and_total(self) -> None:
        schedule = BlendSchedule(algorithm=BlendAlgorithm.GATED, total_steps=3)
        advanced = advance_schedule(schedule)
        assert (advanced.algorithm, advanced.total_steps) == (BlendAlgorithm.GATED, 3)

    def test_returns_a_new_record_leaving_the_old_one_unchanged(self) -> None:
        schedule = BlendSchedule(algorithm=BlendAlgorithm.LINEAR, total_steps=3)
        advance_schedule(schedule)
        assert schedule.current_step == 0
