"""A warm start for PPO: find the best of a few written controllers, then imitate it.

PPO from a uniform policy spends its first hundreds of episodes culling seeds before they
pay. Here the run's own envs (same seeds, same reward) first play candidate controllers: the
task's heuristic and every per-episode plan of ``esper_core.plans``; successive halving
keeps the best (by mean episode return, which under the accuracy-gap reward is the final
accuracy gap to the paired static run less rent). The policy then imitates the winner's
decisions (behaviour cloning: the log-likelihood of its actions under the exact masks),
and PPO goes on from there. Every episode played here is an ordinary training episode of
the run's envs; they are counted in the report, not in ``episodes_done``, which counts
PPO's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import torch

from esper_core import ConfigError, Controller, FixedScheduleController, HeuristicController, check_blueprints
from esper_core.plans import candidate_plans, plan_name, survivors
from esper_shell.errors import unwrap
from esper_shell.rl.batch import (
    GERMINATE_INDEX,
    WAIT_INDEX,
    ActionBatch,
    MaskBatch,
    ObservationBatch,
    action_batch,
    concat,
    observe,
)
from esper_shell.rl.train import PPORun
from esper_shell.tasks import get_task

# Start epochs a plan may begin at: at once, at the heuristic's first chance, and a little later.
DEFAULT_START_EPOCHS = (0, 1, 3)
POOL_MESSAGE = (
    "The warm start's halving rounds need {needed} distinct training seeds, but the seed pool has {pool}: "
    "raise PPOConfig.seed_pool (--seed-pool) to {needed}, or play fewer episodes per round."
)
DISTRIBUTED_MESSAGE = (
    "The warm start runs in one process: under torchrun ({world} ranks) each rank would search on its own "
    "envs and could pick another winner. Warm-start without torchrun (--workers gives parallel envs)."
)
IMITATION_STEPS = 300
IMITATION_LR = 3e-3

ControllerFactory = Callable[[], Controller[Any]]


@attrs.frozen(eq=False)
class Demonstrations:
    """A controller's decisions, one row per env step: raw features, exact masks, the action taken."""

    observations: ObservationBatch
    masks: MaskBatch
    actions: ActionBatch

    @classmethod
    def joined(cls, parts: Sequence[Demonstrations]) -> Demonstrations:
        return cls(
            observations=concat([part.observations for part in parts]),
            masks=concat([part.masks for part in parts]),
            actions=concat([part.actions for part in parts]),
        )


@attrs.frozen(eq=False)
class SearchResult:
    best: str
    # Every candidate's episode returns, in the rounds it survived; the winner's are the most.
    returns: dict[str, tuple[float, ...]]
    episodes: int
    demonstrations: Demonstrations
    # False when the search ran out of time and kept the best survivor of the rounds played.
    complete: bool


@attrs.frozen(eq=False)
class WarmStart:
    search: SearchResult
    # The share of the winner's decisions the greedy policy matches after imitation.
    agreement: float


def warm_start(run: PPORun, *, resets_per_round: int = 1, out_of_time: Callable[[], bool] = lambda: False) -> WarmStart:
    """Search the default candidates on ``run``'s envs, then imitate the winner: ``run.policy`` is changed."""
    result = search(run, default_candidates(run), resets_per_round=resets_per_round, out_of_time=out_of_time)
    return WarmStart(search=result, agreement=imitate(run, result.demonstrations))


def default_candidates(run: PPORun, start_epochs: Sequence[int] = DEFAULT_START_EPOCHS) -> dict[str, ControllerFactory]:
    """The task's heuristic and every plan over the run's slots and offered blueprints."""
    heuristic = get_task(run.config.task).heuristic
    gates = run.config.lifecycle.gates
    checked = unwrap(check_blueprints(heuristic, run.layout.blueprints))
    candidates: dict[str, ControllerFactory] = {"heuristic": lambda: HeuristicController(checked, gates)}
    for plan in candidate_plans(
        run.config.slots, run.layout.blueprints, start_epochs=start_epochs, max_seeds=run.config.max_seeds
    ):
        candidates[plan_name(plan)] = lambda plan=plan: FixedScheduleController(
            schedule=plan, gates=gates, blend=heuristic.blend
        )
    return candidates


