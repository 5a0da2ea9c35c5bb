"""The controller of the ``static`` baseline: the same run, but nothing ever grows."""

from __future__ import annotations

import attrs

from esper_core.action_space import FactoredAction, LifecycleOp
from esper_core.observation import Observation


@attrs.frozen
class NoState:
    """A controller without memory still checkpoints a (trivial) state."""


@attrs.frozen
class StaticController:
    """Implements ``Controller[NoState]`` by waiting every epoch."""

    def initial_state(self) -> NoState:
        return NoState()

    def decide(self, state: NoState, observation: Observation) -> tuple[FactoredAction, NoState]:
        return FactoredAction(op=LifecycleOp.WAIT), state
