"""The serializer over every valid record and over broken data: primitives out, the same
record back, and a SchemaError (never an exception) for anything malformed."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Failure, Result, Success
from strategies import (
    arbitrary_values,
    broken_slot_dicts,
    lifecycle_configs,
    perturbed_slot_dicts,
    slot_configs,
    slot_states,
)

from esper_core import (
    LifecycleConfig,
    SchemaError,
    SeedState,
    SlotConfig,
    from_primitives,
    structure_slot,
    to_primitives,
    unstructure_slot,
)

PRIMITIVE_LEAVES = (str, int, float, bool, type(None))


def assert_primitive_tree(value: Any, path: str = "$") -> None:
    """Only str/int/float/bool/None leaves in plain lists and str-keyed dicts (exact types:
    an IntEnum or a tuple would pass an isinstance check but not ``weights_only`` loading)."""
    if type(value) is dict:
        for key, child in value.items():
            assert type(key) is str, f"{path}: key {key!r}"
            assert_primitive_tree(child, f"{path}.{key}")
    elif type(value) is list:
        for index, child in enumerate(value):
            assert_primitive_tree(child, f"{path}[{index}]")
    else:
        assert type(value) in PRIMITIVE_LEAVES, f"{path}: {type(value).__name__} {value!r}"


def assert_schema_failure(result: Result[Any, SchemaError]) -> None:
    assert isinstance(result, Failure), result
    error = result.failure()
    assert isinstance(error, SchemaError)
    assert str(error).strip()


def assert_schema_result(result: Result[Any, SchemaError]) -> None:
    """Valid or not, an answer: a record, or a SchemaError that says what is wrong."""
    if isinstance(result, Success):
        assert result.unwrap() is None or isinstance(result.unwrap(), SeedState)
    else:
        assert_schema_failure(result)


@given(slot_states)
def test_a_slot_unstructures_to_primitives_only(state: SeedState | None) -> None:
    assert_primitive_tree(unstructure_slot(state))


@given(slot_states)
def test_a_slot_round_trips(state: SeedState | None) -> None:
    assert structure_slot(unstructure_slot(state)) == Success(state)


@settings(max_examples=200)
@given(st.data(), slot_states)
def test_a_broken_slot_dict_is_a_schema_error(data: st.DataObject, state: SeedState | None) -> None:
    broken = data.draw(broken_slot_dicts(unstructure_slot(state)), label="broken")
    assert_schema_failure(structure_slot(broken))


@settings(max_examples=200)
@given(st.data(), slot_states)
def test_a_perturbed_slot_dict_never_raises(data: st.DataObject, state: SeedState | None) -> None:
    perturbed = data.draw(perturbed_slot_dicts(unstructure_slot(state)), label="perturbed")
    assert_schema_result(structure_slot(perturbed))


@given(arbitrary_values)
def test_arbitrary_data_is_a_schema_error(value: object) -> None:
    assert_schema_failure(structure_slot(value))


@given(lifecycle_configs)
def test_a_lifecycle_config_round_trips_through_primitives(config: LifecycleConfig) -> None:
    data = to_primitives(config)
    assert_primitive_tree(data)
    assert from_primitives(data, LifecycleConfig) == Success(config)


@given(slot_configs)
def test_a_slot_config_round_trips_through_primitives(config: SlotConfig) -> None:
    data = to_primitives(config)
    assert_primitive_tree(data)
    assert from_primitives(data, SlotConfig) == Success(config)


@given(arbitrary_values, st.sampled_from([LifecycleConfig, SlotConfig, SeedState]))
def test_from_primitives_never_raises(value: object, record: type) -> None:
    result = from_primitives(value, record)
    if isinstance(result, Success):
        assert isinstance(result.unwrap(), record)
    else:
        assert_schema_failure(result)
