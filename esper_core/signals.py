"""Training signals a controller reads: how the host's validation metrics are moving.

The tracker is a reducer over one validation result per epoch. Two signals gate growth:
``plateau_epochs`` (accuracy has stopped rising) and the ``host_stabilised`` latch (the
host's own explosive early progress is over, so a seed born now is judged on what it adds,
not on gains the host would have made anyway). The latch is one-way: once the host has
settled, a noisy epoch must not re-block germination; only a governor rollback, which
restores an older model, clears it.
"""

from __future__ import annotations

import math

import attrs
from attrs.validators import ge

from esper_core.config import finite
from esper_core.errors import ConfigError

HISTORY_LENGTH_MESSAGE = (
    "SignalTracker holds {accuracies} accuracies but {losses} losses; both record the same epochs. "
    "A checkpoint holding it is corrupt: resume from another one."
)

History = tuple[float, ...]


@attrs.frozen(kw_only=True)
class SignalConfig:
    """Thresholds of the signal tracker. Accuracies are percentages (0-100)."""

    # An epoch whose accuracy gain is below this many points counts towards a plateau.
    plateau_gain: float = attrs.field(default=0.5, validator=[finite, ge(0.0)])
    # An epoch whose loss moved by less than this fraction (either way) is a stable epoch.
    stabilization_rel_improvement: float = attrs.field(default=0.03, validator=[finite, ge(0.0)])
    stabilization_epochs: int = attrs.field(default=3, validator=ge(1))
    # Epochs of accuracy and loss kept for controllers that read the recent curve.
    history_limit: int = attrs.field(default=16, validator=ge(1))


def _check_same_length(instance: SignalTracker, _attribute: attrs.Attribute[History], losses: History) -> None:
    if len(losses) != len(instance.accuracy_history):
        message = HISTORY_LENGTH_MESSAGE.format(accuracies=len(instance.accuracy_history), losses=len(losses))
        raise ConfigError(message)


@attrs.frozen(kw_only=True)
class SignalTracker:
    # One entry per epoch in both, oldest first: entry i of each comes from the same epoch.
    accuracy_history: History = ()
    loss_history: History = attrs.field(default=(), validator=_check_same_length)
    # Accuracy change (points) between the last two epochs; 0.0 until there are two.
    acc_delta: float = 0.0
    plateau_epochs: int = attrs.field(default=0, validator=ge(0))
    best_accuracy: float | None = None
    epochs_seen: int = attrs.field(default=0, validator=ge(0))
    # Consecutive stable epochs so far; the latch closes when it reaches the configured count.
    stable_epochs: int = attrs.field(default=0, validator=ge(0))
    host_stabilised: bool = False


def update_signals(
    tracker: SignalTracker, *, val_accuracy: float, val_loss: float, config: SignalConfig
) -> SignalTracker:
    """Fold one epoch's validation result into the tracker.

    A non-finite reading is not a measurement of progress (the governor reacts to it), so
    it leaves the tracker unchanged rather than poisoning every later comparison. The first
    epoch after a start or a reset has nothing to compare with: it counts towards neither a
    plateau nor stability.
    """
    if not (math.isfinite(val_accuracy) and math.isfinite(val_loss)):
        return tracker
    limit = config.history_limit
    progressed = attrs.evolve(
        tracker,
        accuracy_history=(*tracker.accuracy_history, val_accuracy)[-limit:],
        loss_history=(*tracker.loss_history, val_loss)[-limit:],
        best_accuracy=val_accuracy if tracker.best_accuracy is None else max(tracker.best_accuracy, val_accuracy),
        epochs_seen=tracker.epochs_seen + 1,
    )
    if not tracker.accuracy_history:
        return attrs.evolve(progressed, acc_delta=0.0, plateau_epochs=0, stable_epochs=0)
    acc_delta = val_accuracy - tracker.accuracy_history[-1]
    stable = relative_loss_change(tracker.loss_history[-1], val_loss) < config.stabilization_rel_improvement
    stable_epochs = tracker.stable_epochs + 1 if stable else 0
    return attrs.evolve(
        progressed,
        acc_delta=acc_delta,
        plateau_epochs=tracker.plateau_epochs + 1 if acc_delta < config.plateau_gain else 0,
        stable_epochs=stable_epochs,
        host_stabilised=tracker.host_stabilised or stable_epochs >= config.stabilization_epochs,
    )


def relative_loss_change(previous: float, current: float) -> float:
    """How far the loss moved, as a fraction of where it was, in either direction.

    Magnitude, not signed improvement: a loss that gets clearly worse is a host in
    trouble, not a host that has settled, so a regression must not count as stable.
    """
    if previous == 0.0:
        return 0.0 if current == 0.0 else math.inf
    return abs(previous - current) / abs(previous)


def reset_signals(tracker: SignalTracker) -> SignalTracker:
    """Forget the recent curve after a governor rollback: it describes a model that no longer exists.

    ``best_accuracy`` and ``epochs_seen`` are facts about the whole run and survive.
    """
    return SignalTracker(best_accuracy=tracker.best_accuracy, epochs_seen=tracker.epochs_seen)
