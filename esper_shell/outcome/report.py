"""The outcome protocol's outputs: a text table, the JSON rows, and a PNG of the paired differences."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from esper_shell.outcome.protocol import ArmSummary

# How far apart dots of one arm spread sideways, so that equal differences stay visible.
JITTER = 0.12


def to_json_rows(rows: Sequence[ArmSummary]) -> list[dict[str, Any]]:
    return [json.loads(json.dumps(attrs.asdict(row))) for row in rows]


def write_json(path: Path, rows: Sequence[ArmSummary]) -> None:
    Path(path).write_text(json.dumps(to_json_rows(rows), indent=2) + "\n", encoding="utf-8")


def table(rows: Sequence[ArmSummary]) -> str:
    """Markdown, so that it pastes into docs/benchmarks.md as it is."""
    lines = [
        "| task | arm | n | final acc % | params | − static (points), 95 % CI | better in |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.paired_diff_mean is None or row.paired_diff_ci95 is None:
            paired, wins = "", ""
        else:
            low, high = row.paired_diff_ci95
            paired = f"{row.paired_diff_mean:+.2f} [{low:+.2f}, {high:+.2f}]"
            wins = f"{row.wins}/{row.n_seeds}"
        lines.append(
            f"| {row.task} | {row.arm} | {row.n_seeds} | {row.final_acc_mean:.2f} ± {row.final_acc_std:.2f} "
            f"| {row.params_mean:.0f} | {paired} | {wins} |"
        )
    return "\n".join(lines)


def plot(path: Path, rows: Sequence[ArmSummary]) -> None:
    """One panel per task: per arm, one dot per seed (arm − static), the mean and its 95 % interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(row.task for row in rows))
    figure, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 4.2), squeeze=False)
    for axis, task in zip(axes[0], tasks):
        compared = [row for row in rows if row.task == task and row.paired_diffs is not None]
        for index, row in enumerate(compared):
            count = len(row.paired_diffs or ())
            offsets = [JITTER * (2 * i / max(1, count - 1) - 1) for i in range(count)]
            axis.scatter([index + o for o in offsets], row.paired_diffs, s=18, alpha=0.6, color="tab:blue", zorder=2)
            low, high = row.paired_diff_ci95 or (0.0, 0.0)
            mean = row.paired_diff_mean or 0.0
            axis.errorbar(
                [index + 0.3], [mean], yerr=[[mean - low], [high - mean]], fmt="D", color="black", capsize=4, zorder=3
            )
        axis.axhline(0.0, color="grey", linewidth=1, linestyle="--", zorder=1)
        axis.set_xticks(range(len(compared)), [f"{row.arm}\n{row.wins}/{row.n_seeds} better" for row in compared])
        axis.set_xlim(-0.6, len(compared) - 0.4)
        n = compared[0].n_seeds if compared else 0
        axis.set_title(f"{task}: arm − static, {n} paired seeds")
        axis.set_ylabel("final accuracy difference (points)")
        axis.grid(axis="y", alpha=0.3)
    figure.text(0.01, 0.01, "dots: seeds; diamond: mean with 95 % t-interval", fontsize=8, color="dimgrey")
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    figure.savefig(path, dpi=120)
    plt.close(figure)
