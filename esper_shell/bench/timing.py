"""Interleaved timing: candidates run in alternation so drift hits them all alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping


def median_seconds(candidates: Mapping[str, Callable[[], object]], *, repeats: int, warmup: int) -> dict[str, float]:
    """Median wall time per call of each candidate, measured round-robin."""
    for _ in range(warmup):
        for run in candidates.values():
            run()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in samples.items()}
