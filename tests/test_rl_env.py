"""PPO end to end on tiny budgets: the envs, runs with 1 to 5 slots, checkpoints, resume, deployment."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import torch

from esper_core import FactoredAction, GateConfig, LifecycleOp, RunConfig, SlotConfig
from esper_core.ppo_config import PPOConfig
from esper_core.rewards import ACCURACY_GAP, RewardConfig
from esper_shell.blueprints import blueprint_names
from esper_shell.engine.device import MachineConfig
from esper_shell.errors import CheckpointError
from esper_shell.hosts import CNNHost
from esper_shell.rl.controller import load_policy_controller
from esper_shell.rl.env import VecEnv
from esper_shell.rl.static_curve import PairedStaticCurve
from esper_shell.rl.train import PPORun, resume_ppo, start_ppo, train_ppo
from esper_shell.runs import start, train
from esper_shell.tasks import Task, get_task, presets
from esper_shell.telemetry import MemorySink

WIDE_SLOTS = ("r0c0", "r0c1", "r1c0", "r1c1", "r2c0", "r2c1")
TINY = PPOConfig(n_envs=1, episode_epochs=2, minibatches=2, update_epochs=2)


def digits_config(**changes: object) -> RunConfig:
    """The digits preset's tuned run, with ``changes``."""
    return attrs.evolve(get_task("digits").run_config(), **changes)  # type: ignore[arg-type]


def digits_task(seed: int) -> Task:
    return get_task("digits").task(seed, digits_config().training.batch_size, None)


def digits_envs(
    config: RunConfig, *, n_envs: int, epochs: int, make_task: Callable[[int], Task] | None = None
) -> VecEnv:
    """Envs of digits episodes ``epochs`` long."""
    config = attrs.evolve(config, training=attrs.evolve(config.training, epochs=epochs))
    return VecEnv(config, make_task or digits_task, n_envs=n_envs, reward=RewardConfig())


@pytest.fixture
def wide_digits(monkeypatch: pytest.MonkeyPatch) -> str:
    """The digits task on a host with two blocks per stage: six slots."""

    def build_host() -> CNNHost:
        return CNNHost((2, 2, 2), base_channels=1, in_channels=1, num_classes=10)

    def load(seed: int, batch_size: int, data_dir: object) -> Task:
        task = presets.DIGITS.load(seed, batch_size, data_dir)  # type: ignore[arg-type]
        return attrs.evolve(task, name="digits6", build_host=build_host)

    task = attrs.evolve(presets.DIGITS, name="digits6", build_host=build_host, load=load, slots=WIDE_SLOTS)
    monkeypatch.setitem(presets.TASKS, task.name, task)
    return task.name


def _untimed(history: list[Any]) -> list[dict[str, Any]]:
    return [
        attrs.asdict(log, filter=lambda field, _: not field.name.endswith(("seconds", "per_second"))) for log in history
    ]


class TestVecEnv:
    def test_episode_runs_its_epochs_and_ends_terminal(self) -> None:
        envs = digits_envs(digits_config(), n_envs=2, epochs=2)
        observations = envs.reset(first_episode=0)
        assert [o.epoch for o in observations] == [0, 0] and all(o.signals.epochs_seen == 1 for o in observations)
        first = envs.step([FactoredAction(op=LifecycleOp.WAIT)] * 2)
        second = envs.step([FactoredAction(op=LifecycleOp.WAIT)] * 2)
        assert [s.terminal for s in first + second] == [False, False, True, True]
        assert second[0].reward.terminal > 0 and first[0].reward.terminal == 0

    def test_never_acting_earns_nothing_against_the_paired_static_run(self, tmp_path: Path) -> None:
        """WAIT every epoch is the static run on the same seed: the accuracy-gap return is exactly 0."""
        config = attrs.evolve(digits_config(seed=3), training=attrs.evolve(digits_config().training, epochs=3))
        curve = PairedStaticCurve(config=config, machine=MachineConfig(threads=1), cache_dir=tmp_path)
        envs = VecEnv(
            config,
            digits_task,
            n_envs=1,
            reward=RewardConfig(mode=ACCURACY_GAP),
            machine=MachineConfig(threads=1),
            static_curve=curve,
        )
        envs.reset(first_episode=0)
        steps = [envs.step([FactoredAction(op=LifecycleOp.WAIT)])[0] for _ in range(3)]
        assert steps[-1].terminal and [step.reward.total for step in steps] == [0.0, 0.0, 0.0]

    def test_each_episode_has_its_own_seed(self) -> None:
        envs = digits_envs(digits_config(seed=7), n_envs=2, epochs=1)
        envs.reset(first_episode=4)
        assert [trainer.config.seed for trainer in envs.trainers] == [11, 12]

    def test_episodes_cycle_over_the_seed_pool(self) -> None:
        config = attrs.evolve(digits_config(seed=7), training=attrs.evolve(digits_config().training, epochs=1))
        envs = VecEnv(config, digits_task, n_envs=2, reward=RewardConfig(), seed_pool=3)
        assert [envs.episode_seed(episode) for episode in range(7)] == [7, 8, 9, 7, 8, 9, 7]

    def test_a_rollback_stays_in_its_env(self) -> None:
        poisoned = {"on": False}

        def make_task(seed: int) -> Task:
            """Episode 0's loss turns to NaN once ``poisoned['on']``; the other episodes' never does."""
            task = digits_task(seed)
            if seed != 0:
                return task
            return attrs.evolve(task, loss=lambda out, y: task.loss(out, y) * (math.nan if poisoned["on"] else 1.0))

        envs = digits_envs(digits_config(), n_envs=2, epochs=3, make_task=make_task)
        envs.reset(first_episode=0)
        poisoned["on"] = True
        # A step concludes the epoch trained before it: the first concludes epoch 0 and trains the
        # poisoned epoch 1, the second concludes epoch 1, which the governor rolled back.
        first = envs.step([FactoredAction(op=LifecycleOp.WAIT)] * 2)
        steps = envs.step([FactoredAction(op=LifecycleOp.WAIT)] * 2)
        assert [s.rollback for s in first] == [False, False]
        assert [s.rollback for s in steps] == [True, False]
        assert steps[1].observation.signals.epochs_seen == 3  # the other env trained on undisturbed


