"""A categorical distribution over the legal entries of each row, for the policy's heads."""

from __future__ import annotations

import torch

from esper_shell.rl.errors import PolicyInputError

ALL_MASKED_MESSAGE = (
    "Rows {rows} of a {size}-way head have no legal entry; exact action masks always leave one "
    "(WAIT is always legal). The masks do not belong to these observations."
)
MASK_SHAPE_MESSAGE = "A head's mask must have the shape of its logits {logits}; got {mask}."


class MaskedCategorical:
    """Masked entries get ``mask_value`` as their logit: probability exactly 0 after softmax.

    Entropy is taken over the legal entries only, so it is the entropy of the renormalised
    distribution the policy actually samples from; a head with one legal entry has entropy 0
    and adds nothing to the entropy bonus.
    """

    def __init__(self, logits: torch.Tensor, mask: torch.Tensor, *, mask_value: float) -> None:
        if mask.shape != logits.shape:
            raise PolicyInputError(MASK_SHAPE_MESSAGE.format(logits=tuple(logits.shape), mask=tuple(mask.shape)))
        empty = ~mask.any(dim=-1)
        if bool(empty.any()):
            rows = empty.nonzero().flatten().tolist()
            raise PolicyInputError(ALL_MASKED_MESSAGE.format(rows=rows, size=logits.shape[-1]))
        self.mask = mask
        self.logits = logits.masked_fill(~mask, mask_value)
        self.log_probs = torch.log_softmax(self.logits, dim=-1)

    def sample(self, generator: torch.Generator | None) -> torch.Tensor:
        return torch.multinomial(self.log_probs.exp(), 1, generator=generator).squeeze(-1)

    def mode(self) -> torch.Tensor:
        """The most likely legal entry (greedy acting)."""
        return self.logits.argmax(dim=-1)

    def log_prob(self, index: torch.Tensor) -> torch.Tensor:
        return self.log_probs.gather(-1, index.unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        terms = -self.log_probs.exp() * self.log_probs
        return torch.where(self.mask, terms, torch.zeros_like(terms)).sum(dim=-1)
