"""The mnist1d task preset: its data, host and growth settings fit together."""

from __future__ import annotations

import pytest
import torch

from esper_shell.blueprints import blueprint_names
from esper_shell.tasks import Task, TaskPreset, get_task


@pytest.fixture(scope="module")
def preset() -> TaskPreset:
    return get_task("mnist1d")


@pytest.fixture(scope="module")
def task(preset: TaskPreset) -> Task:
    return preset.task(0, 16, None)


def test_a_training_batch_runs_through_the_host(task: Task) -> None:
    x, _ = next(iter(task.train(torch.Generator().manual_seed(0), 16)))
    assert task.build_host()(x).shape == (16, task.num_classes)


def test_it_validates_on_the_papers_1000_test_signals(task: Task) -> None:
    assert sum(y.shape[0] for _, y in task.val) == 1000
    assert sum(y.shape[0] for _, y in task.train(torch.Generator().manual_seed(0), 100)) == 4000
    assert next(iter(task.val))[0].shape[1:] == (1, 40)


def test_default_slots_are_injection_points_of_its_host(preset: TaskPreset) -> None:
    assert set(preset.slots) <= set(preset.build_host().injection_points)


def test_its_growth_blueprints_exist_for_its_topology(preset: TaskPreset) -> None:
    assert set(preset.heuristic.blueprints) <= set(blueprint_names(preset.topology))


def test_it_is_the_default_task() -> None:
    from esper_shell.config_file import DEFAULT_TASK

    assert DEFAULT_TASK == "mnist1d"
