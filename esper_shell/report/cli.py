"""`esper-train report RUN_DIR [RUN_DIR ...] [--out DIR]` (registered on the main app by ``register``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from esper_core import EsperError


def report(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(metavar="RUN_DIR", help="Run directories made with --run-dir (heuristic, static or ppo)."),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the report (default RUN_DIR/report; required for several runs)."),
    ] = None,
) -> None:
    """Plots (PNG) and report.md for one run, or a comparison of several."""
    from esper_shell.report.write import write_report  # matplotlib loads only for this command

    try:
        path = write_report(run_dirs, out)
    except EsperError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``esper-train``."""
    app.command("report")(report)
