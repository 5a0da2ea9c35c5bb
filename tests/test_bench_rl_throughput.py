"""The worker-scaling measurement: its shape, on one worker count (no processes to start)."""

from __future__ import annotations

from esper_shell.bench.rl_throughput import worker_scaling


def test_worker_scaling_gives_a_rate_per_worker_count() -> None:
    rates = worker_scaling("digits", 1, (1,), 1, repeats=1, cached_data=True)
    assert list(rates) == [1] and rates[1] > 0