def play(run: PPORun, controller: ControllerFactory, first_episode: int) -> tuple[list[float], Demonstrations]:
    """Episodes ``first_episode ..`` (one per env) under ``controller``: their returns and its decisions."""
    envs, layout, gates = run.envs, run.layout, run.config.lifecycle.gates
    controllers = [controller() for _ in range(envs.n_envs)]
    states = [c.initial_state() for c in controllers]
    observations = envs.reset(first_episode)
    returns = [0.0] * envs.n_envs
    rows: list[Demonstrations] = []
    for _step in range(run.ppo.episode_epochs):
        decided = [c.decide(state, o) for c, state, o in zip(controllers, states, observations, strict=True)]
        actions, states = [action for action, _ in decided], [state for _, state in decided]
        raw, masks = observe(observations, layout, run.ppo.features, gates)
        rows.append(Demonstrations(raw, masks, action_batch(actions, layout.blueprints)))
        results = envs.step(actions)
        returns = [total + result.reward.total for total, result in zip(returns, results, strict=True)]
        observations = tuple(result.observation for result in results)
    return returns, Demonstrations.joined(rows)


def search(
    run: PPORun,
    candidates: Mapping[str, ControllerFactory],
    *,
    resets_per_round: int = 1,
    out_of_time: Callable[[], bool] = lambda: False,
) -> SearchResult:
    """Successive halving: each round plays every survivor on the same new seeds.

    A round is ``resets_per_round`` episodes per env, on seeds no earlier round used: a seed
    played again replays the same episode, so it would add no evidence. When ``out_of_time()``
    says so before a round, the search ends early with the best survivor so far
    (``complete`` False).
    """
    if run.collective.world_size != 1:
        raise ConfigError(DISTRIBUTED_MESSAGE.format(world=run.collective.world_size), value=run.collective.world_size)
    needed = halving_rounds(len(candidates)) * resets_per_round * run.envs.n_envs
    pool = run.ppo.seed_pool
    if pool is not None and needed > pool:
        raise ConfigError(POOL_MESSAGE.format(needed=needed, pool=pool), value=pool)
    returns: dict[str, list[float]] = {name: [] for name in candidates}
    demos: dict[str, list[Demonstrations]] = {name: [] for name in candidates}
    alive, episode, played, complete = tuple(candidates), 0, 0, True
    while True:
        if played and out_of_time():
            alive, complete = survivors({name: returns[name] for name in alive})[:1], False
            break
        for name in alive:
            for reset in range(resets_per_round):
                episode_returns, decisions = play(run, candidates[name], episode + reset * run.envs.n_envs)
                returns[name] += episode_returns
                demos[name].append(decisions)
                played += run.envs.n_envs
        episode += resets_per_round * run.envs.n_envs
        if len(alive) == 1:  # the winner's last round: more seeds to judge and imitate it by
            break
        alive = survivors({name: returns[name] for name in alive})
    (best,) = alive
    return SearchResult(
        best=best,
        returns={name: tuple(values) for name, values in returns.items()},
        episodes=played,
        demonstrations=Demonstrations.joined(demos[best]),
        complete=complete,
    )


def halving_rounds(candidates: int) -> int:
    """Rounds until one candidate is left: the first with all, then each with the better half."""
    rounds = 1
    while candidates > 1:
        candidates, rounds = (candidates + 1) // 2, rounds + 1
    return rounds


def imitate(run: PPORun, demonstrations: Demonstrations, *, steps: int = IMITATION_STEPS) -> float:
    """Fit the policy to the demonstrated actions; returns the share its greedy choice now matches.

    The observation normaliser first takes in the demonstrations' features, as PPO's rollouts
    would have; the critic is left to PPO, which fits it on its first rollouts.
    """
    policy, network = run.policy, run.policy.network
    policy.normaliser.update(demonstrations.observations)
    inputs = policy.normaliser.normalise(demonstrations.observations)
    optimizer = torch.optim.Adam(network.parameters(), lr=IMITATION_LR)
    for _ in range(steps):
        likelihood = network.evaluate_actions(
            inputs, demonstrations.actions, demonstrations.masks, mask_value=policy.mask_value
        ).log_prob
        optimizer.zero_grad(set_to_none=True)
        (-likelihood.mean()).backward()
        optimizer.step()
    with torch.no_grad():
        chosen = network.act(inputs, demonstrations.masks, mask_value=policy.mask_value, greedy=True).actions
    return agreement(chosen, demonstrations.actions)


def agreement(chosen: ActionBatch, wanted: ActionBatch) -> float:
    """The share of rows where the op, and the heads that op uses, are the same."""
    same = chosen.op == wanted.op
    same &= (wanted.op == WAIT_INDEX) | (chosen.slot == wanted.slot)
    germinates = wanted.op == GERMINATE_INDEX
    same &= ~germinates | ((chosen.blueprint == wanted.blueprint) & (chosen.blend == wanted.blend))
    return same.float().mean().item()
