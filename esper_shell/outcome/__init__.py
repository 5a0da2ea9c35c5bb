"""Does growing pay? The paired outcome protocol (docs/benchmarks.md, "Paired outcome protocol").

``compare(task, arms, seeds)`` runs the static host and every arm on the same seeds;
``summarize`` turns that into rows with paired differences, 95 % t-intervals and win counts;
``static_baseline(task, config, seed)`` is the cached static run that the protocol and the
learned controller's reward share.
"""

from esper_shell.outcome.architecture import (
    Architecture,
    architecture_of,
    architecture_of_run,
    start_from_scratch,
)
from esper_shell.outcome.arms import (
    FROM_SCRATCH,
    HEURISTIC,
    STATIC,
    Arm,
    ArmRun,
    fixed_arm,
    from_scratch_arm,
    heuristic_arm,
    policy_arm,
)
from esper_shell.outcome.cache import StaticBaseline, cache_key, default_cache_dir, static_baseline
from esper_shell.outcome.protocol import ArmSummary, TaskOutcome, compare, summarize
from esper_shell.outcome.stats import PairedDifference, paired_difference, t_quantile

__all__ = [
    "FROM_SCRATCH",
    "HEURISTIC",
    "STATIC",
    "Architecture",
    "Arm",
    "ArmRun",
    "ArmSummary",
    "PairedDifference",
    "StaticBaseline",
    "TaskOutcome",
    "architecture_of",
    "architecture_of_run",
    "cache_key",
    "compare",
    "default_cache_dir",
    "fixed_arm",
    "from_scratch_arm",
    "heuristic_arm",
    "paired_difference",
    "policy_arm",
    "start_from_scratch",
    "static_baseline",
    "summarize",
    "t_quantile",
]
