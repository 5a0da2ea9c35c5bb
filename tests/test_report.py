"""esper-train report: PNGs and report.md from real run directories, and its user errors."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import pytest
from typer.testing import CliRunner

from esper_shell.cli import app
from esper_shell.report.read import load_run, read_events

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# tests/engine_helpers.eager_config as a file: seeds germinate at once, so 12 epochs see every stage.
EAGER_TOML = """
[training]
epochs = 12
[heuristic]
min_epoch = 1
plateau_epochs = 0
max_concurrent = 3
blueprints = ["conv_light", "depthwise"]
blend = "LINEAR"
[signals]
stabilization_epochs = 1
stabilization_rel_improvement = 1.0
"""


def invoke(*args: str):  # noqa: ANN201 - typer's Result
    return runner.invoke(app, list(args))


def assert_real_png(path: Path) -> None:
    """A PNG that decodes, of a readable size, with more than a blank canvas in it."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 250 and pixels.shape[1] > 500, (path, pixels.shape)
    assert pixels.std() > 0.05, path
    assert path.stat().st_size > 15_000, path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    (root / "eager.toml").write_text(EAGER_TOML)
    made = {}
    for name, args in {
        "heuristic": ["heuristic", "--config", str(root / "eager.toml"), "--shapley-every", "1"],
        "static": ["static", "--epochs", "12"],
        "ppo": ["ppo", "--episodes", "4", "--n-envs", "2", "--episode-epochs", "2"],
    }.items():
        made[name] = root / name
        quiet = ["--quiet"] if name != "ppo" else []
        result = invoke(*args, *quiet, "--run-dir", str(made[name]))
        assert result.exit_code == 0, result.output
    return made


class TestOneTrainingRun:
    def test_writes_valid_pngs_and_a_report_that_links_them(self, runs: dict[str, Path]) -> None:
        result = invoke("report", str(runs["heuristic"]))
        assert result.exit_code == 0, result.output
        folder = runs["heuristic"] / "report"
        report = (folder / "report.md").read_text()
        for name in ("curves.png", "swimlanes.png", "parameters.png", "contributions.png"):
            assert_real_png(folder / name)
            assert f"]({name})" in report
        assert "### Blueprints" in report

    def test_a_static_run_has_no_swimlanes_and_says_so(self, runs: dict[str, Path], tmp_path: Path) -> None:
        assert invoke("report", str(runs["static"]), "--out", str(tmp_path / "s")).exit_code == 0
        assert not (tmp_path / "s" / "swimlanes.png").exists()
        assert "No seed was germinated." in (tmp_path / "s" / "report.md").read_text()


class TestPPORun:
    def test_writes_learning_curves_and_the_action_mix(self, runs: dict[str, Path]) -> None:
        assert invoke("report", str(runs["ppo"])).exit_code == 0
        for name in ("ppo_curves.png", "action_mix.png"):
            assert_real_png(runs["ppo"] / "report" / name)


class TestComparison:
    def test_overlays_the_runs_and_tabulates_them(self, runs: dict[str, Path], tmp_path: Path) -> None:
        out = tmp_path / "cmp"
        result = invoke("report", str(runs["static"]), str(runs["heuristic"]), str(runs["ppo"]), "--out", str(out))
        assert result.exit_code == 0, result.output
        assert_real_png(out / "comparison.png")
        report = (out / "report.md").read_text()
        assert "| run | epochs | final accuracy % |" in report
        assert "](heuristic/curves.png)" in report and "](ppo/ppo_curves.png)" in report

    def test_several_runs_need_an_out_folder(self, runs: dict[str, Path]) -> None:
        result = invoke("report", str(runs["static"]), str(runs["heuristic"]))
        assert result.exit_code == 2 and "pass --out DIR" in result.output


class TestErrors:
    def test_a_folder_that_is_not_a_run_is_one_line(self, tmp_path: Path) -> None:
        result = invoke("report", str(tmp_path))
        assert result.exit_code == 2
        assert result.output.strip() == (
            f"Error: {tmp_path} is not a run directory: expected {tmp_path}/config.json "
            "(made by esper-train ... --run-dir)."
        )

    def test_a_truncated_line_is_named(self, tmp_path: Path) -> None:
        (tmp_path / "config.json").write_text(json.dumps({"controller": "static", "task": "digits", "seed": 0}))
        (tmp_path / "events.jsonl").write_text('{"kind": "epoch", "epo\n')
        result = invoke("report", str(tmp_path))
        assert result.exit_code == 2 and "events.jsonl:1 is not a JSON event" in result.output


class TestReading:
    def test_a_resume_replaces_the_replayed_epochs(self, tmp_path: Path) -> None:
        lines = [
            {"kind": "schema", "run_id": "r"},
            {"kind": "run_started", "epoch": 0},
            *({"kind": "epoch", "epoch": e, "payload": {"n": e}} for e in range(3)),
            {"kind": "resumed", "epoch": 1},
            *({"kind": "epoch", "epoch": e, "payload": {"n": e, "again": True}} for e in range(1, 3)),
        ]
        path = tmp_path / "events.jsonl"
        path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
        run_id, events = read_events(path)
        epochs = [e for e in events if e["kind"] == "epoch"]
        assert run_id == "r" and [e["epoch"] for e in epochs] == [0, 1, 2]
        assert [e["payload"].get("again", False) for e in epochs] == [False, True, True]

    def test_a_run_is_labelled_by_controller_task_and_seed(self, runs: dict[str, Path]) -> None:
        assert load_run(runs["heuristic"]).label == "heuristic (heuristic, mnist1d, seed 0)"
