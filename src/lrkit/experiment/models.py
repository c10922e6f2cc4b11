"""The built-in tasks' models that are not a plain ``nn.Sequential``: a small GPT.

Each module here is a plain PyTorch module (``forward(x)`` for one run) that also
runs batched (``forward_batched(call, x)`` for R runs at once, see
:mod:`~lrkit.experiment.batched`); both go through one function ``_run(x, call)``,
with ``call = PLAIN`` alone, so the two cannot drift apart.

:class:`GPT` is a byte-level causal transformer in the style of nanoGPT: token and
learned position embeddings, ``layers`` pre-LayerNorm blocks (causal multi-head
self-attention, then a GELU MLP of width ``4 d``, each added to the residual
stream), a final LayerNorm and a linear head to the 256 byte values. Weights are
initialised as nanoGPT does: ``N(0, 0.02)`` for linear and embedding weights,
``N(0, 0.02 / sqrt(2 layers))`` for the projections into the residual stream,
zero biases.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .batched import PLAIN


class _TwoWay(nn.Module):
    """``forward(x)`` alone and ``forward_batched(call, x)`` batched, both ``_run(x, call)``."""

    def _run(self, x: torch.Tensor, call: Any) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, PLAIN)

    def forward_batched(self, call: Any, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, call)


class CausalSelfAttention(_TwoWay):
    """``y = proj(softmax(q k^T / sqrt(d_head) + causal mask) v)`` over ``heads`` heads,
    ``q, k, v = split(qkv(x))``; ``x`` is ``[*batch, T, d]`` for any batch dimensions,
    so R runs' ``[R, B]`` are just a larger batch for the attention itself."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        if d % heads:
            raise InputError(f"CausalSelfAttention: d={d} is not a multiple of heads={heads}")
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def _run(self, x: torch.Tensor, call: Any) -> torch.Tensor:
        *lead, t, d = x.shape
        q, k, v = call(self.qkv, x).split(d, dim=-1)
        # [prod(lead), heads, T, d_head]: 4-D, so that the fused (flash) kernel runs
        q, k, v = (z.reshape(-1, t, self.heads, d // self.heads).transpose(1, 2)
                   for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out: torch.Tensor = call(self.proj, y.transpose(1, 2).reshape(*lead, t, d))
        return out


class Block(_TwoWay):
    """``x + attn(ln1(x))``, then ``x + mlp(ln2(x))`` (pre-LayerNorm)."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def _run(self, x: torch.Tensor, call: Any) -> torch.Tensor:
        x = x + call(self.attn, call(self.ln1, x))
        out: torch.Tensor = x + call(self.mlp, call(self.ln2, x))
        return out


class GPT(_TwoWay):
    """Bytes ``[*batch, T]`` (int64, ``T <= context``) -> next-byte logits ``[*batch, T, 256]``.

    >>> m = GPT(context=8, d=16, layers=1, heads=2)
    >>> m(torch.zeros(3, 8, dtype=torch.long)).shape
    torch.Size([3, 8, 256])
    """

    def __init__(self, context: int, d: int, layers: int, heads: int, vocab: int = 256) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.zeros(context, d))
        self.blocks = nn.Sequential(*(Block(d, heads) for _ in range(layers)))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() >= 2 or name == "pos":
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("proj.weight") or \
                    name.endswith("mlp.2.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def no_weight_decay(self) -> set[str]:
        """The position table is an embedding: AdamW does not decay it."""
        return {"pos"}

    def _run(self, x: torch.Tensor, call: Any) -> torch.Tensor:
        t = x.shape[-1]
        h = call(self.tok, x) + call.param(self, "pos")[..., :t, :]
        out: torch.Tensor = call(self.head, call(self.ln, call(self.blocks, h)))
        return out
