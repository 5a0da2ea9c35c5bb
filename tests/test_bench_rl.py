"""`bench rl`'s figures from the protocol's rows: the paired comparison of policy and heuristic."""

from __future__ import annotations

import pytest

from esper_shell.bench.rl import versus
from esper_shell.outcome import ArmSummary

SEEDS = (1000, 1001, 1002)


def _row(arm: str, finals: tuple[float, ...]) -> ArmSummary:
    return ArmSummary(
        task="mnist1d",
        arm=arm,
        n_seeds=len(finals),
        final_acc_mean=sum(finals) / len(finals),
        final_acc_std=0.0,
        params_mean=0.0,
        paired_diff_mean=None,
        paired_diff_ci95=None,
        wins=None,
        seeds=SEEDS,
        final_acc=finals,
        paired_diffs=None,
    )


def test_policy_minus_heuristic_is_paired_by_seed() -> None:
    rows = [
        _row("static", (80.0, 80.0, 80.0)),
        _row("heuristic", (90.0, 85.0, 88.0)),
        _row("policy", (91.0, 85.5, 87.0)),
    ]
    result = versus(rows, "policy", "heuristic")
    assert result["mean"] == pytest.approx((1.0 + 0.5 - 1.0) / 3)
    assert result["wins"] == 2 and result["n"] == 3
    low, high = result["ci95"]
    assert low < result["mean"] < high
