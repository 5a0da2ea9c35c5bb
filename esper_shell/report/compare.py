"""Several training runs side by side: overlaid curves and a comparison table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from esper_shell.report.read import RunRecord
from esper_shell.report.training_plots import plt, save

LINE_STYLES = ("-", "--", ":", "-.")


def comparison_rows(runs: list[RunRecord]) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        epochs = run.epochs
        finished = run.finished or {}
        germinated = sum(1 for e in run.of("stage_entered") if e["payload"]["to"] == "GERMINATED")
        fossilized = sum(1 for e in run.of("stage_entered") if e["payload"]["to"] == "FOSSILIZED")
        rows.append(
            {
                "run": run.label,
                "epochs": len(epochs),
                "final accuracy %": epochs[-1]["val_accuracy"] if epochs else None,
                "best accuracy %": max((e["val_accuracy"] for e in epochs), default=None),
                "parameters": epochs[-1]["params"] if epochs else None,
                "seeds germinated": germinated,
                "seeds fossilized": fossilized,
                "seconds": finished.get("seconds", sum(e["seconds"] for e in epochs)),
            }
        )
    return rows


def overlay(runs: list[RunRecord], out: Path) -> Path:
    fig, (acc_ax, param_ax) = plt.subplots(2, 1, figsize=(9, 7), sharex=True, height_ratios=(2, 1))
    for index, run in enumerate(runs):
        epochs = run.epochs
        x = [e["epoch"] for e in epochs]
        # Distinct dashes: runs that coincide (a policy that culls every seed trains the static host) stay visible.
        style = LINE_STYLES[index % len(LINE_STYLES)]
        (line,) = acc_ax.plot(x, [e["val_accuracy"] for e in epochs], linewidth=1.6, linestyle=style, label=run.label)
        param_ax.plot(x, [e["params"] for e in epochs], linewidth=1.6, linestyle=style, color=line.get_color())
    acc_ax.set_ylabel("validation accuracy (%)")
    acc_ax.set_title(f"{len(runs)} runs compared")
    acc_ax.grid(alpha=0.3)
    acc_ax.legend(fontsize=8, loc="lower right")
    param_ax.set_ylabel("parameters")
    param_ax.set_xlabel("epoch")
    param_ax.grid(alpha=0.3)
    return save(fig, out / "comparison.png")
