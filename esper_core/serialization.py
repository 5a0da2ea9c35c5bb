"""One cattrs converter: core records <-> dicts of primitives, for checkpoints and configs.

The output holds only str, int, float, bool, None, list and dict, so a checkpoint loads with
``torch.load``'s default ``weights_only=True``. Enums are written by name (renumbering an
enum must not silently change old checkpoints). Structuring is strict: a wrong type is an
error naming the field, never a coercion.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn
from cattrs.strategies import configure_tagged_union
from returns.result import Failure, Result, Success

from esper_core.action_space import SlotConfig
from esper_core.errors import EsperError, SchemaError
from esper_core.run_config import ControllerConfig
from esper_core.seed_roles import isolates_gradients
from esper_core.stages import SeedStage
from esper_core.state import SeedState

T = TypeVar("T")

SLOT_SCHEMA_VERSION = 1
_SLOT_KEYS = frozenset({"schema", "seed_state", "blend", "isolate_gradients"})
_TOP_LEVEL_FIELDS = frozenset({"blend", "isolate_gradients"})

SCHEMA_VERSION_MESSAGE = "Slot state has schema version {found!r}; this version of Esper reads version {expected}."
SLOT_KEYS_MESSAGE = "Slot state must be a dict with keys {expected}; got {found}."
BLEND_STAGE_MESSAGE = "Slot state is inconsistent: stage {stage} {has} a blend schedule (only BLENDING has one)."
ISOLATION_MESSAGE = (
    "Slot state is inconsistent: isolate_gradients is {found!r}, but a seed in {stage} is {expected} "
    "(isolation follows from the stage)."
)
ISOLATION_TYPE_MESSAGE = "isolate_gradients must be true or false, got {found!r}"
BLEND_STEP_MESSAGE = (
    "Slot state is inconsistent: the blend schedule is at step {current} of {total}; a schedule never passes its end."
)
INVALID_MESSAGE = "Invalid {what}: {details}."
CONTROLLER_MESSAGE = "expected a controller table whose kind is one of {kinds}, got {found!r}"


class _ShapeError(TypeError):
    """A value of the wrong kind; its message already says, in words, what was expected and what came."""


def _value_words(value: object) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}
    if value is None:
        return "nothing (None)"
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return f"{kinds.get(type(value), type(value).__name__)} {shown}"


def _type_words(target: Any) -> str:
    """A field's type as a user reads it in a config file: ``int | None`` is "an integer (or leave it out)"."""
    origin, args = typing.get_origin(target), typing.get_args(target)
    if origin in (typing.Union, types.UnionType):
        options = [_type_words(arg) for arg in args if arg is not type(None)]
        return " or ".join(options) + (" (or leave it out)" if type(None) in args else "")
    if origin in (tuple, list):
        return f"a list of {_type_words(args[0]).split(' ', 1)[-1]}s" if args else "a list"
    if origin is dict or target is dict:
        return "a table"
    if isinstance(target, type) and issubclass(target, enum.Enum):
        return f"one of {', '.join(target.__members__)}"
    if attrs.has(target):
        return f"a table of {target.__name__} fields"
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return words.get(target, getattr(target, "__name__", repr(target)))


def _structure_enum(value: object, enum_type: type[enum.Enum]) -> enum.Enum:
    if not isinstance(value, str) or value not in enum_type.__members__:
        raise _ShapeError(f"expected {_type_words(enum_type)} (by name), got {_value_words(value)}")
    return enum_type[value]


def _strict(*types_: type) -> Any:
    """A structure hook that accepts exactly these types (bool is never an int or float here)."""

    def hook(value: object, target: type) -> object:
        if isinstance(value, bool) and bool not in types_ or not isinstance(value, types_):
            raise _ShapeError(f"expected {_type_words(target)}, got {_value_words(value)}")
        return target(value)

    return hook


def _is_homogeneous_tuple(target: object) -> bool:
    return typing.get_origin(target) is tuple and typing.get_args(target)[-1:] == (Ellipsis,)


