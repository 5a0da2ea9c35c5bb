"""The controller's reward for one step (one action, then one epoch of training).

Shaped reward, per step, as terms of one ``RewardBreakdown``:

- contribution: the accuracy the controller's seeds add, by attribution: each seed whose
  output takes part in the model (BLENDING, PROBATIONARY, FOSSILIZED) earns its measured
  counterfactual contribution (clipped), times a weight. A fossilized seed is no longer
  re-measured and keeps earning its last measurement: keeping a good seed pays for the
  rest of the episode, so the policy has no reason to delay a fossilization it should make.
- pbrs: potential-based shaping ``gamma * phi(after) - phi(before)`` over stage potentials,
  rewarding progress along the lifecycle without changing which policy is optimal (Ng et
  al., 1999): the terms telescope, and at a terminal step ``phi(after)`` is 0, so over a
  whole episode that starts with no seed they sum to zero.
- rent: ``-k * log(1 + seed_params / host_params)`` for the seeds with a module (live and
  fossilized), so growth must pay for its size.
- action_cost: a small cost per GERMINATE, CULL, FOSSILIZE; WAIT is free (a cost on
  waiting would push the policy to act for the sake of acting).
- terminal: at the episode's end only, the final validation accuracy, weighted.

Sparse reward is the terminal term alone.

Accuracy gap (``mode="accuracy_gap"``) is the user's objective itself (DESIGN §10): a better
final model than the paired static run (same seed: same data, host init and batch order),
for its parameter cost. Each step pays the change of the gap ``accuracy - static accuracy``
at the same epoch, the terminal step also pays the rent of the seeds the final model keeps;
the steps telescope, so an episode's undiscounted return is exactly ``final accuracy -
static final accuracy - rent``. The static curve is data passed in (the shell caches it),
so the core stays pure. The counterfactual contribution is not paid in this mode: it
measures how much the host depends on a seed, not whether the seed made the model better.

Anti-gaming guarantees (tested as properties, over every valid config), comparing an
action with WAIT on the same transition, everything else equal:

- FOSSILIZE of a seed whose contribution is <= 0 (or unmeasured) never earns more than
  WAIT; alone in the model, on a non-terminal step, it earns <= 0. The validators below
  make this hold: potentials are >= 0 and FOSSILIZED's is at most PROBATIONARY's.
- CULL of a blending or probationary seed with positive contribution earns strictly less
  than WAIT, whenever its contribution term exceeds the rent its parameters cost (a seed
  that does not pay its rent is, by this reward's own account, not helpful). CULLED's and
  EMBARGOED's potentials are at most every live stage's, so culling never climbs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
from attrs.validators import ge, gt, in_, instance_of, le, lt

from esper_core.action_space import FactoredAction, LifecycleOp
from esper_core.config import finite
from esper_core.errors import ConfigError
from esper_core.observation import Observation
from esper_core.stages import CONTRIBUTING_STAGES, LIVE_STAGES, SEED_MODULE_STAGES, SeedStage
from esper_core.state import SeedState

SHAPED = "shaped"
SPARSE = "sparse"
ACCURACY_GAP = "accuracy_gap"
REWARD_MODES = (SHAPED, SPARSE, ACCURACY_GAP)

FOSSILIZED_POTENTIAL_MESSAGE = (
    "StagePotentials.fossilized ({fossilized}) must not exceed probationary ({probationary}): fossilizing must earn "
    "its reward through the seed's contribution, not through shaping, or a useless seed would be worth keeping."
)
CULLED_POTENTIAL_MESSAGE = (
    "StagePotentials.{stage} ({value}) must not exceed the potential of any live stage (lowest: {lowest}): "
    "culling must never climb the potential ladder, or culling a helpful seed could pay."
)
STATIC_MISSING_MESSAGE = (
    "RewardConfig.mode is {mode!r}, which pays the gap to the paired static run, but no static accuracy "
    "curve was passed: give compute_reward static_accuracies= (the shell's static_baseline(...).accuracies)."
)
STATIC_SHORT_MESSAGE = (
    "The static accuracy curve has {length} epochs, but the observation is at epoch {epoch}: the paired "
    "static run must train as many epochs as the episode (same RunConfig, same seed)."
)
TOTAL_MESSAGE = "RewardBreakdown.total ({total}) must be the sum of its terms ({expected})."

_FINITE = (gt(-math.inf), lt(math.inf))
_NON_NEGATIVE = (ge(0.0), lt(math.inf))
_POSITIVE = (gt(0.0), lt(math.inf))


@attrs.frozen(kw_only=True)
class StagePotentials:
    """PBRS potential of one seed in each stage; a model's potential sums its seeds'.

    Fields, not a dict keyed by stage, so the record serialises like every other.
    """

    dormant: float = attrs.field(default=0.0, validator=[finite, *_NON_NEGATIVE])
    germinated: float = attrs.field(default=0.1, validator=[finite, *_NON_NEGATIVE])
    training: float = attrs.field(default=0.2, validator=[finite, *_NON_NEGATIVE])
    blending: float = attrs.field(default=0.3, validator=[finite, *_NON_NEGATIVE])
    probationary: float = attrs.field(default=0.4, validator=[finite, *_NON_NEGATIVE])
    fossilized: float = attrs.field(default=0.4, validator=[finite, *_NON_NEGATIVE])
    culled: float = attrs.field(default=0.0, validator=[finite, *_NON_NEGATIVE])
    embargoed: float = attrs.field(default=0.0, validator=[finite, *_NON_NEGATIVE])

    def __attrs_post_init__(self) -> None:
        if self.fossilized > self.probationary:
            raise ConfigError(
                FOSSILIZED_POTENTIAL_MESSAGE.format(fossilized=self.fossilized, probationary=self.probationary)
            )
        lowest = min(self.of(stage) for stage in LIVE_STAGES)
        for stage in (SeedStage.CULLED, SeedStage.EMBARGOED):
            if self.of(stage) > lowest:
                message = CULLED_POTENTIAL_MESSAGE.format(stage=stage.name.lower(), value=self.of(stage), lowest=lowest)
                raise ConfigError(message)

    def of(self, stage: SeedStage) -> float:
        by_stage = {
            SeedStage.DORMANT: self.dormant,
            SeedStage.GERMINATED: self.germinated,
            SeedStage.TRAINING: self.training,
            SeedStage.BLENDING: self.blending,
            SeedStage.PROBATIONARY: self.probationary,
            SeedStage.FOSSILIZED: self.fossilized,
            SeedStage.CULLED: self.culled,
            SeedStage.EMBARGOED: self.embargoed,
        }
        return by_stage[stage]


@attrs.frozen(kw_only=True)
class ActionCosts:
    """What each decision costs, paid on the step it is taken (whether or not it succeeds). WAIT is free."""

    germinate: float = attrs.field(default=0.02, validator=[finite, *_NON_NEGATIVE])
    cull: float = attrs.field(default=0.01, validator=[finite, *_NON_NEGATIVE])
    fossilize: float = attrs.field(default=0.01, validator=[finite, *_NON_NEGATIVE])

    def of(self, op: LifecycleOp) -> float:
        by_op = {
            LifecycleOp.WAIT: 0.0,
            LifecycleOp.GERMINATE: self.germinate,
            LifecycleOp.CULL: self.cull,
            LifecycleOp.FOSSILIZE: self.fossilize,
        }
        return by_op[op]


@attrs.frozen(kw_only=True)
class RewardConfig:
    """Reward terms and weights. Accuracies and contributions are percentage points."""

    mode: str = attrs.field(default=SHAPED, validator=in_(REWARD_MODES))
    # Must equal the discount PPO uses, or the shaping changes which policy is optimal.
    gamma: float = attrs.field(default=0.995, validator=[finite, gt(0.0), le(1.0)])
    # Reward per point of counterfactual contribution, per seed, per step.
    contribution_weight: float = attrs.field(default=0.1, validator=[finite, *_NON_NEGATIVE])
    # A seed's contribution is clipped to [-cap, cap] points first: one noisy measurement cannot dominate.
    contribution_cap: float = attrs.field(default=10.0, validator=[finite, *_POSITIVE])
    potentials: StagePotentials = attrs.field(factory=StagePotentials, validator=instance_of(StagePotentials))
    # k in -k * log(1 + seed_params / host_params).
    rent_weight: float = attrs.field(default=0.1, validator=[finite, *_NON_NEGATIVE])
    action_costs: ActionCosts = attrs.field(factory=ActionCosts, validator=instance_of(ActionCosts))
    # Terminal reward = terminal_weight * final accuracy / accuracy_scale.
    terminal_weight: float = attrs.field(default=1.0, validator=[finite, *_NON_NEGATIVE])
    accuracy_scale: float = attrs.field(default=100.0, validator=[finite, *_POSITIVE])


def _sum_of_terms(breakdown: RewardBreakdown) -> float:
    return (
        breakdown.contribution
        + breakdown.pbrs
        + breakdown.rent
        + breakdown.action_cost
        + breakdown.terminal
        + breakdown.gap
    )


def _check_total(instance: RewardBreakdown, _attribute: attrs.Attribute[float], total: float) -> None:
    expected = _sum_of_terms(instance)
    if not math.isclose(total, expected, rel_tol=1e-9, abs_tol=1e-12):
        raise ConfigError(TOTAL_MESSAGE.format(total=total, expected=expected))


@attrs.frozen(kw_only=True)
class RewardBreakdown:
    """One step's reward, term by term, each signed as it enters the total (rent and costs are <= 0)."""

    contribution: float = 0.0
    pbrs: float = 0.0
    rent: float = 0.0
    action_cost: float = 0.0
    terminal: float = 0.0
    # accuracy_gap mode: this step's change of the gap to the paired static run.
    gap: float = 0.0
    total: float = attrs.field(
        default=attrs.Factory(_sum_of_terms, takes_self=True), validator=[*_FINITE, _check_total]
    )


