"""Turning ``--device auto|cpu|cuda:N`` into a torch device, with errors that say what exists."""

from __future__ import annotations

import torch

from esper_core import ConfigError

NO_CUDA_MESSAGE = "Device {device!r} requested but CUDA is not available here; use --device cpu (or auto)."
BAD_INDEX_MESSAGE = (
    "Device {device!r} does not exist: this machine has {count} CUDA device(s) (cuda:0 ... cuda:{last})."
)
BAD_DEVICE_MESSAGE = "Unknown device {device!r}; use auto, cpu, cuda or cuda:N."


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(BAD_DEVICE_MESSAGE.format(device=name)) from exc
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ConfigError(BAD_DEVICE_MESSAGE.format(device=name))
    if not torch.cuda.is_available():
        raise ConfigError(NO_CUDA_MESSAGE.format(device=name))
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ConfigError(BAD_INDEX_MESSAGE.format(device=name, count=count, last=count - 1))
    return device
