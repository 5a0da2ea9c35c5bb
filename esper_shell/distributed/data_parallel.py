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

A GERMINATED seed is built but not routed: its parameters take no gradient that epoch, and
DDP must be told (``find_unused_parameters=True``) to mark them ready rather than wait for
them forever. That costs a traversal of the autograd graph every step, so the wrapper asks
for it only while some slot holds trainable parameters that the forward pass does not visit
(the core's ``is_routed``); the answer is part of what the wrapper was built for, so the
seed's first TRAINING epoch rebuilds it without. Parameters unused on every rank keep
``grad=None``, exactly as in a single process, so their optimizer leaves them alone.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from esper_core import is_routed
from esper_shell.distributed.collective import Collective, ProcessGroup
from esper_shell.model import MorphogeneticModel


class DataParallelModel:
    """What the training loop calls: the bare model alone, a (re)built DDP wrapper under torchrun."""

    def __init__(self, model: MorphogeneticModel, collective: Collective) -> None:
        self.model = model
        self.collective = collective
        self._wrapper: DistributedDataParallel | None = None
        self._built_over: tuple[tuple[int, ...], bool] = ((), False)
        self.builds = 0

    def _parameter_set(self) -> tuple[tuple[int, ...], bool]:
        """The trainable parameters (by identity, in order), and whether the forward leaves some unused."""
        trainable = tuple(id(p) for p in self.model.parameters() if p.requires_grad)
        unused = any(
            not is_routed(slot.stage, with_grad=True) and any(p.requires_grad for p in slot.trainable_parameters())
            for slot in self.model.seed_slots.values()
        )
        return trainable, unused

    def for_training(self) -> nn.Module:
        """Call once before an epoch's first step; the same module serves every step of the epoch."""
        if not isinstance(self.collective, ProcessGroup):
            return self.model
        current = self._parameter_set()
        if self._wrapper is None or current != self._built_over:
            if self._wrapper is not None:
                # The old reducer's hooks stay on the parameters both wrappers share until it is
                # collected; removed now, a backward can never reduce through two reducers.
                self._wrapper._remove_autograd_hooks()
            device = next(self.model.parameters()).device
            self._wrapper = DistributedDataParallel(
                self.model,
                device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=current[1],
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
