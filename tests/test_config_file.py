"""esper_shell.config_file: the [fixed] table (the rest of the edge is covered through the CLI in test_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from esper_core import BlendAlgorithm, ConfigError, FixedControllerConfig, Germination
from esper_shell.config_file import RunFlags, build_run_config


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_fixed_table_makes_the_fixed_controller(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        '[fixed]\nschedule = [[2, "r2c0", "conv_light"], {epoch = 1, slot = "r0c0", blueprint = "depthwise"}]\n'
        'blend = "LINEAR"\n',
    )
    controller = build_run_config("heuristic", path, RunFlags()).controller
    assert controller == FixedControllerConfig(
        schedule=(Germination(1, "r0c0", "depthwise"), Germination(2, "r2c0", "conv_light")),
        blend=BlendAlgorithm.LINEAR,
    )


def test_static_refuses_a_fixed_table(tmp_path: Path) -> None:
    path = _file(tmp_path, '[fixed]\nschedule = [[2, "r2c0", "conv_light"]]\n')
    with pytest.raises(ConfigError, match=r"\[fixed\]"):
        build_run_config("static", path, RunFlags())


def test_fixed_and_heuristic_tables_together_are_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, '[heuristic]\nmin_epoch = 2\n[fixed]\nschedule = [[2, "r2c0", "conv_light"]]\n')
    with pytest.raises(ConfigError, match="drop one of the two"):
        build_run_config("heuristic", path, RunFlags())


def test_a_fixed_table_without_a_schedule_list_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, '[fixed]\nschedule = "r2c0"\n')
    with pytest.raises(ConfigError, match="epoch, slot, blueprint"):
        build_run_config("heuristic", path, RunFlags())
