"""Figures of one training run: curves with lifecycle marks, slot swimlanes, parameters, contributions."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window: reports run on servers and in CI

import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from esper_shell.report.read import RunRecord  # noqa: E402

DPI = 110
STAGE_COLOURS = {
    "GERMINATED": "#c6dbef",
    "TRAINING": "#9ecae1",
    "BLENDING": "#dadaeb",
    "PROBATIONARY": "#fdd0a2",
    "FOSSILIZED": "#a1d99b",
    "CULLED": "#fcbba1",
    "EMBARGOED": "#e0e0e0",
}
# Lifecycle marks on the curves: (label, colour, line style).
MARKS = {
    "germinate": ("germinate", "#3182bd", "--"),
    "fossilize": ("fossilize", "#31a354", "-"),
    "cull": ("cull", "#de2d26", ":"),
    "rollback": ("rollback", "#000000", "-."),
}

# Stages with a seed module, where alpha means something.
MODULE_STAGES = frozenset({"GERMINATED", "TRAINING", "BLENDING", "PROBATIONARY", "FOSSILIZED"})
MARK_OF_STAGE = {"FOSSILIZED": "fossilize", "CULLED": "cull"}


def lifecycle_marks(run: RunRecord) -> list[tuple[int, str, str | None]]:
    """(epoch, mark kind, slot) for each germination, fossilization, cull and rollback.

    Read from the slot snapshots when the run has them, so a mark sits at the epoch whose
    end the change happened at, as the swimlanes draw it (lifecycle events made by a
    decision carry the model's epoch counter, already one ahead at that point).
    """
    marks: list[tuple[int, str, str | None]] = [(e["epoch"], "rollback", None) for e in run.of("rollback")]
    snapshots = run.of("slot")
    if snapshots:
        seen: set[tuple[str, str]] = set()
        for event in snapshots:
            stage, seed = event["payload"]["stage"], event["seed_id"]
            kind = "germinate" if (seed, "any") not in seen else MARK_OF_STAGE.get(stage)
            seen.add((seed, "any"))
            if kind is not None and (seed, kind) not in seen:
                seen.add((seed, kind))
                marks.append((event["epoch"], kind, event["slot_id"]))
        return sorted(marks)
    for event in run.of("stage_entered"):
        kind = {"GERMINATED": "germinate", **MARK_OF_STAGE}.get(event["payload"]["to"])
        if kind is not None:
            marks.append((event["epoch"], kind, event["slot_id"]))
    return sorted(marks)


def _mark(ax: Any, marks: list[tuple[int, str, str | None]], *, with_labels: bool) -> None:
    seen = set()
    for epoch, kind, _slot in marks:
        label, colour, style = MARKS[kind]
        ax.axvline(
            epoch,
            color=colour,
            linestyle=style,
            linewidth=1.0,
            alpha=0.8,
            label=label if with_labels and kind not in seen else None,
        )
        seen.add(kind)


def save(fig: Any, path: Path) -> Path:
    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs and updates are whole numbers
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def curves(run: RunRecord, out: Path) -> Path:
    epochs = run.epochs
    x = [e["epoch"] for e in epochs]
    marks = lifecycle_marks(run)
    fig, (acc_ax, loss_ax) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    acc_ax.plot(x, [e["val_accuracy"] for e in epochs], color="#08519c", linewidth=1.8, label="validation accuracy")
    _mark(acc_ax, marks, with_labels=True)
    acc_ax.set_ylabel("validation accuracy (%)")
    acc_ax.set_title(f"{run.label}: accuracy and loss, lifecycle events marked")
    acc_ax.grid(alpha=0.3)
    acc_ax.legend(loc="lower right", fontsize=8, ncol=2)
    loss_ax.plot(x, [e["train_loss"] for e in epochs], color="#e6550d", linewidth=1.5, label="train loss")
    loss_ax.plot(x, [e["val_loss"] for e in epochs], color="#756bb1", linewidth=1.5, label="validation loss")
    _mark(loss_ax, marks, with_labels=False)
    loss_ax.set_ylabel("loss")
    loss_ax.set_xlabel("epoch")
    loss_ax.grid(alpha=0.3)
    loss_ax.legend(loc="upper right", fontsize=8)
    return save(fig, out / "curves.png")


def _segments(run: RunRecord) -> dict[str, list[dict[str, Any]]]:
    """Slot events per slot, in epoch order."""
    per_slot: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in run.of("slot"):
        per_slot[event["slot_id"]].append(event)
    return per_slot


def slot_order(run: RunRecord) -> list[str]:
    slots = run.config.get("slots") or sorted({e["slot_id"] for e in run.of("slot")})
    return list(slots)


def swimlanes(run: RunRecord, out: Path) -> Path | None:
    """One lane per slot: the stage as a coloured band per epoch, alpha as a line inside, blueprint named.

    None when no seed ever occupied a slot (a static run): an empty chart says nothing.
    """
    slots = slot_order(run)
    per_slot = _segments(run)
    if not per_slot:
        return None
    last_epoch = max((e["epoch"] for e in run.epochs), default=0) + 1
    height = 0.8
    fig, ax = plt.subplots(figsize=(10, 1.0 + 0.9 * len(slots)))
    used_stages: set[str] = set()
    for row, slot_id in enumerate(reversed(slots)):
        bottom = row - height / 2
        events = per_slot.get(slot_id, [])
        for event in events:
            stage = event["payload"]["stage"]
            used_stages.add(stage)
            ax.add_patch(
                plt.Rectangle((event["epoch"], bottom), 1.0, height, color=STAGE_COLOURS.get(stage, "#ffffff"), lw=0)
            )
        # alpha inside the band: 0 at its bottom edge, 1 at its top, drawn per seed
        by_seed: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            by_seed[event["seed_id"]].append(event)
        for seed_events in by_seed.values():
            seed_events = [e for e in seed_events if e["payload"]["stage"] in MODULE_STAGES]
            if not seed_events:
                continue
            xs = [e["epoch"] + 0.5 for e in seed_events]
            ys = [bottom + height * e["payload"]["alpha"] for e in seed_events]
            ax.plot(xs, ys, color="#252525", linewidth=1.3)
            first = seed_events[0]
            ax.text(
                first["epoch"] + 0.2,
                row + height / 2 - 0.05,
                first["payload"]["blueprint"],
                fontsize=8,
                va="top",
                ha="left",
                color="#252525",
                clip_on=True,
            )
    ax.set_yticks(range(len(slots)), list(reversed(slots)))
    ax.set_ylim(-0.6, len(slots) - 0.4)
    ax.set_xlim(0, last_epoch)
    ax.set_xlabel("epoch (state at its end)")
    ax.set_title(f"{run.label}: slot lifecycles (band: stage, line: alpha 0 to 1, text: blueprint)")
    handles = [Patch(color=STAGE_COLOURS[s], label=s.lower()) for s in STAGE_COLOURS if s in used_stages]
    handles.append(plt.Line2D([], [], color="#252525", label="alpha"))
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.18 - 0.05 / max(1, len(slots))),
        ncol=len(handles),
        fontsize=8,
        frameon=False,
    )
    ax.grid(axis="x", alpha=0.3)
    return save(fig, out / "swimlanes.png")


def parameters(run: RunRecord, out: Path) -> Path:
    epochs = run.epochs
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.plot(
        [e["epoch"] for e in epochs],
        [e["params"] for e in epochs],
        color="#08519c",
        linewidth=1.8,
        label="total parameters",
    )
    finished = run.finished
    if finished is not None and finished.get("host_params") is not None:
        ax.axhline(finished["host_params"], color="#969696", linestyle="--", linewidth=1.0, label="host alone")
    _mark(ax, lifecycle_marks(run), with_labels=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel("parameters")
    ax.set_title(f"{run.label}: parameters over epochs")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, ncol=2)
    return save(fig, out / "parameters.png")


def contributions(run: RunRecord, out: Path) -> Path | None:
    """Each seed's counterfactual contribution per epoch; Shapley values beside it when measured."""
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    names: dict[str, str] = {}
    blended: dict[str, bool] = {}
    for event in run.of("slot"):
        payload, seed = event["payload"], event["seed_id"]
        # Measured at epoch e's validation only if the seed was blended in then, i.e. after epoch e - 1.
        if blended.get(seed) and payload["contribution"] is not None:
            series[seed].append((event["epoch"], payload["contribution"]))
            names[seed] = f"{event['slot_id']} {payload['blueprint']}"
        blended[seed] = payload["stage"] in ("BLENDING", "PROBATIONARY") and payload["alpha"] > 0.0
    shapley: dict[str, list[tuple[int, float, float | None]]] = defaultdict(list)
    for event in run.of("shapley"):
        shapley[event["seed_id"]].append((event["epoch"], event["payload"]["value"], event["payload"]["stderr"]))
        names.setdefault(event["seed_id"], f"{event['slot_id']} {event['payload']['blueprint']}")
    if not series and not shapley:
        return None
    panels = 2 if shapley else 1
    fig, axes = plt.subplots(panels, 1, figsize=(9, 3.6 * panels), sharex=True, squeeze=False)
    ax = axes[0][0]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colour = {seed: colours[i % len(colours)] for i, seed in enumerate(sorted(names))}
    for seed, points in series.items():
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker="o",
            markersize=3,
            color=colour[seed],
            label=names[seed],
        )
    ax.axhline(0.0, color="#969696", linewidth=0.8)
    ax.set_ylabel("accuracy lost without it (pts)")
    ax.set_title(f"{run.label}: contribution of each blended seed (counterfactual, at validation)")
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=8, loc="best")
    if shapley:
        sax = axes[1][0]
        for seed, points in shapley.items():
            errors = [0.0 if p[2] is None else 1.96 * p[2] for p in points]
            sax.errorbar(
                [p[0] for p in points],
                [p[1] for p in points],
                yerr=errors,
                marker="s",
                markersize=4,
                capsize=3,
                color=colour[seed],
                label=names[seed],
            )
        sax.axhline(0.0, color="#969696", linewidth=0.8)
        sax.set_ylabel("Shapley value (pts)")
        sax.set_title("Shapley values of the blended seeds (bars: 95% interval when sampled)")
        sax.grid(alpha=0.3)
        sax.legend(fontsize=8, loc="best")
    axes[-1][0].set_xlabel("epoch")
    return save(fig, out / "contributions.png")


