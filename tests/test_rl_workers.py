"""Env workers: ProcessVecEnv against VecEnv, a PPO update with 2 workers against 1, and failures.

A healthy worker costs seconds to start (it imports torch and builds a host), so one PPO run
with 2 workers serves the equivalence tests, training's close and, restarted, a failure; the
other failures happen before a worker has built anything.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
import torch

from esper_core import (
    BlendAlgorithm,
    ConfigError,
    CustomControllerConfig,
    EsperError,
    FactoredAction,
    LifecycleOp,
    Observation,
    RunConfig,
    SeedState,
)
from esper_core.ppo_config import PPOConfig
from esper_core.rewards import RewardConfig
from esper_shell.rl.env import VecEnv
from esper_shell.rl.run_files import PPODirectory
from esper_shell.rl.train import PPORun, start_ppo, train_ppo
from esper_shell.rl.workers import EnvWorkerError, ProcessVecEnv, _portable, make_envs
from esper_shell.tasks import PresetTasks, Task, get_task

PPO = PPOConfig(n_envs=4, episode_epochs=3, minibatches=2, update_epochs=2)
GROW = FactoredAction(op=LifecycleOp.GERMINATE, slot_index=0, blueprint="conv_light", blend=BlendAlgorithm.LINEAR)
WAIT = FactoredAction(op=LifecycleOp.WAIT)


def _config() -> RunConfig:
    return attrs.evolve(get_task("digits").run_config(), controller=CustomControllerConfig(name="ppo"))


def _digits() -> PresetTasks:
    return PresetTasks(name="digits", batch_size=_config().training.batch_size)


@attrs.frozen
class FailingTasks:
    """A task factory that raises ``error``; a record, so that it pickles into a worker."""

    error: BaseException

    def __call__(self, seed: int) -> Task:
        raise self.error


@attrs.frozen
class DyingTasks:
    """A task factory whose process exits at once with ``code``, without a word (as a crash or an OOM kill)."""

    code: int

    def __call__(self, seed: int) -> Task:
        os._exit(self.code)


@attrs.frozen
class SlowTasks:
    """A task factory that takes ``seconds`` (a long host epoch, as far as the learner can tell)."""

    seconds: float

    def __call__(self, seed: int) -> Task:
        time.sleep(self.seconds)
        raise AssertionError("never reached: the worker is stopped first")


def _untimed(log: Any) -> dict[str, Any]:
    return attrs.asdict(log, filter=lambda field, _: not field.name.endswith(("seconds", "per_second")))


def _comparable(observation: Observation) -> Observation:
    """The observation less what belongs to the process, not the episode: wall-clock stamps (when
    each seed entered each stage) and the registry's blueprints (this process may hold blueprints
    other tests registered at run time, which a fresh worker does not)."""

    def unclocked(seed: SeedState | None) -> SeedState | None:
        if seed is None:  # an empty slot
            return None
        history = tuple(attrs.evolve(record, timestamp=0.0) for record in seed.history)
        return attrs.evolve(seed, stage_entered_at=0.0, history=history)

    return attrs.evolve(observation, seeds=tuple(unclocked(seed) for seed in observation.seeds), blueprints=())


def _outcome(outcome: dict[str, float]) -> dict[str, float]:
    return {key: value for key, value in outcome.items() if key != "seconds"}


def _children() -> set[multiprocessing.process.BaseProcess]:
    return set(multiprocessing.active_children())


def _workers() -> list[multiprocessing.process.BaseProcess]:
    return [process for process in multiprocessing.active_children() if process.name.startswith("esper-env-worker")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, tuple[PPORun, PPODirectory]]]:
    """The same PPO run with the envs in this process and with 2 worker processes (2 envs each)."""
    out = tmp_path_factory.mktemp("workers")
    by_workers = {}
    for workers in (1, 2):
        run, directory = start_ppo(_config(), PPO, episodes=8, run_dir=out / f"w{workers}", workers=workers)
        assert directory is not None
        by_workers[workers] = (run, directory)
    yield by_workers
    for run, directory in by_workers.values():
        run.envs.close()
        directory.close()


def _episode_events(directory: PPODirectory) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in (directory.path / "events.jsonl").read_text().splitlines()[1:])
    return [event["payload"] for event in lines if event["kind"] == "episode"]


class TestEquivalence:
    def test_an_episode_is_the_same_step_for_step(self, runs: dict[int, tuple[PPORun, PPODirectory]]) -> None:
        here, there = runs[1][0].envs, runs[2][0].envs
        assert isinstance(here, VecEnv) and isinstance(there, ProcessVecEnv)
        first = zip(there.reset(first_episode=4), here.reset(first_episode=4), strict=True)
        assert all(_comparable(got) == _comparable(expected) for got, expected in first)
        script = [[GROW, WAIT, GROW, WAIT], [WAIT] * 4, [WAIT, GROW, WAIT, WAIT]]
        for actions in script:
            theirs, ours = there.step(actions), here.step(actions)
            for got, expected in zip(theirs, ours, strict=True):
                assert _comparable(got.observation) == _comparable(expected.observation)
                assert (got.reward, got.terminal) == (expected.reward, expected.terminal)
                assert (got.refused, got.rollback) == (expected.refused, expected.rollback)
        assert [step.terminal for step in theirs] == [True] * 4
        assert [_outcome(o) for o in there.outcomes()] == [_outcome(o) for o in here.outcomes()]
        assert there.episodes() == here.episodes()

    def test_episode_seeds_are_numbered_as_in_one_process(self, runs: dict[int, tuple[PPORun, PPODirectory]]) -> None:
        assert runs[2][0].envs.episode_seed(5) == runs[1][0].envs.episode_seed(5)

    def test_a_ppo_update_is_the_same_with_two_workers(self, runs: dict[int, tuple[PPORun, PPODirectory]]) -> None:
        """Update log, weights, reward scale and episode events; training then stops the workers."""
        (one, one_dir), (two, two_dir) = runs[1], runs[2]
        workers = _workers()
        for run, directory in runs.values():
            train_ppo(run, directory, stop_after=1)
        assert [_untimed(log) for log in two.history] == [_untimed(log) for log in one.history]
        for name, tensor in one.policy.network.state_dict().items():
            torch.testing.assert_close(two.policy.network.state_dict()[name], tensor, rtol=0, atol=0)
        assert two.reward_scaler.state_dict() == one.reward_scaler.state_dict()
        assert _episode_events(two_dir) == _episode_events(one_dir)
        assert not _workers() and all(process.exitcode == 0 for process in workers)  # closed, not killed


class TestWorkerCount:
    def test_one_worker_steps_the_envs_in_this_process(self) -> None:
        envs = make_envs(_config(), _digits(), n_envs=2, reward=RewardConfig(), workers=1)
        assert isinstance(envs, VecEnv)

    def test_workers_that_do_not_divide_the_envs_are_refused_naming_both(self) -> None:
        with pytest.raises(ConfigError, match=r"--workers 3 does not divide the 4 envs.*e\.g\. --workers 2"):
            ProcessVecEnv(_config(), _digits(), n_envs=4, reward=RewardConfig(), workers=3)

    def test_no_workers_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="--workers 0: at least 1"):
            make_envs(_config(), _digits(), n_envs=4, reward=RewardConfig(), workers=0)

    def test_a_closure_task_factory_is_refused_before_any_process_starts(self) -> None:
        before = _children()
        with pytest.raises(TypeError, match="must pickle"):
            ProcessVecEnv(_config(), lambda seed: _digits()(seed), n_envs=2, reward=RewardConfig(), workers=2)
        assert _children() == before


class TestFailures:
    def test_an_esper_error_in_a_worker_is_raised_as_itself(self) -> None:
        tasks = FailingTasks(ConfigError("no data for this seed"))
        with pytest.raises(ConfigError) as raised:
            ProcessVecEnv(_config(), tasks, n_envs=1, reward=RewardConfig(), workers=1)
        assert str(raised.value) == "no data for this seed"  # what the CLI prints
        assert "raised in env worker 0" in raised.value.__notes__[0]  # where, for a reader of the traceback

    def test_a_worker_that_dies_without_a_word_is_reported(self) -> None:
        with pytest.raises(EnvWorkerError, match=r"env worker 0 \(envs 0\.\.0\) exited with code 3 before it replied"):
            ProcessVecEnv(_config(), DyingTasks(code=3), n_envs=1, reward=RewardConfig(), workers=1)

    def test_a_bug_in_one_worker_comes_back_with_its_traceback_and_stops_every_worker(
        self, runs: dict[int, tuple[PPORun, PPODirectory]]
    ) -> None:
        """Worker 1 fails on its actions; worker 0 steps its envs and is stopped all the same."""
        envs = runs[2][0].envs
        envs.reset(first_episode=0)  # (re)starts the workers, whichever test stopped them
        assert len(_workers()) == 2
        with pytest.raises(EnvWorkerError, match=r"(?s)env worker 1 \(envs 2\.\.3\) failed.*AttributeError"):
            envs.step([WAIT, WAIT, None, None])  # type: ignore[list-item]
        assert not envs.running and not _workers()


class TestInterrupt:
    def test_ctrl_c_while_a_worker_is_busy_stops_it_at_once(self) -> None:
        """The learner gets the interrupt (the workers ignore it) and terminates the busy worker."""
        before = _children()
        started = time.perf_counter()
        threading.Timer(1.0, signal.pthread_kill, args=(threading.main_thread().ident, signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            ProcessVecEnv(_config(), SlowTasks(seconds=60.0), n_envs=1, reward=RewardConfig(), workers=1)
        assert _children() == before and time.perf_counter() - started < 30.0


class _NeedsItsFix(EsperError):
    """An error whose __init__ takes an argument its args do not keep: unpickling cannot rebuild it."""

    def __init__(self, message: str, *, fix: str) -> None:
        super().__init__(f"{message}; {fix}")


class TestPortableErrors:
    def test_an_error_that_survives_the_pipe_is_sent_as_itself(self) -> None:
        error = ConfigError("bad", value=3)
        assert _portable(error) is error

    def test_an_error_unpickling_cannot_rebuild_is_sent_as_its_message(self) -> None:
        sent = _portable(_NeedsItsFix("bad", fix="do this"))
        assert type(sent) is EsperError and str(sent) == "bad; do this"
