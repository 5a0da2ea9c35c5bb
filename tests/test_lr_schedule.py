"""cosine_lr: a decaying rate as a pure function of the epoch."""

from __future__ import annotations

import pytest

from esper_core import cosine_lr


def test_starts_at_the_base_rate() -> None:
    assert cosine_lr(0, 10, base_lr=0.1) == pytest.approx(0.1)


def test_is_halfway_at_half_the_run() -> None:
    assert cosine_lr(5, 10, base_lr=0.1) == pytest.approx(0.05)


def test_last_epoch_still_trains() -> None:
    assert cosine_lr(9, 10, base_lr=0.1) > 0.0


def test_decreases_monotonically() -> None:
    rates = [cosine_lr(e, 20, base_lr=1.0) for e in range(20)]
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))


def test_floor_is_approached_not_crossed() -> None:
    assert cosine_lr(100, 10, base_lr=1.0, final_fraction=0.1) == pytest.approx(0.1)
