"""Lifecycle and gate configs, and the ``finite`` validator every float config field carries."""

from __future__ import annotations

import attrs
import pytest

from esper_core.config import GateConfig, LifecycleConfig
from esper_core.errors import ConfigError, SchemaError
from esper_core.serialization import from_primitives

NON_FINITE = (float("nan"), float("inf"), float("-inf"))


def float_fields(cls: type) -> list[str]:
    return [field.name for field in attrs.fields(cls) if field.type in ("float", float)]


def non_finite_cases(*classes: type) -> list[tuple[type, str, float]]:
    """Every float field of every class, with NaN, inf and -inf."""
    return [(cls, name, value) for cls in classes for name in float_fields(cls) for value in NON_FINITE]


def assert_refused_by_name(cls: type, name: str, value: float) -> None:
    """Refused at construction, and through ``from_primitives`` (a config file), naming record, field and value."""
    expected = f"{cls.__name__}.{name} = {value!r}: a config value must be a finite number"
    with pytest.raises(ConfigError) as caught:
        cls(**{name: value})
    assert expected in str(caught.value)
    result = from_primitives({name: value}, cls)
    assert isinstance(result.failure(), SchemaError)
    assert expected in str(result.failure())


@pytest.mark.parametrize(("cls", "name", "value"), non_finite_cases(GateConfig, LifecycleConfig))
def test_non_finite_float_is_refused_naming_the_field(cls: type, name: str, value: float) -> None:
    assert_refused_by_name(cls, name, value)


def test_every_float_field_of_the_gate_and_lifecycle_configs_is_checked() -> None:
    assert float_fields(GateConfig) == ["min_gradient_ratio", "min_contribution"]
    assert float_fields(LifecycleConfig) == ["sigmoid_steepness"]


def test_finite_values_still_pass() -> None:
    assert GateConfig(min_contribution=-2.5).min_contribution == -2.5
