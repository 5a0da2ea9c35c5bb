"""Ranks on this machine's loopback, without torchrun: for tests and ``esper-train bench ddp``.

Each process gets the variables torchrun would set and builds its collective from them, so
what runs here is exactly the torchrun path, on gloo and the CPU.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import torch
import torch.multiprocessing as mp

from esper_shell.distributed.collective import Collective, close, from_environment


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, world: int, port: int, body: Callable[..., None], args: tuple[Any, ...]) -> None:
    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(world),
        }
    )
    collective: Collective = from_environment(torch.device("cpu"))
    try:
        body(collective, *args)
    finally:
        close(collective)


def spawn(body: Callable[..., None], *args: Any, world: int = 2) -> None:
    """Run ``body(collective, *args)`` on ``world`` fresh processes; ``body`` must live at module level."""
    mp.spawn(_worker, args=(world, free_port(), body, args), nprocs=world, join=True)
