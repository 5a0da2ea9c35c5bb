"""Figures of one PPO run: return, final accuracy, entropy and KL per update; the action mix."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from esper_core import LifecycleOp
from esper_shell.report.read import RunRecord
from esper_shell.report.training_plots import plt, save

ACTION_COLOURS = {"wait": "#bdbdbd", "germinate": "#3182bd", "fossilize": "#31a354", "cull": "#de2d26"}


def learning_curves(run: RunRecord, out: Path) -> Path:
    updates = [event["payload"] for event in run.of("update")]
    x = [u["update"] for u in updates]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), sharex=True)
    panels = (
        ("mean_reward", "mean episode return", "#08519c"),
        ("mean_final_accuracy", "mean final accuracy (%)", "#31a354"),
        ("entropy", "policy entropy", "#756bb1"),
        ("approx_kl", "approx. KL to the old policy", "#e6550d"),
    )
    for ax, (key, label, colour) in zip(axes.flat, panels, strict=True):
        ax.plot(x, [u[key] for u in updates], marker="o", markersize=3, color=colour)
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("PPO update")
    fig.suptitle(f"{run.label}: learning curves ({updates[-1]['episodes'] if updates else 0} episodes)")
    fig.tight_layout()
    return save(fig, out / "ppo_curves.png")


def action_mix(run: RunRecord, out: Path) -> Path | None:
    """Fraction of each lifecycle op among the actions taken, per update (all envs together)."""
    totals: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(ACTION_COLOURS, 0))
    for event in run.of("episode"):
        for op in ACTION_COLOURS:
            totals[event["epoch"]][op] += event["payload"][f"actions_{op}"]
    if not totals:
        return None
    updates = sorted(totals)
    fig, ax = plt.subplots(figsize=(10, 3.8))
    bottom = [0.0] * len(updates)
    for op in (o.name.lower() for o in LifecycleOp):
        shares = [totals[u][op] / max(1, sum(totals[u].values())) for u in updates]
        ax.bar(updates, shares, bottom=bottom, color=ACTION_COLOURS[op], label=op, width=0.8)
        bottom = [b + s for b, s in zip(bottom, shares, strict=True)]
    ax.set_ylim(0, 1)
    ax.set_xlabel("PPO update")
    ax.set_ylabel("share of actions")
    ax.set_title(f"{run.label}: action mix per update")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=4, fontsize=8, frameon=False)
    return save(fig, out / "action_mix.png")
