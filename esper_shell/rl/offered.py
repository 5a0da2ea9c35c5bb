"""The blueprints a policy chooses among: the task's choice, less seeds that cannot pass the gates.

A seed without parameters (``noop``) has no gradients, so gate G2 never passes: it holds
its slot and a unit of the seed budget until culled, and a policy that picks it has only
wasted the decision (upstream esper-lite removes it for the same reason). A task preset
names the blueprints its controllers grow (``HeuristicConfig.blueprints``); offering the
policy others (``norm``, ``attention`` on a CNN task) only widens the search over seeds the
task has already ruled out. A policy's layout records the list, so a run loading it offers
the same choices.
"""

from __future__ import annotations

from collections.abc import Sequence

from esper_shell.blueprints import blueprint_names, get_blueprint
from esper_shell.tasks import TaskPreset

# Channel widths a blueprint's parameter count is probed at: a seed offered must have
# parameters at every width a host may give it.
PROBE_CHANNELS = (1, 8, 64)


def can_pass_gates(topology: str, name: str) -> bool:
    """Whether a seed of this blueprint has parameters (a gradient for G2) at every probed width."""
    spec = get_blueprint(topology, name)
    return all(spec.param_count(channels) > 0 for channels in PROBE_CHANNELS)


def offered_blueprints(topology: str, preferred: Sequence[str] | None = None) -> tuple[str, ...]:
    """``preferred`` (else the registry's, in registry order) that the topology knows and that can pass the gates."""
    known = blueprint_names(topology)
    candidates = known if preferred is None else tuple(name for name in preferred if name in known)
    return tuple(name for name in candidates if can_pass_gates(topology, name))


def preset_blueprints(preset: TaskPreset) -> tuple[str, ...]:
    """What a policy for this task chooses among: its heuristic's blueprints, else every useful one."""
    return offered_blueprints(preset.topology, preset.heuristic.blueprints)
