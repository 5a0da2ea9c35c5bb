"""``report.md`` and its PNGs: one run into ``RUN_DIR/report/``, several into one folder with a comparison."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from esper_shell.report import compare, ppo_plots, training_plots
from esper_shell.report.read import ReportError, RunRecord, load_run

NEEDS_OUT_MESSAGE = "Reporting on {count} runs writes one comparison: pass --out DIR for it."
NO_EPOCHS_MESSAGE = "{path} has no finished epoch in events.jsonl yet: report on it after its first epoch."


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return "(none)\n"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[c]) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _image(path: Path | None, base: Path, caption: str) -> str:
    return "" if path is None else f"![{caption}]({path.relative_to(base).as_posix()})\n\n"


def training_section(run: RunRecord, out: Path, base: Path) -> str:
    if not run.epochs:
        raise ReportError(NO_EPOCHS_MESSAGE.format(path=run.path))
    out.mkdir(parents=True, exist_ok=True)
    epochs = run.epochs
    text = f"## {run.label}\n\n"
    text += markdown_table(
        [
            {
                "run id": run.run_id,
                "epochs": len(epochs),
                "final accuracy %": epochs[-1]["val_accuracy"],
                "best accuracy %": max(e["val_accuracy"] for e in epochs),
                "parameters": epochs[-1]["params"],
                "slots": " ".join(training_plots.slot_order(run)),
            }
        ]
    )
    text += "\n" + _image(training_plots.curves(run, out), base, "accuracy and loss")
    lanes = training_plots.swimlanes(run, out)
    text += _image(lanes, base, "slot swimlanes") if lanes is not None else "No seed was germinated.\n\n"
    text += _image(training_plots.parameters(run, out), base, "parameters")
    text += _image(training_plots.contributions(run, out), base, "seed contributions")
    text += "### Blueprints\n\n" + markdown_table(training_plots.blueprint_table(run)) + "\n"
    return text


def ppo_section(run: RunRecord, out: Path, base: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    updates = [event["payload"] for event in run.of("update")]
    text = f"## {run.label}\n\n"
    if updates:
        last = updates[-1]
        text += markdown_table(
            [
                {
                    "run id": run.run_id,
                    "updates": len(updates),
                    "episodes": last["episodes"],
                    "last mean return": last["mean_reward"],
                    "last mean final accuracy %": last["mean_final_accuracy"],
                }
            ]
        )
        text += "\n" + _image(ppo_plots.learning_curves(run, out), base, "PPO learning curves")
        text += _image(ppo_plots.action_mix(run, out), base, "action mix")
    else:
        text += "No PPO update yet.\n\n"
    return text


def section(run: RunRecord, out: Path, base: Path) -> str:
    return ppo_section(run, out, base) if run.kind == "ppo" else training_section(run, out, base)


def write_report(run_dirs: Sequence[Path], out: Path | None) -> Path:
    """Write the report; returns the path of ``report.md``. Every directory is read before anything is written."""
    runs = [load_run(path) for path in run_dirs]
    if len(runs) > 1 and out is None:
        raise ReportError(NEEDS_OUT_MESSAGE.format(count=len(runs)))
    if len(runs) == 1:
        base = out if out is not None else runs[0].path / "report"
        body = section(runs[0], base, base)
        title = f"# Report: {runs[0].label}\n\n"
    else:
        base = out
        base.mkdir(parents=True, exist_ok=True)
        training = [run for run in runs if run.kind == "training"]
        body = ""
        if len(training) > 1:
            body += "## Comparison\n\n" + markdown_table(compare.comparison_rows(training)) + "\n"
            body += _image(compare.overlay(training, base), base, "runs compared")
        names = _unique_names(runs)
        for run, name in zip(runs, names, strict=True):
            body += section(run, base / name, base)
        title = f"# Report: {len(runs)} runs\n\n"
    path = base / "report.md"
    path.write_text(title + body, encoding="utf-8")
    return path


def _unique_names(runs: Sequence[RunRecord]) -> list[str]:
    names: list[str] = []
    for index, run in enumerate(runs):
        name = run.name if run.name not in names else f"{run.name}-{index}"
        names.append(name)
    return names
