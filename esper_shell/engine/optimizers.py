"""One optimizer per seed, following the effects that build and drop seeds and gates.

A seed's optimizer is created when its module is built (if it has parameters) and removed
when it is dropped, so one seed's birth or death never resets another's momentum. While a
seed blends with a learned gate, the gate's parameters are a second param group of the
same optimizer. Loading a checkpoint or a rollback snapshot rebuilds modules without
effects; ``load_state_dict`` then rebuilds the optimizers from the model once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from esper_core import BuildGate, BuildSeed, DiscardGate, DropSeed, Effect, has_gate
from esper_shell.model import MorphogeneticModel
from esper_shell.slot import SeedSlot

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class SeedOptimizers:
    def __init__(self, factory: OptimizerFactory) -> None:
        self._factory = factory
        self._by_slot: dict[str, tuple[str, torch.optim.Optimizer]] = {}

    def __iter__(self) -> Iterator[torch.optim.Optimizer]:
        return (optimizer for _, optimizer in self._by_slot.values())

    def get(self, slot_id: str) -> torch.optim.Optimizer | None:
        entry = self._by_slot.get(slot_id)
        return None if entry is None else entry[1]

    def on_module_change(self, slot: SeedSlot, effect: Effect) -> None:
        """The model's module listener: mirror what the slot just built or dropped."""
        match effect:
            case BuildSeed():
                self._create(slot)
            case DropSeed():
                self._by_slot.pop(slot.slot_id, None)
            case BuildGate():
                self._add_gate_group(slot)
            case DiscardGate():
                entry = self._by_slot.get(slot.slot_id)
                if entry is not None and len(entry[1].param_groups) > 1:
                    for param in entry[1].param_groups.pop(1)["params"]:
                        entry[1].state.pop(param, None)

    def _create(self, slot: SeedSlot) -> None:
        """Group 0: the seed's parameters (none for a zero-parameter seed); group 1: its gate's, if any."""
        if slot.seed is None or slot.state is None:
            self._by_slot.pop(slot.slot_id, None)
            return
        optimizer = self._factory([{"params": list(slot.seed.parameters())}])  # type: ignore[list-item]
        self._by_slot[slot.slot_id] = (slot.state.seed_id, optimizer)
        if has_gate(slot.state):
            self._add_gate_group(slot)

    def _add_gate_group(self, slot: SeedSlot) -> None:
        entry = self._by_slot.get(slot.slot_id)
        if entry is not None and slot.gate is not None and len(entry[1].param_groups) == 1:
            entry[1].add_param_group({"params": list(slot.gate.parameters())})

    def set_lr(self, lr: float) -> None:
        for optimizer in self:
            for group in optimizer.param_groups:
                group["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        return {slot: {"seed_id": seed_id, "state": opt.state_dict()} for slot, (seed_id, opt) in self._by_slot.items()}

    def load_state_dict(self, model: MorphogeneticModel, states: dict[str, Any]) -> None:
        """Rebuild from the model's current seeds (restored without effects), then their saved states."""
        self._by_slot.clear()
        for slot in model.seed_slots.values():
            if slot.seed is not None:
                self._create(slot)
        for slot_id, saved in states.items():
            entry = self._by_slot.get(slot_id)
            if entry is not None and entry[0] == saved["seed_id"]:
                entry[1].load_state_dict(saved["state"])
