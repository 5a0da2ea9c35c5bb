"""Benchmark progress on stderr: a line per finished step off a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from esper_shell.bench.progress import bench_steps


def test_off_a_terminal_each_finished_step_is_a_line() -> None:
    console = Console(file=io.StringIO(), force_terminal=False, width=60)
    with bench_steps("bench demo", 2, console=console) as steps:
        for label in ("first", "second"):
            steps.show(label)
            steps.advance()
    lines = console.file.getvalue().splitlines()
    assert lines[0].startswith("bench demo: 1/2 first (") and lines[1].startswith("bench demo: 2/2 second (")
