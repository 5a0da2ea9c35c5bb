"""The policy network: one decision per epoch, for any number of slots.

Nothing in the network is sized by the slot count. Each slot's feature block goes through
one shared encoder; the context (what the whole run looks like) is the global features'
encoding joined with the mean of the slot embeddings; the slot head scores every slot with
the same weights. A policy trained on three slots therefore runs unchanged on six.

Decisions are autoregressive, in the order the action is read: the op, then the slot given
the op, then blueprint and blend given the slot. Every head is masked exactly, so each
choice is legal given the ones before it (DESIGN §10). A head that does not matter for the
chosen op (the slot of WAIT; blueprint and blend of anything but GERMINATE) is still
computed, to keep the batch rectangular, but neither its log-probability nor its entropy
counts: the action taken does not depend on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import torch
from torch import nn

from esper_shell.rl.batch import BLENDS, GERMINATE_INDEX, OPS, WAIT_INDEX, ActionBatch, MaskBatch, ObservationBatch
from esper_shell.rl.distributions import MaskedCategorical

HIDDEN_GAIN = math.sqrt(2.0)
# Small initial policy logits: every legal action starts about equally likely.
POLICY_GAIN = 0.01
VALUE_GAIN = 1.0

# Picks an index from a head: sample, take the mode, or return the action being evaluated.
Choose = Callable[[str, MaskedCategorical], torch.Tensor]


@attrs.frozen(eq=False)
class PolicyStep:
    """What acting on a batch of observations produced, one row per env."""

    actions: ActionBatch
    log_prob: torch.Tensor  # (B,)
    value: torch.Tensor  # (B,)
    entropy: torch.Tensor  # (B,)


def _layer(in_features: int, out_features: int, gain: float) -> nn.Linear:
    """Orthogonal weights and zero bias (as in CleanRL's ``layer_init``)."""
    layer = nn.Linear(in_features, out_features)
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


def _mlp(in_features: int, hidden: int, out_features: int, out_gain: float) -> nn.Sequential:
    return nn.Sequential(_layer(in_features, hidden, HIDDEN_GAIN), nn.Tanh(), _layer(hidden, out_features, out_gain))


class PolicyNetwork(nn.Module):
    """Actor and critic over (global features, one block per slot)."""

    def __init__(self, global_size: int, slot_size: int, n_blueprints: int, *, hidden: int) -> None:
        super().__init__()
        self.sizes = {
            "global_size": global_size,
            "slot_size": slot_size,
            "n_blueprints": n_blueprints,
            "hidden": hidden,
        }
        self.global_encoder = nn.Sequential(_mlp(global_size, hidden, hidden, HIDDEN_GAIN), nn.Tanh())
        self.slot_encoder = nn.Sequential(_mlp(slot_size, hidden, hidden, HIDDEN_GAIN), nn.Tanh())
        self.context = nn.Sequential(_layer(2 * hidden, hidden, HIDDEN_GAIN), nn.Tanh())
        self.op_head = _mlp(hidden, hidden, len(OPS), POLICY_GAIN)
        self.op_embedding = nn.Embedding(len(OPS), hidden)
        self.slot_head = _mlp(3 * hidden, hidden, 1, POLICY_GAIN)
        self.blueprint_head = _mlp(2 * hidden, hidden, n_blueprints, POLICY_GAIN)
        self.blend_head = _mlp(2 * hidden, hidden, len(BLENDS), POLICY_GAIN)
        self.value_head = _mlp(hidden, hidden, 1, VALUE_GAIN)

    def encode(self, observations: ObservationBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """The context (B, H) and each slot's embedding (B, S, H)."""
        slots = self.slot_encoder(observations.slot_features)
        pooled = slots.mean(dim=1)
        context = self.context(torch.cat([self.global_encoder(observations.global_features), pooled], dim=-1))
        return context, slots

    def act(
        self,
        observations: ObservationBatch,
        masks: MaskBatch,
        *,
        mask_value: float,
        generator: torch.Generator | None = None,
        greedy: bool = False,
    ) -> PolicyStep:
        """Sample an action per row (or take the most likely legal one when ``greedy``)."""

        def choose(_head: str, dist: MaskedCategorical) -> torch.Tensor:
            return dist.mode() if greedy else dist.sample(generator)

        return self._decide(observations, masks, mask_value, choose)

    def evaluate_actions(
        self, observations: ObservationBatch, actions: ActionBatch, masks: MaskBatch, *, mask_value: float
    ) -> PolicyStep:
        """Log-probability, entropy and value of given actions under the current weights (PPO's update)."""
        taken = {"op": actions.op, "slot": actions.slot, "blueprint": actions.blueprint, "blend": actions.blend}

        def choose(head: str, _dist: MaskedCategorical) -> torch.Tensor:
            return taken[head]

        return self._decide(observations, masks, mask_value, choose)

    def _decide(
        self, observations: ObservationBatch, masks: MaskBatch, mask_value: float, choose: Choose
    ) -> PolicyStep:
        context, slots = self.encode(observations)
        rows = torch.arange(context.shape[0])

        op_dist = MaskedCategorical(self.op_head(context), masks.op, mask_value=mask_value)
        op = choose("op", op_dist)
        addresses_slot = op != WAIT_INDEX
        germinates = op == GERMINATE_INDEX

        op_context = torch.cat([context, self.op_embedding(op)], dim=-1)
        slot_inputs = torch.cat([slots, op_context.unsqueeze(1).expand(-1, slots.shape[1], -1)], dim=-1)
        slot_mask = _relevant(masks.slot[rows, op], addresses_slot)
        slot_dist = MaskedCategorical(self.slot_head(slot_inputs).squeeze(-1), slot_mask, mask_value=mask_value)
        slot = choose("slot", slot_dist)

        choice_inputs = torch.cat([context, slots[rows, slot]], dim=-1)
        blueprint_mask = _relevant(masks.blueprint, germinates)
        blueprint_dist = MaskedCategorical(self.blueprint_head(choice_inputs), blueprint_mask, mask_value=mask_value)
        blueprint = choose("blueprint", blueprint_dist)
        blend_dist = MaskedCategorical(
            self.blend_head(choice_inputs), _relevant(masks.blend, germinates), mask_value=mask_value
        )
        blend = choose("blend", blend_dist)

        log_prob = (
            op_dist.log_prob(op)
            + _where(addresses_slot, slot_dist.log_prob(slot))
            + _where(germinates, blueprint_dist.log_prob(blueprint) + blend_dist.log_prob(blend))
        )
        entropy = (
            op_dist.entropy()
            + _where(addresses_slot, slot_dist.entropy())
            + _where(germinates, blueprint_dist.entropy() + blend_dist.entropy())
        )
        return PolicyStep(
            actions=ActionBatch(op=op, slot=slot, blueprint=blueprint, blend=blend),
            log_prob=log_prob,
            value=self.value_head(context).squeeze(-1),
            entropy=entropy,
        )


def _relevant(mask: torch.Tensor, used: torch.Tensor) -> torch.Tensor:
    """A head's mask where its choice is used; all-legal where it is not (its choice is ignored)."""
    return mask | ~used.unsqueeze(-1)


def _where(used: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    return torch.where(used, values, torch.zeros_like(values))
