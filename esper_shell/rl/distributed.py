"""Decentralised PPO (as in DD-PPO) under torchrun: what the ranks exchange, and nothing else.

Each rank steps its own envs (``n_envs / world_size`` of them, episodes numbered as the one
process run would number them) and keeps its own rollout; the ranks share one policy: the
same initialisation (one seed), gradients averaged before every optimizer step, and running
statistics (observation normaliser, return scale) updated with every rank's samples in rank
order, i.e. the samples one process stepping all the envs would have seen.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from esper_core import ConfigError
from esper_shell.distributed.collective import Collective
from esper_shell.rl.batch import ObservationBatch

ENV_SPLIT_MESSAGE = (
    "--n-envs {envs} cannot be split over {world} ranks: give each rank the same number of envs "
    "(a multiple of the world size, e.g. --n-envs {suggestion})."
)
# Rank r > 0 samples its actions and minibatches from seed + r * RANK_SEED_STRIDE (rank 0: seed).
RANK_SEED_STRIDE = 1_000_003


def local_envs(n_envs: int, collective: Collective) -> int:
    """How many envs this rank steps."""
    world = collective.world_size
    if n_envs % world:
        suggestion = world * max(1, round(n_envs / world))
        raise ConfigError(ENV_SPLIT_MESSAGE.format(envs=n_envs, world=world, suggestion=suggestion), value=n_envs)
    return n_envs // world


def rank_seed(seed: int, collective: Collective) -> int:
    """The seed of this rank's sampling generator: the run's own on rank 0 (and alone)."""
    return seed + collective.rank * RANK_SEED_STRIDE


def gather_observations(batch: ObservationBatch, collective: Collective) -> ObservationBatch:
    """Every rank's observations, in rank order (this rank's own batch when alone)."""
    if collective.world_size == 1:
        return batch
    return ObservationBatch(
        global_features=collective.all_gather(batch.global_features),
        slot_features=collective.all_gather(batch.slot_features),
    )


def average_gradients(parameters: Iterable[nn.Parameter], collective: Collective) -> None:
    """The mean of every rank's gradients, in one flat all-reduce (the policy is a few small tensors).

    The policy is called through ``evaluate_actions``, not ``forward``, which DDP's reducer would
    need; one bucket is what DDP would build for a network this small anyway.
    """
    world = collective.world_size
    if world == 1:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    flat = collective.all_reduce_sum(torch.cat([g.reshape(-1) for g in grads])) / world
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
        offset += grad.numel()


def mean_over_ranks(value: float, collective: Collective) -> float:
    """The ranks' mean of a figure (the figure itself when alone)."""
    if collective.world_size == 1:
        return value
    total = collective.all_reduce_sum(torch.tensor(value, dtype=torch.float64))
    return total.item() / collective.world_size
