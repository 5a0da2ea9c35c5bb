"""Blueprints: the registry, and what every seed in the catalog promises."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn

from esper_shell.blueprints import (
    BlueprintSpec,
    DuplicateBlueprintError,
    SeedChannelsError,
    UnknownBlueprintError,
    UnknownTopologyError,
    blueprint_names,
    build_seed,
    get_blueprint,
    group_norm,
    group_norm_groups,
    register_blueprint,
    registry,
)
from esper_shell.blueprints.norms import GROUP_CANDIDATES, MIN_CHANNELS_PER_GROUP
from esper_shell.blueprints.transformer import attention_heads

CNN_NAMES = ("noop", "norm", "attention", "depthwise", "conv_light", "conv_heavy")
TRANSFORMER_NAMES = ("noop", "norm", "lora", "attention", "mlp")
CONV_TOPOLOGIES = ("cnn", "conv1d")
CATALOG = [(topology, name) for topology in CONV_TOPOLOGIES for name in CNN_NAMES] + [
    ("transformer", name) for name in TRANSFORMER_NAMES
]
WITH_PARAMETERS = [entry for entry in CATALOG if entry[1] != "noop"]
CHANNELS = (1, 3, 16, 48)


def features(topology: str, channels: int) -> Tensor:
    if topology == "cnn":
        return torch.randn(2, channels, 5, 5)
    if topology == "conv1d":
        return torch.randn(2, channels, 7)
    return torch.randn(2, 7, channels)


def parameter_count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def perturbed(seed: nn.Module) -> nn.Module:
    """Random weights, so a check covers a trained seed and not only the identity."""
    with torch.no_grad():
        for parameter in seed.parameters():
            parameter.normal_()
    return seed


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test vanish with it, so the catalog other tests see is intact."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def spec(name: str = "custom", topology: str = "cnn") -> BlueprintSpec:
    return BlueprintSpec(
        topology=topology,
        name=name,
        build=lambda channels: nn.Identity(),
        param_count=lambda channels: 0,
        description="test blueprint",
    )


class TestRegistry:
    def test_cnn_catalog_is_listed_in_registration_order(self) -> None:
        assert blueprint_names("cnn") == CNN_NAMES

    def test_conv1d_catalog_has_the_cnn_names_in_the_same_order(self) -> None:
        assert blueprint_names("conv1d") == CNN_NAMES

    def test_transformer_catalog_is_listed_in_registration_order(self) -> None:
        assert blueprint_names("transformer") == TRANSFORMER_NAMES

    def test_get_blueprint_returns_the_spec_for_its_key(self) -> None:
        found = get_blueprint("transformer", "lora")
        assert (found.topology, found.name) == ("transformer", "lora")

    def test_unknown_name_lists_the_known_names_of_the_topology(self) -> None:
        with pytest.raises(UnknownBlueprintError, match="'lora' for topology 'cnn'; known blueprints: noop, norm"):
            get_blueprint("cnn", "lora")

    def test_unknown_topology_lists_the_known_topologies(self) -> None:
        with pytest.raises(UnknownTopologyError, match="'CNN'; known topologies: cnn, conv1d, transformer"):
            blueprint_names("CNN")

    def test_unknown_topology_is_an_unknown_blueprint_and_a_value_error(self) -> None:
        assert issubclass(UnknownTopologyError, UnknownBlueprintError)
        assert issubclass(UnknownBlueprintError, ValueError)

    @pytest.mark.usefixtures("isolated_registry")
    def test_a_registered_blueprint_is_listed_last_and_buildable(self) -> None:
        register_blueprint(spec("custom"))
        assert blueprint_names("cnn") == (*CNN_NAMES, "custom")
        assert isinstance(build_seed("cnn", "custom", 4), nn.Identity)

    @pytest.mark.usefixtures("isolated_registry")
    def test_a_new_topology_can_be_registered(self) -> None:
        register_blueprint(spec("noop", topology="graph"))
        assert blueprint_names("graph") == ("noop",)

    @pytest.mark.usefixtures("isolated_registry")
    def test_registering_a_taken_key_is_refused(self) -> None:
        with pytest.raises(DuplicateBlueprintError, match="'norm' is already registered for topology 'cnn'"):
            register_blueprint(spec("norm"))

    def test_register_returns_the_spec_it_registered(self, isolated_registry: None) -> None:
        custom = spec("another")
        assert register_blueprint(custom) is custom

    def test_spec_needs_a_non_empty_name(self) -> None:
        with pytest.raises(ValueError):
            spec("")

    @pytest.mark.parametrize("channels", [0, -1, 2.0, True])
    def test_build_seed_refuses_non_positive_channel_counts(self, channels: int) -> None:
        with pytest.raises(SeedChannelsError, match="positive integer channel count"):
            build_seed("cnn", "conv_light", channels)

    def test_build_seed_refuses_unknown_blueprints(self) -> None:
        with pytest.raises(UnknownBlueprintError):
            build_seed("transformer", "conv_light", 8)


@pytest.mark.parametrize(("topology", "name"), CATALOG)
class TestEverySeed:
    @pytest.mark.parametrize("channels", CHANNELS)
    def test_param_count_matches_the_built_module(self, topology: str, name: str, channels: int) -> None:
        assert get_blueprint(topology, name).param_count(channels) == parameter_count(
            build_seed(topology, name, channels)
        )

    def test_preserves_the_input_shape(self, topology: str, name: str) -> None:
        x = features(topology, 16)
        assert perturbed(build_seed(topology, name, 16))(x).shape == x.shape

    def test_is_the_identity_at_initialisation(self, topology: str, name: str) -> None:
        x = features(topology, 16)
        assert torch.equal(build_seed(topology, name, 16)(x), x)

    def test_has_a_description(self, topology: str, name: str) -> None:
        assert get_blueprint(topology, name).description


@pytest.mark.parametrize(("topology", "name"), WITH_PARAMETERS)
def test_zero_initialised_seeds_still_receive_a_gradient(topology: str, name: str) -> None:
    seed, x = build_seed(topology, name, 16), features(topology, 16)
    (seed(x) * torch.randn_like(x)).sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in seed.parameters())


@pytest.mark.parametrize("name", CNN_NAMES)
class TestCNNMemoryFormat:
    def test_channels_last_input_gives_channels_last_output(self, name: str) -> None:
        x = torch.randn(2, 16, 6, 6).to(memory_format=torch.channels_last)
        assert perturbed(build_seed("cnn", name, 16))(x).is_contiguous(memory_format=torch.channels_last)

    def test_contiguous_input_gives_contiguous_output(self, name: str) -> None:
        assert perturbed(build_seed("cnn", name, 16))(torch.randn(2, 16, 6, 6)).is_contiguous()


@pytest.mark.parametrize(("topology", "taps"), [("cnn", 9), ("conv1d", 3)])
def test_conv_light_kernel_has_three_taps_per_spatial_axis(topology: str, taps: int) -> None:
    assert build_seed(topology, "conv_light", 8).conv.weight.shape[2:].numel() == taps


def test_attention_seed_stays_causal_once_trained() -> None:
    seed, x = perturbed(build_seed("transformer", "attention", 16)), torch.randn(1, 9, 16)
    changed = x.clone()
    changed[:, 5:] += 1.0
    assert torch.equal(seed(x)[:, :5], seed(changed)[:, :5])


class TestGroupNormGroups:
    @pytest.mark.parametrize(
        ("channels", "groups"),
        [(1, 1), (2, 1), (3, 1), (4, 2), (6, 2), (12, 4), (16, 8), (32, 16), (64, 32), (128, 32), (48, 16)],
    )
    def test_picks_the_largest_candidate_with_two_channels_per_group(self, channels: int, groups: int) -> None:
        assert group_norm_groups(channels) == groups

    @given(st.integers(min_value=1, max_value=4096))
    def test_holds_for_every_width(self, channels: int) -> None:
        groups = group_norm_groups(channels)
        floor = min(MIN_CHANNELS_PER_GROUP, channels)
        fits = [g for g in GROUP_CANDIDATES if channels % g == 0 and channels // g >= floor]
        assert groups == max(fits)

    def test_one_by_one_maps_are_not_flattened_to_the_bias(self) -> None:
        norm = group_norm(16)
        out = norm(torch.randn(4, 16, 1, 1))
        assert not torch.equal(out, norm.bias.view(1, -1, 1, 1).expand_as(out))


@pytest.mark.parametrize(("channels", "heads"), [(1, 1), (8, 1), (16, 2), (64, 8), (24, 2)])
def test_attention_seed_heads_keep_at_least_eight_features_each(channels: int, heads: int) -> None:
    assert attention_heads(channels) == heads
