"""Invoking esper-train in-process, and what every user error must look like."""

from __future__ import annotations

from typer.testing import CliRunner

from esper_shell.cli import app, expand_multi_value_options

runner = CliRunner()


def invoke(*args: str):  # noqa: ANN201 - typer's Result
    return runner.invoke(app, expand_multi_value_options(list(args)))


def assert_user_error(result, *fragments: str, one_line: bool = True) -> None:  # noqa: ANN001
    """Exit 2, no traceback, an ``Error:`` line naming the fragments (instructions may follow)."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[0].startswith("Error: "), result.output
    assert len(lines) == 1 or not one_line, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], result.output
