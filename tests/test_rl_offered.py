"""What a policy may grow: the task's blueprints, never a seed that cannot pass the gates."""

from __future__ import annotations

from esper_shell.rl.offered import can_pass_gates, offered_blueprints, preset_blueprints
from esper_shell.tasks import get_task


class TestOfferedBlueprints:
    def test_a_seed_without_parameters_cannot_pass_the_gates(self) -> None:
        assert not can_pass_gates("cnn", "noop") and can_pass_gates("cnn", "conv_light")

    def test_noop_is_never_offered(self) -> None:
        offered = offered_blueprints("cnn")
        assert "noop" not in offered and "conv_light" in offered

    def test_preferred_list_keeps_its_order_and_drops_unknown_and_useless_names(self) -> None:
        assert offered_blueprints("cnn", ("depthwise", "noop", "mlp", "conv_light")) == ("depthwise", "conv_light")

    def test_the_default_task_offers_its_heuristics_blueprints(self) -> None:
        preset = get_task("digits")
        assert preset_blueprints(preset) == preset.heuristic.blueprints == ("conv_light", "depthwise", "conv_heavy")