def blueprint_table(run: RunRecord) -> list[dict[str, Any]]:
    """Per blueprint: germinated, fossilized, culled, mean last contribution, mean seed parameters."""
    rows: dict[str, dict[str, Any]] = defaultdict(lambda: {"germinated": 0, "fossilized": 0, "culled": 0})
    for event in run.of("stage_entered"):
        payload = event["payload"]
        counter = {"GERMINATED": "germinated", "FOSSILIZED": "fossilized", "CULLED": "culled"}.get(payload["to"])
        if counter is not None:
            rows[payload["blueprint"]][counter] += 1
    last_contribution: dict[str, tuple[str, float]] = {}
    params: dict[str, tuple[str, int]] = {}
    for event in run.of("slot"):
        payload = event["payload"]
        if payload["contribution"] is not None:
            last_contribution[event["seed_id"]] = (payload["blueprint"], payload["contribution"])
        params[event["seed_id"]] = (payload["blueprint"], payload["seed_params"])
    table = []
    for blueprint in sorted(rows):
        contribs = [v for b, v in last_contribution.values() if b == blueprint]
        sizes = [v for b, v in params.values() if b == blueprint]
        table.append(
            {
                "blueprint": blueprint,
                **rows[blueprint],
                "mean contribution": sum(contribs) / len(contribs) if contribs else None,
                "parameters": round(sum(sizes) / len(sizes)) if sizes else None,
            }
        )
    return table
