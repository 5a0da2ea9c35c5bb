"""The blueprint registry: every seed architecture, keyed by ``(topology, name)``.

Controllers size their action spaces from ``blueprint_names``, so a blueprint registered
here becomes available everywhere without touching any other module.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from attrs.validators import instance_of, is_callable, min_len
from torch import nn

from esper_core import EsperError
from esper_shell.hosts.protocol import is_positive_int

DUPLICATE_MESSAGE = (
    "A blueprint named {name!r} is already registered for topology {topology!r}; pick another "
    "name (registered: {known})."
)
UNKNOWN_NAME_MESSAGE = "Unknown blueprint {name!r} for topology {topology!r}; known blueprints: {known}."
UNKNOWN_TOPOLOGY_MESSAGE = (
    "No blueprints are registered for topology {topology!r}; known topologies: {known}. A host's "
    "topology attribute names its blueprint family."
)
CHANNELS_MESSAGE = "A seed needs a positive integer channel count, got {channels!r}."


class UnknownBlueprintError(EsperError):
    """A ``(topology, name)`` pair names no registered blueprint."""


class UnknownTopologyError(UnknownBlueprintError):
    """No blueprint at all is registered for the topology (often a typo such as 'CNN')."""


class DuplicateBlueprintError(EsperError):
    """A second blueprint tried to take a registered ``(topology, name)``."""


class SeedChannelsError(EsperError):
    """A seed was requested for a channel count that is not a positive integer."""


@attrs.frozen(kw_only=True)
class BlueprintSpec:
    """How to build one seed architecture for a given channel/feature dimension.

    ``param_count(channels)`` is exact, so rewards and reports can price a seed without
    building it.
    """

    topology: str = attrs.field(validator=[instance_of(str), min_len(1)])
    name: str = attrs.field(validator=[instance_of(str), min_len(1)])
    build: Callable[[int], nn.Module] = attrs.field(validator=is_callable())
    param_count: Callable[[int], int] = attrs.field(validator=is_callable())
    description: str = attrs.field(validator=instance_of(str))


# Insertion-ordered, so names come back in registration order: action indices stay stable.
_REGISTRY: dict[tuple[str, str], BlueprintSpec] = {}


def _identity(channels: int) -> nn.Module:
    return nn.Identity()


def noop_spec(topology: str) -> BlueprintSpec:
    """The identity seed every topology offers: a placeholder that adds no parameters."""
    return BlueprintSpec(
        topology=topology,
        name="noop",
        build=_identity,
        param_count=lambda channels: 0,
        description="Identity: a placeholder seed that adds no parameters.",
    )


def register_blueprint(spec: BlueprintSpec) -> BlueprintSpec:
    """Add ``spec`` to the registry; returns it so the call can sit beside its module."""
    key = (spec.topology, spec.name)
    if key in _REGISTRY:
        known = ", ".join(blueprint_names(spec.topology))
        raise DuplicateBlueprintError(DUPLICATE_MESSAGE.format(name=spec.name, topology=spec.topology, known=known))
    _REGISTRY[key] = spec
    return spec


def blueprint_names(topology: str) -> tuple[str, ...]:
    """Names registered for ``topology``, in registration order."""
    names = tuple(name for known_topology, name in _REGISTRY if known_topology == topology)
    if not names:
        known = ", ".join(sorted({known_topology for known_topology, _ in _REGISTRY})) or "none"
        raise UnknownTopologyError(UNKNOWN_TOPOLOGY_MESSAGE.format(topology=topology, known=known))
    return names


def get_blueprint(topology: str, name: str) -> BlueprintSpec:
    """The spec for ``(topology, name)``; the error lists the names that do exist."""
    spec = _REGISTRY.get((topology, name))
    if spec is None:
        known = ", ".join(blueprint_names(topology))
        raise UnknownBlueprintError(UNKNOWN_NAME_MESSAGE.format(name=name, topology=topology, known=known))
    return spec


def build_seed(topology: str, name: str, channels: int) -> nn.Module:
    """A freshly initialised seed module for features of ``channels`` channels."""
    spec = get_blueprint(topology, name)
    if not is_positive_int(channels):
        raise SeedChannelsError(CHANNELS_MESSAGE.format(channels=channels))
    return spec.build(channels)
