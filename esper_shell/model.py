"""``MorphogeneticModel``: a host plus seed slots at chosen injection points.

Forward routes ``forward_to → slot → forward_to → slot → ... → forward_from`` through
the slots whose seed changes the output, and falls back to the plain host when none does,
so enabled-but-empty slots cost nothing. The list of routed slots is rebuilt when a
lifecycle step changes a stage, never per call.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence

import attrs
import torch
from torch import nn

from esper_core import (
    LIVE_STAGES,
    BlendAlgorithm,
    ConfigError,
    Effect,
    LifecycleConfig,
    SeedMetrics,
    SeedStage,
    SlotConfig,
    StageContext,
    TelemetryEvent,
    advance_stage,
    cull,
    fossilize,
    fossilized_at_birth,
    germinate,
    is_routed,
    parse_slot_id,
    step_epoch,
)
from esper_shell.blueprints import blueprint_names, get_blueprint
from esper_shell.errors import HostError, UnknownSlotError, unwrap
from esper_shell.hosts import HostProtocol
from esper_shell.slot import ModuleListener, SeedSlot

NOT_A_HOST_MESSAGE = (
    "{kind} is not an Esper host: it must provide topology, injection_points, slot_order, "
    "forward_to(slot_id, x, from_slot_id=None) and forward_from(slot_id, x) (see docs/hosts.md)."
)
UNKNOWN_SLOT_MESSAGE = "Slot {slot!r} is not an injection point of this host; valid slots: {valid}."
NOT_ENABLED_MESSAGE = "Slot {slot!r} is not enabled in this model; enabled slots: {valid}."
EMPTY_SLOT_MESSAGE = "Slot {slot!r} is empty: germinate a seed there first."
BLEND_MESSAGE = "Unknown blend {blend!r}; choose one of: {valid}."


@attrs.frozen
class SlotReport:
    slot_id: str
    stage: SeedStage | None
    seed_id: str | None
    blueprint_id: str | None
    alpha: float
    metrics: SeedMetrics | None


def _check_membership(host: HostProtocol, slots: SlotConfig) -> None:
    """``SlotConfig`` has checked the ids themselves; only the host knows which exist."""
    for slot_id in slots.slot_ids:
        if slot_id not in host.injection_points:
            valid = ", ".join(host.slot_order)
            raise UnknownSlotError(UNKNOWN_SLOT_MESSAGE.format(slot=slot_id, valid=valid), value=slot_id)


def parse_blend(blend: str | BlendAlgorithm) -> BlendAlgorithm:
    if isinstance(blend, BlendAlgorithm):
        return blend
    valid = ", ".join(b.name.lower() for b in BlendAlgorithm)
    if not isinstance(blend, str) or blend.upper() not in BlendAlgorithm.__members__:
        raise ConfigError(BLEND_MESSAGE.format(blend=blend, valid=valid), value=blend)
    return BlendAlgorithm[blend.upper()]


class MorphogeneticModel(nn.Module):
    def __init__(
        self,
        host: nn.Module,
        slots: SlotConfig | Sequence[str],
        *,
        lifecycle_config: LifecycleConfig | None = None,
        device: torch.device | str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        if not isinstance(host, HostProtocol):
            raise HostError(NOT_A_HOST_MESSAGE.format(kind=type(host).__name__), value=host)
        slot_config = slots if isinstance(slots, SlotConfig) else SlotConfig(slots)
        _check_membership(host, slot_config)
        self.host = host
        self.slot_config = slot_config
        self.lifecycle_config = lifecycle_config or LifecycleConfig()
        self._listeners: list[ModuleListener] = []
        self.seed_slots = nn.ModuleDict(
            {
                sid: SeedSlot(
                    sid,
                    host.injection_points[sid],
                    host.topology,
                    listener=self._module_changed,
                    blend_gradient_to_host=self.lifecycle_config.blend_gradient_to_host,
                )
                for sid in slot_config.slot_ids
            }
        )
        # The run's one epoch counter: moved only by ``step_epoch``, checkpointed with the model.
        self.epoch = 0
        self.seeds_created = 0
        self._clock = clock
        self._routes: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        # After a load, children have restored their seeds: only then are routes knowable.
        self.register_load_state_dict_post_hook(lambda module, _keys: module._refresh_routes())
        if device is not None:
            self.to(device)

    # -- forward -----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        route = self._routes[torch.is_grad_enabled()]
        if not route:
            return self.host(x)
        return self._run_route(route, x, None)

    def forward_with_ablations(
        self, x: torch.Tensor, ablate: Sequence[str]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The output, and for each slot in ``ablate`` the output with that seed's alpha at 0.

        One pass: the host prefix up to each ablated slot is computed once and shared; only
        the suffix after the slot is re-run without the seed (the other seeds stay live).
        Slots in ``ablate`` that are not routed (their seed does not touch the output) get
        the full output, since removing them changes nothing.
        """
        route = self._routes[torch.is_grad_enabled()]
        host, slots = self.host, self.seed_slots
        ablated: dict[str, torch.Tensor] = {}
        h, previous = x, None
        for index, slot_id in enumerate(route):
            features = host.forward_to(slot_id, h, previous)
            if slot_id in ablate:
                ablated[slot_id] = self._run_route(route[index + 1 :], features, slot_id)
            h, previous = slots[slot_id](features), slot_id
        out = host(x) if previous is None else host.forward_from(previous, h)
        for slot_id in ablate:
            ablated.setdefault(slot_id, out)
        return out, ablated

    @contextlib.contextmanager
    def without_seed(self, slot_id: str) -> Iterator[None]:
        """Run the model as if this slot's seed had alpha 0 (the slot passes features through)."""
        slot = self.slot(slot_id)
        with slot.bypassed():
            yield

    @property
    def route(self) -> tuple[str, ...]:
        """The slots forward runs through in the current grad mode, in execution order."""
        return self._routes[torch.is_grad_enabled()]

    def _run_route(self, route: Sequence[str], h: torch.Tensor, previous: str | None) -> torch.Tensor:
        """Run the slots of ``route`` from features just after ``previous`` (None: the input)."""
        host, slots = self.host, self.seed_slots
        for slot_id in route:
            h = slots[slot_id](host.forward_to(slot_id, h, previous))
            previous = slot_id
        return host.forward_from(previous, h)

    def _refresh_routes(self) -> None:
        """Slots whose seed changes the output (or, with grad, receives gradient)."""
        self._routes = tuple(  # type: ignore[assignment]
            tuple(slot_id for slot_id, slot in self.seed_slots.items() if is_routed(slot.stage, with_grad=grad))
            for grad in (False, True)
        )

    # -- module listeners ----------------------------------------------------------------------
    def add_module_listener(self, listener: ModuleListener) -> None:
        """Be told after any slot built or dropped a seed or gate (e.g. to keep optimizers in step)."""
        self._listeners.append(listener)

    def _module_changed(self, slot: SeedSlot, effect: Effect) -> None:
        for listener in self._listeners:
            listener(slot, effect)

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def slot_ids(self) -> tuple[str, ...]:
        return self.slot_config.slot_ids

    @property
    def known_blueprints(self) -> tuple[str, ...]:
        return blueprint_names(self.host.topology)

    def slot(self, slot_id: str) -> SeedSlot:
        if slot_id not in self.seed_slots:
            parse_slot_id(slot_id)
            message = NOT_ENABLED_MESSAGE.format(slot=slot_id, valid=", ".join(self.slot_ids))
            raise UnknownSlotError(message, value=slot_id)
        return self.seed_slots[slot_id]

    def context(self) -> StageContext:
        return StageContext(epoch=self.epoch, timestamp=self._clock(), config=self.lifecycle_config)

    def germinate(
        self,
        slot_id: str,
        blueprint: str,
        blend: str | BlendAlgorithm = "sigmoid",
        seed_id: str | None = None,
        *,
        accuracy: float = 0.0,
    ) -> tuple[TelemetryEvent, ...]:
        slot = self.slot(slot_id)
        algorithm = parse_blend(blend)
        known = self.known_blueprints
        seed_params = (
            get_blueprint(self.host.topology, blueprint).param_count(slot.channels) if blueprint in known else 0
        )
        result = germinate(
            slot.state,
            slot_id=slot_id,
            seed_id=seed_id if seed_id is not None else f"{slot_id}-seed{self.seeds_created}",
            blueprint_id=blueprint,
            known_blueprints=known,
            ctx=self.context(),
            blend=algorithm,
            accuracy=accuracy,
            seed_param_count=seed_params,
            host_param_count=sum(p.numel() for p in self.host.parameters()),
        )
        events = slot.apply(*unwrap(result))
        self.seeds_created += 1
        self._refresh_routes()
        return events

    def install_fossilized(self, slot_id: str, blueprint: str) -> tuple[TelemetryEvent, ...]:
        """Build a fresh ``blueprint`` seed in an empty slot as part of the architecture: FOSSILIZED, alpha 1.

        The construction path of a *from-scratch* baseline (a grown run's final architecture
        trained from epoch 0), never a way to skip the lifecycle's gates during a run. It is
        not a germination: the seed budget and ``seeds_created`` are untouched. The module is
        initialised from torch's global RNG, like a germinated seed's.
        """
        slot = self.slot(slot_id)
        known = self.known_blueprints
        seed_params = (
            get_blueprint(self.host.topology, blueprint).param_count(slot.channels) if blueprint in known else 0
        )
        result = fossilized_at_birth(
            slot.state,
            slot_id=slot_id,
            seed_id=f"{slot_id}-installed",
            blueprint_id=blueprint,
            known_blueprints=known,
            ctx=self.context(),
            seed_param_count=seed_params,
            host_param_count=sum(p.numel() for p in self.host.parameters()),
        )
        events = slot.apply(*unwrap(result))
        self._refresh_routes()
        return events

    def cull(self, slot_id: str) -> tuple[TelemetryEvent, ...]:
        return self._move(slot_id, lambda state: cull(state, self.context()))

    def fossilize(self, slot_id: str) -> tuple[TelemetryEvent, ...]:
        return self._move(slot_id, lambda state: fossilize(state, self.context()))

    def advance_stage(self, slot_id: str, target: SeedStage) -> tuple[TelemetryEvent, ...]:
        return self._move(slot_id, lambda state: advance_stage(state, target, self.context()))

    def _move(self, slot_id: str, decide: Callable) -> tuple[TelemetryEvent, ...]:
        slot = self.slot(slot_id)
        if slot.state is None:
            raise UnknownSlotError(EMPTY_SLOT_MESSAGE.format(slot=slot_id), value=slot_id)
        events = slot.apply(*unwrap(decide(slot.state)))
        self._refresh_routes()
        return events

    def step_epoch(self) -> tuple[TelemetryEvent, ...]:
        """End of an epoch: every seed takes its automatic step; then the epoch counter moves."""
        events: list[TelemetryEvent] = []
        ctx = self.context()
        for slot in self.seed_slots.values():
            if slot.state is None:
                continue
            slot.fold_measured_alpha()
            events += slot.apply(*step_epoch(slot.state, ctx))
        self.epoch += 1
        self._refresh_routes()
        return tuple(events)

    # -- parameters and reports ---------------------------------------------------------------
    def seed_parameters(self, slot_id: str | None = None) -> Iterator[nn.Parameter]:
        """A seed's trainable parameters (gate included); every seed's when no slot is named."""
        slots = [self.slot(slot_id)] if slot_id is not None else list(self.seed_slots.values())
        for slot in slots:
            yield from slot.trainable_parameters()

    def host_parameters(self) -> Iterator[nn.Parameter]:
        return self.host.parameters()

    def slot_reports(self) -> dict[str, SlotReport]:
        reports = {}
        for slot_id, slot in self.seed_slots.items():
            state = slot.state
            reports[slot_id] = SlotReport(
                slot_id=slot_id,
                stage=None if state is None else state.stage,
                seed_id=None if state is None else state.seed_id,
                blueprint_id=None if state is None else state.blueprint_id,
                alpha=slot.alpha,
                metrics=None if state is None else state.metrics,
            )
        return reports

    @property
    def active_seed_count(self) -> int:
        return sum(1 for slot in self.seed_slots.values() if slot.stage in LIVE_STAGES)

    @property
    def fossilized_seed_count(self) -> int:
        return sum(1 for slot in self.seed_slots.values() if slot.stage is SeedStage.FOSSILIZED)

    def total_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def restore_weights(self, state: dict[str, torch.Tensor]) -> None:
        """Load a snapshot of weights and seeds, keeping the epoch and the germination count.

        A governor rollback turns back what was learned, not time: the epoch goes on, and
        seeds germinated since the snapshot still count against the budget.
        """
        epoch, seeds_created = self.epoch, self.seeds_created
        self.load_state_dict(state)
        self.epoch, self.seeds_created = epoch, seeds_created

    # -- checkpoints ---------------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, int]:
        return {"schema": 1, "epoch": self.epoch, "seeds_created": self.seeds_created}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.epoch = int(state["epoch"])
        self.seeds_created = int(state["seeds_created"])
