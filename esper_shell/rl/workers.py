"""The envs stepped by worker processes: the same episodes as ``VecEnv``, their host epochs side by side.

One env step is one host epoch (a fraction of a second to minutes of CPU); the policy's
forward over all envs is a millisecond. So the learner keeps the policy and batches its
forward over every env, as with ``VecEnv``, and each of ``workers`` processes steps a
contiguous block of the envs as its own in-process ``VecEnv``: env ``i`` plays the episode it
plays in one ``VecEnv`` (same episode seed; every trainer owns its RNG streams), so the
observations, rewards, outcomes, and with them a whole PPO run, are the same for any worker
count. That makes it a machine setting, like the thread count, not a hyperparameter.

Workers start with ``spawn`` (no forked torch, OpenMP or CUDA state; the same on every OS), so
what they are sent must pickle: the config, the task factory (``PresetTasks``), the static
curve (``PairedStaticCurve``), the actions; they send back ``EnvStep``s and outcomes. Their
registries hold what importing Esper registers: a preset or blueprint added at run time in the
learner is unknown to them, which fails loudly (an unknown task; the layout check of an
observation lacking an offered blueprint) rather than changing results.

A worker's failure comes back and is raised in the learner (an ``EsperError`` as itself, a bug
as ``EnvWorkerError`` carrying the worker's traceback); one that dies without a word is seen
through its process sentinel, so the learner never waits on a dead pipe. Workers ignore
Ctrl-C: the learner receives it and stops them, as it does on any error and on ``close``.
"""

from __future__ import annotations

import contextlib
import functools
import pickle
import signal
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from operator import methodcaller
from types import TracebackType
from typing import Any

import attrs
import torch
import torch.multiprocessing as mp

from esper_core import ConfigError, EsperError, FactoredAction, Observation, RunConfig
from esper_core.rewards import RewardConfig
from esper_shell.engine.device import MachineConfig
from esper_shell.rl.env import ACTION_COUNT_MESSAGE, EnvStep, EpisodeRecord, StaticCurve, TaskFactory, VecEnv

WORKERS_MESSAGE = "--workers {workers}: at least 1 is needed (1 steps every env in this process)."
SPLIT_MESSAGE = (
    "--workers {workers} does not divide the {envs} envs this process steps (--n-envs; per rank under torchrun): "
    "every worker steps as many envs as the others; choose a divisor of {envs} (e.g. --workers {suggestion})."
)
UNPICKLABLE_MESSAGE = (
    "The env workers are spawned processes, so the task factory and static curve must pickle "
    "(module-level callables or frozen records such as PresetTasks, PairedStaticCurve; not closures): {error}"
)
FAILED_MESSAGE = "env worker {worker} (envs {first}..{last}) failed:\n{traceback}"
DIED_MESSAGE = "env worker {worker} (envs {first}..{last}) exited with code {code} before it replied."
STOPPED_MESSAGE = "The env workers are stopped (closed, or after a failure): reset() starts them again."
# A closing worker finishes the command it is on (at most one host epoch), then exits.
CLOSE_SECONDS = 30.0


class EnvWorkerError(RuntimeError):
    """An env worker failed with a bug (not an ``EsperError``) or died; the message holds its traceback."""


@attrs.frozen(kw_only=True)
class _Failure:
    # An expected failure, raised as itself in the learner (its worker traceback as a note); None for a bug.
    error: EsperError | None
    traceback: str


def check_workers(n_envs: int, workers: int) -> None:
    """Workers >= 1, each with the same number of envs (so env ``i``'s worker is ``i // (n_envs / workers)``)."""
    if workers < 1:
        raise ConfigError(WORKERS_MESSAGE.format(workers=workers), value=workers)
    if n_envs % workers:
        suggestion = max(d for d in range(1, workers + 1) if n_envs % d == 0)
        raise ConfigError(SPLIT_MESSAGE.format(workers=workers, envs=n_envs, suggestion=suggestion), value=workers)