def potential(seeds: Sequence[SeedState | None], config: RewardConfig) -> float:
    """phi: the sum of the seeds' stage potentials; an empty slot (None) counts as DORMANT."""
    return sum(config.potentials.of(SeedStage.DORMANT if seed is None else seed.stage) for seed in seeds)


def compute_reward(
    before: Observation,
    action: FactoredAction,
    after: Observation,
    *,
    terminal: bool,
    config: RewardConfig,
    static_accuracies: Sequence[float] | None = None,
) -> RewardBreakdown:
    """The reward for ``action``, chosen from ``before``, given ``after`` (action applied, one epoch trained).

    ``terminal`` marks a true end of the episode (the run is over): only then is the final
    accuracy paid and ``phi(after)`` taken as 0. A time-limit truncation that the learner
    bootstraps through is not terminal. ``static_accuracies`` (the paired static run's
    validation accuracy after each epoch) is needed by, and only read in, ``accuracy_gap`` mode.
    """
    if config.mode == ACCURACY_GAP:
        if static_accuracies is None:
            raise ConfigError(STATIC_MISSING_MESSAGE.format(mode=config.mode), value=config.mode)
        return gap_reward(before, after, terminal=terminal, static_accuracies=static_accuracies, config=config)
    terminal_term = config.terminal_weight * _final_accuracy(after) / config.accuracy_scale if terminal else 0.0
    if config.mode == SPARSE:
        return RewardBreakdown(terminal=terminal_term)
    phi_after = 0.0 if terminal else potential(after.seeds, config)
    return RewardBreakdown(
        contribution=contribution_term(after.seeds, config),
        pbrs=config.gamma * phi_after - potential(before.seeds, config),
        rent=rent_term(after.seeds, config),
        action_cost=-config.action_costs.of(action.op),
        terminal=terminal_term,
    )


