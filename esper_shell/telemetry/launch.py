"""The telemetry a run is launched with: sinks and epoch callbacks built from ``TelemetryOptions``.

``esper-train heuristic|static`` builds these from its flags (``--tensorboard``, ``--csv``,
``--shapley-every``), or from ``RUN_DIR/telemetry.json`` on ``--resume``; Python callers
pass the same sinks to ``start``/``resume`` (and ``esper_shell.engine.shapley.attach_probes``
for the measurements).
"""

from __future__ import annotations

from pathlib import Path

from esper_shell.telemetry.epochs_csv import EpochCsvSink
from esper_shell.telemetry.errors import TelemetryError
from esper_shell.telemetry.sinks import TelemetrySink
from esper_shell.telemetry.stream import TelemetryOptions
from esper_shell.telemetry.tensorboard import TensorBoardSink, require_tensorboard

NEEDS_RUN_DIR_MESSAGE = "{flag} writes into the run directory: add --run-dir DIR."
TENSORBOARD_DIR = "tensorboard"
CSV_FILE = "epochs.csv"


def check_options(options: TelemetryOptions, run_dir: Path | None) -> None:
    """Refuse what cannot be honoured before anything is built or written."""
    for flag, wanted in (("--tensorboard", options.tensorboard), ("--csv", options.csv)):
        if wanted and run_dir is None:
            raise TelemetryError(NEEDS_RUN_DIR_MESSAGE.format(flag=flag))
    if options.tensorboard:
        require_tensorboard()


def launch_sinks(options: TelemetryOptions, run_dir: Path | None) -> list[TelemetrySink]:
    """The sinks the options ask for; each writes nothing until its first event."""
    check_options(options, run_dir)
    sinks: list[TelemetrySink] = []
    if options.tensorboard:
        sinks.append(TensorBoardSink(run_dir / TENSORBOARD_DIR))
    if options.csv:
        sinks.append(EpochCsvSink(run_dir / CSV_FILE))
    return sinks
