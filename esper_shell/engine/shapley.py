"""Shapley attribution of the blended seeds on the validation set (``--shapley-every K``).

The value of a subset S of the blended seeds is the validation accuracy with exactly the
seeds of S switched on (the others bypassed, as ``SeedSlot.bypassed`` does; fossilized
seeds stay on: they are host now). All subsets asked for are measured in one pass over the
validation data, extending the fused counterfactual evaluation: the route is walked once,
and at each player the batch's features branch into "seed on" and "seed off", so the host
segment before a player is computed once for all subsets that agree on the seeds before
it. The maths (exact, sampled) is ``esper_core.shapley``.

Measured right after validation, on the model validation saw (before the lifecycle step),
so the values add up to the epoch's validation accuracy minus the accuracy without them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs
import torch

from esper_core import SeedStage, TelemetryEvent
from esper_core.shapley import Coalition, ShapleyEstimate, shapley
from esper_shell.engine.evaluation import PERCENT
from esper_shell.engine.trainer import Trainer
from esper_shell.model import MorphogeneticModel
from esper_shell.telemetry.stream import TelemetryOptions

# 2^4 = 16 subsets: exact stays cheap; beyond, permutation sampling.
MAX_EXACT_PLAYERS = 4
DEFAULT_SAMPLES = 64
NOT_ROUTED_MESSAGE = "Players {players} are not on the model's route {route}: only routed seeds can be switched off."


def blended_slots(model: MorphogeneticModel) -> tuple[str, ...]:
    """Seeds whose output is mixed in (alpha > 0): the players, in route order."""
    return tuple(
        slot_id
        for slot_id, slot in model.seed_slots.items()
        if slot.stage in (SeedStage.BLENDING, SeedStage.PROBATIONARY) and slot.state.alpha > 0.0
    )


def forward_subsets(
    model: MorphogeneticModel, x: torch.Tensor, players: Sequence[str], subsets: Sequence[Coalition]
) -> list[torch.Tensor]:
    """The output for each subset: the players in it on, the other players bypassed."""
    route = model.route
    if not set(players) <= set(route):
        raise ValueError(NOT_ROUTED_MESSAGE.format(players=list(players), route=list(route)))
    outputs = _branch(model, route, 0, x, None, dict(enumerate(subsets)), frozenset(players))
    return [outputs[index] for index in range(len(subsets))]


def _branch(
    model: MorphogeneticModel,
    route: tuple[str, ...],
    index: int,
    h: torch.Tensor,
    previous: str | None,
    groups: dict[int, Coalition],
    players: frozenset[str],
) -> dict[int, torch.Tensor]:
    """Run the route from ``index``; split ``groups`` (subset index -> subset) at each player."""
    host, slots = model.host, model.seed_slots
    while index < len(route):
        slot_id = route[index]
        features = host.forward_to(slot_id, h, previous)
        if slot_id in players:
            on = {k: s for k, s in groups.items() if slot_id in s}
            off = {k: s for k, s in groups.items() if slot_id not in s}
            outputs: dict[int, torch.Tensor] = {}
            if on:
                outputs |= _branch(model, route, index + 1, slots[slot_id](features), slot_id, on, players)
            if off:
                outputs |= _branch(model, route, index + 1, features, slot_id, off, players)
            return outputs
        h, previous = slots[slot_id](features), slot_id
        index += 1
    out = host(h) if previous is None else host.forward_from(previous, h)
    return dict.fromkeys(groups, out)


@torch.no_grad()
def subset_accuracies(
    model: MorphogeneticModel,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    players: Sequence[str],
    subsets: Sequence[Coalition],
    *,
    device: torch.device,
) -> dict[Coalition, float]:
    """Validation accuracy (%) of each subset, all in one pass over ``batches``."""
    model.eval()
    correct = torch.zeros(len(subsets), dtype=torch.long, device=device)
    count = 0
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        for index, logits in enumerate(forward_subsets(model, x, players, subsets)):
            correct[index] += (logits.argmax(dim=-1) == y).sum()
        count += y.numel()
    return {subset: PERCENT * hits / count for subset, hits in zip(subsets, correct.tolist())}


def attribute(
    model: MorphogeneticModel,
    val: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]],
    *,
    device: torch.device,
    seed: int,
    samples: int = DEFAULT_SAMPLES,
) -> ShapleyEstimate | None:
    """Shapley values of the blended seeds over the batches ``val()`` yields (None when none is blended)."""
    players = blended_slots(model)
    if not players:
        return None

    def measure(subsets: Sequence[Coalition]) -> Mapping[Coalition, float]:
        return subset_accuracies(model, val(), players, subsets, device=device)

    return shapley(players, measure, max_exact=MAX_EXACT_PLAYERS, samples=samples, seed=seed)


def shapley_events(
    model: MorphogeneticModel, epoch: int, estimate: ShapleyEstimate, seconds: float
) -> list[TelemetryEvent]:
    """One ``shapley`` event per attributed seed."""
    events = []
    for slot_id, value in estimate.values.items():
        slot = model.seed_slots[slot_id]
        events.append(
            TelemetryEvent(
                kind="shapley",
                epoch=epoch,
                slot_id=slot_id,
                seed_id=slot.state.seed_id,
                payload={
                    "value": value,
                    "stderr": None if estimate.stderr is None else estimate.stderr[slot_id],
                    "method": estimate.method,
                    "players": len(estimate.values),
                    "all_on": estimate.all_on,
                    "all_off": estimate.all_off,
                    "blueprint": slot.state.blueprint_id,
                    "seconds": seconds,
                },
            )
        )
    return events


@attrs.frozen
class ShapleyProbe:
    """``Trainer.on_validated``: every ``every`` epochs, the Shapley values of the blended seeds as events."""

    every: int
    samples: int = DEFAULT_SAMPLES

    def due(self, epoch: int) -> bool:
        return (epoch + 1) % self.every == 0

    def __call__(self, trainer: Trainer) -> list[TelemetryEvent]:
        if not self.due(trainer.epoch):
            return []
        started = time.perf_counter()
        # A seed per (run seed, epoch): a resumed run samples the same orders as an unbroken one.
        seed = trainer.config.seed * 100_003 + trainer.epoch
        estimate = attribute(
            trainer.model, lambda: trainer.task.val, device=trainer.device, seed=seed, samples=self.samples
        )
        if estimate is None:
            return []
        return shapley_events(trainer.model, trainer.epoch, estimate, time.perf_counter() - started)


def attach_probes(trainer: Trainer, options: TelemetryOptions) -> None:
    """Measurements the options ask for beyond the epoch's own (Shapley values every K epochs)."""
    if options.shapley_every is not None:
        trainer.on_validated = ShapleyProbe(every=options.shapley_every)
