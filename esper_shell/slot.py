"""``SeedSlot``: one injection point. Holds the core's ``SeedState`` and executes its effects.

The slot never decides anything itself: every change goes through an ``esper_core``
lifecycle function, and the slot applies the returned effects (build or drop the seed
module, build or drop the gate), then tells its listener which modules changed, so the
owner of their optimizers follows the same effects. ``forward`` implements the gradient
isolation of DESIGN §6, asking the core's ``isolates_gradients`` whether to detach.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from esper_core import (
    SEED_MODULE_STAGES,
    BuildGate,
    BuildSeed,
    DiscardGate,
    DropSeed,
    Effect,
    Emit,
    SeedStage,
    SeedState,
    TelemetryEvent,
    has_gate,
    isolates_gradients,
    linear_alpha,
    record_measured_alpha,
    structure_slot,
    unstructure_slot,
)
from esper_shell.blueprints import build_seed
from esper_shell.errors import CheckpointError, unwrap
from esper_shell.gated_blend import GatedBlend
from esper_shell.hosts.protocol import TRANSFORMER_TOPOLOGY

# Told after the slot built or dropped a seed or a gate (the effect that did it).
ModuleListener = Callable[["SeedSlot", Effect], None]


class _Mode(enum.Enum):
    """How forward treats the seed; derived from the state once per change, not per call."""

    IDENTITY = enum.auto()
    TRAINING = enum.auto()
    BLENDING = enum.auto()
    GATED = enum.auto()
    INTEGRATED = enum.auto()


def _mode_for(state: SeedState | None) -> _Mode:
    if state is None:
        return _Mode.IDENTITY
    if has_gate(state):
        return _Mode.GATED
    match state.stage:
        case SeedStage.TRAINING:
            return _Mode.TRAINING
        case SeedStage.BLENDING:
            return _Mode.BLENDING
        case SeedStage.PROBATIONARY | SeedStage.FOSSILIZED:
            return _Mode.INTEGRATED
        case _:
            return _Mode.IDENTITY


class SeedSlot(nn.Module):
    def __init__(
        self,
        slot_id: str,
        channels: int,
        topology: str,
        *,
        listener: ModuleListener | None = None,
        blend_gradient_to_host: bool = False,
    ) -> None:
        super().__init__()
        self.slot_id = slot_id
        self.channels = channels
        self.topology = topology
        # LifecycleConfig.blend_gradient_to_host: while BLENDING, the seed reads h itself, not h.detach().
        self.blend_gradient_to_host = blend_gradient_to_host
        self.state: SeedState | None = None
        self.seed: nn.Module | None = None
        self.gate: GatedBlend | None = None
        self._listener = listener
        self._mode = _Mode.IDENTITY
        self._isolated = False
        # Tracks the device and dtype the slot was moved to, so rebuilt seeds land there too.
        self.register_buffer("_anchor", torch.empty(0), persistent=False)
        self.register_buffer("_gate_alpha_sum", torch.zeros(()), persistent=False)
        self.register_buffer("_gate_alpha_count", torch.zeros(()), persistent=False)

    # -- forward -----------------------------------------------------------------------------
    def forward(self, h: torch.Tensor) -> torch.Tensor:
        mode = self._mode
        if mode is _Mode.IDENTITY:
            return h
        if mode is _Mode.TRAINING and not torch.is_grad_enabled():
            # The output is exactly the host's; the seed's forward matters only for its gradient.
            return h
        s = self.seed(h.detach() if self._isolated else h)
        if mode is _Mode.INTEGRATED:
            return s
        if mode is _Mode.TRAINING:
            return h + (s - s.detach())
        if mode is _Mode.BLENDING:
            return torch.lerp(h, s, self.state.alpha)
        alpha = self._ramp() * self.gate(h)
        if self.training:
            # The reported alpha is what training forwards used; validation and counterfactual
            # passes (eval mode) read the same gate but do not count.
            with torch.no_grad():
                self._gate_alpha_sum += alpha.sum()
                self._gate_alpha_count += alpha.shape[0]
        return torch.lerp(h, s, alpha)

    def _ramp(self) -> float:
        """The gated blend's schedule value: an upper bound that the learned gate scales down."""
        schedule = self.state.blend
        return linear_alpha(schedule.current_step, schedule.total_steps)

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def stage(self) -> SeedStage | None:
        return None if self.state is None else self.state.stage

    @property
    def alpha(self) -> float:
        """The alpha forward used: for a gated blend, the measured mean over the training forwards
        since the last epoch step."""
        if self._mode is _Mode.GATED and self._gate_alpha_count.item() > 0:
            return (self._gate_alpha_sum / self._gate_alpha_count).item()
        return 0.0 if self.state is None else self.state.alpha

    def apply(self, state: SeedState, effects: Iterable[Effect]) -> tuple[TelemetryEvent, ...]:
        """Adopt a core decision's state and execute its effects; the listener hears of module changes."""
        events: list[TelemetryEvent] = []
        changed: list[Effect] = []
        for effect in effects:
            match effect:
                case BuildSeed(blueprint_id):
                    self.seed = self._on_anchor(build_seed(self.topology, blueprint_id, self.channels))
                    changed.append(effect)
                case DropSeed():
                    self.seed = None
                    changed.append(effect)
                case BuildGate():
                    self.gate = self._on_anchor(self._new_gate())
                    self._reset_gate_measurement()
                    changed.append(effect)
                case DiscardGate():
                    self.gate = None
                    changed.append(effect)
                case Emit(event):
                    events.append(event)
        self._set_state(state)
        if self._listener is not None:
            for effect in changed:
                self._listener(self, effect)
        return tuple(events)

    def fold_measured_alpha(self) -> None:
        """Write the gated blend's measured mean alpha into the state before the epoch step."""
        if self._mode is not _Mode.GATED or self._gate_alpha_count.item() == 0:
            return
        measured = (self._gate_alpha_sum / self._gate_alpha_count).item()
        self._set_state(unwrap(record_measured_alpha(self.state, min(1.0, max(0.0, measured)))))
        self._reset_gate_measurement()

    def update_state(self, state: SeedState) -> None:
        """Adopt a state that differs only in measurements (same stage, same modules)."""
        self._set_state(state)

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The seed's parameters and, while gated blending, the gate's: one optimizer group."""
        if self.seed is not None:
            yield from self.seed.parameters()
        if self.gate is not None:
            yield from self.gate.parameters()

    @contextlib.contextmanager
    def bypassed(self) -> Iterator[None]:
        """Temporarily the identity, whatever the stage: the counterfactual "no seed here"."""
        mode = self._mode
        self._mode = _Mode.IDENTITY
        try:
            yield
        finally:
            self._mode = mode

    def _set_state(self, state: SeedState | None) -> None:
        self.state = state
        self._mode = _mode_for(state)
        self._isolated = state is not None and isolates_gradients(
            state.stage, blend_gradient_to_host=self.blend_gradient_to_host
        )

    def _reset_gate_measurement(self) -> None:
        self._gate_alpha_sum.zero_()
        self._gate_alpha_count.zero_()

    def _new_gate(self) -> GatedBlend:
        """A gate that pools this slot's feature layout: (B, T, C) for transformers, else (B, C, ...)."""
        return GatedBlend(self.channels, channels_first=self.topology != TRANSFORMER_TOPOLOGY)

    def _on_anchor(self, module: nn.Module) -> nn.Module:
        return module.to(device=self._anchor.device, dtype=self._anchor.dtype)

    # -- checkpoints ---------------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, Any]:
        return unstructure_slot(self.state, blend_gradient_to_host=self.blend_gradient_to_host)

    def set_extra_state(self, state: Any) -> None:
        """Rebuild the seed (and gate) before torch loads their weights into them.

        ``load_state_dict`` calls this before visiting child modules, so modules built here
        receive their weights in the same strict load.
        """
        restored = unwrap(
            structure_slot(state, blend_gradient_to_host=self.blend_gradient_to_host),
            CheckpointError,
            prefix=f"Slot {self.slot_id}: ",
        )
        if restored is not None and restored.slot_id != self.slot_id:
            raise CheckpointError(
                f"Slot {self.slot_id}: checkpoint holds the state of slot {restored.slot_id}; "
                "load it into a model with the same slots."
            )
        seed = None
        if restored is not None and restored.stage in SEED_MODULE_STAGES:
            # A module of the same blueprint is reused: torch overwrites all its weights next.
            same_blueprint = self.seed is not None and self.state is not None
            same_blueprint = same_blueprint and self.state.blueprint_id == restored.blueprint_id
            seed = (
                self.seed
                if same_blueprint
                else self._on_anchor(build_seed(self.topology, restored.blueprint_id, self.channels))
            )
        gate = None
        if _mode_for(restored) is _Mode.GATED:
            gate = self.gate if self.gate is not None else self._on_anchor(self._new_gate())
        self.seed = seed
        self.gate = gate
        self._reset_gate_measurement()
        self._set_state(restored)
