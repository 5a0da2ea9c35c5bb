"""Policy files: every field checked (types, ranges, consistency with the tensors) before anything is built."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from esper_core import SlotConfig
from esper_core.features import FeatureLayout, feature_layout
from esper_core.ppo_config import PPOConfig
from esper_shell.blueprints import blueprint_names
from esper_shell.checkpoint_files import atomic_torch_save
from esper_shell.cli import app
from esper_shell.errors import CheckpointError
from esper_shell.rl import policy_file
from esper_shell.rl.normalize import NormaliserConfig, ObservationNormaliser
from esper_shell.rl.policy import PolicyNetwork
from esper_shell.rl.policy_file import Policy, load_policy, policy_from_payload, policy_payload
from tests.test_checkpoint_files import flip_byte_in_storage, write_exploit

HIDDEN = 8
FIRST_WEIGHT = "global_encoder.0.0.weight"


def _layout(slots: tuple[str, ...] = ("r0c0", "r1c0")) -> FeatureLayout:
    return feature_layout(SlotConfig(slots), blueprint_names("cnn"))


def make_payload(layout: FeatureLayout | None = None) -> dict[str, Any]:
    layout = layout or _layout()
    ppo = PPOConfig(hidden=HIDDEN)
    torch.manual_seed(0)
    network = PolicyNetwork(layout.global_size, layout.slot_size, len(layout.blueprints), hidden=HIDDEN)
    normaliser = ObservationNormaliser(layout.global_size, layout.slot_size, NormaliserConfig())
    policy = Policy(network=network, normaliser=normaliser, features=ppo.features, mask_value=ppo.mask_value)
    return policy_payload(policy, layout, ppo)


def _load(payload: Any) -> Policy:
    return policy_from_payload(payload, _layout(), path=Path("policy.pt"), same_slots=False)


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def tamper(payload: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = payload
        for key in parents:
            node = node[key]
        node[last] = value

    tamper.__name__ = f"{path}={value!r}"
    return tamper


def _delete(key: str) -> Callable[[dict[str, Any]], None]:
    def tamper(payload: dict[str, Any]) -> None:
        del payload[key]

    tamper.__name__ = f"without {key}"
    return tamper


def _retype(key: str, dtype: torch.dtype) -> Callable[[dict[str, Any]], None]:
    def tamper(payload: dict[str, Any]) -> None:
        payload["network"][key] = payload["network"][key].to(dtype)

    tamper.__name__ = f"{key} as {dtype}"
    return tamper


def _reshape_first_weight(payload: dict[str, Any]) -> None:
    payload["network"][FIRST_WEIGHT] = torch.zeros(3, 3)


def _string_weight(payload: dict[str, Any]) -> None:
    payload["network"][FIRST_WEIGHT] = "a string"


def _drop_network_key(payload: dict[str, Any]) -> None:
    del payload["network"][next(iter(payload["network"]))]


def _nan_mean(payload: dict[str, Any]) -> None:
    payload["normaliser"]["global"]["mean"][0] = float("nan")


def _negative_var(payload: dict[str, Any]) -> None:
    payload["normaliser"]["slot"]["var"][0] = -1.0


def _float32_stats(payload: dict[str, Any]) -> None:
    payload["normaliser"]["slot"]["mean"] = payload["normaliser"]["slot"]["mean"].float()


TAMPERINGS = [
    *[(_delete(key), f"lacks {key}") for key in ("layout", "sizes", "ppo", "network", "normaliser")],
    (_set("layout", ["r0c0"]), "layout must be"),
    (_set("layout.blueprints", "noop"), "layout.blueprints must be a list of strings"),
    (_set("layout.global_names", [1, 2]), "layout.global_names must be a list of strings"),
    (_set("sizes", None), "sizes must be"),
    (_set("sizes.hidden", 10**6), r"sizes.hidden = 1000000; it must be an integer from 1 to 4096"),
    (_set("sizes.hidden", 1e6), r"sizes.hidden = 1000000.0"),
    (_set("sizes.hidden", True), r"sizes.hidden = True"),
    (_set("sizes.hidden", 0), r"sizes.hidden = 0"),
    (_set("sizes.hidden", 16), r"sizes.hidden = 16, but its layout and PPO settings imply 8"),
    (_set("sizes.global_size", 3), r"sizes.global_size = 3, but .* imply"),
    (_set("sizes.n_blueprints", "4"), r"sizes.n_blueprints = '4'"),
    (_set("ppo.hidden", "wide"), r"Invalid PPOConfig"),
    (_set("ppo", None), r"Invalid PPOConfig"),
    (_set("network", "weights"), "network must be"),
    (_drop_network_key, "network must be"),
    (_string_weight, f"network.{FIRST_WEIGHT} is str"),
    (_reshape_first_weight, r"float32 \(3, 3\), not torch.float32"),
    (_retype(FIRST_WEIGHT, torch.int64), "torch.int64"),
    (_retype(FIRST_WEIGHT, torch.float64), "torch.float64"),
    (_set("normaliser", {}), "normaliser must be"),
    (_set("normaliser.global", {"mean": 1}), "normaliser.global must be"),
    (_float32_stats, r"normaliser.slot.mean is torch.float32"),
    (_nan_mean, "global input statistics are not finite"),
    (_negative_var, "slot input statistics .* negative variance"),
]


class TestRefusals:
    @pytest.mark.parametrize(("tamper", "message"), TAMPERINGS, ids=[t.__name__ for t, _ in TAMPERINGS])
    def test_tampered_policy_is_refused_naming_the_field(self, tamper: Callable, message: str) -> None:
        payload = make_payload()
        tamper(payload)
        with pytest.raises(CheckpointError, match=message):
            _load(payload)

    def test_absurd_hidden_size_is_refused_before_any_network_is_built(self, monkeypatch: pytest.MonkeyPatch) -> None:
        built: list[int] = []

        def spy(*args: Any, hidden: int) -> PolicyNetwork:
            built.append(hidden)
            return PolicyNetwork(*args, hidden=hidden)

        monkeypatch.setattr(policy_file, "PolicyNetwork", spy)
        payload = make_payload()
        payload["sizes"]["hidden"] = payload["ppo"]["hidden"] = 10**6
        with pytest.raises(CheckpointError, match="sizes.hidden"):
            _load(payload)
        assert built == []

    def test_not_a_dict_is_not_a_policy(self) -> None:
        with pytest.raises(CheckpointError, match="not an Esper policy file"):
            _load([1, 2, 3])


class TestFiles:
    def test_round_trip_restores_weights_and_statistics(self, tmp_path: Path) -> None:
        payload = make_payload()
        payload["normaliser"]["global"]["mean"] += 0.5
        path = tmp_path / "policy.pt"
        atomic_torch_save(payload, path)
        policy = load_policy(path, _layout(("r0c0", "r1c0", "r2c0")))
        for key, value in payload["network"].items():
            assert torch.equal(policy.network.state_dict()[key], value)
        assert torch.equal(policy.normaliser.state_dict()["global"]["mean"], payload["normaliser"]["global"]["mean"])

    def test_pickled_payload_is_not_run_even_with_the_force_variable(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
        marker = tmp_path / "ran"
        path = write_exploit(tmp_path / "policy.pt", marker, format="esper.policy", version=1)
        with pytest.raises(CheckpointError, match="Refusing"):
            load_policy(path, _layout())
        assert not marker.exists()

    def test_flipped_byte_in_a_weight_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "policy.pt"
        atomic_torch_save(make_payload(), path)
        flip_byte_in_storage(path)
        with pytest.raises(CheckpointError, match="CRC"):
            load_policy(path, _layout())

    def test_corrupt_policy_file_on_the_command_line_is_one_line_exit_2(self, tmp_path: Path) -> None:
        path = tmp_path / "policy.pt"
        atomic_torch_save(make_payload(), path)
        path.write_bytes(path.read_bytes()[:-40])
        result = CliRunner().invoke(app, ["heuristic", "--policy", str(path), "--epochs", "1", "--quiet"])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and str(path.name) in result.output