def _portable(error: EsperError) -> EsperError:
    """``error`` if it survives the pipe (class, message, value), else an ``EsperError`` with its message."""
    try:
        pickle.dumps(error)  # every part of it pickles
        rebuild, args = error.__reduce__()[:2]
        rebuild(*args)  # and unpickling, which calls this, can build it again
    except Exception:  # an unpicklable value, or a subclass whose __init__ pickle cannot call back
        return EsperError(str(error))
    return error


def _serve(connection: Connection, build: Callable[[], VecEnv], threads: int) -> None:
    """A worker: build its block of envs, then answer each command ``VecEnv -> reply`` until None or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    try:
        envs = build()
        connection.send(envs.device)
        while True:
            try:
                command = connection.recv()
            except EOFError:  # the learner has gone: nobody to answer
                return
            if command is None:
                return
            connection.send(command(envs))
    except EsperError as error:
        failure = _Failure(error=_portable(error), traceback=traceback.format_exc())
    except BaseException:
        failure = _Failure(error=None, traceback=traceback.format_exc())
    with contextlib.suppress(OSError):  # the learner may have gone meanwhile
        connection.send(failure)


class ProcessVecEnv:
    """``VecEnv``'s ``n_envs`` envs split over ``workers`` processes, ``n_envs / workers`` each.

    The workers start here (building one env each checks the config before the caller writes
    any file) and stop on ``close`` (or leaving a ``with`` block), on any error and on Ctrl-C;
    ``reset`` starts them again if they were stopped.
    """

    def __init__(
        self,
        config: RunConfig,
        make_task: TaskFactory,
        *,
        n_envs: int,
        reward: RewardConfig,
        machine: MachineConfig | None = None,
        static_curve: StaticCurve | None = None,
        seed_pool: int | None = None,
        workers: int,
    ) -> None:
        check_workers(n_envs, workers)
        self.n_envs = n_envs
        self.workers = workers
        self.machine = machine or MachineConfig()
        self._block = n_envs // workers
        self._build = functools.partial(
            VecEnv,
            config,
            make_task,
            n_envs=self._block,
            reward=reward,
            machine=self.machine,
            static_curve=static_curve,
            seed_pool=seed_pool,
        )
        try:
            pickle.dumps(self._build)
        except Exception as error:
            raise TypeError(UNPICKLABLE_MESSAGE.format(error=error)) from error
        self._processes: list[BaseProcess] = []
        self._connections: list[Connection] = []
        # VecEnv's trainers set this in the learner; set alike, the policy's update computes alike.
        torch.set_num_threads(self.machine.threads)
        self.device: torch.device = self._start()

    def __enter__(self) -> ProcessVecEnv:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        """Whether the worker processes are up."""
        return bool(self._processes)

    def episode_seed(self, episode: int) -> int:
        return self._ask([methodcaller("episode_seed", episode)] * self.workers)[0]

    def reset(self, first_episode: int) -> tuple[Observation, ...]:
        """Start episodes ``first_episode .. first_episode + n_envs - 1`` (worker ``w`` the ``w``-th block)."""
        if not self.running:
            self._start()
        starts = [first_episode + worker * self._block for worker in range(self.workers)]
        return self._joined(self._ask([methodcaller("reset", start) for start in starts]))

    def step(self, actions: Sequence[FactoredAction]) -> tuple[EnvStep, ...]:
        if len(actions) != self.n_envs:
            raise RuntimeError(ACTION_COUNT_MESSAGE.format(envs=self.n_envs, actions=len(actions)))
        blocks = [actions[first : first + self._block] for first in range(0, self.n_envs, self._block)]
        return self._joined(self._ask([methodcaller("step", block) for block in blocks]))

    def outcomes(self) -> tuple[dict[str, float], ...]:
        """Each env's run as the engine reports it, in env order."""
        return self._joined(self._ask([methodcaller("outcomes")] * self.workers))

    def episodes(self) -> tuple[EpisodeRecord, ...]:
        return self._joined(self._ask([methodcaller("episodes")] * self.workers))

    def close(self) -> None:
        """Let every worker finish its command and exit; stop the ones that do not. Safe to call twice."""
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.send(None)
        for process in self._processes:
            process.join(CLOSE_SECONDS)
        self._stop()

    # -- the processes ---------------------------------------------------------------------------
    def _start(self) -> torch.device:
        context = mp.get_context("spawn")
        try:
            for worker in range(self.workers):
                ours, theirs = context.Pipe()
                process = context.Process(
                    target=_serve,
                    args=(theirs, self._build, self.machine.threads),
                    name=f"esper-env-worker-{worker}",
                    daemon=True,
                )
                process.start()
                theirs.close()  # only the worker holds its end, so its death reads as EOF here
                self._processes.append(process)
                self._connections.append(ours)
            return self._receive()[0]
        except BaseException:
            self._stop()
            raise

    def _ask(self, commands: Sequence[Callable[[VecEnv], Any]]) -> list[Any]:
        """Each worker's reply to its command, in worker order; any failure stops every worker and is raised."""
        if not self.running:
            raise RuntimeError(STOPPED_MESSAGE)
        try:
            for connection, command in zip(self._connections, commands, strict=True):
                connection.send(command)
            return self._receive()
        except BaseException:  # a failure, a dead worker, Ctrl-C: no worker outlives the learner's call
            self._stop()
            raise

    def _receive(self) -> list[Any]:
        replies: dict[int, Any] = {}
        waiting = set(range(self.workers))
        while waiting:
            connections = [self._connections[worker] for worker in waiting]
            ready = wait([*connections, *(self._processes[worker].sentinel for worker in waiting)])
            for worker in sorted(waiting):
                if self._connections[worker] in ready or self._processes[worker].sentinel in ready:
                    replies[worker] = self._reply(worker)
                    waiting.discard(worker)
        return [replies[worker] for worker in range(self.workers)]

    def _reply(self, worker: int) -> Any:
        """The worker's reply (its pipe is readable, or the worker has exited); its failure raised."""
        first, last = worker * self._block, (worker + 1) * self._block - 1
        try:
            reply = self._connections[worker].recv()
        except EOFError:
            process = self._processes[worker]
            process.join(CLOSE_SECONDS)
            raise EnvWorkerError(
                DIED_MESSAGE.format(worker=worker, first=first, last=last, code=process.exitcode)
            ) from None
        if not isinstance(reply, _Failure):
            return reply
        if reply.error is not None:
            reply.error.add_note(f"raised in env worker {worker}:\n{reply.traceback}")
            raise reply.error
        raise EnvWorkerError(FAILED_MESSAGE.format(worker=worker, first=first, last=last, traceback=reply.traceback))

    def _stop(self) -> None:
        """Terminate whatever still runs, join everything, close the pipes."""
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        for process in self._processes:
            process.join(CLOSE_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
        for connection in self._connections:
            connection.close()
        self._processes, self._connections = [], []

    @staticmethod
    def _joined(parts: list[tuple[Any, ...]]) -> tuple[Any, ...]:
        return tuple(item for part in parts for item in part)


# What PPO steps: either runs ``run_update`` alike.
Envs = VecEnv | ProcessVecEnv


def make_envs(
    config: RunConfig,
    make_task: TaskFactory,
    *,
    n_envs: int,
    reward: RewardConfig,
    machine: MachineConfig | None = None,
    static_curve: StaticCurve | None = None,
    seed_pool: int | None = None,
    workers: int = 1,
) -> Envs:
    """``VecEnv`` for one worker (no process at all: nothing to pickle, nothing to start), else ``ProcessVecEnv``."""
    shared = {
        "n_envs": n_envs,
        "reward": reward,
        "machine": machine,
        "static_curve": static_curve,
        "seed_pool": seed_pool,
    }
    if workers == 1:
        return VecEnv(config, make_task, **shared)
    return ProcessVecEnv(config, make_task, **shared, workers=workers)
