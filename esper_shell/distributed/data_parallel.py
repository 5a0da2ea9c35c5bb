"""The model as DistributedDataParallel sees it, rebuilt whenever growth changes its parameters.

DDP registers the trainable parameters it is built over, once. Germination, culling,
fossilization (which freezes a seed), a gate being built, a rollback or a checkpoint load all
change that set, some of them without any module effect (a restored snapshot rebuilds
modules silently). So rather than follow every way the set can change, the wrapper records
the exact set it was built over (each trainable parameter's identity, in order) and is
rebuilt when the model's current set differs: one comparison of a few dozen ids per epoch,
and it cannot miss a case. Building the wrapper broadcasts rank 0's parameters and buffers,
so a newly built seed starts from one initialisation on every rank even if the ranks' RNG
streams ever disagreed.

``find_unused_parameters=True``: a GERMINATED seed is built but not routed (its parameters
take no gradient this epoch); DDP must mark them ready rather than wait for them. Parameters
unused on every rank keep ``grad=None``, exactly as in a single process, so their optimizer
leaves them alone.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from esper_shell.distributed.collective import Collective, ProcessGroup


class DataParallelModel:
    """What the training loop calls: the bare model alone, a (re)built DDP wrapper under torchrun."""

    def __init__(self, model: nn.Module, collective: Collective) -> None:
        self.model = model
        self.collective = collective
        self._wrapper: DistributedDataParallel | None = None
        self._built_over: tuple[int, ...] = ()
        self.builds = 0

    def _trainable(self) -> tuple[int, ...]:
        return tuple(id(p) for p in self.model.parameters() if p.requires_grad)

    def for_training(self) -> nn.Module:
        """Call once before an epoch's first step; the same module serves every step of the epoch."""
        if not isinstance(self.collective, ProcessGroup):
            return self.model
        current = self._trainable()
        if self._wrapper is None or current != self._built_over:
            if self._wrapper is not None:
                # The old reducer's hooks stay on the parameters both wrappers share until it is
                # collected; removed now, a backward can never reduce through two reducers.
                self._wrapper._remove_autograd_hooks()
            device = next(self.model.parameters()).device
            self._wrapper = DistributedDataParallel(
                self.model,
                device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=True,
            )
            self._built_over = current
            self.builds += 1
        return self._wrapper

    def sync_buffers(self) -> None:
        """Rank 0's buffers (BatchNorm running statistics) everywhere, as DDP does before each forward.

        DDP broadcasts them at the start of a step; after the epoch's last step each rank holds
        the statistics of its own shard, so they are made one again before validation.
        """
        if not isinstance(self.collective, ProcessGroup):
            return
        with torch.no_grad():
            for buffer in self.model.buffers():
                torch.distributed.broadcast(buffer, src=0)
