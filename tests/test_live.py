"""What a run shows on stderr: the live panel on a terminal, unwrapped lines elsewhere."""

from __future__ import annotations

import io

from rich.console import Console

from esper_core import TelemetryEvent
from esper_shell.live_view import BatchCounter, LiveView, ProgressView, console_view, sparkline
from esper_shell.runs import start, train
from esper_shell.telemetry import ConsoleSink
from tests.engine_helpers import eager_config


def terminal(width: int = 120) -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=width, record=True)


def pipe(width: int = 80) -> Console:
    return Console(file=io.StringIO(), force_terminal=False, width=width)


class TestSparkline:
    def test_spans_the_blocks_from_min_to_max(self) -> None:
        assert sparkline([0.0, 50.0, 100.0]) == "▁▅█"

    def test_keeps_the_last_values_only(self) -> None:
        assert len(sparkline([float(i) for i in range(100)], width=10)) == 10

    def test_a_flat_series_is_drawn_low(self) -> None:
        assert sparkline([3.0, 3.0]) == "▁▁"


class TestBatchCounter:
    def test_learns_the_epochs_batch_count_after_one_epoch(self) -> None:
        counter = BatchCounter()
        for done in range(1, 6):
            counter.update(done, 0)
        counter.update(1, 1)
        assert counter.text() == "batch 1/5"


class TestLiveView:
    def test_the_panel_shows_every_slot_its_stage_and_the_latest_events(self) -> None:
        console = terminal()
        run = start("digits", eager_config(epochs=4))
        with console_view(run, quiet=False, console=console) as view:
            assert isinstance(view, LiveView)
            train(run, on_epoch=view.on_epoch)
        console.print(view)
        text = console.export_text()
        for slot_id in run.trainer.model.slot_ids:
            assert slot_id in text
        assert "TRAINING" in text or "BLENDING" in text
        assert "stage_entered" in text and "epoch 4/4" in text

    def test_quiet_on_a_terminal_is_a_progress_bar(self) -> None:
        run = start("digits", eager_config(epochs=1))
        with console_view(run, quiet=True, console=terminal()) as view:
            assert isinstance(view, ProgressView)

    def test_the_batch_callback_is_attached_for_the_run_only(self) -> None:
        run = start("digits", eager_config(epochs=1))
        with console_view(run, quiet=True, console=pipe()):
            assert run.trainer.on_batch is not None
        assert run.trainer.on_batch is None


class TestOffATerminal:
    def test_lines_are_printed_one_per_event(self) -> None:
        console = pipe()
        run = start("digits", eager_config(epochs=3))
        with console_view(run, quiet=False, console=console) as view:
            assert isinstance(view, ProgressView)
            train(run, on_epoch=view.on_epoch)
        lines = console.file.getvalue().splitlines()
        assert any("stage_entered" in line for line in lines)
        assert all(line.startswith("epoch") or "━" in line or not line.strip() for line in lines), lines

    def test_a_long_event_is_never_wrapped(self) -> None:
        console = pipe(width=40)
        payload = {"from": "PROBATIONARY", "to": "FOSSILIZED", "blueprint": "conv_heavy"}
        ConsoleSink(console).emit(TelemetryEvent(kind="stage_entered", epoch=16, slot_id="r2c0", payload=payload))
        assert console.file.getvalue() == (
            "epoch  16 r2c0 stage_entered: from=PROBATIONARY to=FOSSILIZED blueprint=conv_heavy\n"
        )
