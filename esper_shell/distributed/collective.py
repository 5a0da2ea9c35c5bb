"""The ranks of one run and what they exchange: ``Collective``, alone or over a process group.

Everything distributed goes through one object passed in (to the ``Trainer``, the ``Run``,
the PPO run), never through globals: ``SingleProcess`` is the trivial one (every reduction
returns its input, so a single process computes exactly what it did before ranks existed),
``ProcessGroup`` the torch.distributed one that ``from_environment`` builds under torchrun.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any, Protocol, TypeVar

import attrs
import torch
import torch.distributed as dist

from esper_core import ConfigError, EsperError

T = TypeVar("T")
Batch = tuple[torch.Tensor, torch.Tensor]

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
PARTIAL_ENV_MESSAGE = (
    "WORLD_SIZE={world} is set but {missing} are not: launch distributed runs with torchrun "
    "(torchrun --nproc_per_node N $(which esper-train) ...), which sets them all."
)
CUDA_INDEX_MESSAGE = (
    "--device {device} under torchrun: each rank runs on its own local GPU (cuda:LOCAL_RANK); "
    "pass --device cuda (or auto), or cpu."
)
LOCAL_GPU_MESSAGE = (
    "Rank {rank} has LOCAL_RANK {local_rank} but this node has {count} GPU(s): "
    "start at most {count} processes per node (--nproc_per_node)."
)
ROOT_FAILED_MESSAGE = "rank 0 refused: {message}"
# A rank that stops waiting fails loudly instead of hanging forever on a peer that died.
TIMEOUT = timedelta(minutes=30)


class Collective(Protocol):
    """The few exchanges the engine needs; reductions may return their (changed) input."""

    @property
    def rank(self) -> int: ...

    @property
    def world_size(self) -> int: ...

    @property
    def is_root(self) -> bool: ...

    def local_device(self, device: torch.device) -> torch.device: ...

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor: ...

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor: ...

    def all_gather_objects(self, value: T) -> list[T]: ...

    def broadcast_object(self, value: T) -> T: ...


@attrs.frozen
class SingleProcess:
    """One process, no peers: every exchange is the identity."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_root(self) -> bool:
        return True

    def local_device(self, device: torch.device) -> torch.device:
        return device

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def all_gather_objects(self, value: T) -> list[T]:
        return [value]

    def broadcast_object(self, value: T) -> T:
        return value


