"""Paired statistics of the outcome protocol: mean, spread, a 95 % t-interval, wins.

The interval is Student's t on the paired differences, mean ± t(0.975, n−1)·sd/√n: every
arm runs on the same seeds, so the differences are what varies, and t is exact for normal
differences and robust enough at n ≥ 12. The t quantile is computed here (no scipy): the
Student CDF through the regularized incomplete beta function (a Lentz continued fraction),
inverted by bisection to 1e-12.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import attrs

SAMPLE_SIZE_MESSAGE = "A paired interval needs at least 2 differences (seeds), got {n}; run more seeds."
PROBABILITY_MESSAGE = "A t quantile needs a probability strictly between 0 and 1, got {p!r}."
DEGREES_MESSAGE = "Student's t needs degrees of freedom > 0, got {df!r}."

_EPSILON = 1e-15
_TINY = 1e-300
_MAX_TERMS = 500


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (modified Lentz; Numerical Recipes' betacf)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_TERMS + 1):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPSILON:
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function, for a, b > 0 and x in [0, 1]."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(DEGREES_MESSAGE.format(df=df))
    tail = 0.5 * regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t with P(T ≤ t) = p: Student's t quantile (e.g. t_quantile(0.975, 11) = 2.200985...)."""
    if not 0.0 < p < 1.0:
        raise ValueError(PROBABILITY_MESSAGE.format(p=p))
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2.0
    while high - low > 1e-12 * max(1.0, high):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if t_cdf(middle, df) < p else (low, middle)
    return 0.5 * (low + high)


@attrs.frozen(kw_only=True)
class PairedDifference:
    """Arm minus baseline over paired seeds: mean, the t-interval, and seeds strictly better."""

    n: int
    mean: float
    sd: float
    low: float
    high: float
    wins: int


def paired_difference(differences: Sequence[float], *, confidence: float = 0.95) -> PairedDifference:
    """mean ± t((1 + confidence)/2, n − 1)·sd/√n over the per-seed differences; a tie is not a win."""
    n = len(differences)
    if n < 2:
        raise ValueError(SAMPLE_SIZE_MESSAGE.format(n=n))
    mean = statistics.fmean(differences)
    sd = statistics.stdev(differences)
    half = t_quantile((1.0 + confidence) / 2.0, n - 1) * sd / math.sqrt(n)
    wins = sum(1 for value in differences if value > 0)
    return PairedDifference(n=n, mean=mean, sd=sd, low=mean - half, high=mean + half, wins=wins)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1); the spread of one value is 0."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0
