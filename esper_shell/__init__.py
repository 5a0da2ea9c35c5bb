"""Esper's imperative shell: torch modules, devices, data, files, telemetry and the CLI.

It asks ``esper_core`` what to do and applies the answer.
"""

from esper_shell.blueprints import BlueprintSpec, blueprint_names, build_seed, get_blueprint, register_blueprint
from esper_shell.checkpoint import load_checkpoint, save_checkpoint
from esper_shell.errors import CheckpointError, UnknownSlotError
from esper_shell.gated_blend import GatedBlend
from esper_shell.health import GradientHealthMonitor, HealthConfig, batched_grad_norm
from esper_shell.hosts import CNNHost, HostProtocol, TransformerHost
from esper_shell.model import MorphogeneticModel, SlotReport
from esper_shell.slot import SeedSlot

__all__ = [
    "BlueprintSpec",
    "CNNHost",
    "CheckpointError",
    "GatedBlend",
    "GradientHealthMonitor",
    "HealthConfig",
    "HostProtocol",
    "MorphogeneticModel",
    "SeedSlot",
    "SlotReport",
    "TransformerHost",
    "UnknownSlotError",
    "batched_grad_norm",
    "blueprint_names",
    "build_seed",
    "get_blueprint",
    "load_checkpoint",
    "register_blueprint",
    "save_checkpoint",
]
