"""Validation with every blended seed's counterfactual contribution, in the same pass.

Under torchrun each rank evaluates its slice of every validation batch and the counts are
summed over the ranks before anything is divided, so every rank reports the same figures, and
they are those of the whole validation set.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import torch

from esper_shell.distributed.collective import Collective, SingleProcess, eval_shards
from esper_shell.model import MorphogeneticModel
from esper_shell.tasks import LossFn

PERCENT = 100.0


@attrs.frozen
class Evaluation:
    accuracy: float
    loss: float
    # Accuracy points lost when the slot's seed is removed (alpha forced to 0).
    contributions: dict[str, float]


def _correct(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(dim=-1) == targets).sum()


@torch.no_grad()
def evaluate(
    model: MorphogeneticModel,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    ablate: tuple[str, ...],
    loss: LossFn,
    device: torch.device,
    collective: Collective | None = None,
) -> Evaluation:
    """Accuracy (%), mean loss per target, and contributions of the seeds in ``ablate`` in one pass.

    ``loss`` is the task's mean loss; weighting it by each batch's targets makes the result the
    mean over all targets whatever the batch sizes.
    """
    collective = collective or SingleProcess()
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    loss_sum = torch.zeros((), device=device)
    ablated_correct = {slot_id: torch.zeros((), dtype=torch.long, device=device) for slot_id in ablate}
    count = 0
    for x, y in eval_shards(batches, collective):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        logits, ablated = model.forward_with_ablations(x, ablate)
        correct += _correct(logits, y)
        loss_sum += loss(logits, y) * y.numel()
        for slot_id, other in ablated.items():
            ablated_correct[slot_id] += _correct(other, y)
        count += y.numel()
    counts = torch.stack([correct, *ablated_correct.values(), torch.tensor(count, device=device)])
    total_correct, *total_ablated, count = collective.all_reduce_sum(counts).tolist()
    loss_sum = collective.all_reduce_sum(loss_sum)
    accuracy = PERCENT * total_correct / count
    contributions = {
        slot_id: accuracy - PERCENT * hits / count for slot_id, hits in zip(ablate, total_ablated, strict=True)
    }
    return Evaluation(accuracy=accuracy, loss=loss_sum.item() / count, contributions=contributions)