def _structure_tuple(value: object, target: Any) -> tuple[Any, ...]:
    """Sequences come back from primitives as lists; anything else (a dict, a string) is wrong."""
    if not isinstance(value, (list, tuple)):
        raise _ShapeError(f"expected {_type_words(target)}, got {_value_words(value)}")
    return tuple(converter.structure(value, list[typing.get_args(target)[0]]))


def _record_hook(conv: cattrs.Converter) -> Any:
    """cattrs' own hook for a record, behind a check that the value is a table at all."""

    def factory(cls: type) -> Any:
        inner = make_dict_structure_fn(cls, conv)

        def hook(value: object, target: type) -> object:
            if not isinstance(value, dict):
                raise _ShapeError(f"expected {_type_words(cls)}, got {_value_words(value)}")
            return inner(value, target)

        return hook

    return factory


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    is_enum = lambda t: isinstance(t, type) and issubclass(t, enum.Enum)  # noqa: E731
    conv.register_unstructure_hook_func(is_enum, lambda member: member.name)
    conv.register_structure_hook_factory(attrs.has, _record_hook(conv))
    conv.register_structure_hook_func(is_enum, _structure_enum)
    conv.register_structure_hook(int, _strict(int))
    conv.register_structure_hook(float, _strict(int, float))
    conv.register_structure_hook(bool, _strict(bool))
    conv.register_structure_hook(str, _strict(str))
    conv.register_structure_hook_func(_is_homogeneous_tuple, _structure_tuple)
    # A slot list reads and writes as the plain list it is in a config file.
    conv.register_unstructure_hook(SlotConfig, lambda slots: list(slots.slot_ids))
    conv.register_structure_hook(SlotConfig, lambda value, _: SlotConfig(_structure_tuple(value, tuple[str, ...])))
    configure_tagged_union(ControllerConfig, conv, tag_generator=lambda cls: cls.kind, tag_name="kind")
    tagged = conv.get_structure_hook(ControllerConfig)
    kinds = ", ".join(repr(cls.kind) for cls in typing.get_args(ControllerConfig))

    def structure_controller(value: object, target: Any) -> object:
        # The tagged union reads ``value["kind"]``: anything but a table with a known kind is refused first.
        if not isinstance(value, dict) or value.get("kind") not in {
            cls.kind for cls in typing.get_args(ControllerConfig)
        }:
            found = value.get("kind") if isinstance(value, dict) else value
            raise _ShapeError(CONTROLLER_MESSAGE.format(kinds=kinds, found=found))
        return tagged(value, target)

    conv.register_structure_hook(ControllerConfig, structure_controller)
    return conv


converter = _make_converter()


def to_primitives(record: object) -> Any:
    return converter.unstructure(record)


def from_primitives(data: object, cls: type[T]) -> Result[T, SchemaError]:
    """Rebuild a record; any problem comes back as a ``SchemaError`` naming the field and what it must be."""
    try:
        return Success(converter.structure(data, cls))
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            problems = cattrs.transform_error(exc, path=cls.__name__, format_exception=_describe)
            details = "; ".join(_path_first(problem) for problem in problems)
        else:
            details = _describe(exc, cls)
        return Failure(SchemaError(INVALID_MESSAGE.format(what=cls.__name__, details=details)))


def _path_first(problem: str) -> str:
    """cattrs writes "what @ where"; a reader looks for the field first."""
    what, _, where = problem.rpartition(" @ ")
    return f"{where}: {what}" if what else problem


def _describe(exc: BaseException, target: Any) -> str:
    """What was wrong, in words: the expected type, the value that came, or the validator's own message."""
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        known = ", ".join(field.name for field in attrs.fields(exc.cl)) if attrs.has(exc.cl) else "none"
        return f"unknown fields {', '.join(sorted(map(repr, exc.extra_fields)))} (known: {known})"
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, (_ShapeError, EsperError)) or (isinstance(exc, ValueError) and target is None):
        return str(exc)
    if isinstance(exc, ValueError):
        return f"{exc}" if str(exc) else f"invalid value, expected {_type_words(target)}"
    expected = f"expected {_type_words(target)}" if target is not None else "invalid value"
    return f"{expected} ({type(exc).__name__}: {exc})"


