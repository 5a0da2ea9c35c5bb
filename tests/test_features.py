"""The policy's input (DESIGN §10 RL): global block + one same-sized block per slot, in SlotConfig order."""

from __future__ import annotations

import math

import attrs
import pytest
from returns.result import Failure, Success

from esper_core.action_space import SlotConfig
from esper_core.blending import BlendAlgorithm
from esper_core.errors import ConfigError
from esper_core.features import (
    GLOBAL_NAMES,
    STAGE_ORDER,
    FeatureConfig,
    FeatureLayout,
    check_layout,
    feature_layout,
    observation_features,
)
from esper_core.observation import Observation
from esper_core.serialization import from_primitives, to_primitives
from esper_core.signals import SignalTracker
from esper_core.stages import SeedStage
from esper_core.state import SeedMetrics, SeedState

SLOTS = SlotConfig(("r0c0", "r1c0"))
BLUEPRINTS = ("noop", "norm")
LAYOUT = feature_layout(SLOTS, BLUEPRINTS)
CONFIG = FeatureConfig()
NO_SIGNALS = SignalTracker()


def seed(stage: SeedStage, slot_id: str = "r0c0", alpha: float = 0.0, **metrics: float | None) -> SeedState:
    return SeedState(
        seed_id="s",
        slot_id=slot_id,
        blueprint_id="norm",
        stage=stage,
        blend_algorithm=BlendAlgorithm.LINEAR,
        alpha=alpha,
        metrics=SeedMetrics(**metrics),  # type: ignore[arg-type]
    )


def observe(*seeds: SeedState | None, signals: SignalTracker = NO_SIGNALS, **fields: object) -> Observation:
    padded = (*seeds, *(None,) * (SLOTS.num_slots - len(seeds)))
    values: dict[str, object] = {
        "epoch": 5,
        "max_epochs": 20,
        "slots": SLOTS,
        "seeds": padded,
        "signals": signals,
        "max_seeds": 4,
        "seeds_germinated": 1,
        "blueprints": BLUEPRINTS,
    }
    return Observation(**{**values, **fields})  # type: ignore[arg-type]


def named(values: tuple[float, ...], names: tuple[str, ...]) -> dict[str, float]:
    return dict(zip(names, values, strict=True))


def slot_block(observation: Observation, index: int = 0, config: FeatureConfig = CONFIG) -> dict[str, float]:
    return named(observation_features(observation, LAYOUT, config)[1][index], LAYOUT.slot_names)


class TestLayout:
    def test_slot_block_names_in_order(self) -> None:
        assert LAYOUT.slot_names == (
            "empty",
            "stage_dormant",
            "stage_germinated",
            "stage_training",
            "stage_blending",
            "stage_probationary",
            "stage_fossilized",
            "stage_culled",
            "stage_embargoed",
            "alpha",
            "epochs_in_stage",
            "contribution",
            "contribution_measured",
            "gradient_ratio",
            "gradient_ratio_measured",
            "accuracy_change_in_stage",
            "blueprint_noop",
            "blueprint_norm",
            "blend_linear",
            "blend_sigmoid",
            "blend_gated",
            "param_share",
            "row_position",
            "col_position",
        )

    def test_stage_one_hot_follows_seed_stage_declaration_order(self) -> None:
        assert STAGE_ORDER == tuple(SeedStage)

    def test_global_names(self) -> None:
        assert LAYOUT.global_names == GLOBAL_NAMES
        assert LAYOUT.global_size == 10

    def test_sizes(self) -> None:
        assert (LAYOUT.slot_size, LAYOUT.num_slots, LAYOUT.total_size) == (24, 2, 10 + 2 * 24)

    def test_slot_block_size_does_not_depend_on_slot_count(self) -> None:
        sizes = {feature_layout(SlotConfig.for_grid(rows, 1), BLUEPRINTS).slot_size for rows in (1, 2, 3, 7)}
        assert sizes == {LAYOUT.slot_size}

    def test_total_size_grows_by_one_slot_block_per_slot(self) -> None:
        three = feature_layout(SlotConfig.for_grid(3, 1), BLUEPRINTS)
        assert three.total_size - LAYOUT.total_size == LAYOUT.slot_size

    def test_records_slot_ids_in_slot_config_order(self) -> None:
        assert feature_layout(SlotConfig(("r1c0", "r0c0")), BLUEPRINTS).slot_ids == ("r0c0", "r1c0")

    def test_round_trips_through_primitives(self) -> None:
        assert from_primitives(to_primitives(LAYOUT), FeatureLayout).unwrap() == LAYOUT

    def test_refuses_names_of_another_feature_set(self) -> None:
        data = {**to_primitives(LAYOUT), "global_names": ["epoch_progress"]}
        result = from_primitives(data, FeatureLayout)
        assert isinstance(result, Failure)
        assert "train a new one" in str(result.failure())

    def test_refuses_duplicate_blueprints(self) -> None:
        with pytest.raises(ConfigError, match="repeated: norm"):
            feature_layout(SLOTS, ("norm", "norm"))


