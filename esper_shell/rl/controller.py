"""A trained policy as a ``Controller``: it drives ``esper-train heuristic --policy FILE``.

It acts greedily (the most likely legal action at each head): deployment should do what
the policy thinks best, not explore. Its observation layout is built from the run's own
slots, so a policy trained on three slots decides for a six-slot host; the file's feature
names and blueprints must match the run's (see ``policy_file``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import torch

from esper_core import FactoredAction, GateConfig, NoState, Observation, SlotConfig
from esper_core.features import FeatureLayout, feature_layout
from esper_shell.rl.batch import factored_actions, observe
from esper_shell.rl.policy_file import Policy, load_policy


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
    layout = feature_layout(model_slots, blueprints)
    return PolicyController(policy=load_policy(path, layout), layout=layout, gates=gates)
