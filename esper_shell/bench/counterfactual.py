"""Cost of measuring every seed's counterfactual contribution (and Shapley values) during validation.

Three ways to get the accuracy with and without each of n blended seeds, timed side by
side: one plain validation pass (no contributions at all, the floor), the fused pass the
engine uses, and the naive 1 + n full passes. Target: fused <= 1 + 0.6 n plain passes.

Shapley values need a value per subset: exact for up to 4 seeds (2^n subsets), sampled
orders beyond. Timed the same way: the branched subset pass of ``engine/shapley.py``
against one plain pass, and against the naive pass per subset.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import attrs
import torch

from esper_core import SeedStage
from esper_core.shapley import all_subsets, permutation_subsets, sample_permutations
from esper_shell.bench.progress import Steps, bench_steps
from esper_shell.bench.staging import walk_to_stage
from esper_shell.bench.timing import median_seconds
from esper_shell.engine.shapley import MAX_EXACT_PLAYERS, forward_subsets
from esper_shell.hosts import CNNHost
from esper_shell.model import MorphogeneticModel


@attrs.frozen(kw_only=True)
class CounterfactualConfig:
    batch: int = 256
    image_size: int = 32
    threads: int = 2
    repeats: int = 15
    warmup: int = 3
    blocks_per_stage: tuple[int, ...] = (2, 2, 2)
    base_channels: int = 16
    blueprint: str = "conv_light"
    seed_counts: tuple[int, ...] = (1, 2, 3, 6)
    target_per_seed: float = 0.6
    shapley_seed_counts: tuple[int, ...] = (2, 3, 4, 6)
    shapley_samples: int = 64


def placements(slot_order: tuple[str, ...], n: int) -> dict[str, tuple[str, ...]]:
    """Where the n seeds sit: the earliest slots (longest suffixes: the worst case) or spread evenly
    (each at the middle of its share of the grid)."""
    step = len(slot_order) / n
    spread = tuple(slot_order[int((i + 0.5) * step)] for i in range(n))
    return {"earliest": slot_order[:n], "spread": spread}


def _blending_model(config: CounterfactualConfig, seeds: tuple[str, ...]) -> MorphogeneticModel:
    torch.manual_seed(0)
    host = CNNHost(config.blocks_per_stage, base_channels=config.base_channels)
    model = MorphogeneticModel(host, list(host.slot_order))
    for slot_id in seeds:
        walk_to_stage(model, slot_id, SeedStage.BLENDING, blueprint=config.blueprint, blend_steps_done=1)
    return model.eval()


def _time_one(
    config: CounterfactualConfig, model: MorphogeneticModel, seeds: tuple[str, ...], x: torch.Tensor
) -> tuple[float, float]:
    """(fused / plain, naive / plain) for one model."""

    def plain() -> None:
        model(x)

    def fused() -> None:
        model.forward_with_ablations(x, seeds)

    def naive() -> None:
        model(x)
        for slot_id in seeds:
            with model.without_seed(slot_id):
                model(x)

    candidates: dict[str, Callable[[], None]] = {"plain": plain, "fused": fused, "naive": naive}
    with torch.no_grad():
        t = median_seconds(candidates, repeats=config.repeats, warmup=config.warmup)
    return t["fused"] / t["plain"], t["naive"] / t["plain"]


def run(
    config: CounterfactualConfig, steps: Steps | None = None
) -> list[tuple[int, str, tuple[str, ...], float, float]]:
    """(n, placement, slots, fused / plain, naive / plain) for each seed count and placement."""
    torch.set_num_threads(config.threads)
    x = torch.randn(config.batch, 3, config.image_size, config.image_size)
    slot_order = CNNHost(config.blocks_per_stage, base_channels=config.base_channels).slot_order
    rows = []
    for n in config.seed_counts:
        for placement, seeds in placements(slot_order, n).items():
            if steps is not None:
                steps.show(f"contributions, {n} seeds {placement}")
            fused, naive = _time_one(config, _blending_model(config, seeds), seeds, x)
            rows.append((n, placement, seeds, fused, naive))
            if steps is not None:
                steps.advance()
    return rows


def _subsets(config: CounterfactualConfig, seeds: tuple[str, ...]) -> tuple[str, tuple[frozenset[str], ...]]:
    if len(seeds) <= MAX_EXACT_PLAYERS:
        return "exact", all_subsets(seeds)
    orders = sample_permutations(seeds, config.shapley_samples, seed=0)
    return f"{config.shapley_samples} orders", permutation_subsets(orders)


def _shapley_candidates(
    model: MorphogeneticModel, x: torch.Tensor, seeds: tuple[str, ...], subsets: tuple[frozenset[str], ...]
) -> dict[str, Callable[[], None]]:
    """One plain pass, the branched pass over every subset, and one plain pass per subset."""

    def plain() -> None:
        model(x)

    def branched() -> None:
        forward_subsets(model, x, seeds, subsets)

    def naive() -> None:
        for subset in subsets:
            with contextlib.ExitStack() as stack:
                for slot_id in seeds:
                    if slot_id not in subset:
                        stack.enter_context(model.without_seed(slot_id))
                model(x)

    return {"plain": plain, "branched": branched, "naive": naive}


def run_shapley(config: CounterfactualConfig, steps: Steps | None = None) -> list[tuple[int, str, int, float, float]]:
    """(n, method, subsets, branched / plain, naive / plain) with the n seeds spread over the grid."""
    torch.set_num_threads(config.threads)
    x = torch.randn(config.batch, 3, config.image_size, config.image_size)
    slot_order = CNNHost(config.blocks_per_stage, base_channels=config.base_channels).slot_order
    rows = []
    for n in config.shapley_seed_counts:
        if steps is not None:
            steps.show(f"shapley, {n} seeds")
        seeds = placements(slot_order, n)["spread"]
        model = _blending_model(config, seeds)
        method, subsets = _subsets(config, seeds)

        # Fewer repeats: a naive pass over 2^n subsets is 2^n plain passes long.
        repeats = max(3, config.repeats // 3)
        with torch.no_grad():
            t = median_seconds(_shapley_candidates(model, x, seeds, subsets), repeats=repeats, warmup=1)
        rows.append((n, method, len(subsets), t["branched"] / t["plain"], t["naive"] / t["plain"]))
        if steps is not None:
            steps.advance()
    return rows


def report(config: CounterfactualConfig) -> str:
    lines = [
        f"counterfactual benchmark: CNNHost{config.blocks_per_stage} base {config.base_channels}, "
        f"batch {config.batch}, 3x{config.image_size}x{config.image_size}, {config.threads} threads, "
        f"{config.blueprint} seeds in BLENDING, median of {config.repeats}, torch {torch.__version__}",
        f"  {'seeds':>5}  {'placement':<9} {'slots':<30} {'fused/plain':>11}  {'naive/plain':>11}  {'target':>6}",
    ]
    total = len(config.seed_counts) * 2 + len(config.shapley_seed_counts)
    with bench_steps("bench counterfactual", total) as steps:
        contributions = run(config, steps)
        shapley = run_shapley(config, steps)
    for n, placement, seeds, fused, naive in contributions:
        target = 1.0 + config.target_per_seed * n
        flag = "" if fused <= target else "  MISSED"
        lines.append(
            f"  {n:>5}  {placement:<9} {' '.join(seeds):<30} {fused:>11.3f}  {naive:>11.3f}  {target:>6.2f}{flag}"
        )
    lines.append(
        f"  Shapley values (seeds spread, one pass over the subsets; median of {max(3, config.repeats // 3)}):"
    )
    lines.append(f"  {'seeds':>5}  {'method':<10} {'subsets':>7}  {'branched/plain':>14}  {'naive/plain':>11}")
    for n, method, count, branched, naive in shapley:
        lines.append(f"  {n:>5}  {method:<10} {count:>7}  {branched:>14.3f}  {naive:>11.3f}")
    return "\n".join(lines)
