"""Hypothesis strategies shared by the property tests: valid core records, and ways to break them.

Generated states are *consistent* (what the reducer itself could produce: a blend schedule
only in BLENDING, alpha fixed by the stage),
with metrics spread around the gate thresholds so gates sometimes pass and sometimes fail.
"""

from __future__ import annotations

import copy
import decimal
import fractions
from typing import Any

import attrs
from hypothesis import strategies as st

from esper_core import (
    BlendAlgorithm,
    BlendSchedule,
    GateConfig,
    LifecycleConfig,
    SeedMetrics,
    SeedStage,
    SeedState,
    SlotConfig,
    StageRecord,
    format_slot_id,
)

BLUEPRINTS = ("noop", "norm", "conv_light")

# --- slot ids -----------------------------------------------------------------------------

coordinates = st.integers(min_value=0, max_value=10**9)
slot_ids = st.builds(format_slot_id, coordinates, coordinates)
# Text close enough to a slot id to reach every branch of the parser (case, sign, zeros,
# spaces, legacy names), mixed with arbitrary unicode.
slot_like_text = st.one_of(
    st.text(alphabet="rRcC0123456789 +-\t\n", max_size=10),
    st.sampled_from(["early", "mid", "late", " Early", "MID "]),
    st.text(max_size=10),
)

# --- configs ------------------------------------------------------------------------------


def finite_floats(min_value: float | None = None, max_value: float | None = None) -> st.SearchStrategy[float]:
    return st.floats(min_value=min_value, max_value=max_value, allow_nan=False, allow_infinity=False)


gate_configs = st.builds(
    GateConfig,
    min_training_epochs=st.integers(0, 3),
    min_gradient_ratio=finite_floats(0.0, 0.2),
    min_contribution=finite_floats(-1.0, 2.0),
)
# Small numbers so that a few dozen random steps walk a seed through whole lives.
lifecycle_configs = st.builds(
    LifecycleConfig,
    gates=gate_configs,
    blend_steps=st.integers(1, 4),
    default_blend=st.sampled_from(BlendAlgorithm),
    sigmoid_steepness=finite_floats(0.1, 50.0),
    probation_epochs=st.integers(1, 4),
    embargo_epochs=st.integers(0, 3),
    history_limit=st.integers(1, 8),
)
slot_configs = st.lists(slot_ids, min_size=1, max_size=8, unique=True).map(SlotConfig)

# --- seed states --------------------------------------------------------------------------

accuracies = finite_floats(0.0, 100.0)
timestamps = st.floats(allow_nan=False)
stage_records = st.builds(StageRecord, st.sampled_from(SeedStage), st.integers(0, 10**6), timestamps)


@st.composite
def seed_metrics(draw: st.DrawFn) -> SeedMetrics:
    """Half the time a seed that passes every gate of ``gate_configs``; else anything."""
    if draw(st.booleans()):
        in_stage = draw(st.integers(3, 6))
        contribution: float | None = draw(finite_floats(2.0, 3.0))
        ratio: float | None = draw(finite_floats(0.2, 0.3))
        finite = True
    else:
        in_stage = draw(st.integers(0, 6))
        contribution = draw(st.none() | finite_floats(-3.0, 3.0))
        ratio = draw(st.none() | finite_floats(0.0, 0.3))
        finite = draw(st.booleans())
    return SeedMetrics(
        epochs_total=in_stage + draw(st.integers(0, 50)),
        epochs_in_stage=in_stage,
        accuracy_at_germination=draw(accuracies),
        accuracy_at_stage_start=draw(accuracies),
        accuracy_at_blending_start=draw(st.none() | accuracies),
        current_accuracy=draw(accuracies),
        best_accuracy=draw(accuracies),
        counterfactual_contribution=contribution,
        seed_gradient_ratio=ratio,
        gradients_finite=finite,
        seed_param_count=draw(st.integers(0, 10**7)),
        host_param_count=draw(st.integers(0, 10**9)),
    )


def _alpha_for(stage: SeedStage) -> st.SearchStrategy[float]:
    if stage is SeedStage.BLENDING:
        return st.floats(0.0, 1.0)
    return st.just(1.0 if stage in (SeedStage.PROBATIONARY, SeedStage.FOSSILIZED) else 0.0)


@st.composite
def seed_states(draw: st.DrawFn, stages: st.SearchStrategy[SeedStage] = st.sampled_from(SeedStage)) -> SeedState:
    stage = draw(stages)
    algorithm = draw(st.sampled_from(BlendAlgorithm))
    schedule = None
    if stage is SeedStage.BLENDING:
        total = draw(st.integers(1, 6))
        schedule = BlendSchedule(algorithm=algorithm, total_steps=total, current_step=draw(st.integers(0, total)))
    return SeedState(
        seed_id=draw(st.text(min_size=1, max_size=12)),
        slot_id=draw(slot_ids),
        blueprint_id=draw(st.sampled_from(BLUEPRINTS)),
        stage=stage,
        blend_algorithm=algorithm,
        alpha=draw(_alpha_for(stage)),
        blend=schedule,
        embargo_remaining=draw(st.integers(0, 4)) if stage is SeedStage.EMBARGOED else 0,
        stage_entered_at=draw(timestamps),
        metrics=draw(seed_metrics()),
        history=tuple(draw(st.lists(stage_records, max_size=4))),
    )


