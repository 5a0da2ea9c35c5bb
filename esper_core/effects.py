"""What the shell must do after a lifecycle step. The core decides; the shell executes these."""

from __future__ import annotations

import attrs

from esper_core.telemetry import TelemetryEvent


@attrs.frozen
class BuildSeed:
    """Instantiate the seed module for this blueprint in the slot."""

    blueprint_id: str


@attrs.frozen
class DropSeed:
    """Delete the slot's seed module (and its optimizer)."""


@attrs.frozen
class BuildGate:
    """Create the learned blend gate (gated blending only)."""


@attrs.frozen
class DiscardGate:
    """Delete the learned blend gate: blending is over."""


@attrs.frozen
class Emit:
    event: TelemetryEvent


Effect = BuildSeed | DropSeed | BuildGate | DiscardGate | Emit
