"""The accuracy-gap reward (DESIGN §10) over synthetic episodes: its dense sum is its terminal
form, and ranking episodes by return ranks them by the user's objective."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import finite_floats

from esper_core import FactoredAction, LifecycleOp, Observation, SeedStage, SeedState, SignalTracker, SlotConfig
from esper_core.blending import BlendAlgorithm
from esper_core.rewards import ACCURACY_GAP, RewardConfig, compute_reward, terminal_value
from esper_core.state import SeedMetrics

SLOTS = SlotConfig(("r0c0", "r1c0"))
WAIT = FactoredAction(op=LifecycleOp.WAIT)
ROUNDING = 1e-9
# Final accuracies closer than this are not ranked: their returns may differ only by rounding.
MARGIN = 1e-6

accuracy_points = finite_floats(0.0, 100.0)
gap_configs = st.builds(
    RewardConfig,
    mode=st.just(ACCURACY_GAP),
    rent_weight=finite_floats(0.0, 1.0),
    terminal_weight=finite_floats(0.0, 10.0),
    accuracy_scale=finite_floats(1.0, 100.0),
)


@st.composite
def final_seeds(draw: st.DrawFn) -> tuple[SeedState | None, ...]:
    """What the final model keeps in each slot: nothing, or a fossilized seed of some size."""
    host = draw(st.integers(1, 10**6))

    def kept(slot_id: str) -> SeedState:
        metrics = SeedMetrics(seed_param_count=draw(st.integers(0, 10**6)), host_param_count=host)
        return SeedState(
            seed_id=slot_id,
            slot_id=slot_id,
            blueprint_id="conv_light",
            stage=SeedStage.FOSSILIZED,
            blend_algorithm=BlendAlgorithm.LINEAR,
            alpha=1.0,
            metrics=metrics,
        )

    return tuple(draw(st.none() | st.just(slot_id).map(kept)) for slot_id in SLOTS.slot_ids)


def episode(accuracies: Sequence[float], seeds: tuple[SeedState | None, ...]) -> list[Observation]:
    """The observations of one episode as the env yields them: one after each epoch, then the
    end-of-run one, which reads the next epoch and repeats the last accuracy."""
    epochs = len(accuracies)

    def at(epoch: int, history: Sequence[float]) -> Observation:
        return Observation(
            epoch=epoch,
            max_epochs=epochs,
            slots=SLOTS,
            seeds=seeds,
            signals=SignalTracker(accuracy_history=tuple(history[-3:]), loss_history=(1.0,) * len(history[-3:])),
            max_seeds=2,
            seeds_germinated=0,
            blueprints=("conv_light",),
        )

    steps = [at(epoch, accuracies[: epoch + 1]) for epoch in range(epochs)]
    return [*steps, at(epochs, accuracies)]


def episode_return(observations: Sequence[Observation], static: Sequence[float], config: RewardConfig) -> float:
    last = len(observations) - 2
    return sum(
        compute_reward(before, WAIT, after, terminal=index == last, config=config, static_accuracies=static).total
        for index, (before, after) in enumerate(zip(observations, observations[1:], strict=False))
    )


@st.composite
def curves(draw: st.DrawFn, epochs: int) -> list[float]:
    return draw(st.lists(accuracy_points, min_size=epochs, max_size=epochs))


@given(data=st.data(), epochs=st.integers(2, 30), config=gap_configs, seeds=final_seeds())
def test_dense_sum_is_the_terminal_form(
    data: st.DataObject, epochs: int, config: RewardConfig, seeds: tuple[SeedState | None, ...]
) -> None:
    static, accuracies = data.draw(curves(epochs)), data.draw(curves(epochs))
    observations = episode(accuracies, seeds)
    expected = terminal_value(observations[-1], static, config)
    assert episode_return(observations, static, config) == pytest.approx(expected, abs=ROUNDING)
    scale = config.terminal_weight
    assert terminal_value(observations[-1], static, attrs.evolve(config, rent_weight=0.0)) == pytest.approx(
        scale * (accuracies[-1] - static[-1]), abs=ROUNDING
    )


@given(data=st.data(), epochs=st.integers(2, 30), config=gap_configs, seeds=final_seeds())
def test_return_order_is_final_accuracy_order(
    data: st.DataObject, epochs: int, config: RewardConfig, seeds: tuple[SeedState | None, ...]
) -> None:
    """Rollouts of one seed (one static curve) keeping the same final seeds: whatever their
    trajectories, the one that ends more accurate has the higher return."""
    config = attrs.evolve(config, terminal_weight=max(config.terminal_weight, 0.1))
    static = data.draw(curves(epochs))
    rollouts = data.draw(st.lists(curves(epochs), min_size=2, max_size=5))
    returns = [episode_return(episode(accuracies, seeds), static, config) for accuracies in rollouts]
    for (first, first_return), (second, second_return) in zip(
        zip(rollouts, returns, strict=True), zip(rollouts[1:], returns[1:], strict=True), strict=False
    ):
        if first[-1] > second[-1] + MARGIN:
            assert first_return > second_return
        elif second[-1] > first[-1] + MARGIN:
            assert second_return > first_return