slot_states = st.none() | seed_states()

# --- malformed data -----------------------------------------------------------------------

# JSON-like values, NaN and infinities included: what a corrupted checkpoint could hold.
json_leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
# Python values no primitive serializer would produce.
odd_values = st.sampled_from(
    [bytes, complex, decimal.Decimal, fractions.Fraction, tuple[int, ...], set[str], frozenset[int], dict[int, str]]
).flatmap(st.from_type)
arbitrary_values = json_values | odd_values

Path = tuple[Any, ...]


def node_paths(tree: Any, prefix: Path = ()) -> list[Path]:
    """Every position below the root of a dict/list tree."""
    children: list[tuple[Any, Any]] = []
    if isinstance(tree, dict):
        children = list(tree.items())
    elif isinstance(tree, list):
        children = list(enumerate(tree))
    paths: list[Path] = []
    for key, child in children:
        paths.append((*prefix, key))
        paths += node_paths(child, (*prefix, key))
    return paths


def value_at(tree: Any, path: Path) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def replaced(tree: Any, path: Path, value: Any) -> Any:
    new = copy.deepcopy(tree)
    value_at(new, path[:-1])[path[-1]] = value
    return new


def without(tree: Any, path: Path) -> Any:
    new = copy.deepcopy(tree)
    del value_at(new, path[:-1])[path[-1]]
    return new


def _required(record: type) -> frozenset[str]:
    return frozenset(field.name for field in attrs.fields(record) if field.default is attrs.NOTHING)


def _record_at(path: Path) -> type | None:
    """The record a dict inside an ``unstructure_slot`` tree holds, by its position."""
    match path:
        case ("seed_state",):
            return SeedState
        case ("blend",):
            return BlendSchedule
        case ("seed_state", "metrics"):
            return SeedMetrics
        case ("seed_state", "history", int()):
            return StageRecord
        case _:
            return None


def required_key_paths(tree: dict[str, Any]) -> list[Path]:
    """Keys that have no default: without one, the data cannot describe a slot."""
    top = [(key,) for key in tree]
    nested = [
        path
        for path in node_paths(tree)
        if len(path) > 1 and (record := _record_at(path[:-1])) is not None and path[-1] in _required(record)
    ]
    return top + nested


def dict_paths(tree: dict[str, Any]) -> list[Path]:
    return [(), *(path for path in node_paths(tree) if isinstance(value_at(tree, path), dict))]


def wrong_type_for(leaf: Any) -> st.SearchStrategy[Any]:
    """Values a strict structurer must refuse where ``leaf`` (a valid value) stood."""
    short_lists = st.lists(st.integers(), max_size=2)
    if isinstance(leaf, bool):
        return st.text(max_size=5) | st.none() | st.integers() | short_lists
    if isinstance(leaf, int):
        return st.text(max_size=5) | st.none() | st.booleans() | short_lists
    if isinstance(leaf, float):
        # Not None: several float fields are optional.
        return st.text(max_size=5) | st.booleans() | short_lists
    if isinstance(leaf, str):
        return st.integers() | st.floats() | st.none() | st.booleans() | short_lists
    # None: an optional float, an optional schedule or an absent seed.
    return st.text(max_size=5) | st.booleans() | short_lists


@st.composite
def broken_slot_dicts(draw: st.DrawFn, valid: dict[str, Any]) -> dict[str, Any]:
    """``valid`` with one change that no strict reader may accept."""
    leaves = [path for path in node_paths(valid) if not isinstance(value_at(valid, path), (dict, list))]
    mutation = draw(st.sampled_from(["drop", "add", "retype", "schema"]))
    if mutation == "drop":
        return without(valid, draw(st.sampled_from(required_key_paths(valid))))
    if mutation == "add":
        path = draw(st.sampled_from(dict_paths(valid)))
        existing = value_at(valid, path)
        key = draw(st.text(max_size=8).filter(lambda k: k not in existing))
        return replaced(valid, (*path, key), draw(json_values))
    if mutation == "retype":
        path = draw(st.sampled_from(leaves))
        return replaced(valid, path, draw(wrong_type_for(value_at(valid, path))))
    return {**valid, "schema": draw(st.integers().filter(lambda v: v != valid["schema"]))}


@st.composite
def perturbed_slot_dicts(draw: st.DrawFn, valid: dict[str, Any]) -> dict[str, Any]:
    """``valid`` with any one position replaced or removed: valid or not, never a crash."""
    path = draw(st.sampled_from(node_paths(valid)))
    if draw(st.booleans()):
        return without(valid, path)
    return replaced(valid, path, draw(arbitrary_values))
