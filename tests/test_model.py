"""MorphogeneticModel: slot validation at the boundary, routing on any grid, lifecycle API."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from esper_core import ConfigError, EsperError, SeedStage, SlotIdError
from esper_shell.errors import HostError, UnknownSlotError
from esper_shell.hosts import HostProtocol, TransformerHost
from esper_shell.model import MorphogeneticModel
from tests.shell_helpers import bring_to, images, tiny_cnn

SIX = ["r0c0", "r0c1", "r1c0", "r1c1", "r2c0", "r2c1"]


class TestSlotValidation:
    def test_legacy_name_is_rejected_with_guidance_naming_r0c0(self) -> None:
        with pytest.raises(SlotIdError, match="r0c0"):
            MorphogeneticModel(tiny_cnn(), ["early"])

    def test_non_canonical_id_is_rejected_with_the_canonical_form(self) -> None:
        with pytest.raises(ValueError, match="'r0c0'"):
            MorphogeneticModel(tiny_cnn(), ["R0C0"])

    def test_unknown_slot_lists_the_hosts_valid_ids(self) -> None:
        with pytest.raises(UnknownSlotError, match="r0c0, r1c0, r2c0"):
            MorphogeneticModel(tiny_cnn(), ["r5c0"])

    def test_duplicate_slot_is_rejected(self) -> None:
        with pytest.raises(ConfigError, match="repeated: r0c0"):
            MorphogeneticModel(tiny_cnn(), ["r0c0", "r0c0"])

    def test_no_slots_is_rejected(self) -> None:
        with pytest.raises(ConfigError, match="at least one slot id"):
            MorphogeneticModel(tiny_cnn(), [])

    def test_slots_are_ordered_row_major(self) -> None:
        model = MorphogeneticModel(tiny_cnn((2, 2, 2)), ["r2c0", "r0c1", "r1c0"])
        assert model.slot_ids == ("r0c1", "r1c0", "r2c0")

    def test_a_module_that_is_not_a_host_is_rejected(self) -> None:
        with pytest.raises(HostError, match="not an Esper host") as caught:
            MorphogeneticModel(nn.Linear(2, 2), ["r0c0"])
        assert isinstance(caught.value, EsperError)

    def test_operating_on_a_slot_not_enabled_names_the_enabled_ones(self) -> None:
        model = MorphogeneticModel(tiny_cnn(), ["r0c0"])
        with pytest.raises(UnknownSlotError, match="enabled slots: r0c0"):
            model.germinate("r1c0", "conv_light")


def _grown(host: nn.Module, slots: list[str], stage: SeedStage) -> MorphogeneticModel:
    model = MorphogeneticModel(host, slots)
    for slot_id in slots:
        bring_to(model, slot_id, stage, blueprint="noop" if host.topology == "transformer" else "conv_light")
    return model


class TestRoutingOnCnnGrids:
    @pytest.mark.parametrize("slots", [SIX[:1], SIX[:2], ["r0c0", "r1c1", "r2c0"], SIX])
    def test_empty_slots_give_the_bare_host_output(self, slots: list[str]) -> None:
        host = tiny_cnn((2, 2, 2)).eval()
        bare = copy.deepcopy(host)
        model = MorphogeneticModel(host, slots)
        x = images()
        assert torch.equal(model(x), bare(x))

    @pytest.mark.parametrize("slots", [SIX[:1], SIX[:2], ["r0c0", "r1c1", "r2c0"], SIX])
    def test_training_seeds_everywhere_keep_the_host_output(self, slots: list[str]) -> None:
        host = tiny_cnn((2, 2, 2)).eval()
        bare = copy.deepcopy(host)
        model = _grown(host, slots, SeedStage.TRAINING)
        assert torch.equal(model(images()), bare(images()))

    @pytest.mark.parametrize("slots", [SIX[:1], SIX[:2], ["r0c0", "r1c1", "r2c0"], SIX])
    def test_fossilized_seeds_everywhere_change_the_output(self, slots: list[str]) -> None:
        host = tiny_cnn((2, 2, 2)).eval()
        bare = copy.deepcopy(host)
        model = _grown(host, slots, SeedStage.FOSSILIZED).eval()
        assert model.fossilized_seed_count == len(slots)
        assert not torch.allclose(model(images()), bare(images()))


class TestRoutingOnTransformers:
    @pytest.mark.parametrize("slots", [["r0c0"], ["r0c0", "r1c0", "r1c1"], ["r0c0", "r0c1", "r1c0", "r1c1"]])
    def test_blending_seeds_route_through_every_slot(self, slots: list[str]) -> None:
        torch.manual_seed(0)
        host = TransformerHost(vocab_size=32, n_embd=16, n_head=2, n_layer=4, n_tiers=2, block_size=8)
        model = MorphogeneticModel(host, slots)
        seen = []
        for slot_id in slots:
            bring_to(model, slot_id, SeedStage.BLENDING, blueprint="lora", blend_steps_done=1)
            model.slot(slot_id).register_forward_hook(lambda m, *_: seen.append(m.slot_id))
        tokens = torch.randint(0, 32, (2, 8))
        logits = model(tokens)
        assert logits.shape == (2, 8, 32)
        assert seen == slots


class RowsHost(nn.Module):
    """A user's own host: two rows, the second with four columns, so it exposes r1c3."""

    topology = "cnn"

    def __init__(self) -> None:
        super().__init__()
        self.injection_points = {"r0c0": 4, "r1c0": 4, "r1c1": 4, "r1c2": 4, "r1c3": 4}
        self.slot_order = tuple(self.injection_points)
        self.units = nn.ModuleList(nn.Conv2d(3 if i == 0 else 4, 4, 3, padding=1) for i in range(5))
        self.head = nn.Linear(4, 2)
        self._index = {sid: i for i, sid in enumerate(self.slot_order)}

    def forward_to(self, slot_id: str, x: torch.Tensor, from_slot_id: str | None = None) -> torch.Tensor:
        start = 0 if from_slot_id is None else self._index[from_slot_id] + 1
        for unit in self.units[start : self._index[slot_id] + 1]:
            x = torch.relu(unit(x))
        return x

    def forward_from(self, slot_id: str, x: torch.Tensor) -> torch.Tensor:
        for unit in self.units[self._index[slot_id] + 1 :]:
            x = torch.relu(unit(x))
        return self.head(x.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_from("r0c0", self.forward_to("r0c0", x))


class TestCustomHost:
    def test_user_host_satisfies_the_protocol(self) -> None:
        assert isinstance(RowsHost(), HostProtocol)

    def test_seed_grows_at_r1c3_without_esper_changes(self) -> None:
        torch.manual_seed(0)
        host = RowsHost()
        bare = copy.deepcopy(host)
        model = MorphogeneticModel(host, ["r0c0", "r1c3"])
        bring_to(model, "r1c3", SeedStage.FOSSILIZED)
        x = images(size=8)
        assert model.slot_reports()["r1c3"].stage is SeedStage.FOSSILIZED
        assert not torch.allclose(model(x), bare(x))


class TestLifecycleApi:
    def test_germinate_reports_a_live_seed(self) -> None:
        model = MorphogeneticModel(tiny_cnn(), ["r0c0", "r1c0"])
        model.germinate("r1c0", "conv_light")
        report = model.slot_reports()["r1c0"]
        assert (report.stage, report.blueprint_id, model.active_seed_count) == (SeedStage.GERMINATED, "conv_light", 1)

    def test_unknown_blueprint_is_refused_and_changes_nothing(self) -> None:
        model = MorphogeneticModel(tiny_cnn(), ["r0c0"])
        with pytest.raises(ValueError, match="conv_light"):
            model.germinate("r0c0", "no_such_blueprint")
        assert model.slot("r0c0").state is None and model.seeds_created == 0

    def test_unknown_blend_is_refused(self) -> None:
        model = MorphogeneticModel(tiny_cnn(), ["r0c0"])
        with pytest.raises(ValueError, match="linear, sigmoid, gated"):
            model.germinate("r0c0", "conv_light", blend="cubic")

    def test_cull_drops_the_seed_module_and_its_parameters(self) -> None:
        model = MorphogeneticModel(tiny_cnn(), ["r0c0"])
        bring_to(model, "r0c0", SeedStage.TRAINING)
        model.cull("r0c0")
        assert model.slot("r0c0").seed is None
        assert list(model.seed_parameters("r0c0")) == []

    def test_illegal_fossilize_names_the_legal_targets(self) -> None:
        model = MorphogeneticModel(tiny_cnn(), ["r0c0"])
        bring_to(model, "r0c0", SeedStage.TRAINING)
        with pytest.raises(ValueError, match="legal targets: BLENDING, CULLED"):
            model.fossilize("r0c0")

    def test_step_epoch_advances_germinated_to_training(self) -> None:
        model = MorphogeneticModel(tiny_cnn(), ["r0c0"])
        model.germinate("r0c0", "conv_light")
        events = model.step_epoch()
        assert model.slot("r0c0").stage is SeedStage.TRAINING
        assert any(e.kind == "stage_entered" and e.payload["to"] == "TRAINING" for e in events)

    def test_parameter_groups_are_disjoint(self) -> None:
        model = MorphogeneticModel(tiny_cnn(), ["r0c0", "r1c0"])
        model.germinate("r0c0", "conv_light")
        host_ids = {id(p) for p in model.host_parameters()}
        seed_ids = {id(p) for p in model.seed_parameters()}
        assert seed_ids and not host_ids & seed_ids
        assert len(host_ids) + len(seed_ids) == len(list(model.parameters()))
