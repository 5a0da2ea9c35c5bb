"""Running statistics that keep the policy's inputs and the value target on a usable scale.

Features mix one-hots, epoch fractions and accuracy points, and a reward's size depends on
the task; unnormalised, the first layer and the value head would have to learn those scales
before anything else. Both normalisers are part of the policy (saved with it): a policy
read with other statistics sees other inputs.

Statistics are float64 and merged batch by batch with Chan et al.'s parallel form of
Welford's update, so their result does not depend on how the samples were batched.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import torch
from attrs.validators import ge, gt

from esper_shell.errors import CheckpointError
from esper_shell.rl.batch import ObservationBatch
from esper_shell.rl.errors import PolicyInputError

STATE_KEYS_MESSAGE = "Normaliser state must hold tensors {expected}; got {found}. The file is not a saved normaliser."
SHAPE_MESSAGE = "Normaliser state is for features of shape {saved}; this normaliser has shape {current}."
BATCH_SHAPE_MESSAGE = "A batch for a normaliser of feature shape {shape} must have shape (N, *{shape}); got {found}."


@attrs.frozen(kw_only=True)
class NormaliserConfig:
    """How inputs and rewards are scaled (CleanRL's NormalizeObservation/NormalizeReward defaults)."""

    # Normalised values are clipped to +-clip, so one outlier cannot saturate the network.
    clip: float = attrs.field(default=10.0, validator=gt(0.0))
    # Added to the variance before the square root: a constant feature maps to 0, not to inf.
    epsilon: float = attrs.field(default=1e-8, validator=gt(0.0))
    # Pseudo-count of the initial (mean 0, var 1) statistics; keeps the first update finite.
    prior_count: float = attrs.field(default=1e-4, validator=ge(0.0))


class RunningMeanStd:
    """Mean and variance of every sample seen so far, per feature."""

    def __init__(self, shape: tuple[int, ...], config: NormaliserConfig) -> None:
        self.shape = tuple(shape)
        self.config = config
        self.mean = torch.zeros(self.shape, dtype=torch.float64)
        self.var = torch.ones(self.shape, dtype=torch.float64)
        self.count = torch.tensor(config.prior_count, dtype=torch.float64)

    def update(self, batch: torch.Tensor) -> None:
        """Merge a batch of samples (first dimension = samples)."""
        if tuple(batch.shape[1:]) != self.shape:
            raise PolicyInputError(BATCH_SHAPE_MESSAGE.format(shape=self.shape, found=tuple(batch.shape)))
        if batch.shape[0] == 0:
            return
        batch = batch.to(torch.float64)
        batch_mean = batch.mean(dim=0)
        batch_var = batch.var(dim=0, unbiased=False)
        batch_count = torch.tensor(float(batch.shape[0]), dtype=torch.float64)
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count + delta.square() * self.count * batch_count / total
        self.var = m2 / total
        self.count = total

    def normalise(self, values: torch.Tensor) -> torch.Tensor:
        scaled = (values.to(torch.float64) - self.mean) / torch.sqrt(self.var + self.config.epsilon)
        return scaled.clamp(-self.config.clip, self.config.clip).to(torch.float32)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"mean": self.mean.clone(), "var": self.var.clone(), "count": self.count.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        expected = {"mean", "var", "count"}
        if not isinstance(state, dict) or set(state) != expected:
            found = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(STATE_KEYS_MESSAGE.format(expected=sorted(expected), found=found))
        if tuple(state["mean"].shape) != self.shape or tuple(state["var"].shape) != self.shape:
            raise CheckpointError(SHAPE_MESSAGE.format(saved=tuple(state["mean"].shape), current=self.shape))
        self.mean = state["mean"].to(torch.float64).clone()
        self.var = state["var"].to(torch.float64).clone()
        self.count = state["count"].to(torch.float64).clone()


class ObservationNormaliser:
    """Normalises the global features and the slot blocks, with one statistic per feature.

    The slot statistics are shared by every slot (each slot's block is one sample), for the
    same reason the slot encoder's weights are shared: they must not depend on how many
    slots there are, so that a policy trained on three slots reads a six-slot host.
    """

    def __init__(self, global_size: int, slot_size: int, config: NormaliserConfig) -> None:
        self.global_stats = RunningMeanStd((global_size,), config)
        self.slot_stats = RunningMeanStd((slot_size,), config)

    def update(self, batch: ObservationBatch) -> None:
        self.global_stats.update(batch.global_features)
        slots = batch.slot_features
        self.slot_stats.update(slots.reshape(-1, slots.shape[-1]))

    def normalise(self, batch: ObservationBatch) -> ObservationBatch:
        return ObservationBatch(
            global_features=self.global_stats.normalise(batch.global_features),
            slot_features=self.slot_stats.normalise(batch.slot_features),
        )

    def state_dict(self) -> dict[str, dict[str, torch.Tensor]]:
        return {"global": self.global_stats.state_dict(), "slot": self.slot_stats.state_dict()}

    def load_state_dict(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        if not isinstance(state, dict) or set(state) != {"global", "slot"}:
            found = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(STATE_KEYS_MESSAGE.format(expected=["global", "slot"], found=found))
        self.global_stats.load_state_dict(state["global"])
        self.slot_stats.load_state_dict(state["slot"])


class RewardScaler:
    """Divides rewards by the running std of each env's discounted return (CleanRL's NormalizeReward).

    Only the scale changes, never the sign or the mean, so the reward's ordering of outcomes
    is kept while the value head's target stays near unit size whatever the task.
    """

    def __init__(self, n_envs: int, *, gamma: float, config: NormaliserConfig) -> None:
        self.gamma = gamma
        self.config = config
        self.return_stats = RunningMeanStd((), config)
        self.returns = torch.zeros(n_envs, dtype=torch.float64)

    def scale(
        self, rewards: torch.Tensor, gather: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Fold one reward per env into the running returns, then scale the rewards.

        ``gather`` (under torchrun) gives every rank's returns, so the scale is the one every env shares.
        """
        self.returns = self.returns * self.gamma + rewards.to(torch.float64)
        self.return_stats.update(self.returns if gather is None else gather(self.returns))
        scaled = rewards.to(torch.float64) / torch.sqrt(self.return_stats.var + self.config.epsilon)
        return scaled.clamp(-self.config.clip, self.config.clip).to(torch.float32)

    def end_episodes(self) -> None:
        """Every env's episode ended: the next rewards start new returns."""
        self.returns = torch.zeros_like(self.returns)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.return_stats.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.return_stats.load_state_dict(state)
