"""Shapley values of seeds from the value (accuracy) of each on/off subset: exact, or sampled.

A seed's Shapley value is its marginal contribution averaged over every order in which the
seeds could be switched on; the values add up to v(all on) - v(all off) (efficiency), so
they split the gain of the live seeds fairly where one-at-a-time ablations double-count
or miss interactions. Exact needs all 2^n subsets; beyond a few seeds the average over
sampled orders (permutations) estimates it, with a standard error per seed.

Pure: the subset values are measured by the shell and passed in; the permutations come
from a small counter-based generator seeded explicitly (the core has no global RNG).
Missing subsets or repeated players are the caller's bug, hence plain ``ValueError``s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs

Coalition = frozenset[str]
MASK64 = (1 << 64) - 1

MISSING_SUBSET_MESSAGE = (
    "No value for the subset {subset}; measure every subset the method needs "
    "(all_subsets for exact, permutation_subsets for sampled)."
)
DUPLICATE_PLAYERS_MESSAGE = "Players {players} repeat a name; each seed is one player."
NO_PERMUTATIONS_MESSAGE = "Sampled Shapley needs at least one permutation, got {count}."


@attrs.frozen(kw_only=True)
class ShapleyEstimate:
    """Per-player values; ``stderr`` is None for exact values, the standard error when sampled."""

    values: Mapping[str, float]
    stderr: Mapping[str, float] | None
    all_on: float
    all_off: float
    method: str


def _check_players(players: Sequence[str]) -> tuple[str, ...]:
    if len(set(players)) != len(players):
        raise ValueError(DUPLICATE_PLAYERS_MESSAGE.format(players=list(players)))
    return tuple(players)


def all_subsets(players: Sequence[str]) -> tuple[Coalition, ...]:
    """Every subset of ``players`` (2^n of them), the empty one first."""
    players = _check_players(players)
    return tuple(frozenset(p for bit, p in enumerate(players) if mask >> bit & 1) for mask in range(1 << len(players)))


def _value(values: Mapping[Coalition, float], subset: Coalition) -> float:
    if subset not in values:
        raise ValueError(MISSING_SUBSET_MESSAGE.format(subset=sorted(subset)))
    return values[subset]


def exact_shapley(players: Sequence[str], values: Mapping[Coalition, float]) -> ShapleyEstimate:
    """phi_i = sum over S not containing i of |S|! (n-|S|-1)! / n! * (v(S + i) - v(S))."""
    players = _check_players(players)
    n = len(players)
    phi = {}
    for player in players:
        others = [p for p in players if p != player]
        total = 0.0
        for subset in all_subsets(others):
            weight = math.factorial(len(subset)) * math.factorial(n - len(subset) - 1) / math.factorial(n)
            total += weight * (_value(values, subset | {player}) - _value(values, subset))
        phi[player] = total
    return ShapleyEstimate(
        values=phi,
        stderr=None,
        all_on=_value(values, frozenset(players)),
        all_off=_value(values, frozenset()),
        method="exact",
    )


def _splitmix64(state: int) -> tuple[int, int]:
    """One step of splitmix64: (next state, output). Small, fast, and good enough to shuffle."""
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def sample_permutations(players: Sequence[str], count: int, *, seed: int) -> tuple[tuple[str, ...], ...]:
    """``count`` orders of ``players`` (Fisher-Yates), the same for the same seed everywhere."""
    players = _check_players(players)
    state = seed & MASK64
    orders = []
    for _ in range(count):
        order = list(players)
        for i in range(len(order) - 1, 0, -1):
            state, draw = _splitmix64(state)
            j = draw % (i + 1)
            order[i], order[j] = order[j], order[i]
        orders.append(tuple(order))
    return tuple(orders)


def permutation_subsets(permutations: Iterable[Sequence[str]]) -> tuple[Coalition, ...]:
    """The distinct subsets the sampled estimate reads: every prefix of every order (empty included)."""
    seen: dict[Coalition, None] = {frozenset(): None}
    for order in permutations:
        for k in range(1, len(order) + 1):
            seen.setdefault(frozenset(order[:k]), None)
    return tuple(seen)


def sampled_shapley(
    players: Sequence[str],
    values: Mapping[Coalition, float],
    permutations: Sequence[Sequence[str]],
) -> ShapleyEstimate:
    """Mean marginal contribution over the given orders, with its standard error per player."""
    players = _check_players(players)
    if not permutations:
        raise ValueError(NO_PERMUTATIONS_MESSAGE.format(count=len(permutations)))
    marginals: dict[str, list[float]] = {p: [] for p in players}
    for order in permutations:
        before: Coalition = frozenset()
        for player in order:
            after = before | {player}
            marginals[player].append(_value(values, after) - _value(values, before))
            before = after
    m = len(permutations)
    means = {p: sum(xs) / m for p, xs in marginals.items()}
    stderr = {
        p: math.sqrt(sum((x - means[p]) ** 2 for x in xs) / (m - 1) / m) if m > 1 else math.inf
        for p, xs in marginals.items()
    }
    return ShapleyEstimate(
        values=means,
        stderr=stderr,
        all_on=_value(values, frozenset(players)),
        all_off=_value(values, frozenset()),
        method="sampled",
    )


def shapley(
    players: Sequence[str],
    measure: Callable[[Sequence[Coalition]], Mapping[Coalition, float]],
    *,
    max_exact: int,
    samples: int,
    seed: int,
) -> ShapleyEstimate:
    """Exact up to ``max_exact`` players (or when the sample would touch every subset), else ``samples``
    permutations; ``measure`` values the subsets asked for."""
    if len(players) <= max_exact:
        return exact_shapley(players, measure(all_subsets(players)))
    orders = sample_permutations(players, samples, seed=seed)
    subsets = permutation_subsets(orders)
    if len(subsets) >= 1 << len(players):
        # The sample would measure every subset anyway: the exact value costs no more.
        return exact_shapley(players, measure(all_subsets(players)))
    return sampled_shapley(players, measure(subsets), orders)