def gap_reward(
    before: Observation,
    after: Observation,
    *,
    terminal: bool,
    static_accuracies: Sequence[float],
    config: RewardConfig,
) -> RewardBreakdown:
    """``gap(after) - gap(before)``, and at the terminal step the final model's rent.

    Summed over an episode this is ``gap(final) - rent``: ``terminal_value`` of the last
    observation.
    """
    change = accuracy_gap(after, static_accuracies, config) - accuracy_gap(before, static_accuracies, config)
    return RewardBreakdown(gap=change, rent=rent_term(after.seeds, config) if terminal else 0.0)


def terminal_value(final: Observation, static_accuracies: Sequence[float], config: RewardConfig) -> float:
    """What an episode ending at ``final`` was worth: its gap to the static run minus its rent."""
    return accuracy_gap(final, static_accuracies, config) + rent_term(final.seeds, config)


def accuracy_gap(observation: Observation, static_accuracies: Sequence[float], config: RewardConfig) -> float:
    """(last accuracy - the static run's at the same epoch) * terminal_weight, in points.

    Points, not the shaped terminal's ``/ accuracy_scale``: the rent is paid in points too, and
    divided by 100 a 4-point gain (0.04) would lose to the rent of the seeds that earned it
    (0.13 for seeds of 2.65x the host's parameters at the default weight): measured, every
    growing controller then scored below never growing.

    The epoch just trained is ``observation.epoch``, except at the end of a run, where the
    engine's observation reads the next epoch (``max_epochs``). Epoch 0 trains before any
    decision, exactly as in the static run, so its gap is 0 by definition: the return then
    telescopes to the final gap itself, not to its change since epoch 0.
    """
    trained = min(observation.epoch, observation.max_epochs - 1)
    if trained == 0:
        return 0.0
    if trained >= len(static_accuracies):
        raise ConfigError(STATIC_SHORT_MESSAGE.format(length=len(static_accuracies), epoch=trained), value=trained)
    gap = _final_accuracy(observation) - static_accuracies[trained]
    return config.terminal_weight * gap


