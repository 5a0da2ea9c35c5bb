"""A trained policy as a ``Controller``: it drives ``esper-train heuristic --policy FILE``.

It acts greedily (the most likely legal action at each head): deployment should do what
the policy thinks best, not explore. Its observation layout is built from the run's own
slots, so a policy trained on three slots decides for a six-slot host; the file's feature
names must match the run's, and the blueprints it chooses among (its task's offer, often
fewer than the host knows) must all be known to the host (see ``policy_file``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import torch

from esper_core import FactoredAction, GateConfig, NoState, Observation, SlotConfig
from esper_core.features import FeatureLayout, feature_layout
from esper_shell.checkpoint import safe_torch_load
from esper_shell.rl.batch import factored_actions, observe
from esper_shell.rl.policy_file import Policy, policy_from_payload, saved_blueprints


@attrs.frozen(eq=False)
class PolicyController:
    """Implements ``Controller[NoState]``: the policy is fixed, so there is nothing to remember."""

    policy: Policy
    layout: FeatureLayout
    gates: GateConfig

    def initial_state(self) -> NoState:
        return NoState()

    def decide(self, state: NoState, observation: Observation) -> tuple[FactoredAction, NoState]:
        policy = self.policy
        raw, masks = observe([observation], self.layout, policy.features, self.gates)
        with torch.no_grad():
            inputs = policy.normaliser.normalise(raw)
            step = policy.network.act(inputs, masks, mask_value=policy.mask_value, greedy=True)
        return factored_actions(step.actions, self.layout.blueprints)[0], state


def load_policy_controller(
    path: Path, model_slots: SlotConfig, blueprints: Sequence[str], *, gates: GateConfig
) -> PolicyController:
    """The controller for a run with ``model_slots`` and a host offering ``blueprints``.

    ``gates`` must be the run's own (``config.lifecycle.gates``): the masks then allow a
    FOSSILIZE exactly when the run's gate G5 will accept it.
    """
    payload = safe_torch_load(path)
    offered = saved_blueprints(payload, path=Path(path))
    # A policy offered blueprints the host lacks is compared with the host's list, which names both.
    chosen = offered if all(name in blueprints for name in offered) else tuple(blueprints)
    layout = feature_layout(model_slots, chosen)
    policy = policy_from_payload(payload, layout, path=Path(path), same_slots=False)
    return PolicyController(policy=policy, layout=layout, gates=gates)
