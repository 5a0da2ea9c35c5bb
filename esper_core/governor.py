"""The governor: decides from the loss curve when training has blown up and must be rolled back.

A non-finite loss is unrecoverable and triggers a rollback at once. A finite loss spike is
judged against the recent history of healthy losses, and must clear three bars together:
a statistical one (``mean + k * sigma``, robust to the curve's noise), a relative one (a multiple
of the mean, so a near-constant history with a tiny sigma does not flag ordinary wobble) and
an absolute one (a multiple of ``ln(num_classes)``, the loss of uniform guessing, so a host
that is still learning from scratch is not flagged). One anomalous epoch can be noise;
only ``consecutive_epochs`` in a row roll back.

Anomalous losses are kept out of the history: a blow-up must not raise its own bar.
"""

from __future__ import annotations

import enum
import math
import statistics

import attrs
from attrs.validators import ge

from esper_core.config import finite
from esper_core.errors import ConfigError

HISTORY_LIMIT_MESSAGE = (
    "GovernorConfig.history_limit ({limit}) must be at least min_history ({minimum}), "
    "or the governor could never judge a loss; raise history_limit."
)
NUM_CLASSES_MESSAGE = (
    "check_vitals needs num_classes >= 1 (the task's output classes or vocabulary size), got {found!r}."
)
NON_FINITE_HISTORY_MESSAGE = (
    "GovernorState.losses holds only healthy (finite) losses, got {losses}; "
    "a checkpoint holding it is corrupt: resume from another one."
)
NON_FINITE_REASON = "non-finite loss"
HEALTHY_REASON = "loss {loss:.6g} within bounds"
WARMING_UP_REASON = "loss {loss:.6g} recorded; judging starts after {minimum} healthy epochs ({count} so far)"
ANOMALY_REASON = (
    "loss {loss:.6g} anomalous for {count}/{needed} consecutive epoch(s): "
    "above mean + {sigma:g} sigma = {bar_sigma:.6g}, {mean_multiple:g} x mean = {bar_mean:.6g} "
    "and {ln_multiple:g} ln({classes}) = {bar_ln:.6g}"
)


def _check_history_limit(instance: GovernorConfig, _attribute: attrs.Attribute[int], limit: int) -> None:
    if limit < instance.min_history:
        raise ConfigError(HISTORY_LIMIT_MESSAGE.format(limit=limit, minimum=instance.min_history))


@attrs.frozen(kw_only=True)
class GovernorConfig:
    sigma_multiple: float = attrs.field(default=6.0, validator=[finite, ge(0.0)])
    mean_multiple: float = attrs.field(default=3.0, validator=[finite, ge(0.0)])
    # The loss must also exceed this multiple of ln(num_classes), the loss of uniform guessing.
    min_loss_ln_multiple: float = attrs.field(default=2.0, validator=[finite, ge(0.0)])
    consecutive_epochs: int = attrs.field(default=3, validator=ge(1))
    # Rollbacks with no healthy epoch between them before the run stops: past this, restoring
    # the snapshot again will not help (the learning rate or the data is the likely cause).
    max_consecutive_rollbacks: int = attrs.field(default=3, validator=ge(1))
    snapshot_every: int = attrs.field(default=5, validator=ge(1))
    # Healthy epochs needed before a finite loss can be judged anomalous at all.
    min_history: int = attrs.field(default=5, validator=ge(1))
    history_limit: int = attrs.field(default=20, validator=_check_history_limit)


class GovernorAction(enum.Enum):
    OK = enum.auto()
    WATCH = enum.auto()
    ROLLBACK = enum.auto()


@attrs.frozen
class GovernorVerdict:
    action: GovernorAction
    reason: str


def _check_finite(_instance: object, _attribute: attrs.Attribute[tuple[float, ...]], losses: tuple[float, ...]) -> None:
    if not all(math.isfinite(loss) for loss in losses):
        raise ConfigError(NON_FINITE_HISTORY_MESSAGE.format(losses=losses))


