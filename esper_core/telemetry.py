"""Telemetry events: plain records the shell's sinks print or write."""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

Primitive = str | int | float | bool | None


class Severity(enum.Enum):
    DEBUG = enum.auto()
    INFO = enum.auto()
    WARNING = enum.auto()
    ERROR = enum.auto()


@attrs.frozen(kw_only=True)
class TelemetryEvent:
    kind: str
    epoch: int
    slot_id: str | None = None
    seed_id: str | None = None
    severity: Severity = Severity.INFO
    payload: Mapping[str, Primitive] = attrs.field(factory=dict)