@attrs.frozen
class ProcessGroup:
    """The default torch.distributed process group: gloo on CPU, NCCL for CUDA tensors."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def local_device(self, device: torch.device) -> torch.device:
        """Each rank on its own local device: cuda:LOCAL_RANK where CUDA is used, else the CPU."""
        if device.type != "cuda":
            return device
        if device.index is not None:
            raise ConfigError(CUDA_INDEX_MESSAGE.format(device=device), value=str(device))
        count = torch.cuda.device_count()
        if self.local_rank >= count:
            message = LOCAL_GPU_MESSAGE.format(rank=self.rank, local_rank=self.local_rank, count=count)
            raise ConfigError(message, value=self.local_rank)
        return torch.device("cuda", self.local_rank)

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every rank's tensor (same shape everywhere), concatenated along dim 0 in rank order."""
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    def all_gather_objects(self, value: T) -> list[T]:
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def broadcast_object(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (pickled; tensors inside keep their device)."""
        box = [value if self.is_root else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def from_environment(device: torch.device, environ: Mapping[str, str] | None = None) -> Collective:
    """The collective torchrun's variables describe; ``SingleProcess`` outside torchrun or with one rank.

    ``device`` is the run's resolved ``--device``. Initialises the default process group:
    gloo on the CPU; on CUDA, NCCL for CUDA tensors and gloo for CPU ones (PPO's policy and
    statistics live on the CPU whatever device the hosts train on).
    """
    environ = os.environ if environ is None else environ
    world = int(environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SingleProcess()
    missing = [name for name in TORCHRUN_VARIABLES if name not in environ]
    if missing:
        raise ConfigError(PARTIAL_ENV_MESSAGE.format(world=world, missing=", ".join(missing)), value=missing)
    group = ProcessGroup(rank=int(environ["RANK"]), world_size=world, local_rank=int(environ["LOCAL_RANK"]))
    on_cuda = group.local_device(device).type == "cuda"
    if on_cuda:
        torch.cuda.set_device(group.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("cpu:gloo,cuda:nccl" if on_cuda else "gloo", timeout=TIMEOUT)
    return group


def close(collective: Collective) -> None:
    """Tear the process group down (a run that ends without it makes torch warn)."""
    if isinstance(collective, ProcessGroup) and dist.is_initialized():
        dist.destroy_process_group()


def on_root(collective: Collective, work: Callable[[], T]) -> T:
    """Run ``work`` on rank 0 only and hand its result to every rank.

    A user error there (an existing run directory, a missing checkpoint) is raised on every
    rank with the same message, so no rank waits forever on a peer that has already exited.
    """
    if collective.world_size == 1:
        return work()
    outcome: tuple[bool, Any] = (True, None)
    failure: EsperError | None = None
    if collective.is_root:
        try:
            outcome = (True, work())
        except EsperError as error:
            failure, outcome = error, (False, (type(error), str(error)))
    ok, value = collective.broadcast_object(outcome)
    if failure is not None:
        raise failure
    if not ok:
        error_type, message = value
        raise error_type(ROOT_FAILED_MESSAGE.format(message=message))
    return value


def shard(batch: Batch, collective: Collective) -> Batch:
    """This rank's contiguous slice of a global batch (sizes differ by at most one)."""
    if collective.world_size == 1:
        return batch
    x, y = batch
    bounds = _bounds(x.shape[0], collective.world_size)
    start, stop = bounds[collective.rank], bounds[collective.rank + 1]
    return x[start:stop], y[start:stop]


@contextlib.contextmanager
def rank_rng(seed: int, epoch: int, collective: Collective) -> Iterator[None]:
    """Under torchrun, training's random draws (dropout) come from a stream of this rank and epoch.

    Ranks see different examples and must not share dropout masks, and the stream that
    initialises new seeds must stay one stream on every rank: so training draws from its own
    stream, derived from (seed, epoch, rank), and leaves the caller's untouched (a resumed
    run derives the same one again). A single process draws from the caller's, as it always has.
    """
    if collective.world_size == 1:
        yield
        return
    outer = torch.get_rng_state()
    torch.manual_seed((seed << 24) + (epoch << 12) + collective.rank)
    try:
        yield
    finally:
        torch.set_rng_state(outer)


def train_shards(
    batches: Iterable[Batch], collective: Collective
) -> Iterator[tuple[torch.Tensor, torch.Tensor, float]]:
    """This rank's slice of every global batch big enough to give each rank an example, and its share.

    ``share`` = local examples x world size / global examples: scaling the local mean loss by it
    makes DDP's average of the ranks' gradients the gradient of the global batch's mean loss,
    also when the slices differ in size (1.0 when they are equal, and alone).
    Every rank must take every optimizer step together, so a last batch smaller than the
    world (at most ``world_size - 1`` examples an epoch) is left out on every rank.
    """
    world = collective.world_size
    for batch in batches:
        total = batch[0].shape[0]
        if total >= world:
            x, y = shard(batch, collective)
            yield x, y, 1.0 if world == 1 else x.shape[0] * world / total


def eval_shards(batches: Iterable[Batch], collective: Collective) -> Iterator[Batch]:
    """This rank's slice of every batch, empty slices skipped: the ranks together see every example once."""
    for batch in batches:
        local = shard(batch, collective)
        if local[0].shape[0] > 0:
            yield local


def _bounds(count: int, parts: int) -> list[int]:
    return [part * count // parts for part in range(parts + 1)]