def unstructure_slot(state: SeedState | None, *, blend_gradient_to_host: bool = False) -> dict[str, Any]:
    """A slot's extra state for checkpoints (DESIGN §9): the schedule and isolation at top level.

    ``isolate_gradients`` is not state of its own: it is written from the stage, for readers of
    the file, and checked against the stage on load.
    """
    if state is None:
        return {"schema": SLOT_SCHEMA_VERSION, "seed_state": None, "blend": None, "isolate_gradients": False}
    seed = to_primitives(state)
    blend = seed.pop("blend")
    isolate = isolates_gradients(state.stage, blend_gradient_to_host=blend_gradient_to_host)
    return {"schema": SLOT_SCHEMA_VERSION, "seed_state": seed, "blend": blend, "isolate_gradients": isolate}


def structure_slot(data: object, *, blend_gradient_to_host: bool = False) -> Result[SeedState | None, SchemaError]:
    if not isinstance(data, dict) or set(data) != _SLOT_KEYS:
        found = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        return Failure(SchemaError(SLOT_KEYS_MESSAGE.format(expected=sorted(_SLOT_KEYS), found=found)))
    if type(data["schema"]) is not int or data["schema"] != SLOT_SCHEMA_VERSION:
        return Failure(SchemaError(SCHEMA_VERSION_MESSAGE.format(found=data["schema"], expected=SLOT_SCHEMA_VERSION)))
    seed = data["seed_state"]
    if type(data["isolate_gradients"]) is not bool:
        details = ISOLATION_TYPE_MESSAGE.format(found=data["isolate_gradients"])
        return Failure(SchemaError(INVALID_MESSAGE.format(what="slot state", details=details)))
    if seed is None:
        if data["blend"] is not None:
            return Failure(
                SchemaError(INVALID_MESSAGE.format(what="slot state", details="a blend schedule without a seed"))
            )
        if data["isolate_gradients"] is not False:
            details = f"isolate_gradients of an empty slot must be false, got {data['isolate_gradients']!r}"
            return Failure(SchemaError(INVALID_MESSAGE.format(what="slot state", details=details)))
        return Success(None)
    if not isinstance(seed, dict):
        return Failure(
            SchemaError(INVALID_MESSAGE.format(what="slot state", details=f"seed_state is a {type(seed).__name__}"))
        )
    misplaced = sorted(_TOP_LEVEL_FIELDS & set(seed))
    if misplaced:
        details = f"seed_state must not hold {', '.join(misplaced)} (they sit at the top level)"
        return Failure(SchemaError(INVALID_MESSAGE.format(what="slot state", details=details)))
    merged = {**seed, "blend": data["blend"]}
    return (
        from_primitives(merged, SeedState)
        .bind(_check_blend_matches_stage)
        .bind(lambda state: _check_isolation_matches_stage(state, data["isolate_gradients"], blend_gradient_to_host))
    )


def _check_blend_matches_stage(state: SeedState) -> Result[SeedState, SchemaError]:
    blending = state.stage is SeedStage.BLENDING
    if blending != (state.blend is not None):
        has = "lacks" if blending else "has"
        return Failure(SchemaError(BLEND_STAGE_MESSAGE.format(stage=state.stage.name, has=has)))
    if state.blend is not None and state.blend.current_step > state.blend.total_steps:
        message = BLEND_STEP_MESSAGE.format(current=state.blend.current_step, total=state.blend.total_steps)
        return Failure(SchemaError(message))
    return Success(state)


def _check_isolation_matches_stage(
    state: SeedState, isolate: bool, blend_gradient_to_host: bool
) -> Result[SeedState, SchemaError]:
    expected = isolates_gradients(state.stage, blend_gradient_to_host=blend_gradient_to_host)
    if isolate is not expected:
        wording = "isolated" if expected else "not isolated"
        return Failure(SchemaError(ISOLATION_MESSAGE.format(found=isolate, stage=state.stage.name, expected=wording)))
    return Success(state)
