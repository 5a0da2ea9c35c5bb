"""Errors of the telemetry options chosen at launch."""

from __future__ import annotations

from esper_core import EsperError


class TelemetryError(EsperError):
    """A telemetry option cannot be honoured (missing package, no run directory)."""
