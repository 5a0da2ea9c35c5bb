"""The mnist1d task preset: its data, host and growth settings fit together."""

from __future__ import annotations

import pytest
import torch

from esper_shell.blueprints import blueprint_names
from esper_shell.tasks import Batches, TaskSpec, get_task


@pytest.fixture(scope="module")
def task() -> TaskSpec:
    return get_task("mnist1d")


@pytest.fixture(scope="module")
def batches(task: TaskSpec) -> Batches:
    return task.load(None, 0, 16)


def test_a_training_batch_runs_through_the_host(task: TaskSpec, batches: Batches) -> None:
    x, _ = next(batches.train(torch.Generator().manual_seed(0)))
    assert task.build_host()(x).shape == (16, batches.num_classes)


def test_it_validates_on_the_papers_1000_test_signals(batches: Batches) -> None:
    assert batches.describe == {"train": 4000, "val": 1000, "length": 40}


def test_default_slots_are_injection_points_of_its_host(task: TaskSpec) -> None:
    assert set(task.default_slots) <= set(task.build_host().injection_points)


def test_its_growth_blueprints_exist_for_its_topology(task: TaskSpec) -> None:
    assert set(task.heuristic.blueprints) <= set(blueprint_names(task.topology))
