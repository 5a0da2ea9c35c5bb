"""The policy's input: an observation as a block of global features plus one block per slot.

The per-slot block has the same size whatever the number of slots, and slots are laid
out in ``SlotConfig`` order, so one network design serves 1, 2 or N slots (the policy
shares its per-slot encoder across them). A ``FeatureLayout`` records what a policy was
built for (slot ids, blueprints, feature names); it is saved with the policy, and a run
whose observation does not fit it is refused by ``check_layout`` before any decision.

Every feature is a finite float of modest size: unbounded measurements are scaled and
clipped here (by ``FeatureConfig``), missing ones are 0 with a separate "measured" flag,
so the shell's running normaliser is never thrown by one outlier or a NaN.

A slot's block says where the slot is (``row / rows``, ``col / cols`` of the grid the
enabled slots span): without it every empty slot's block is identical, and a shared encoder
can only choose among them uniformly, though one seed is worth +2.4 points in one slot and
-2.7 in another (issue 11). Positions are fractions of the grid, so the same weights read
any grid. The blend algorithm and the accuracy change since the stage began tell a seed
that is paying off from one that is not; the validation loss is the host's own signal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import attrs
from attrs.validators import gt, lt
from returns.result import Failure, Result, Success

from esper_core.action_space import SlotConfig
from esper_core.blending import BlendAlgorithm
from esper_core.errors import ConfigError
from esper_core.observation import Observation
from esper_core.slot_ids import parse_slot_id
from esper_core.stages import SEED_MODULE_STAGES, SeedStage
from esper_core.state import SeedState

# One-hot order of the stage block.
STAGE_ORDER: tuple[SeedStage, ...] = tuple(SeedStage)
# One-hot order of the blend block.
BLEND_FEATURE_ORDER: tuple[BlendAlgorithm, ...] = tuple(BlendAlgorithm)

GLOBAL_NAMES: tuple[str, ...] = (
    "epoch_progress",
    "last_accuracy",
    "accuracy_delta",
    "plateau_epochs",
    "host_stabilised",
    "best_accuracy",
    "germination_budget_left",
    "live_seed_fraction",
    "fossilized_fraction",
    "validation_loss",
)
SLOT_HEAD_NAMES: tuple[str, ...] = ("empty", *(f"stage_{stage.name.lower()}" for stage in STAGE_ORDER))
SLOT_MEASURE_NAMES: tuple[str, ...] = (
    "alpha",
    "epochs_in_stage",
    "contribution",
    "contribution_measured",
    "gradient_ratio",
    "gradient_ratio_measured",
    "accuracy_change_in_stage",
)
BLEND_NAMES: tuple[str, ...] = tuple(f"blend_{algorithm.name.lower()}" for algorithm in BLEND_FEATURE_ORDER)
SLOT_TAIL_NAMES: tuple[str, ...] = ("param_share", "row_position", "col_position")
BLUEPRINT_PREFIX = "blueprint_"

LAYOUT_SLOTS_MESSAGE = (
    "The policy's feature layout was built for slots {expected}, but this run's slots are {found}. "
    "Run with --slots {expected_args}, or train a new policy for these slots."
)
LAYOUT_BLUEPRINTS_MESSAGE = (
    "The policy's feature layout chooses among blueprints {expected}, but this host offers {found} "
    "(missing: {missing}). Use the task (host topology) the policy was trained on, or train a new policy."
)
DUPLICATE_BLUEPRINTS_MESSAGE = "A feature layout names each blueprint once; repeated: {repeated}."
NAMES_MESSAGE = (
    "FeatureLayout.{field} is {found}, but this version of Esper computes {expected}. A policy saved with "
    "other features cannot read these: train a new one (layouts are built by feature_layout())."
)

_FINITE = (gt(-math.inf), lt(math.inf))
_POSITIVE = (gt(0.0), lt(math.inf))


@attrs.frozen(kw_only=True)
class FeatureConfig:
    """How raw measurements become features. Accuracies are percentages (0-100)."""

    # Accuracies (last, best) are divided by this: 100 maps a percentage to [0, 1].
    accuracy_scale: float = attrs.field(default=100.0, validator=_POSITIVE)
    # The last epoch's accuracy change (points) is divided by this.
    accuracy_delta_scale: float = attrs.field(default=10.0, validator=_POSITIVE)
    # Epoch counts (plateau length, epochs in stage) are divided by this.
    epochs_scale: float = attrs.field(default=10.0, validator=_POSITIVE)
    # A seed's counterfactual contribution (points) is divided by this.
    contribution_scale: float = attrs.field(default=10.0, validator=_POSITIVE)
    # The seed/host gradient ratio is clipped to [0, this], then log1p-compressed: it spans decades.
    gradient_ratio_clip: float = attrs.field(default=10.0, validator=_POSITIVE)
    # The validation loss is clipped to [0, this] (cross-entropy starts near log(classes)).
    loss_clip: float = attrs.field(default=10.0, validator=_POSITIVE)
    # Seed parameters / host parameters is clipped to [0, this].
    param_share_clip: float = attrs.field(default=2.0, validator=_POSITIVE)
    # Every scaled feature is clipped to [-this, this], so one outlier cannot dominate the normaliser.
    feature_clip: float = attrs.field(default=5.0, validator=_POSITIVE)


def _names(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _unique_blueprints(_instance: object, _attribute: attrs.Attribute[tuple[str, ...]], names: tuple[str, ...]) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(DUPLICATE_BLUEPRINTS_MESSAGE.format(repeated=", ".join(repeated)))


def _slot_names_for(blueprints: Sequence[str]) -> tuple[str, ...]:
    blueprint_names = tuple(f"{BLUEPRINT_PREFIX}{name}" for name in blueprints)
    return (*SLOT_HEAD_NAMES, *SLOT_MEASURE_NAMES, *blueprint_names, *BLEND_NAMES, *SLOT_TAIL_NAMES)


@attrs.frozen(kw_only=True)
class FeatureLayout:
    """What a policy's input means: saved with the policy, compared with every run that loads it.

    The names are data, not decoration: a policy trained with one feature set and loaded
    by a version of Esper with another is refused at load time (the names differ), rather
    than silently reading features in the wrong positions.
    """

    slot_ids: tuple[str, ...] = attrs.field(converter=_names)
    blueprints: tuple[str, ...] = attrs.field(converter=_names, validator=_unique_blueprints)
    global_names: tuple[str, ...] = attrs.field(converter=_names)
    # Names of one slot's block; every slot's block has the same names.
    slot_names: tuple[str, ...] = attrs.field(converter=_names)

    @global_names.validator
    def _check_global_names(self, _attribute: attrs.Attribute[tuple[str, ...]], names: tuple[str, ...]) -> None:
        if names != GLOBAL_NAMES:
            raise ConfigError(NAMES_MESSAGE.format(field="global_names", expected=GLOBAL_NAMES, found=names))

    @slot_names.validator
    def _check_slot_names(self, _attribute: attrs.Attribute[tuple[str, ...]], names: tuple[str, ...]) -> None:
        expected = _slot_names_for(self.blueprints)
        if names != expected:
            raise ConfigError(NAMES_MESSAGE.format(field="slot_names", expected=expected, found=names))

    @property
    def global_size(self) -> int:
        return len(self.global_names)

    @property
    def slot_size(self) -> int:
        return len(self.slot_names)

    @property
    def num_slots(self) -> int:
        return len(self.slot_ids)

    @property
    def total_size(self) -> int:
        return self.global_size + self.num_slots * self.slot_size


def feature_layout(slots: SlotConfig, blueprints: Sequence[str]) -> FeatureLayout:
    """The layout for a slot configuration and the blueprints the policy chooses among."""
    return FeatureLayout(
        slot_ids=slots.slot_ids,
        blueprints=tuple(blueprints),
        global_names=GLOBAL_NAMES,
        slot_names=_slot_names_for(blueprints),
    )


def check_layout(observation: Observation, layout: FeatureLayout) -> Result[FeatureLayout, ConfigError]:
    """Whether ``layout`` describes ``observation``: same slots in the same order, and every blueprint
    the layout chooses among known to the host (a policy may be offered fewer than the host knows)."""
    found_slots = observation.slots.slot_ids
    if found_slots != layout.slot_ids:
        message = LAYOUT_SLOTS_MESSAGE.format(
            expected=", ".join(layout.slot_ids),
            found=", ".join(found_slots),
            expected_args=" ".join(layout.slot_ids),
        )
        return Failure(ConfigError(message))
    missing = [name for name in layout.blueprints if name not in observation.blueprints]
    if missing:
        message = LAYOUT_BLUEPRINTS_MESSAGE.format(
            expected=", ".join(layout.blueprints) or "none",
            found=", ".join(observation.blueprints) or "none",
            missing=", ".join(missing),
        )
        return Failure(ConfigError(message))
    return Success(layout)


Features = tuple[tuple[float, ...], tuple[tuple[float, ...], ...]]


def observation_features(observation: Observation, layout: FeatureLayout, config: FeatureConfig) -> Features:
    """(global features, one block per slot in ``SlotConfig`` order), named as in ``layout``.

    ``layout`` must have passed ``check_layout`` for this observation; the slot blocks
    follow ``observation.seeds``.
    """
    grid = grid_shape(observation.slots)
    return (
        global_features(observation, config),
        tuple(
            slot_features(seed, slot_id, grid, layout, config)
            for seed, slot_id in zip(observation.seeds, observation.slots.slot_ids, strict=True)
        ),
    )


def grid_shape(slots: SlotConfig) -> tuple[int, int]:
    """(rows, cols) of the grid the slots span: one more than their largest row and column."""
    cells = [parse_slot_id(slot_id) for slot_id in slots.slot_ids]
    return max(row for row, _ in cells) + 1, max(col for _, col in cells) + 1


def global_features(observation: Observation, config: FeatureConfig) -> tuple[float, ...]:
    """The run-wide block, in ``GLOBAL_NAMES`` order."""
    signals = observation.signals
    clip = config.feature_clip
    last = signals.accuracy_history[-1] if signals.accuracy_history else 0.0
    loss = signals.loss_history[-1] if signals.loss_history else 0.0
    best = signals.best_accuracy if signals.best_accuracy is not None else 0.0
    num_slots = observation.slots.num_slots
    seeds = [seed for seed in observation.seeds if seed is not None]
    fossilized = sum(1 for seed in seeds if seed.stage is SeedStage.FOSSILIZED)
    budget = 0.0
    if observation.max_seeds:
        budget = (observation.max_seeds - observation.seeds_germinated) / observation.max_seeds
    return (
        _bounded(observation.epoch / observation.max_epochs, 0.0, 1.0),
        _bounded(last / config.accuracy_scale, -clip, clip),
        _bounded(signals.acc_delta / config.accuracy_delta_scale, -clip, clip),
        _bounded(signals.plateau_epochs / config.epochs_scale, -clip, clip),
        _flag(signals.host_stabilised),
        _bounded(best / config.accuracy_scale, -clip, clip),
        _bounded(budget, 0.0, 1.0),
        observation.live_seed_count / num_slots,
        fossilized / num_slots,
        _bounded(loss, 0.0, config.loss_clip),
    )


def slot_features(
    seed: SeedState | None, slot_id: str, grid: tuple[int, int], layout: FeatureLayout, config: FeatureConfig
) -> tuple[float, ...]:
    """One slot's block, in ``layout.slot_names`` order; ``grid`` is ``grid_shape`` of the slots.

    A slot that never had a seed reads as DORMANT, as the lifecycle treats it. Measurements
    describe the seed module, so they are 0 when the slot runs none (DORMANT, CULLED,
    EMBARGOED); the stage and its age stay visible, so the policy sees an embargo wear off.
    """
    stage = SeedStage.DORMANT if seed is None else seed.stage
    module = seed if seed is not None and seed.stage in SEED_MODULE_STAGES else None
    stage_one_hot = tuple(_flag(stage is candidate) for candidate in STAGE_ORDER)
    epochs_in_stage = 0 if seed is None else seed.metrics.epochs_in_stage
    blueprint = None if module is None else module.blueprint_id
    blueprint_one_hot = tuple(_flag(blueprint == name) for name in layout.blueprints)
    blend = None if module is None else module.blend_algorithm
    blend_one_hot = tuple(_flag(blend is algorithm) for algorithm in BLEND_FEATURE_ORDER)
    change = 0.0 if module is None else module.metrics.accuracy_change_in_stage / config.accuracy_delta_scale
    row, col = parse_slot_id(slot_id)
    rows, cols = grid
    return (
        _flag(module is None),
        *stage_one_hot,
        0.0 if module is None else module.alpha,
        _bounded(epochs_in_stage / config.epochs_scale, -config.feature_clip, config.feature_clip),
        *_module_measures(module, config),
        _bounded(change, -config.feature_clip, config.feature_clip),
        *blueprint_one_hot,
        *blend_one_hot,
        _param_share(module, config),
        row / rows,
        col / cols,
    )


def _module_measures(module: SeedState | None, config: FeatureConfig) -> tuple[float, float, float, float]:
    """Contribution and gradient ratio, each with its "measured" flag (0, 0 when unmeasured)."""
    contribution = None if module is None else _measured(module.metrics.counterfactual_contribution)
    ratio = None if module is None else _measured(module.metrics.seed_gradient_ratio)
    clip = config.feature_clip
    contribution_feature = (
        0.0 if contribution is None else _bounded(contribution / config.contribution_scale, -clip, clip)
    )
    ratio_feature = 0.0 if ratio is None else math.log1p(_bounded(ratio, 0.0, config.gradient_ratio_clip))
    return contribution_feature, _flag(contribution is not None), ratio_feature, _flag(ratio is not None)


def _param_share(module: SeedState | None, config: FeatureConfig) -> float:
    if module is None or module.metrics.host_param_count == 0:
        return 0.0
    share = module.metrics.seed_param_count / module.metrics.host_param_count
    return _bounded(share, 0.0, config.param_share_clip)


def _measured(value: float | None) -> float | None:
    """A measurement that carries information: not missing and not NaN (an infinity still clips)."""
    return None if value is None or math.isnan(value) else value


def _bounded(value: float, low: float, high: float) -> float:
    """``value`` clipped to [low, high]; NaN, which has no position, becomes 0."""
    if math.isnan(value):
        return 0.0
    return min(high, max(low, value))


def _flag(condition: bool) -> float:
    return 1.0 if condition else 0.0