class TestCheckLayout:
    def test_accepts_matching_observation(self) -> None:
        assert check_layout(observe(), LAYOUT) == Success(LAYOUT)

    def test_refuses_other_slots_naming_both_lists(self) -> None:
        other = Observation(
            epoch=0,
            max_epochs=20,
            slots=SlotConfig(("r0c0", "r0c1", "r1c0")),
            seeds=(None, None, None),
            signals=SignalTracker(),
            max_seeds=1,
            seeds_germinated=0,
            blueprints=BLUEPRINTS,
        )
        result = check_layout(other, LAYOUT)
        assert isinstance(result, Failure)
        message = str(result.failure())
        assert isinstance(result.failure(), ConfigError)
        assert "r0c0, r1c0" in message and "r0c0, r0c1, r1c0" in message
        assert "--slots r0c0 r1c0" in message

    def test_accepts_a_host_that_knows_more_blueprints_than_offered(self) -> None:
        assert check_layout(observe(blueprints=("noop", "lora", "norm")), LAYOUT) == Success(LAYOUT)

    def test_refuses_other_blueprints_naming_both_lists(self) -> None:
        result = check_layout(observe(blueprints=("noop", "lora")), LAYOUT)
        assert isinstance(result, Failure)
        assert "noop, norm" in str(result.failure()) and "noop, lora" in str(result.failure())


class TestGlobalFeatures:
    def test_hand_computed(self) -> None:
        signals = SignalTracker(
            accuracy_history=(60.0, 72.5),
            loss_history=(1.0, 0.9),
            acc_delta=12.5,
            plateau_epochs=3,
            best_accuracy=80.0,
            epochs_seen=2,
            host_stabilised=True,
        )
        observation = observe(seed(SeedStage.TRAINING), seed(SeedStage.FOSSILIZED, "r1c0", alpha=1.0), signals=signals)
        features = named(observation_features(observation, LAYOUT, CONFIG)[0], GLOBAL_NAMES)
        assert features == {
            "epoch_progress": 5 / 20,
            "last_accuracy": 0.725,
            "accuracy_delta": 1.25,
            "plateau_epochs": 0.3,
            "host_stabilised": 1.0,
            "best_accuracy": 0.8,
            "germination_budget_left": 3 / 4,
            "live_seed_fraction": 1 / 2,
            "fossilized_fraction": 1 / 2,
            "validation_loss": 0.9,
        }

    def test_fresh_run_reads_zero_accuracy(self) -> None:
        features = named(observation_features(observe(), LAYOUT, CONFIG)[0], GLOBAL_NAMES)
        assert features["last_accuracy"] == 0.0
        assert features["best_accuracy"] == 0.0

    def test_no_budget_at_all_reads_zero(self) -> None:
        features = named(
            observation_features(observe(max_seeds=0, seeds_germinated=0), LAYOUT, CONFIG)[0], GLOBAL_NAMES
        )
        assert features["germination_budget_left"] == 0.0

    def test_validation_loss_clipped_and_nan_is_zero(self) -> None:
        for loss, expected in ((1e9, CONFIG.loss_clip), (math.nan, 0.0)):
            signals = SignalTracker(accuracy_history=(50.0,), loss_history=(loss,))
            features = named(observation_features(observe(signals=signals), LAYOUT, CONFIG)[0], GLOBAL_NAMES)
            assert features["validation_loss"] == expected

    def test_accuracy_delta_clipped(self) -> None:
        observation = observe(signals=SignalTracker(acc_delta=-90.0))
        features = named(observation_features(observation, LAYOUT, CONFIG)[0], GLOBAL_NAMES)
        assert features["accuracy_delta"] == -CONFIG.feature_clip


