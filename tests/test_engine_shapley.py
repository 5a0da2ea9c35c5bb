"""esper_shell.engine.shapley: the branched subset pass against plain passes, and the probe in a run."""

from __future__ import annotations

import contextlib

import pytest
import torch

from esper_core import SeedStage
from esper_core.shapley import all_subsets, exact_shapley, permutation_subsets, sample_permutations, sampled_shapley
from esper_shell.engine.shapley import ShapleyProbe, attribute, blended_slots, forward_subsets, subset_accuracies
from esper_shell.model import MorphogeneticModel
from esper_shell.runs import start, train
from esper_shell.telemetry import MemorySink
from tests.engine_helpers import eager_config
from tests.shell_helpers import bring_to, images, tiny_cnn

CPU = torch.device("cpu")


def blended_model(slots: tuple[str, ...], blocks: tuple[int, ...] = (1, 1, 1)) -> MorphogeneticModel:
    host = tiny_cnn(blocks)
    model = MorphogeneticModel(host, list(host.slot_order))
    for index, slot_id in enumerate(slots):
        bring_to(model, slot_id, SeedStage.BLENDING, blend_steps_done=1 + index % 3)
    return model.eval()


def batches(seed: int = 0, count: int = 3) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [(images(32, seed=seed + i), torch.randint(0, 5, (32,), generator=generator)) for i in range(count)]


class TestForwardSubsets:
    def test_each_subset_matches_a_plain_pass_with_the_others_bypassed(self) -> None:
        model = blended_model(("r0c0", "r1c0", "r2c0"))
        players = blended_slots(model)
        subsets = all_subsets(players)
        x = images(8)
        with torch.no_grad():
            fused = forward_subsets(model, x, players, subsets)
            for subset, out in zip(subsets, fused, strict=True):
                with contextlib.ExitStack() as stack:
                    for slot_id in players:
                        if slot_id not in subset:
                            stack.enter_context(model.slot(slot_id).bypassed())
                    torch.testing.assert_close(out, model(x))

    def test_all_on_is_the_model_output(self) -> None:
        model = blended_model(("r0c0", "r2c0"))
        with torch.no_grad():
            (out,) = forward_subsets(model, images(4), blended_slots(model), [frozenset(blended_slots(model))])
            torch.testing.assert_close(out, model(images(4)))

    def test_a_player_off_the_route_is_refused(self) -> None:
        model = blended_model(("r0c0",))
        with pytest.raises(ValueError, match="not on the model's route"):
            forward_subsets(model, images(2), ("r1c0",), [frozenset()])


class TestAttribution:
    def test_no_blended_seed_means_no_values(self) -> None:
        model = blended_model(())
        assert attribute(model, lambda: batches(), device=CPU, seed=0) is None

    def test_exact_values_are_efficient_on_a_real_model(self) -> None:
        model = blended_model(("r0c0", "r1c0", "r2c0"))
        estimate = attribute(model, lambda: batches(), device=CPU, seed=0)
        assert estimate.method == "exact"
        assert sum(estimate.values.values()) == pytest.approx(estimate.all_on - estimate.all_off)

    def test_sampled_agrees_with_exact_within_the_sampling_error(self) -> None:
        model = blended_model(("r0c0", "r0c1", "r1c0", "r1c1", "r2c0"), blocks=(2, 2, 2))
        players = blended_slots(model)
        assert len(players) == 5
        exact = exact_shapley(players, subset_accuracies(model, batches(), players, all_subsets(players), device=CPU))
        orders = sample_permutations(players, 200, seed=5)
        values = subset_accuracies(model, batches(), players, permutation_subsets(orders), device=CPU)
        sampled = sampled_shapley(players, values, orders)
        for player in players:
            assert abs(sampled.values[player] - exact.values[player]) <= 4 * sampled.stderr[player] + 1e-9

    def test_beyond_four_seeds_it_samples(self) -> None:
        model = blended_model(("r0c0", "r0c1", "r1c0", "r1c1", "r2c0"), blocks=(2, 2, 2))
        estimate = attribute(model, lambda: batches(), device=CPU, seed=0, samples=8)
        assert estimate.method == "sampled" and set(estimate.stderr) == set(estimate.values)


class TestProbeInARun:
    def _events(self, every: int) -> tuple[list, list]:
        sink = MemorySink()
        run = start("digits", eager_config(epochs=12), sinks=[sink])
        run.trainer.on_validated = ShapleyProbe(every=every)
        train(run)
        epochs = {e.epoch: e.payload for e in sink.events if e.kind == "epoch"}
        return [e for e in sink.events if e.kind == "shapley"], epochs

    def test_values_add_up_to_the_epochs_accuracy_minus_all_seeds_off(self) -> None:
        shapley, epochs = self._events(every=1)
        assert shapley, "the eager run blends seeds: some epoch must have been attributed"
        for epoch in {e.epoch for e in shapley}:
            of_epoch = [e.payload for e in shapley if e.epoch == epoch]
            assert of_epoch[0]["all_on"] == pytest.approx(epochs[epoch]["val_accuracy"])
            total = sum(p["value"] for p in of_epoch)
            assert total == pytest.approx(of_epoch[0]["all_on"] - of_epoch[0]["all_off"])

    def test_runs_only_every_k_epochs(self) -> None:
        shapley, _ = self._events(every=4)
        assert {e.epoch for e in shapley} <= {3, 7, 11}

    def test_probe_is_due_at_the_end_of_each_kth_epoch(self) -> None:
        probe = ShapleyProbe(every=3)
        assert [epoch for epoch in range(9) if probe.due(epoch)] == [2, 5, 8]
