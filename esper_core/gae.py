"""Generalised advantage estimation (Schulman et al., 2016) over one time-ordered trajectory.

    delta_t = r_t + gamma * bootstrap_t - V(s_t)
    A_t     = delta_t + gamma * lam * A_{t+1}      (A_{t+1} taken as 0 across an episode end)
    R_t     = A_t + V(s_t)

``bootstrap_t`` is ``V(s_{t+1})`` (``next_values[t]``), except at a terminated step, where
nothing follows and it is 0. A truncated step (a time limit, or the end of the collected
rollout) still bootstraps from ``V(s_{t+1})``: the episode would have gone on, so treating
the cut as an end would teach the value function that time limits are worthless states.
Either way the trace is not carried across the boundary: step t+1 belongs to another episode.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from esper_core.errors import ConfigError

LENGTH_MESSAGE = (
    "gae needs one entry per step in every sequence; got rewards={rewards}, values={values}, "
    "next_values={next_values}, terminated={terminated}, truncated={truncated}."
)
DISCOUNT_MESSAGE = "gae needs 0 <= {name} <= 1, got {name}={value!r}."


def gae(
    rewards: Sequence[float],
    values: Sequence[float],
    next_values: Sequence[float],
    terminated: Sequence[bool],
    truncated: Sequence[bool],
    *,
    gamma: float,
    lam: float,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(advantages, returns) for one trajectory, in time order.

    Sequences of different lengths are a caller bug: a plain ``ValueError`` that keeps its
    traceback. A discount outside [0, 1] is a bad setting: a ``ConfigError``.
    """
    lengths = {len(rewards), len(values), len(next_values), len(terminated), len(truncated)}
    if len(lengths) != 1:
        raise ValueError(
            LENGTH_MESSAGE.format(
                rewards=len(rewards),
                values=len(values),
                next_values=len(next_values),
                terminated=len(terminated),
                truncated=len(truncated),
            )
        )
    for name, value in (("gamma", gamma), ("lam", lam)):
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ConfigError(DISCOUNT_MESSAGE.format(name=name, value=value))
    advantages = [0.0] * len(rewards)
    following = 0.0
    for t in reversed(range(len(rewards))):
        bootstrap = 0.0 if terminated[t] else next_values[t]
        delta = rewards[t] + gamma * bootstrap - values[t]
        carried = 0.0 if terminated[t] or truncated[t] else following
        following = delta + gamma * lam * carried
        advantages[t] = following
    returns = tuple(advantage + value for advantage, value in zip(advantages, values, strict=True))
    return tuple(advantages), returns
