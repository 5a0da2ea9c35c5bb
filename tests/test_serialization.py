"""Serialization (DESIGN §1, §9): records <-> dicts of primitives, enums by name, strict on the way in."""

from __future__ import annotations

import copy
from typing import Any

import attrs
import pytest
from returns.result import Failure, Success

from esper_core import (
    SLOT_SCHEMA_VERSION,
    BlendAlgorithm,
    BlendSchedule,
    GateConfig,
    LifecycleConfig,
    SchemaError,
    SeedMetrics,
    SeedStage,
    SeedState,
    Severity,
    SlotConfig,
    StageRecord,
    TelemetryEvent,
    from_primitives,
    isolates_gradients,
    structure_slot,
    to_primitives,
    unstructure_slot,
)


def blending_state() -> SeedState:
    return SeedState(
        seed_id="seed-7",
        slot_id="r1c2",
        blueprint_id="conv_light",
        stage=SeedStage.BLENDING,
        blend_algorithm=BlendAlgorithm.GATED,
        alpha=0.25,
        blend=BlendSchedule(algorithm=BlendAlgorithm.GATED, total_steps=5, current_step=2),
        stage_entered_at=1700000000.5,
        metrics=SeedMetrics(
            epochs_total=9,
            epochs_in_stage=2,
            accuracy_at_germination=41.0,
            accuracy_at_blending_start=60.5,
            current_accuracy=63.0,
            best_accuracy=64.0,
            seed_gradient_ratio=0.2,
            seed_param_count=1200,
            host_param_count=90000,
        ),
        history=(StageRecord(SeedStage.GERMINATED, 0, 1.0), StageRecord(SeedStage.BLENDING, 7, 2.5)),
    )


def training_state() -> SeedState:
    return attrs.evolve(blending_state(), stage=SeedStage.TRAINING, blend=None, alpha=0.0)


def assert_schema_failure(result: object, *fragments: str) -> None:
    assert isinstance(result, Failure), result
    error = result.failure()
    assert isinstance(error, SchemaError)
    for fragment in fragments:
        assert fragment in str(error), (fragment, str(error))


class TestUnstructureSlot:
    def test_has_the_checkpoint_layout(self) -> None:
        assert set(unstructure_slot(blending_state())) == {"schema", "seed_state", "blend", "isolate_gradients"}

    def test_records_the_schema_version(self) -> None:
        assert unstructure_slot(blending_state())["schema"] == SLOT_SCHEMA_VERSION == 1

    def test_puts_the_blend_schedule_at_top_level(self) -> None:
        data = unstructure_slot(blending_state())
        assert data["blend"] == {"algorithm": "GATED", "total_steps": 5, "current_step": 2}
        assert "blend" not in data["seed_state"]

    def test_puts_isolation_at_top_level(self) -> None:
        data = unstructure_slot(blending_state())
        assert data["isolate_gradients"] is True
        assert "isolate_gradients" not in data["seed_state"]

    @pytest.mark.parametrize("stage", list(SeedStage), ids=lambda s: s.name)
    def test_writes_isolation_from_the_stage(self, stage: SeedStage) -> None:
        state = attrs.evolve(training_state(), stage=stage)
        assert unstructure_slot(state)["isolate_gradients"] is isolates_gradients(stage)

    def test_writes_enums_by_name(self) -> None:
        seed = unstructure_slot(blending_state())["seed_state"]
        assert (seed["stage"], seed["blend_algorithm"]) == ("BLENDING", "GATED")

    def test_writes_history_as_a_list_of_dicts(self) -> None:
        history = unstructure_slot(blending_state())["seed_state"]["history"]
        assert history == [
            {"stage": "GERMINATED", "epoch": 0, "timestamp": 1.0},
            {"stage": "BLENDING", "epoch": 7, "timestamp": 2.5},
        ]

    def test_writes_metrics_as_a_dict(self) -> None:
        metrics = unstructure_slot(blending_state())["seed_state"]["metrics"]
        assert metrics["counterfactual_contribution"] is None and metrics["seed_param_count"] == 1200

    def test_empty_slot_has_no_seed_and_no_blend(self) -> None:
        assert unstructure_slot(None) == {"schema": 1, "seed_state": None, "blend": None, "isolate_gradients": False}


