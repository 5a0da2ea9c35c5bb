"""esper_shell.outcome.stats: Student's t quantile and the paired interval, against known values."""

from __future__ import annotations

import math

import pytest

from esper_shell.outcome.stats import mean_std, paired_difference, regularized_beta, t_cdf, t_quantile


class TestTQuantile:
    @pytest.mark.parametrize(
        ("df", "expected"),
        [
            (1, 12.706204736174707),
            (2, 4.302652729749464),
            (5, 2.570581835636314),
            (11, 2.200985160082949),
            (30, 2.042272456301238),
            (100, 1.983971518523552),
        ],
    )
    def test_matches_published_975_quantiles(self, df: int, expected: float) -> None:
        assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-9)

    def test_one_degree_of_freedom_is_the_cauchy_closed_form(self) -> None:
        assert t_quantile(0.9, 1) == pytest.approx(math.tan(math.pi * 0.4), rel=1e-10)

    def test_two_degrees_of_freedom_closed_form(self) -> None:
        p = 0.975
        assert t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-10)

    def test_large_df_approaches_the_normal_quantile(self) -> None:
        assert t_quantile(0.975, 1e7) == pytest.approx(1.959963984540054, abs=1e-6)

    def test_is_symmetric(self) -> None:
        assert t_quantile(0.025, 7) == pytest.approx(-t_quantile(0.975, 7), rel=1e-12)

    def test_inverts_the_cdf(self) -> None:
        assert t_cdf(t_quantile(0.8, 4), 4) == pytest.approx(0.8, abs=1e-12)

    def test_probabilities_outside_0_1_are_refused(self) -> None:
        with pytest.raises(ValueError, match="strictly between"):
            t_quantile(1.0, 3)


def test_regularized_beta_of_one_one_is_x() -> None:
    assert regularized_beta(1.0, 1.0, 0.3) == pytest.approx(0.3, rel=1e-12)


class TestPairedDifference:
    def test_hand_computed_three_seeds(self) -> None:
        # mean 2, sd 1, t(0.975, 2) = 4.302652729749464, half width 4.3027 / sqrt(3) = 2.484138
        result = paired_difference([1.0, 2.0, 3.0])
        assert (result.mean, result.sd) == (2.0, 1.0)
        assert result.low == pytest.approx(2.0 - 4.302652729749464 / math.sqrt(3), abs=1e-9)
        assert result.high == pytest.approx(2.0 + 4.302652729749464 / math.sqrt(3), abs=1e-9)

    def test_hand_computed_two_seeds(self) -> None:
        # mean 1, sd sqrt(2), t(0.975, 1) = 12.7062; half width 12.7062 * sqrt(2) / sqrt(2) = 12.7062
        result = paired_difference([0.0, 2.0])
        assert (result.low, result.high) == (
            pytest.approx(1 - 12.706204736174707),
            pytest.approx(1 + 12.706204736174707),
        )

    def test_identical_differences_have_a_zero_width_interval(self) -> None:
        result = paired_difference([0.5, 0.5, 0.5])
        assert (result.low, result.high) == (0.5, 0.5)

    def test_wins_count_strictly_positive_differences_only(self) -> None:
        assert paired_difference([1.0, 0.0, -2.0, 3.0]).wins == 2

    def test_one_seed_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at least 2"):
            paired_difference([1.0])


def test_mean_std_uses_the_sample_standard_deviation() -> None:
    assert mean_std([1.0, 3.0]) == (2.0, math.sqrt(2.0))
