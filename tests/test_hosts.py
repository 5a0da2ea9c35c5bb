"""Hosts: their slot grids, the routing contract, and construction-time validation."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from esper_core import ConfigError, SlotIdError
from esper_shell.errors import UnknownSlotError
from esper_shell.hosts import (
    CNN_TOPOLOGY,
    CONV1D_TOPOLOGY,
    TRANSFORMER_TOPOLOGY,
    CNNHost,
    Conv1DHost,
    HostInputError,
    HostProtocol,
    HostRoutingError,
    TransformerHost,
    UnitHost,
)


def tiny_cnn(blocks_per_stage: tuple[int, ...] = (2, 1, 2)) -> CNNHost:
    return CNNHost(blocks_per_stage, base_channels=4, num_classes=5).eval()


def tiny_conv1d(blocks_per_stage: tuple[int, ...] = (2, 1, 2)) -> Conv1DHost:
    return Conv1DHost(blocks_per_stage, base_channels=4, in_channels=2, num_classes=5).eval()


def tiny_transformer(**overrides: int) -> TransformerHost:
    config = {"vocab_size": 32, "n_embd": 16, "n_head": 2, "n_layer": 4, "n_tiers": 2, "block_size": 12}
    return TransformerHost(**{**config, **overrides}).eval()


def cnn_input() -> Tensor:
    return torch.randn(2, 3, 8, 8)


def signal_input(length: int = 16) -> Tensor:
    return torch.randn(2, 2, length)


def token_input(length: int = 10) -> Tensor:
    return torch.randint(0, 32, (2, length))


HOSTS = {
    "cnn": (tiny_cnn, cnn_input),
    "conv1d": (tiny_conv1d, signal_input),
    "transformer": (tiny_transformer, token_input),
}


@pytest.fixture(params=sorted(HOSTS))
def host_and_input(request: pytest.FixtureRequest) -> tuple[UnitHost, Tensor]:
    make_host, make_input = HOSTS[request.param]
    return make_host(), make_input()


class TestCNNGrid:
    def test_one_block_per_stage_gives_one_slot_per_row(self) -> None:
        host = CNNHost((1, 1, 1))
        assert host.slot_order == ("r0c0", "r1c0", "r2c0")
        assert host.injection_points == {"r0c0": 16, "r1c0": 32, "r2c0": 64}

    def test_two_blocks_per_stage_gives_two_columns_per_row(self) -> None:
        host = CNNHost((2, 2, 2))
        assert host.slot_order == ("r0c0", "r0c1", "r1c0", "r1c1", "r2c0", "r2c1")
        assert host.injection_points == {"r0c0": 16, "r0c1": 16, "r1c0": 32, "r1c1": 32, "r2c0": 64, "r2c1": 64}

    def test_uneven_stages_give_rows_of_different_lengths(self) -> None:
        assert CNNHost((1, 3), base_channels=8).injection_points == {"r0c0": 8, "r1c0": 16, "r1c1": 16, "r1c2": 16}

    def test_slots_of_a_row_share_resolution_before_the_pooling(self) -> None:
        host, x = tiny_cnn((2, 2, 2)), cnn_input()
        shapes = {slot: tuple(host.forward_to(slot, x).shape) for slot in host.slot_order}
        assert shapes == {
            "r0c0": (2, 4, 8, 8),
            "r0c1": (2, 4, 8, 8),
            "r1c0": (2, 8, 4, 4),
            "r1c1": (2, 8, 4, 4),
            "r2c0": (2, 16, 2, 2),
            "r2c1": (2, 16, 2, 2),
        }

    def test_forward_gives_class_logits(self) -> None:
        assert tiny_cnn()(cnn_input()).shape == (2, 5)

    def test_topology_is_cnn(self) -> None:
        assert tiny_cnn().topology == CNN_TOPOLOGY == "cnn"


class TestCNNValidation:
    @pytest.mark.parametrize("blocks", [(), (1, 0, 1), (1, -1), (1, 1.5), (True,)])
    def test_bad_stage_lists_are_refused(self, blocks: tuple[int, ...]) -> None:
        with pytest.raises(ConfigError, match="blocks_per_stage|at least one stage"):
            CNNHost(blocks)

    def test_a_bare_integer_is_not_a_stage_list(self) -> None:
        with pytest.raises(ConfigError, match=r"e\.g\. \(1, 1, 1\)"):
            CNNHost(3)  # type: ignore[arg-type]

    @pytest.mark.parametrize("name", ["base_channels", "in_channels", "num_classes"])
    @pytest.mark.parametrize("value", [0, -4])
    def test_non_positive_widths_are_refused(self, name: str, value: int) -> None:
        with pytest.raises(ConfigError, match=f"{name} must be a positive integer, got {value}"):
            CNNHost((1,), **{name: value})

    def test_input_too_small_to_pool_names_the_minimum_size(self) -> None:
        with pytest.raises(HostInputError, match="at least 8x8 pixels"):
            tiny_cnn((1, 1, 1))(torch.randn(1, 3, 4, 4))

    def test_odd_spatial_sizes_floor_like_max_pool(self) -> None:
        host = tiny_cnn((1, 1, 1))
        assert host.forward_to("r2c0", torch.randn(1, 3, 9, 9)).shape == (1, 16, 2, 2)


class TestConv1DGrid:
    def test_one_block_per_stage_gives_one_slot_per_row(self) -> None:
        host = Conv1DHost((1, 1, 1))
        assert host.injection_points == {"r0c0": 16, "r1c0": 32, "r2c0": 64}

    def test_two_blocks_per_stage_gives_two_columns_per_row(self) -> None:
        assert Conv1DHost((2, 1)).slot_order == ("r0c0", "r0c1", "r1c0")

    def test_slots_of_a_row_share_length_before_the_pooling(self) -> None:
        host, x = tiny_conv1d((2, 2, 2)), signal_input(16)
        shapes = {slot: tuple(host.forward_to(slot, x).shape) for slot in host.slot_order}
        assert shapes == {
            "r0c0": (2, 4, 16),
            "r0c1": (2, 4, 16),
            "r1c0": (2, 8, 8),
            "r1c1": (2, 8, 8),
            "r2c0": (2, 16, 4),
            "r2c1": (2, 16, 4),
        }

    def test_forward_gives_class_logits(self) -> None:
        assert tiny_conv1d()(signal_input()).shape == (2, 5)

    def test_topology_is_conv1d(self) -> None:
        assert tiny_conv1d().topology == CONV1D_TOPOLOGY == "conv1d"

    def test_mnist1d_signals_fit_the_preset_host(self) -> None:
        assert Conv1DHost((1, 1, 1), base_channels=4).forward_to("r2c0", torch.randn(3, 1, 40)).shape == (3, 16, 10)


class TestConv1DValidation:
    @pytest.mark.parametrize("blocks", [(), (1, 0, 1), (1, -1), (1, 1.5), (True,)])
    def test_bad_stage_lists_are_refused(self, blocks: tuple[int, ...]) -> None:
        with pytest.raises(ConfigError, match="blocks_per_stage|at least one stage"):
            Conv1DHost(blocks)

    def test_a_bare_integer_is_not_a_stage_list(self) -> None:
        with pytest.raises(ConfigError, match=r"e\.g\. \(1, 1, 1\)"):
            Conv1DHost(3)  # type: ignore[arg-type]

    @pytest.mark.parametrize("name", ["base_channels", "in_channels", "num_classes"])
    def test_non_positive_widths_are_refused(self, name: str) -> None:
        with pytest.raises(ConfigError, match=f"{name} must be a positive integer, got 0"):
            Conv1DHost((1,), **{name: 0})

    def test_signal_too_short_to_pool_names_the_minimum_length(self) -> None:
        with pytest.raises(HostInputError, match="at least 8 positions"):
            tiny_conv1d((1, 1, 1))(signal_input(4))

    def test_odd_lengths_floor_like_max_pool(self) -> None:
        assert tiny_conv1d((1, 1, 1)).forward_to("r2c0", signal_input(9)).shape == (2, 16, 2)


class TestTransformerGrid:
    def test_layers_split_into_equal_tiers(self) -> None:
        host = tiny_transformer(n_layer=6, n_tiers=3)
        assert host.slot_order == ("r0c0", "r0c1", "r1c0", "r1c1", "r2c0", "r2c1")
        assert host.injection_points == dict.fromkeys(host.slot_order, 16)

    def test_forward_gives_next_token_logits(self) -> None:
        assert tiny_transformer()(token_input(7)).shape == (2, 7, 32)

    def test_slot_features_are_the_residual_stream(self) -> None:
        assert tiny_transformer().forward_to("r1c0", token_input(7)).shape == (2, 7, 16)

    def test_output_at_a_position_ignores_later_tokens(self) -> None:
        host, tokens = tiny_transformer(), token_input(10)
        changed = tokens.clone()
        changed[:, 6:] = (changed[:, 6:] + 1) % 32
        before, after = host(tokens), host(changed)
        assert torch.equal(before[:, :6], after[:, :6])
        assert not torch.equal(before[:, 6:], after[:, 6:])

    def test_output_head_shares_the_token_embedding(self) -> None:
        host = tiny_transformer()
        assert host.head.lm_head.weight is host.token_embedding.weight

    def test_state_dict_round_trips_into_a_fresh_host(self) -> None:
        source, target, tokens = tiny_transformer(), tiny_transformer(), token_input()
        target.load_state_dict(source.state_dict())
        assert torch.equal(target(tokens), source(tokens))
        assert target.head.lm_head.weight is target.token_embedding.weight

    def test_topology_is_transformer(self) -> None:
        assert tiny_transformer().topology == TRANSFORMER_TOPOLOGY == "transformer"


class TestTransformerValidation:
    def test_layers_that_do_not_split_evenly_are_refused(self) -> None:
        with pytest.raises(ConfigError, match="n_layer=5 cannot be split into n_tiers=2"):
            tiny_transformer(n_layer=5, n_tiers=2)

    def test_width_not_divisible_by_heads_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="n_embd=16 is not divisible by n_head=3"):
            tiny_transformer(n_head=3)

    @pytest.mark.parametrize("name", ["vocab_size", "n_embd", "n_head", "n_layer", "n_tiers", "block_size"])
    def test_non_positive_sizes_are_refused(self, name: str) -> None:
        with pytest.raises(ConfigError, match=f"{name} must be a positive integer"):
            tiny_transformer(**{name: 0})

    @pytest.mark.parametrize("dropout", [-0.1, 1.0])
    def test_dropout_outside_unit_interval_is_refused(self, dropout: float) -> None:
        with pytest.raises(ConfigError, match="dropout is a probability"):
            TransformerHost(dropout=dropout)

    def test_sequence_longer_than_block_size_is_refused(self) -> None:
        with pytest.raises(HostInputError, match="13 tokens but block_size is 12"):
            tiny_transformer()(token_input(13))


class TestRouting:
    def test_routing_through_any_slot_equals_the_plain_forward(self, host_and_input: tuple[UnitHost, Tensor]) -> None:
        host, x = host_and_input
        expected = host(x)
        for slot in host.slot_order:
            assert torch.equal(host.forward_from(slot, host.forward_to(slot, x)), expected), slot

    def test_chained_segments_equal_one_forward_to(self, host_and_input: tuple[UnitHost, Tensor]) -> None:
        host, x = host_and_input
        order = host.slot_order
        for start_index, start in enumerate(order):
            for end in order[start_index + 1 :]:
                chained = host.forward_to(end, host.forward_to(start, x), from_slot_id=start)
                assert torch.equal(chained, host.forward_to(end, x)), (start, end)

    def test_routing_through_every_slot_in_turn_equals_the_plain_forward(
        self, host_and_input: tuple[UnitHost, Tensor]
    ) -> None:
        host, x = host_and_input
        h, previous = x, None
        for slot in host.slot_order:
            h, previous = host.forward_to(slot, h, from_slot_id=previous), slot
        assert torch.equal(host.forward_from(previous, h), host(x))

    def test_routing_backwards_is_refused(self) -> None:
        with pytest.raises(HostRoutingError, match="'r2c0' is not before 'r0c1'"):
            tiny_cnn().forward_to("r0c1", torch.randn(2, 4, 8, 8), from_slot_id="r2c0")

    def test_routing_from_a_slot_to_itself_is_refused(self) -> None:
        with pytest.raises(HostRoutingError):
            tiny_cnn().forward_to("r0c1", torch.randn(2, 4, 8, 8), from_slot_id="r0c1")

    @pytest.mark.parametrize("method", ["forward_to", "forward_from"])
    def test_legacy_names_are_refused_with_the_valid_ids(self, method: str) -> None:
        valid = r"Valid slots for this host: r0c0, r0c1, r1c0, r2c0, r2c1\."
        with pytest.raises(SlotIdError, match=f"grid coordinates.*{valid}"):
            getattr(tiny_cnn(), method)("early", cnn_input())

    def test_unknown_ids_are_refused_with_the_valid_ids(self) -> None:
        with pytest.raises(UnknownSlotError, match=r"no injection point 'r3c0'\. Valid slots: r0c0, r0c1, r1c0"):
            tiny_cnn().forward_to("r3c0", cnn_input())

    def test_unknown_start_ids_are_refused(self) -> None:
        with pytest.raises(UnknownSlotError, match="'r0c2'"):
            tiny_cnn().forward_to("r1c0", torch.randn(2, 4, 8, 8), from_slot_id="r0c2")

    def test_non_canonical_ids_are_refused_with_the_canonical_spelling(self) -> None:
        with pytest.raises(SlotIdError, match="use 'r0c0'"):
            tiny_cnn().forward_to("R0C0", cnn_input())


class TestProtocol:
    def test_built_in_hosts_satisfy_the_protocol(self, host_and_input: tuple[UnitHost, Tensor]) -> None:
        assert isinstance(host_and_input[0], HostProtocol)

    def test_a_plain_module_does_not(self) -> None:
        assert not isinstance(nn.Linear(2, 2), HostProtocol)

    def test_a_hand_written_host_satisfies_the_protocol(self) -> None:
        class HandWritten(nn.Module):
            topology = "cnn"
            injection_points = {"r0c0": 3}
            slot_order = ("r0c0",)

            def forward_to(self, slot_id: str, x: Tensor, from_slot_id: str | None = None) -> Tensor:
                return x

            def forward_from(self, slot_id: str, x: Tensor) -> Tensor:
                return x

        assert isinstance(HandWritten(), HostProtocol)

    def test_injection_points_cannot_be_changed_through_the_returned_dict(self) -> None:
        host = tiny_cnn()
        host.injection_points["r9c9"] = 1
        assert "r9c9" not in host.injection_points


class TestUnitHost:
    def make(self, slot_ids: tuple[str, ...], channels: tuple[int, ...]) -> UnitHost:
        return UnitHost(
            topology="cnn",
            slot_ids=slot_ids,
            channels=channels,
            units=[nn.Identity() for _ in slot_ids],
            head=nn.Flatten(),
        )

    def test_any_row_major_grid_is_accepted(self) -> None:
        host = self.make(("r0c0", "r1c3"), (2, 2))
        assert host.slot_order == ("r0c0", "r1c3")
        assert host.forward_from("r0c0", torch.ones(1, 2, 1, 1)).shape == (1, 2)

    def test_ids_out_of_forward_order_are_refused(self) -> None:
        with pytest.raises(ConfigError, match="row-major"):
            self.make(("r1c0", "r0c0"), (2, 2))

    def test_duplicate_ids_are_refused(self) -> None:
        with pytest.raises(ConfigError, match="unique"):
            self.make(("r0c0", "r0c0"), (2, 2))

    def test_non_canonical_ids_are_refused(self) -> None:
        with pytest.raises(SlotIdError, match="use 'r0c1'"):
            self.make(("r0c0", "r0c01"), (2, 2))

    def test_one_unit_and_width_per_slot_is_required(self) -> None:
        with pytest.raises(ConfigError, match="2 ids, 2 units and 1 channel counts"):
            self.make(("r0c0", "r0c1"), (2,))

    def test_an_empty_grid_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="at least one injection point"):
            self.make((), ())

    def test_non_positive_widths_are_refused(self) -> None:
        with pytest.raises(ConfigError, match="'r0c1' needs a positive channel count, got 0"):
            self.make(("r0c0", "r0c1"), (2, 0))
