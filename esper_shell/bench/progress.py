"""Progress of a benchmark on stderr: the figures go to stdout only when all are measured.

Benchmarks take minutes; a bar with the step being measured says they are alive, and
stays off stdout so the printed table can be piped or diffed. Off a terminal (rich then
draws the bar only when it stops) each finished step is a line instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import attrs
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@attrs.define
class Steps:
    """``advance`` after each measured step; ``show`` names the one under way."""

    progress: Progress
    task_id: int
    label: str = ""

    def show(self, label: str) -> None:
        self.label = label
        self.progress.update(self.task_id, step=label)

    def advance(self) -> None:
        self.progress.advance(self.task_id)
        console = self.progress.console
        if not console.is_terminal:
            task = self.progress.tasks[self.task_id]
            console.print(
                f"{task.description}: {task.completed:g}/{task.total:g} {self.label} ({task.elapsed:.0f} s)",
                soft_wrap=True,
            )


@contextmanager
def bench_steps(title: str, total: int, *, console: Console | None = None) -> Iterator[Steps]:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[step]}"),
        console=console or Console(stderr=True),
        transient=False,
    )
    with progress:
        yield Steps(progress, progress.add_task(title, total=total, step=""))