class TestPPORuns:
    @pytest.mark.parametrize("slots", [("r0c0",), ("r0c0", "r2c0"), ("r0c0", "r0c1", "r1c0"), WIDE_SLOTS[:5]])
    def test_ppo_runs_with_any_number_of_slots(self, wide_digits: str, slots: tuple[str, ...]) -> None:
        config = attrs.evolve(get_task(wide_digits).run_config(), slots=slots)
        run, _ = start_ppo(config, TINY, episodes=1, run_dir=None)
        (log,) = train_ppo(run, None)
        assert run.layout.num_slots == len(slots)
        assert log.episodes == 1 and log.illegal_fraction == 0.0
        assert run.envs.trainers[0].model.slot_ids == slots

    def test_checkpoint_and_policy_load_with_the_default_torch_load(self, tmp_path: Path) -> None:
        run, directory = start_ppo(digits_config(), TINY, episodes=1, run_dir=tmp_path / "run")
        train_ppo(run, directory)
        state, policy = torch.load(directory.checkpoint), torch.load(directory.policy)
        assert state["episodes_done"] == 1 and state["policy"]["layout"]["slot_ids"] == ["r0c0", "r1c0", "r2c0"]
        for name, tensor in run.policy.network.state_dict().items():
            torch.testing.assert_close(policy["network"][name], tensor)

    def test_resumed_run_continues_as_the_uninterrupted_one(self, tmp_path: Path) -> None:
        config = PPOConfig(n_envs=2, episode_epochs=2, minibatches=2, update_epochs=2)
        straight, _ = start_ppo(digits_config(seed=3), config, episodes=4, run_dir=None)
        train_ppo(straight, None)

        stopped, directory = start_ppo(digits_config(seed=3), config, episodes=4, run_dir=tmp_path / "run")
        train_ppo(stopped, directory, stop_after=1)
        resumed, directory = resume_ppo(tmp_path / "run")
        assert resumed.episodes_done == 2
        train_ppo(resumed, directory)

        assert resumed.episodes_done == 4
        assert _untimed(resumed.history) == _untimed(straight.history)
        for name, tensor in straight.policy.network.state_dict().items():
            torch.testing.assert_close(resumed.policy.network.state_dict()[name], tensor, rtol=0, atol=0)

    def test_checkpoint_of_other_slots_is_refused_naming_both(self, tmp_path: Path) -> None:
        config = digits_config(slots=("r0c0", "r1c0"))
        run, directory = start_ppo(config, TINY, episodes=1, run_dir=tmp_path / "run")
        train_ppo(run, directory)
        other = PPORun(digits_config(slots=("r0c0",)), TINY, episodes=1)
        with pytest.raises(CheckpointError, match=r"slots \['r0c0', 'r1c0'\], but this run has slots \['r0c0'\]"):
            other.load_state_dict(torch.load(directory.checkpoint), path=directory.checkpoint)


class TestDeployment:
    @pytest.fixture(scope="class")
    @classmethod
    def policy_file(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        run_dir = tmp_path_factory.mktemp("ppo") / "run"
        run, directory = start_ppo(digits_config(), TINY, episodes=1, run_dir=run_dir)
        train_ppo(run, directory)
        assert directory is not None
        return directory.policy

    def test_policy_trained_on_three_slots_drives_a_six_slot_host(self, wide_digits: str, policy_file: Path) -> None:
        sink = MemorySink()
        preset = get_task(wide_digits)
        config = preset.run_config()
        config = attrs.evolve(config, training=attrs.evolve(config.training, epochs=3))
        controller = load_policy_controller(
            policy_file, config.slots, blueprint_names(preset.topology), gates=config.lifecycle.gates
        )
        run = start(wide_digits, config, controller=controller, sinks=[sink])
        assert run.trainer.model.slot_ids == WIDE_SLOTS
        train(run)
        decisions = [e for e in sink.events if e.kind == "decision"]
        assert len(decisions) == 3 and not [e for e in decisions if "refused" in e.payload]

    def test_policy_for_other_blueprints_is_refused_naming_both(self, policy_file: Path) -> None:
        with pytest.raises(
            CheckpointError, match=r"blueprints \['conv_light', 'depthwise'.*but this run has \['noop', 'norm', 'lora'"
        ):
            load_policy_controller(
                policy_file, SlotConfig(("r0c0",)), ("noop", "norm", "lora", "attention", "mlp"), gates=GateConfig()
            )
