"""What a training run shows on stderr while it runs.

On a terminal: a rich Live panel (``LiveView``) redrawn in place, with the run's progress
(epoch, and batches within long epochs), a per-slot grid (stage, blueprint, alpha, epochs
in stage, contribution), an accuracy sparkline and the latest lifecycle events.

Off a terminal (a log file, a pipe, CI) or with ``--quiet``: a progress bar and, unless
quiet, one line per lifecycle event (``ConsoleSink``), never wrapped, so ``grep`` works.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from esper_core import Severity, TelemetryEvent
from esper_shell.engine.run import Run
from esper_shell.engine.summary import EpochSummary
from esper_shell.telemetry.sinks import ConsoleSink

SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 60
EVENT_LINES = 6
# Within-epoch progress is redrawn at most this often (seconds): a batch callback stays cheap.
BATCH_REFRESH = 0.25
EVENT_KINDS = frozenset({"stage_entered", "decision", "rollback", "resumed"})
STAGE_STYLE = {
    "GERMINATED": "cyan",
    "TRAINING": "blue",
    "BLENDING": "magenta",
    "PROBATIONARY": "yellow",
    "FOSSILIZED": "green",
    "CULLED": "red",
    "EMBARGOED": "dim red",
}


def sparkline(values: list[float], width: int = SPARK_WIDTH) -> str:
    """The last ``width`` values as block characters, scaled from their min to their max."""
    values = values[-width:]
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - low) / span * len(SPARK)))] for v in values)


def describe(event: TelemetryEvent) -> str:
    """The one-line text of an event, as ConsoleSink prints it."""
    where = f" {event.slot_id}" if event.slot_id else ""
    details = " ".join(f"{key}={value}" for key, value in event.payload.items())
    return f"epoch {event.epoch:>3}{where} {event.kind}: {details}"


class BatchCounter:
    """Batches done in the current epoch, and how many the last full epoch had (None before one)."""

    def __init__(self) -> None:
        self.done = 0
        self.total: int | None = None
        self._epoch = -1
        self._shown = 0.0

    def update(self, done: int, epoch: int) -> bool:
        """Record progress; True when it is time to redraw."""
        if epoch != self._epoch:
            if self._epoch >= 0:
                self.total = self.done
            self._epoch = epoch
        self.done = done
        now = time.monotonic()
        if now - self._shown < BATCH_REFRESH:
            return False
        self._shown = now
        return True

    def text(self) -> str:
        return f"batch {self.done}/{self.total}" if self.total else f"batch {self.done}"


class View(Protocol):
    def on_epoch(self, run: Run, summary: EpochSummary) -> None: ...


class LiveView:
    """A sink and an epoch callback in one: it draws what the events and the trainer say."""

    def __init__(self, run: Run, console: Console) -> None:
        self.console = console
        self.title = f"{run.config.controller.kind} on {run.config.task} (seed {run.config.seed})"
        self.total = run.trainer.total_epochs
        self.epoch = run.trainer.epoch
        self.slots: dict[str, dict[str, Any] | None] = dict.fromkeys(run.trainer.model.slot_ids)
        self.accuracy: list[float] = [s.val_accuracy for s in run.history]
        self.params = run.trainer.model.total_params()
        self.events: deque[TelemetryEvent] = deque(maxlen=EVENT_LINES)
        # Latest Shapley value per seed id (``--shapley-every``).
        self.shapley: dict[str, float] = {}
        self.batches = BatchCounter()
        self.started = time.monotonic()
        self.live = Live(self, console=console, refresh_per_second=4, transient=False)

    # -- sink ---------------------------------------------------------------------------------
    def emit(self, event: TelemetryEvent) -> None:
        if event.kind == "epoch":
            for slot_id in self.slots:
                self.slots[slot_id] = None  # slot events follow; a slot without one is empty
            self.accuracy.append(event.payload["val_accuracy"])
            self.params = event.payload["params"]
            self.epoch = event.epoch + 1
        elif event.kind == "slot":
            self.slots[event.slot_id] = {**event.payload, "seed_id": event.seed_id}
        elif event.kind == "shapley":
            self.shapley[event.seed_id] = event.payload["value"]
        elif event.kind in EVENT_KINDS and event.severity is not Severity.DEBUG:
            self.events.append(event)

    def close(self) -> None:
        return None

    # -- callbacks ------------------------------------------------------------------------------
    def on_epoch(self, run: Run, summary: EpochSummary) -> None:
        self.live.refresh()

    def on_batch(self, done: int, epoch: int) -> None:
        if self.batches.update(done, epoch):
            self.live.refresh()

    # -- drawing --------------------------------------------------------------------------------
    def __rich__(self) -> RenderableType:
        elapsed = time.monotonic() - self.started
        best = max(self.accuracy, default=0.0)
        last = self.accuracy[-1] if self.accuracy else 0.0
        status = Text.assemble(
            (f"epoch {self.epoch}/{self.total}", "bold"),
            f"  {self.batches.text()}  acc {last:5.1f}% (best {best:5.1f}%)  params {self.params}  {elapsed:5.0f} s",
        )
        grid = Table(expand=False, box=None, padding=(0, 2), header_style="bold")
        for column in ("slot", "stage", "blueprint", "alpha", "in stage", "contribution", "shapley"):
            grid.add_column(column, justify="left" if column in ("slot", "stage", "blueprint") else "right")
        for slot_id, row in self.slots.items():
            if row is None:
                grid.add_row(slot_id, Text("empty", style="dim"), "", "", "", "", "")
                continue
            contribution, shapley = row["contribution"], self.shapley.get(row["seed_id"])
            grid.add_row(
                slot_id,
                Text(row["stage"], style=STAGE_STYLE.get(row["stage"], "")),
                str(row["blueprint"]),
                f"{row['alpha']:.2f}",
                str(row["epochs_in_stage"]),
                "" if contribution is None else f"{contribution:+.2f}",
                "" if shapley is None else f"{shapley:+.2f}",
            )
        spark = Text.assemble(("accuracy ", "bold"), (sparkline(self.accuracy), "green"))
        events = Text("\n".join(describe(event) for event in self.events) or "no lifecycle event yet", style="dim")
        return Panel(Group(status, Text(""), grid, Text(""), spark, Text(""), events), title=self.title)


class ProgressView:
    """Off a terminal, or quiet: a progress bar; lifecycle lines unless quiet."""

    def __init__(self, run: Run, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task_id = self.progress.add_task(
            f"{run.config.controller.kind} {run.config.task}",
            total=run.trainer.total_epochs,
            completed=run.trainer.epoch,
            status="",
        )
        self.batches = BatchCounter()
        self.status = ""

    def on_epoch(self, run: Run, summary: EpochSummary) -> None:
        self.status = f"acc {summary.val_accuracy:5.1f}%  live {summary.live_seeds}  fossil {summary.fossilized_seeds}"
        self.progress.update(self.task_id, completed=run.trainer.epoch, status=self.status)

    def on_batch(self, done: int, epoch: int) -> None:
        if self.batches.update(done, epoch):
            self.progress.update(self.task_id, status=f"{self.status}  {self.batches.text()}")


@contextmanager
def console_view(run: Run, *, quiet: bool, console: Console) -> Iterator[View]:
    """Attach the right view to ``run`` (as a sink and a batch callback) for the run's duration."""
    view: LiveView | ProgressView
    if console.is_terminal and not quiet:
        view = LiveView(run, console)
        run.sinks = (*run.sinks, view)
    else:
        view = ProgressView(run, console)
        if not quiet:
            run.sinks = (*run.sinks, ConsoleSink(view.progress.console))
    run.trainer.on_batch = view.on_batch
    try:
        with view.live if isinstance(view, LiveView) else view.progress:
            yield view
    finally:
        run.trainer.on_batch = None
