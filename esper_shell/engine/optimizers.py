"""One optimizer per seed, kept in step with the model's seeds.

A seed's optimizer is created when its seed first has parameters and removed when the seed
goes, so one seed's birth or death never resets another's momentum. While a seed blends
with a learned gate, the gate's parameters are a second param group of the same optimizer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from esper_shell.model import MorphogeneticModel

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class SeedOptimizers:
    def __init__(self, factory: OptimizerFactory) -> None:
        self._factory = factory
        self._by_slot: dict[str, tuple[str, torch.optim.Optimizer]] = {}

    def __iter__(self) -> Iterator[torch.optim.Optimizer]:
        return (optimizer for _, optimizer in self._by_slot.values())

    def sync(self, model: MorphogeneticModel) -> None:
        """Create, extend, shrink or drop optimizers to match the slots' seeds and gates now."""
        for slot_id, slot in model.seed_slots.items():
            state = slot.state
            entry = self._by_slot.get(slot_id)
            if slot.seed is None or state is None:
                self._by_slot.pop(slot_id, None)
                continue
            if entry is not None and entry[0] != state.seed_id:
                entry = None
            seed_params = list(slot.seed.parameters())
            gate_params = list(slot.gate.parameters()) if slot.gate is not None else []
            if entry is None:
                if not seed_params and not gate_params:
                    self._by_slot.pop(slot_id, None)
                    continue
                optimizer = self._factory(seed_params)
                entry = (state.seed_id, optimizer)
            optimizer = entry[1]
            has_gate_group = len(optimizer.param_groups) > 1
            if gate_params and not has_gate_group:
                optimizer.add_param_group({"params": gate_params})
            elif not gate_params and has_gate_group:
                for param in optimizer.param_groups.pop(1)["params"]:
                    optimizer.state.pop(param, None)
            self._by_slot[slot_id] = entry

    def set_lr(self, lr: float) -> None:
        for optimizer in self:
            for group in optimizer.param_groups:
                group["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        return {slot: {"seed_id": seed_id, "state": opt.state_dict()} for slot, (seed_id, opt) in self._by_slot.items()}

    def load_state_dict(self, model: MorphogeneticModel, states: dict[str, Any]) -> None:
        """Rebuild from a saved state: optimizers for the model's seeds, then their saved states."""
        self._by_slot.clear()
        self.sync(model)
        for slot_id, saved in states.items():
            entry = self._by_slot.get(slot_id)
            if entry is not None and entry[0] == saved["seed_id"]:
                entry[1].load_state_dict(saved["state"])