class TestStructureSlot:
    @pytest.mark.parametrize("state", [blending_state(), training_state(), None], ids=["blending", "training", "empty"])
    def test_round_trips(self, state: SeedState | None) -> None:
        assert structure_slot(unstructure_slot(state)) == Success(state)

    def test_accepts_an_int_where_a_float_is_expected(self) -> None:
        data = unstructure_slot(training_state())
        data["seed_state"]["stage_entered_at"] = 12
        restored = structure_slot(data).unwrap()
        assert restored is not None and restored.stage_entered_at == 12.0

    def test_does_not_mutate_its_input(self) -> None:
        data = unstructure_slot(blending_state())
        snapshot = copy.deepcopy(data)
        structure_slot(data)
        assert data == snapshot

    @pytest.mark.parametrize("data", [None, [], "slot", 1])
    def test_non_dict_is_failure(self, data: object) -> None:
        assert_schema_failure(structure_slot(data), "must be a dict with keys")

    def test_missing_top_level_key_is_failure_listing_the_keys(self) -> None:
        data = unstructure_slot(training_state())
        del data["blend"]
        assert_schema_failure(structure_slot(data), "'blend'", "got ['isolate_gradients', 'schema', 'seed_state']")

    def test_extra_top_level_key_is_failure(self) -> None:
        data = {**unstructure_slot(None), "gate": None}
        assert_schema_failure(structure_slot(data), "'gate'")

    @pytest.mark.parametrize("version", [0, 2, "1", None, True])
    def test_other_schema_version_is_failure_naming_both_versions(self, version: object) -> None:
        data = {**unstructure_slot(training_state()), "schema": version}
        assert_schema_failure(structure_slot(data), f"schema version {version!r}", "reads version 1")

    def test_float_schema_version_is_failure(self) -> None:
        data = {**unstructure_slot(None), "schema": 1.0}
        assert_schema_failure(structure_slot(data), "schema version 1.0")

    def test_seed_state_that_is_not_a_dict_is_failure(self) -> None:
        data = {**unstructure_slot(None), "seed_state": ["r0c0"]}
        assert_schema_failure(structure_slot(data), "seed_state is a list")

    def test_blend_without_a_seed_is_failure(self) -> None:
        data = {**unstructure_slot(None), "blend": {"algorithm": "LINEAR", "total_steps": 3, "current_step": 0}}
        assert_schema_failure(structure_slot(data), "blend schedule without a seed")

    def test_isolation_of_an_empty_slot_must_be_a_bool(self) -> None:
        data = {**unstructure_slot(None), "isolate_gradients": "yes"}
        assert_schema_failure(structure_slot(data), "isolate_gradients")

    def test_blend_outside_blending_is_failure_naming_the_stage(self) -> None:
        data = unstructure_slot(training_state())
        data["blend"] = {"algorithm": "LINEAR", "total_steps": 3, "current_step": 0}
        assert_schema_failure(structure_slot(data), "stage TRAINING has a blend schedule", "only BLENDING")

    def test_blending_without_a_blend_is_failure(self) -> None:
        data = unstructure_slot(blending_state())
        data["blend"] = None
        assert_schema_failure(structure_slot(data), "stage BLENDING lacks a blend schedule")

    def test_missing_seed_field_is_failure_naming_it(self) -> None:
        data = unstructure_slot(training_state())
        del data["seed_state"]["blueprint_id"]
        assert_schema_failure(structure_slot(data), "SeedState.blueprint_id")

    def test_missing_nested_field_is_failure_naming_its_path(self) -> None:
        data = unstructure_slot(blending_state())
        del data["blend"]["total_steps"]
        assert_schema_failure(structure_slot(data), "SeedState.blend.total_steps")

    def test_extra_seed_field_is_failure_naming_it(self) -> None:
        data = unstructure_slot(training_state())
        data["seed_state"]["gate_weights"] = [0.1]
        assert_schema_failure(structure_slot(data), "gate_weights")

    def test_non_string_key_in_seed_state_is_failure_not_exception(self) -> None:
        data = unstructure_slot(training_state())
        data["seed_state"][0] = "extra"
        assert_schema_failure(structure_slot(data), "0")

    def test_blend_inside_seed_state_is_failure_not_silently_overwritten(self) -> None:
        data = unstructure_slot(training_state())
        data["seed_state"]["blend"] = {"algorithm": "LINEAR", "total_steps": 3, "current_step": 0}
        assert_schema_failure(structure_slot(data), "blend")

    @pytest.mark.parametrize("stage", ["training", "Training", 3, None])
    def test_stage_must_be_an_enum_name(self, stage: object) -> None:
        data = unstructure_slot(training_state())
        data["seed_state"]["stage"] = stage
        assert_schema_failure(structure_slot(data), "SeedState.stage", "DORMANT, GERMINATED")

    def test_unknown_blend_algorithm_is_failure(self) -> None:
        data = unstructure_slot(blending_state())
        data["blend"]["algorithm"] = "CUBIC"
        assert_schema_failure(structure_slot(data), "SeedState.blend.algorithm", "'CUBIC'")

    @pytest.mark.parametrize("value", [True, 1.0, "1", None])
    def test_int_field_accepts_only_an_int(self, value: object) -> None:
        data = unstructure_slot(training_state())
        data["seed_state"]["metrics"]["epochs_total"] = value
        assert_schema_failure(structure_slot(data), "SeedState.metrics.epochs_total")

    @pytest.mark.parametrize("value", ["1.0", True, None, [1.0]])
    def test_float_field_accepts_only_a_number(self, value: object) -> None:
        data = unstructure_slot(training_state())
        data["seed_state"]["alpha"] = value
        assert_schema_failure(structure_slot(data), "SeedState.alpha")

    @pytest.mark.parametrize("value", [1, 0, "true", None])
    def test_bool_field_accepts_only_a_bool(self, value: object) -> None:
        data = unstructure_slot(training_state())
        data["seed_state"]["metrics"]["gradients_finite"] = value
        assert_schema_failure(structure_slot(data), "SeedState.metrics.gradients_finite")

    @pytest.mark.parametrize("value", [1, 0, "true", None])
    def test_isolation_of_a_seed_accepts_only_a_bool(self, value: object) -> None:
        data = unstructure_slot(training_state())
        data["isolate_gradients"] = value
        assert_schema_failure(structure_slot(data), "isolate_gradients must be true or false")

    def test_isolation_that_disagrees_with_the_stage_is_failure(self) -> None:
        data = unstructure_slot(training_state())
        data["isolate_gradients"] = False
        assert_schema_failure(structure_slot(data), "isolate_gradients is False", "TRAINING is isolated")

    @pytest.mark.parametrize("value", [7, None, b"id"])
    def test_str_field_accepts_only_a_str(self, value: object) -> None:
        data = unstructure_slot(training_state())
        data["seed_state"]["seed_id"] = value
        assert_schema_failure(structure_slot(data), "SeedState.seed_id")

    def test_optional_float_refuses_a_str(self) -> None:
        data = unstructure_slot(training_state())
        data["seed_state"]["metrics"]["counterfactual_contribution"] = "high"
        assert_schema_failure(structure_slot(data), "SeedState.metrics.counterfactual_contribution")

    def test_alpha_outside_zero_one_is_failure_naming_it(self) -> None:
        data = unstructure_slot(training_state())
        data["seed_state"]["alpha"] = 1.5
        assert_schema_failure(structure_slot(data), "'alpha' must be <= 1.0")

    def test_bad_history_entry_is_failure_naming_its_index(self) -> None:
        data = unstructure_slot(training_state())
        data["seed_state"]["history"][1]["epoch"] = "seven"
        assert_schema_failure(structure_slot(data), "SeedState.history[1].epoch")

    def test_failure_message_names_the_record(self) -> None:
        data = unstructure_slot(training_state())
        data["seed_state"]["alpha"] = "1.0"
        assert_schema_failure(structure_slot(data), "Invalid SeedState")


