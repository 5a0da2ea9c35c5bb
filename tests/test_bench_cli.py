"""esper-train bench: options that would measure nothing are refused in one line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from esper_shell.cli import app


@pytest.mark.parametrize("bench", ["overhead", "counterfactual", "ddp"])
def test_zero_repeats_are_refused(bench: str) -> None:
    result = CliRunner().invoke(app, ["bench", bench, "--repeats", "0"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and lines == ["Error: --repeats 0 measures nothing; give at least 1."]
