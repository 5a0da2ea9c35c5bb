"""Every loader over randomly broken input: only ``EsperError``s escape, and a refusal changes nothing.

Broken inputs start from a valid payload (a model checkpoint with a blending seed, a policy
file, the primitives of a full RunConfig) and take one to three random edits: a node
replaced by an arbitrary value or by a tensor of another dtype and shape, a node deleted,
an unknown key added. Purely random structures go to ``from_primitives`` too.
"""

from __future__ import annotations

import copy
import functools
import tempfile
from pathlib import Path
from typing import Any

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Failure, Success
from strategies import arbitrary_values, json_values, node_paths, value_at

from esper_core import (
    EsperError,
    GovernorConfig,
    HeuristicConfig,
    HeuristicControllerConfig,
    LifecycleConfig,
    RunConfig,
    SchemaError,
    SeedStage,
    SeedState,
    SignalConfig,
    from_primitives,
    to_primitives,
)
from esper_core.ppo_config import PPOConfig
from esper_shell.checkpoint import load_checkpoint, model_payload
from esper_shell.model import MorphogeneticModel
from esper_shell.rl.policy_file import policy_from_payload
from tests.shell_helpers import bring_to, tiny_cnn
from tests.test_checkpoint import _same, _snapshot
from tests.test_policy_file import _layout, make_payload

SLOTS = ["r0c0", "r1c0", "r2c0"]

dtypes = st.sampled_from([torch.float32, torch.float64, torch.float16, torch.int64, torch.bool])
shapes = st.lists(st.integers(0, 4), max_size=3).map(tuple)
tensors = st.builds(lambda shape, dtype: torch.zeros(shape, dtype=dtype), shapes, dtypes)


@st.composite
def broken(draw: st.DrawFn, valid: Any, *, values: st.SearchStrategy[Any] = arbitrary_values) -> Any:
    """``valid`` after one to three random edits (replace, delete, add a key)."""
    tree = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        paths = node_paths(tree)
        if not paths:
            return draw(values)
        path = draw(st.sampled_from(paths))
        parent = value_at(tree, path[:-1])
        edit = draw(st.sampled_from(["replace", "delete", "add"]))
        if edit == "replace":
            parent[path[-1]] = draw(values)
        elif edit == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=6) | st.integers())] = draw(values)
    return tree


# --- from_primitives ----------------------------------------------------------------------

RECORDS = [RunConfig, PPOConfig, SeedState, HeuristicConfig, GovernorConfig, LifecycleConfig]
FULL_RUN_CONFIG = to_primitives(
    RunConfig(
        task="digits",
        slots=("r0c0", "r1c0"),
        lifecycle=LifecycleConfig(),
        controller=HeuristicControllerConfig(heuristic=HeuristicConfig(blueprints=("noop",))),
        signals=SignalConfig(),
    )
)
VALID = {RunConfig: FULL_RUN_CONFIG, PPOConfig: to_primitives(PPOConfig())}


def _assert_refused_in_words(result: Any, cls: type) -> None:
    assert isinstance(result, Success | Failure)
    if isinstance(result, Failure):
        message = str(result.failure())
        assert isinstance(result.failure(), SchemaError)
        assert message.startswith(f"Invalid {cls.__name__}: ")
        # The old wording leaked Python internals instead of naming the field and the type.
        assert "is not iterable" not in message and "has no attribute" not in message, message


@settings(max_examples=150)
@given(st.sampled_from(RECORDS), json_values)
def test_random_structures_are_refused_in_words(cls: type, data: Any) -> None:
    _assert_refused_in_words(from_primitives(data, cls), cls)


@settings(max_examples=200)
@given(st.sampled_from([RunConfig, PPOConfig]).flatmap(lambda cls: st.tuples(st.just(cls), broken(VALID[cls]))))
def test_broken_configs_are_refused_in_words(case: tuple[type, Any]) -> None:
    cls, data = case
    _assert_refused_in_words(from_primitives(data, cls), cls)


# --- load_checkpoint ----------------------------------------------------------------------


@functools.cache
def _checkpoint_payload() -> dict[str, Any]:
    model = MorphogeneticModel(tiny_cnn(), SLOTS)
    bring_to(model, "r1c0", SeedStage.BLENDING, blend="gated", blend_steps_done=1)
    bring_to(model, "r2c0", SeedStage.TRAINING)
    return model_payload(model, extra={"epoch": 3})


def _target() -> MorphogeneticModel:
    model = MorphogeneticModel(tiny_cnn(seed=4), SLOTS)
    bring_to(model, "r0c0", SeedStage.TRAINING)
    return model


@settings(max_examples=80)
@given(broken(_checkpoint_payload(), values=arbitrary_values | tensors))
def test_load_checkpoint_refuses_with_esper_errors_and_changes_nothing(payload: Any) -> None:
    target = _target()
    before = _snapshot(target)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        torch.save(payload, path)
        try:
            load_checkpoint(path, target)
        except EsperError:
            assert _same(before, _snapshot(target))


# --- the policy loader --------------------------------------------------------------------


@settings(max_examples=150)
@given(broken(make_payload(), values=arbitrary_values | tensors))
def test_policy_loader_refuses_with_esper_errors(payload: Any) -> None:
    try:
        policy = policy_from_payload(payload, _layout(), path=Path("policy.pt"), same_slots=False)
    except EsperError:
        return
    # Accepted: then it holds exactly the weights the payload gave, nothing cast or filled in.
    for key, value in policy.network.state_dict().items():
        assert torch.equal(value, payload["network"][key]) and value.dtype == payload["network"][key].dtype
