"""Seed architectures. Importing this package registers the whole built-in catalog."""

from esper_shell.blueprints import cnn, transformer  # noqa: F401  (registration side effect)
from esper_shell.blueprints.norms import group_norm, group_norm_groups
from esper_shell.blueprints.registry import (
    BlueprintSpec,
    DuplicateBlueprintError,
    SeedChannelsError,
    UnknownBlueprintError,
    UnknownTopologyError,
    blueprint_names,
    build_seed,
    get_blueprint,
    register_blueprint,
)

__all__ = [
    "BlueprintSpec",
    "DuplicateBlueprintError",
    "SeedChannelsError",
    "UnknownBlueprintError",
    "UnknownTopologyError",
    "blueprint_names",
    "build_seed",
    "get_blueprint",
    "group_norm",
    "group_norm_groups",
    "register_blueprint",
]
