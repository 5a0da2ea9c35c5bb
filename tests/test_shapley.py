"""esper_core.shapley: exact values against hand-computed ones, the axioms, sampling against exact."""

from __future__ import annotations

import itertools
import math

import pytest

from esper_core.shapley import (
    all_subsets,
    exact_shapley,
    permutation_subsets,
    sample_permutations,
    sampled_shapley,
    shapley,
)

PLAYERS = ("a", "b", "c", "d", "e")


def game(subset: frozenset[str]) -> float:
    """An additive part, a synergy of a and b, a redundancy of c and d, and a dummy e."""
    weights = {"a": 3.0, "b": 1.0, "c": 2.0, "d": 2.0, "e": 0.0}
    value = 10.0 + sum(weights[p] for p in subset)
    value += 4.0 if {"a", "b"} <= subset else 0.0
    value -= 2.0 if {"c", "d"} <= subset else 0.0
    return value


def values_of(players: tuple[str, ...]) -> dict[frozenset[str], float]:
    return {subset: game(subset) for subset in all_subsets(players)}


class TestAllSubsets:
    def test_has_two_to_the_n_distinct_subsets_empty_first(self) -> None:
        subsets = all_subsets(("a", "b", "c"))
        assert len(set(subsets)) == 8 and subsets[0] == frozenset()

    def test_refuses_repeated_players(self) -> None:
        with pytest.raises(ValueError, match="repeat"):
            all_subsets(("a", "a"))


class TestExact:
    def test_two_players_match_the_hand_computation(self) -> None:
        # phi_a = 1/2 (v(a) - v()) + 1/2 (v(ab) - v(b)) = 1/2 * 3 + 1/2 * 7 = 5; phi_b = 1/2 * 1 + 1/2 * 5 = 3
        estimate = exact_shapley(("a", "b"), values_of(("a", "b")))
        assert estimate.values == pytest.approx({"a": 5.0, "b": 3.0})

    def test_efficiency_values_sum_to_all_on_minus_all_off(self) -> None:
        estimate = exact_shapley(PLAYERS[:4], values_of(PLAYERS[:4]))
        assert sum(estimate.values.values()) == pytest.approx(estimate.all_on - estimate.all_off)

    def test_symmetric_players_get_equal_values(self) -> None:
        # c and d enter the game identically (same weight, one joint term).
        estimate = exact_shapley(PLAYERS[:4], values_of(PLAYERS[:4]))
        assert estimate.values["c"] == pytest.approx(estimate.values["d"])

    def test_a_dummy_player_gets_zero(self) -> None:
        estimate = exact_shapley(PLAYERS, values_of(PLAYERS))
        assert estimate.values["e"] == pytest.approx(0.0)

    def test_is_the_average_over_all_orders(self) -> None:
        players = PLAYERS[:4]
        orders = list(itertools.permutations(players))
        by_orders = sampled_shapley(players, values_of(players), orders)
        assert exact_shapley(players, values_of(players)).values == pytest.approx(by_orders.values)

    def test_has_no_standard_error(self) -> None:
        assert exact_shapley(("a",), values_of(("a",))).stderr is None

    def test_a_missing_subset_is_named(self) -> None:
        values = values_of(("a", "b"))
        del values[frozenset({"b"})]
        with pytest.raises(ValueError, match=r"\['b'\]"):
            exact_shapley(("a", "b"), values)


class TestSampling:
    def test_permutations_are_orders_of_the_players(self) -> None:
        for order in sample_permutations(PLAYERS, 20, seed=3):
            assert sorted(order) == sorted(PLAYERS)

    def test_the_same_seed_gives_the_same_orders(self) -> None:
        assert sample_permutations(PLAYERS, 10, seed=7) == sample_permutations(PLAYERS, 10, seed=7)

    def test_different_seeds_give_different_orders(self) -> None:
        assert sample_permutations(PLAYERS, 10, seed=7) != sample_permutations(PLAYERS, 10, seed=8)

    def test_every_order_is_drawn_about_equally_often(self) -> None:
        counts: dict[tuple[str, ...], int] = {}
        for order in sample_permutations(("a", "b", "c"), 6000, seed=1):
            counts[order] = counts.get(order, 0) + 1
        assert len(counts) == 6 and all(abs(c - 1000) < 120 for c in counts.values())

    def test_subsets_are_every_prefix(self) -> None:
        assert set(permutation_subsets([("b", "a")])) == {frozenset(), frozenset({"b"}), frozenset({"a", "b"})}

    def test_sampled_agrees_with_exact_within_the_sampling_error(self) -> None:
        exact = exact_shapley(PLAYERS, values_of(PLAYERS))
        orders = sample_permutations(PLAYERS, 400, seed=11)
        sampled = sampled_shapley(PLAYERS, {s: game(s) for s in permutation_subsets(orders)}, orders)
        for player in PLAYERS:
            # 4 standard errors: a failure by chance has odds below 1 in 10^4 per player.
            assert abs(sampled.values[player] - exact.values[player]) <= 4 * sampled.stderr[player] + 1e-9

    def test_sampled_values_are_efficient_for_every_sample(self) -> None:
        orders = sample_permutations(PLAYERS, 5, seed=2)
        sampled = sampled_shapley(PLAYERS, {s: game(s) for s in permutation_subsets(orders)}, orders)
        assert sum(sampled.values.values()) == pytest.approx(sampled.all_on - sampled.all_off)

    def test_one_permutation_has_an_infinite_error(self) -> None:
        orders = sample_permutations(("a", "b"), 1, seed=0)
        assert math.isinf(sampled_shapley(("a", "b"), values_of(("a", "b")), orders).stderr["a"])

    def test_no_permutation_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at least one"):
            sampled_shapley(("a",), values_of(("a",)), [])


class TestShapley:
    def test_is_exact_up_to_the_limit(self) -> None:
        estimate = shapley(PLAYERS[:3], lambda subsets: {s: game(s) for s in subsets}, max_exact=3, samples=8, seed=0)
        assert estimate.method == "exact"

    def test_samples_beyond_the_limit_asking_only_for_prefix_subsets(self) -> None:
        asked: list[frozenset[str]] = []

        def measure(subsets):  # noqa: ANN001, ANN202
            asked.extend(subsets)
            return {s: game(s) for s in subsets}

        estimate = shapley(PLAYERS, measure, max_exact=4, samples=3, seed=0)
        assert estimate.method == "sampled" and len(asked) <= 1 + 3 * len(PLAYERS)

    def test_is_exact_when_the_sample_would_measure_every_subset(self) -> None:
        # 3 players have 8 subsets; 50 orders visit all of them.
        estimate = shapley(PLAYERS[:3], lambda subsets: {s: game(s) for s in subsets}, max_exact=2, samples=50, seed=0)
        assert estimate.method == "exact"
