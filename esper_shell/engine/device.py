"""Where a run executes (``MachineConfig``), and ``--device auto|cpu|cuda:N`` as a torch device.

Machine options say nothing about what a run is: the same run may resume on another
machine with other options, so they are kept apart from ``RunConfig``.
"""

from __future__ import annotations

import attrs
import torch
from attrs.validators import ge, instance_of, optional

from esper_core import ConfigError

NO_CUDA_MESSAGE = "Device {device!r} requested but CUDA is not available here; use --device cpu (or auto)."
BAD_INDEX_MESSAGE = (
    "Device {device!r} does not exist: this machine has {count} CUDA device(s) (cuda:0 ... cuda:{last})."
)
BAD_DEVICE_MESSAGE = "Unknown device {device!r}; use auto, cpu, cuda or cuda:N."
CPU_INDEX_MESSAGE = "Device {device!r}: the CPU has no index; use --device cpu."


@attrs.frozen(kw_only=True)
class MachineConfig:
    device: str = attrs.field(default="auto", validator=instance_of(str))
    threads: int = attrs.field(default=1, validator=ge(1))
    # A local copy of the task's data, for tasks that read one (cifar10, tinystories).
    data_dir: str | None = attrs.field(default=None, validator=optional(instance_of(str)))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(BAD_DEVICE_MESSAGE.format(device=name)) from exc
    if device.type == "cpu":
        if device.index is not None:
            raise ConfigError(CPU_INDEX_MESSAGE.format(device=name), value=name)
        return device
    if device.type != "cuda":
        raise ConfigError(BAD_DEVICE_MESSAGE.format(device=name))
    if not torch.cuda.is_available():
        raise ConfigError(NO_CUDA_MESSAGE.format(device=name))
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ConfigError(BAD_INDEX_MESSAGE.format(device=name, count=count, last=count - 1))
    return device