@attrs.frozen(kw_only=True)
class GovernorState:
    """The healthy losses the governor judges against; checkpointed by the engine."""

    losses: tuple[float, ...] = attrs.field(default=(), validator=_check_finite)
    consecutive_anomalies: int = attrs.field(default=0, validator=ge(0))
    consecutive_rollbacks: int = attrs.field(default=0, validator=ge(0))


def check_vitals(
    state: GovernorState, *, loss: float, num_classes: int, config: GovernorConfig
) -> tuple[GovernorVerdict, GovernorState]:
    """Judge one epoch's training loss.

    On ROLLBACK the returned state still describes what was seen; the engine restores its
    snapshot and then calls ``after_rollback``.
    """
    if num_classes < 1:
        raise ConfigError(NUM_CLASSES_MESSAGE.format(found=num_classes))
    if not math.isfinite(loss):
        anomalous = attrs.evolve(state, consecutive_anomalies=state.consecutive_anomalies + 1)
        return GovernorVerdict(GovernorAction.ROLLBACK, NON_FINITE_REASON), anomalous
    if len(state.losses) < config.min_history:
        recorded = _record_healthy(state, loss, config)
        reason = WARMING_UP_REASON.format(loss=loss, minimum=config.min_history, count=len(recorded.losses))
        return GovernorVerdict(GovernorAction.OK, reason), recorded
    # Exact arithmetic: a constant history must give exactly its value and sigma 0.
    mean = statistics.mean(state.losses)
    bar_sigma = mean + config.sigma_multiple * statistics.pstdev(state.losses)
    bar_mean = config.mean_multiple * mean
    bar_ln = config.min_loss_ln_multiple * math.log(num_classes)
    if not (loss > bar_sigma and loss > bar_mean and loss > bar_ln):
        healthy = GovernorVerdict(GovernorAction.OK, HEALTHY_REASON.format(loss=loss))
        return healthy, _record_healthy(state, loss, config)
    count = state.consecutive_anomalies + 1
    action = GovernorAction.ROLLBACK if count >= config.consecutive_epochs else GovernorAction.WATCH
    reason = ANOMALY_REASON.format(
        loss=loss,
        count=count,
        needed=config.consecutive_epochs,
        sigma=config.sigma_multiple,
        bar_sigma=bar_sigma,
        mean_multiple=config.mean_multiple,
        bar_mean=bar_mean,
        ln_multiple=config.min_loss_ln_multiple,
        classes=num_classes,
        bar_ln=bar_ln,
    )
    return GovernorVerdict(action, reason), attrs.evolve(state, consecutive_anomalies=count)


def _record_healthy(state: GovernorState, loss: float, config: GovernorConfig) -> GovernorState:
    """A healthy epoch joins the history and breaks any run of anomalies and rollbacks."""
    losses = (*state.losses, loss)[-config.history_limit :]
    return attrs.evolve(state, losses=losses, consecutive_anomalies=0, consecutive_rollbacks=0)


def should_snapshot(epoch: int, config: GovernorConfig, *, verdict: GovernorVerdict) -> bool:
    """Snapshot every ``snapshot_every`` epochs (epoch 0 included, so an early rollback has a target).

    Never while the governor is watching a possible blow-up: the snapshot is what a
    rollback restores, and it must not capture the model that is going wrong.
    """
    return verdict.action is GovernorAction.OK and epoch % config.snapshot_every == 0


def after_rollback(state: GovernorState) -> GovernorState:
    """Forget the history (it describes training that the rollback has undone); count the rollback."""
    return attrs.evolve(
        state, losses=(), consecutive_anomalies=0, consecutive_rollbacks=state.consecutive_rollbacks + 1
    )


def rollbacks_exhausted(state: GovernorState, config: GovernorConfig) -> bool:
    """Too many rollbacks in a row: the run must stop rather than finish on a diverging model."""
    return state.consecutive_rollbacks >= config.max_consecutive_rollbacks
