"""Errors the shell raises for bad input. All are ValueErrors with a message saying what to do."""

from __future__ import annotations

from esper_core import EsperError


class UnknownSlotError(EsperError):
    """A slot id is canonical but the host (or the model) has no such slot."""


class CheckpointError(EsperError):
    """A checkpoint file is unreadable, unsafe, or does not match the model it is loaded into."""