class TestToPrimitives:
    def test_lifecycle_config_is_a_nested_dict_with_enums_by_name(self) -> None:
        data = to_primitives(LifecycleConfig())
        assert data["default_blend"] == "SIGMOID"
        assert data["gates"] == {"min_training_epochs": 3, "min_gradient_ratio": 0.05, "min_contribution": 1.0}

    def test_slot_config_is_a_list_of_ids_in_row_major_order(self) -> None:
        assert to_primitives(SlotConfig(("r1c0", "r0c0"))) == ["r0c0", "r1c0"]

    def test_telemetry_event_writes_severity_by_name(self) -> None:
        event = TelemetryEvent(kind="gate", epoch=3, severity=Severity.WARNING, payload={"gate": "G2"})
        assert to_primitives(event) == {
            "kind": "gate",
            "epoch": 3,
            "slot_id": None,
            "seed_id": None,
            "severity": "WARNING",
            "payload": {"gate": "G2"},
        }


class TestFromPrimitives:
    def test_lifecycle_config_round_trips(self) -> None:
        config = LifecycleConfig(
            gates=GateConfig(min_training_epochs=1, min_gradient_ratio=0.5, min_contribution=2.0),
            blend_steps=9,
            default_blend=BlendAlgorithm.GATED,
            embargo_epochs=0,
        )
        assert from_primitives(to_primitives(config), LifecycleConfig) == Success(config)

    def test_slot_config_round_trips(self) -> None:
        config = SlotConfig.for_grid(2, 2)
        assert from_primitives(to_primitives(config), SlotConfig) == Success(config)

    def test_missing_keys_take_their_defaults(self) -> None:
        assert from_primitives({"blend_steps": 2}, LifecycleConfig) == Success(LifecycleConfig(blend_steps=2))

    def test_out_of_range_value_is_failure_naming_the_field(self) -> None:
        assert_schema_failure(from_primitives({"blend_steps": 0}, LifecycleConfig), "'blend_steps' must be >= 1")

    def test_unknown_key_is_failure_naming_it(self) -> None:
        assert_schema_failure(from_primitives({"blend_step": 2}, LifecycleConfig), "blend_step")

    def test_nested_wrong_type_is_failure_naming_the_path(self) -> None:
        data: dict[str, Any] = {"gates": {"min_training_epochs": "3"}}
        assert_schema_failure(from_primitives(data, LifecycleConfig), "LifecycleConfig.gates.min_training_epochs")

    def test_non_canonical_slot_id_is_failure_showing_the_canonical_form(self) -> None:
        assert_schema_failure(from_primitives(["R1C0"], SlotConfig), "'r1c0'")

    def test_duplicate_slot_ids_are_failure(self) -> None:
        assert_schema_failure(from_primitives(["r0c0", "r0c0"], SlotConfig), "repeated: r0c0")

    def test_slot_ids_given_as_a_mapping_are_failure(self) -> None:
        assert_schema_failure(from_primitives({"r0c0": None}, SlotConfig), "Invalid SlotConfig", "expected a list")

    def test_non_dict_is_failure(self) -> None:
        assert_schema_failure(from_primitives([1, 2], LifecycleConfig), "Invalid LifecycleConfig")

    def test_non_string_key_is_failure_not_exception(self) -> None:
        assert_schema_failure(from_primitives({0: ""}, LifecycleConfig), "Invalid LifecycleConfig")