def contribution_term(seeds: Sequence[SeedState | None], config: RewardConfig) -> float:
    """Weighted, clipped contributions of the seeds whose output the model uses; unmeasured counts 0."""
    cap = config.contribution_cap
    clipped = (
        _clip(seed.metrics.counterfactual_contribution, cap)
        for seed in seeds
        if seed is not None and seed.stage in CONTRIBUTING_STAGES
    )
    return config.contribution_weight * sum(clipped)


def rent_term(seeds: Sequence[SeedState | None], config: RewardConfig) -> float:
    """``-k * log(1 + seed_params / host_params)`` over seeds with a module; 0 until the host is measured."""
    modules = [seed.metrics for seed in seeds if seed is not None and seed.stage in SEED_MODULE_STAGES]
    # Every seed records the same host count; the largest ignores one left unset (0).
    host_params = max((metrics.host_param_count for metrics in modules), default=0)
    if host_params == 0:
        return 0.0
    seed_params = sum(metrics.seed_param_count for metrics in modules)
    return -config.rent_weight * math.log1p(seed_params / host_params)


def _final_accuracy(observation: Observation) -> float:
    """The last validation accuracy; 0 before any, or if it was not a number (there is nothing to pay)."""
    history = observation.signals.accuracy_history
    return history[-1] if history and math.isfinite(history[-1]) else 0.0


def _clip(value: float | None, cap: float) -> float:
    """``value`` clipped to [-cap, cap]; a missing or NaN measurement says nothing, so it counts 0."""
    if value is None or math.isnan(value):
        return 0.0
    return min(cap, max(-cap, value))