class TestSlotFeatures:
    def test_empty_slot_reads_as_dormant_and_measures_nothing(self) -> None:
        block = slot_block(observe())
        assert block["empty"] == 1.0
        assert block["stage_dormant"] == 1.0
        assert sum(value for name, value in block.items() if name not in ("empty", "stage_dormant")) == 0.0

    def test_blending_seed_hand_computed(self) -> None:
        blending = seed(
            SeedStage.BLENDING,
            alpha=0.4,
            epochs_in_stage=2,
            counterfactual_contribution=3.0,
            seed_gradient_ratio=1.0,
            seed_param_count=50,
            host_param_count=1000,
            accuracy_at_stage_start=60.0,
            current_accuracy=63.0,
        )
        block = slot_block(observe(blending))
        assert block == {
            **{f"stage_{stage.name.lower()}": float(stage is SeedStage.BLENDING) for stage in SeedStage},
            "empty": 0.0,
            "alpha": 0.4,
            "epochs_in_stage": 0.2,
            "contribution": 0.3,
            "contribution_measured": 1.0,
            "gradient_ratio": math.log(2.0),
            "gradient_ratio_measured": 1.0,
            "accuracy_change_in_stage": 0.3,
            "blueprint_noop": 0.0,
            "blueprint_norm": 1.0,
            "blend_linear": 1.0,
            "blend_sigmoid": 0.0,
            "blend_gated": 0.0,
            "param_share": 0.05,
            "row_position": 0.0,
            "col_position": 0.0,
        }

    def test_unmeasured_contribution_is_zero_and_flagged(self) -> None:
        block = slot_block(observe(seed(SeedStage.TRAINING)))
        assert (block["contribution"], block["contribution_measured"]) == (0.0, 0.0)
        assert (block["gradient_ratio"], block["gradient_ratio_measured"]) == (0.0, 0.0)

    def test_negative_contribution_keeps_its_sign(self) -> None:
        block = slot_block(observe(seed(SeedStage.PROBATIONARY, alpha=1.0, counterfactual_contribution=-2.0)))
        assert block["contribution"] == -0.2

    def test_huge_contribution_clipped(self) -> None:
        block = slot_block(observe(seed(SeedStage.PROBATIONARY, alpha=1.0, counterfactual_contribution=1e6)))
        assert block["contribution"] == CONFIG.feature_clip

    def test_gradient_ratio_clipped_before_log(self) -> None:
        block = slot_block(observe(seed(SeedStage.TRAINING, seed_gradient_ratio=1e9)))
        assert block["gradient_ratio"] == math.log1p(CONFIG.gradient_ratio_clip)

    def test_param_share_clipped(self) -> None:
        block = slot_block(observe(seed(SeedStage.TRAINING, seed_param_count=10**6, host_param_count=10)))
        assert block["param_share"] == CONFIG.param_share_clip

    def test_param_share_zero_while_host_unmeasured(self) -> None:
        block = slot_block(observe(seed(SeedStage.TRAINING, seed_param_count=100)))
        assert block["param_share"] == 0.0

    def test_nan_measurements_are_unmeasured(self) -> None:
        block = slot_block(
            observe(seed(SeedStage.TRAINING, counterfactual_contribution=math.nan, seed_gradient_ratio=math.nan))
        )
        assert block["contribution_measured"] == 0.0
        assert block["gradient_ratio_measured"] == 0.0
        assert all(math.isfinite(value) for value in block.values())

    def test_embargoed_slot_shows_stage_and_age_but_no_module(self) -> None:
        embargoed = seed(SeedStage.EMBARGOED, epochs_in_stage=3, counterfactual_contribution=4.0, seed_param_count=9)
        block = slot_block(observe(embargoed))
        assert block["empty"] == 1.0
        assert block["stage_embargoed"] == 1.0
        assert block["epochs_in_stage"] == 0.3
        assert block["contribution_measured"] == 0.0
        assert block["blueprint_norm"] == 0.0

    def test_fossilized_seed_has_a_module(self) -> None:
        block = slot_block(observe(seed(SeedStage.FOSSILIZED, alpha=1.0)))
        assert (block["empty"], block["alpha"], block["blueprint_norm"]) == (0.0, 1.0, 1.0)

    def test_blueprint_unknown_to_layout_has_no_one_hot(self) -> None:
        stranger = attrs.evolve(seed(SeedStage.TRAINING), blueprint_id="lora")
        block = slot_block(observe(stranger))
        assert (block["blueprint_noop"], block["blueprint_norm"]) == (0.0, 0.0)

    def test_blocks_follow_slot_config_order(self) -> None:
        observation = observe(None, seed(SeedStage.TRAINING, "r1c0"))
        assert slot_block(observation, 0)["empty"] == 1.0
        assert slot_block(observation, 1)["stage_training"] == 1.0

    def test_position_is_the_fraction_of_the_grid_the_slots_span(self) -> None:
        slots = SlotConfig(("r0c0", "r0c1", "r1c0", "r1c1", "r2c0", "r2c1"))
        observation = observe(slots=slots, seeds=(None,) * 6)
        blocks = observation_features(observation, LAYOUT, CONFIG)[1]
        positions = [named(block, LAYOUT.slot_names) for block in blocks]
        found = [(block["row_position"], block["col_position"]) for block in positions]
        assert found == [(0.0, 0.0), (0.0, 0.5), (1 / 3, 0.0), (1 / 3, 0.5), (2 / 3, 0.0), (2 / 3, 0.5)]

    def test_empty_slots_differ_only_by_position(self) -> None:
        first, second = (
            named(block, LAYOUT.slot_names) for block in observation_features(observe(), LAYOUT, CONFIG)[1]
        )
        assert {name for name in first if first[name] != second[name]} == {"row_position"}

    def test_blend_one_hot_names_the_seeds_algorithm(self) -> None:
        gated = attrs.evolve(seed(SeedStage.BLENDING), blend_algorithm=BlendAlgorithm.GATED)
        block = slot_block(observe(gated))
        assert (block["blend_linear"], block["blend_sigmoid"], block["blend_gated"]) == (0.0, 0.0, 1.0)

    def test_accuracy_change_in_stage_is_zero_without_a_module(self) -> None:
        culled = seed(SeedStage.CULLED, accuracy_at_stage_start=10.0, current_accuracy=90.0)
        assert slot_block(observe(culled))["accuracy_change_in_stage"] == 0.0

    def test_scales_come_from_the_config(self) -> None:
        config = FeatureConfig(epochs_scale=4.0)
        block = slot_block(observe(seed(SeedStage.TRAINING, epochs_in_stage=2)), config=config)
        assert block["epochs_in_stage"] == 0.5


class TestFeatureConfig:
    def test_round_trips_through_primitives(self) -> None:
        config = FeatureConfig(contribution_scale=5.0)
        assert from_primitives(to_primitives(config), FeatureConfig).unwrap() == config

    @pytest.mark.parametrize("value", [0.0, -1.0, math.inf, math.nan])
    def test_refuses_non_positive_or_non_finite_scale(self, value: float) -> None:
        with pytest.raises(ValueError, match="epochs_scale"):
            FeatureConfig(epochs_scale=value)

    def test_is_keyword_only(self) -> None:
        with pytest.raises(TypeError):
            FeatureConfig(100.0)  # type: ignore[misc]
