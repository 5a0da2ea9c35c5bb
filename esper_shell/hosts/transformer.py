"""A GPT-style causal language model host whose grid rows are equal tiers of layers.

Pre-LN blocks keep the residual stream un-normalised between layers, so a slot after any
layer sees (and may rewrite) the same stream the next layer reads.
"""

from __future__ import annotations

from typing import cast

import torch.nn.functional as F
from torch import Tensor, nn

from esper_core import ConfigError
from esper_shell.hosts.protocol import TRANSFORMER_TOPOLOGY, HostInputError, UnitHost, grid_slot_ids, is_positive_int

MLP_EXPANSION = 4
INIT_STD = 0.02

POSITIVE_MESSAGE = "TransformerHost {name} must be a positive integer, got {value!r}."
DROPOUT_MESSAGE = "TransformerHost dropout is a probability in [0, 1), got {value!r}."
HEADS_MESSAGE = (
    "TransformerHost n_embd={n_embd} is not divisible by n_head={n_head}; pick n_head among the "
    "divisors of n_embd (e.g. {suggestion})."
)
TIERS_MESSAGE = (
    "TransformerHost n_layer={n_layer} cannot be split into n_tiers={n_tiers} equal tiers; use an "
    "n_tiers that divides n_layer (e.g. {suggestion})."
)
TOO_LONG_MESSAGE = (
    "TransformerHost got a sequence of {length} tokens but block_size is {block_size}; crop the "
    "input to at most {block_size} tokens or build the host with a larger block_size."
)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention over (B, T, C) through the fused SDPA kernel."""

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_head = n_head
        self.dropout = dropout
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        batch, length, channels = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.n_head, channels // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(batch, length, channels)))


class MLP(nn.Module):
    """Position-wise ``Linear(C, 4C) → GELU → Linear(4C, C)``."""

    def __init__(self, n_embd: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc = nn.Linear(n_embd, MLP_EXPANSION * n_embd)
        self.proj = nn.Linear(MLP_EXPANSION * n_embd, n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """One pre-LN transformer layer: ``x + attn(ln(x))`` then ``x + mlp(ln(x))``."""

    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.ln_attn = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout)
        self.ln_mlp = nn.LayerNorm(n_embd)
        self.mlp = MLP(n_embd, dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_attn(x))
        return x + self.mlp(self.ln_mlp(x))


class Embedding(nn.Module):
    """Token + learned position embeddings; refuses sequences longer than ``block_size``."""

    def __init__(self, vocab_size: int, n_embd: int, block_size: int, dropout: float) -> None:
        super().__init__()
        self.block_size = block_size
        self.token = nn.Embedding(vocab_size, n_embd)
        self.position = nn.Embedding(block_size, n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, idx: Tensor) -> Tensor:
        length = idx.shape[-1]
        if length > self.block_size:
            raise HostInputError(TOO_LONG_MESSAGE.format(length=length, block_size=self.block_size))
        # Slicing the table avoids allocating an index tensor on every call.
        return self.dropout(self.token(idx) + self.position.weight[:length])


class LanguageModelHead(nn.Module):
    """Final LayerNorm and the output projection, whose weight is the token embedding."""

    def __init__(self, token_embedding: nn.Embedding) -> None:
        super().__init__()
        vocab_size, n_embd = token_embedding.weight.shape
        self.ln = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = token_embedding.weight

    def forward(self, x: Tensor) -> Tensor:
        return self.lm_head(self.ln(x))


class TransformerHost(UnitHost):
    """Token ids (B, T) → logits (B, T, vocab); slot ``r{tier}c{k}`` sits after layer ``k``
    of tier ``tier``, each tier holding ``n_layer // n_tiers`` layers."""

    def __init__(
        self,
        *,
        vocab_size: int = 256,
        n_embd: int = 64,
        n_head: int = 4,
        n_layer: int = 4,
        n_tiers: int = 2,
        block_size: int = 128,
        dropout: float = 0.0,
    ) -> None:
        _check_config(
            vocab_size=vocab_size,
            n_embd=n_embd,
            n_head=n_head,
            n_layer=n_layer,
            n_tiers=n_tiers,
            block_size=block_size,
            dropout=dropout,
        )
        embedding = Embedding(vocab_size, n_embd, block_size, dropout)
        blocks = [Block(n_embd, n_head, dropout) for _ in range(n_layer)]
        head = LanguageModelHead(embedding.token)
        super().__init__(
            topology=TRANSFORMER_TOPOLOGY,
            slot_ids=grid_slot_ids([n_layer // n_tiers] * n_tiers),
            channels=[n_embd] * n_layer,
            units=[nn.Sequential(embedding, blocks[0]), *blocks[1:]],
            head=head,
        )
        self.block_size = block_size
        self.apply(_init_weights)

    @property
    def token_embedding(self) -> nn.Embedding:
        """The input embedding, whose weight the output head shares."""
        return cast(Embedding, self.units[0][0]).token


def _init_weights(module: nn.Module) -> None:
    """GPT-2 initialisation: with tied weights, torch's N(0, 1) embedding default would
    make the initial logits huge."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=INIT_STD)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def _check_config(*, n_embd: int, n_head: int, n_layer: int, n_tiers: int, dropout: float, **others: int) -> None:
    for name, value in {"n_embd": n_embd, "n_head": n_head, "n_layer": n_layer, "n_tiers": n_tiers, **others}.items():
        if not is_positive_int(value):
            raise ConfigError(POSITIVE_MESSAGE.format(name=name, value=value))
    if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
        raise ConfigError(DROPOUT_MESSAGE.format(value=dropout))
    if n_embd % n_head:
        raise ConfigError(HEADS_MESSAGE.format(n_embd=n_embd, n_head=n_head, suggestion=_divisors(n_embd)))
    if n_layer % n_tiers:
        raise ConfigError(TIERS_MESSAGE.format(n_layer=n_layer, n_tiers=n_tiers, suggestion=_divisors(n_layer)))


def _divisors(value: int) -> str:
    return ", ".join(str(d) for d in range(1, value + 1) if value % d == 0)
