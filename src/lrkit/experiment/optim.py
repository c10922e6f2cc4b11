"""The optimizers of the batched trainer, each beside its ``torch.optim`` reference.

An :class:`Optim` holds the hyper-parameters every run of a training shares;
:data:`OPTIMIZERS` maps a name to a :class:`Kind`: how to build the batched
optimizer (parameters stacked ``[R, ...]``, one learning rate per run, an
``alive`` mask: dead runs never change) and the one-run reference built from the
real ``torch.optim`` class. The trainer talks to both through
:class:`BatchedOptimizer`'s ``step`` and its ``train()``/``eval()`` hooks (called
around every evaluation: an optimizer that evaluates other weights than it
trains, such as a schedule-free one, swaps them there). A new optimizer is one
more entry in :data:`OPTIMIZERS`.

The update rules (same formulas, same order of operations as PyTorch's):

* ``sgd``: ``g = grad + wd * p``; with momentum ``mu``: ``b = g`` at the first
  step, then ``b = mu * b + g``; ``g = g + mu * b`` (Nesterov) or ``g = b``;
  ``p = p - lr * g`` (``torch.optim.SGD``, dampening 0);
* ``adam``: ``g = grad + wd * p``; ``m = b1 m + (1 - b1) g``;
  ``v = b2 v + (1 - b2) g^2``;
  ``p = p - lr / (1 - b1^k) * m / (sqrt(v) / sqrt(1 - b2^k) + eps)`` (``torch.optim.Adam``);
* ``adamw``: as ``adam`` without the ``wd * p`` term, after ``p = p * (1 - lr * wd)``
  (decoupled weight decay, ``torch.optim.AdamW``).

**Which parameters decay** (:func:`decays`): for ``adamw``, only weight matrices and
kernels (parameters with two or more dimensions), never biases, norm weights
(``LayerNorm``, ``BatchNorm``, ``GroupNorm``, ...), embedding tables, nor what the
model's ``no_weight_decay()`` names (timm's convention); nanoGPT's rule, with
embeddings excluded as well. For ``sgd`` and ``adam`` (L2 added to the gradient)
every parameter decays, as ``torch.optim`` does with one parameter group.

**Gradient clipping** (:func:`clip`): each run's gradients are scaled by
``min(1, max_norm / (||g|| + 1e-6))``, ``||g||`` the run's global L2 norm over all
its parameters (``torch.nn.utils.clip_grad_norm_``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

NO_DECAY_TYPES = (nn.Embedding, nn.EmbeddingBag, nn.LayerNorm, nn.GroupNorm,
                  nn.LocalResponseNorm, nn.modules.batchnorm._NormBase)


@dataclass(frozen=True)
class Optim:
    """The hyper-parameters shared by every run (the learning rate is per run)."""

    kind: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: tuple[float, float] | None = None  # None: (momentum, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 0  # a schedule-free optimizer's own warm-up (baselines.py)

    @property
    def adam_betas(self) -> tuple[float, float]:
        return self.betas if self.betas is not None else (self.momentum, 0.999)


def decays(model: nn.Module, kind: str) -> dict[str, bool]:
    """For every parameter name of ``model``: does weight decay apply to it?

    >>> m = nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3))
    >>> decays(m, "adamw")
    {'0.weight': True, '0.bias': False, '1.weight': False, '1.bias': False}
    >>> all(decays(m, "sgd").values())
    True
    """
    names = [n for n, _ in model.named_parameters()]
    if kind != "adamw":
        return dict.fromkeys(names, True)
    skip_fn = getattr(model, "no_weight_decay", None)
    skip = set(skip_fn()) if callable(skip_fn) else set()
    out = {}
    for mod_name, m in model.named_modules():
        for p_name, p in m.named_parameters(recurse=False):
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            out[full] = p.dim() >= 2 and not isinstance(m, NO_DECAY_TYPES) and full not in skip
    return {n: out[n] for n in names}


@torch.no_grad()
def clip(grads: Sequence[torch.Tensor], max_norm: float) -> list[torch.Tensor]:
    """Each run's gradients (``[R, ...]`` each) scaled to global norm at most ``max_norm``."""
    r = grads[0].shape[0]
    sq = torch.stack([g.reshape(r, -1).square().sum(1) for g in grads]).sum(0)
    coef = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    return [g * coef.view(-1, *([1] * (g.dim() - 1))) for g in grads]


class BatchedOptimizer:
    """Updates stacked parameters ``[R, ...]`` in place: ``step(grads, lr [R], alive [R])``."""

    def __init__(self, params: dict[str, torch.Tensor], decay: dict[str, bool],
                 hp: Optim) -> None:
        self.params, self.decay, self.hp, self.k = params, decay, hp, 0
        self.state: dict[str, list[torch.Tensor]] = {}

    def train(self) -> None:
        """Called before training resumes after an evaluation."""

    def eval(self) -> None:
        """Called before every evaluation."""

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], lr: torch.Tensor, alive: torch.Tensor) -> None:
        self.k += 1
        everyone = bool(alive.all())
        for (name, p), g in zip(self.params.items(), grads):
            shape = (-1,) + (1,) * (p.dim() - 1)
            keep = None if everyone else alive.view(shape)
            wd = self.hp.weight_decay if self.decay[name] else 0.0
            p.copy_(self.update(name, p, g, lr.view(shape), keep, wd))

    @staticmethod
    def sel(keep: torch.Tensor | None, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
        """``new`` for live runs, ``old`` for dead ones (``keep`` None: all live)."""
        return new if keep is None else torch.where(keep, new, old)

    def update(self, name: str, p: torch.Tensor, g: torch.Tensor, lr: torch.Tensor,
               keep: torch.Tensor | None, wd: float) -> torch.Tensor:
        raise NotImplementedError


class BatchedSGD(BatchedOptimizer):
    def update(self, name: str, p: torch.Tensor, g: torch.Tensor, lr: torch.Tensor,
               keep: torch.Tensor | None, wd: float) -> torch.Tensor:
        sel, mu = self.sel, self.hp.momentum
        if wd:
            g = g + wd * p
        if mu:
            if name not in self.state:
                buf = g.clone()
                self.state[name] = [sel(keep, buf, torch.zeros_like(buf))]
            else:
                old = self.state[name][0]
                buf = mu * old + g
                self.state[name] = [sel(keep, buf, old)]
            g = g + mu * buf if self.hp.nesterov else buf
        return sel(keep, p - lr * g, p)


class BatchedAdam(BatchedOptimizer):
    decoupled = False

    def update(self, name: str, p: torch.Tensor, g: torch.Tensor, lr: torch.Tensor,
               keep: torch.Tensor | None, wd: float) -> torch.Tensor:
        sel = self.sel
        b1, b2 = self.hp.adam_betas
        base = p
        if self.decoupled:
            if wd:
                base = p * (1 - lr * wd)
        elif wd:
            g = g + wd * p
        if name not in self.state:
            self.state[name] = [torch.zeros_like(p), torch.zeros_like(p)]
        m0, v0 = self.state[name]
        m = m0 + (g - m0) * (1 - b1)  # torch: exp_avg.lerp_(grad, 1 - beta1)
        v = v0 * b2 + g * g * (1 - b2)
        self.state[name] = [sel(keep, m, m0), sel(keep, v, v0)]
        bc1, bc2 = 1 - b1 ** self.k, 1 - b2 ** self.k
        denom = v.sqrt() / math.sqrt(bc2) + self.hp.eps
        return sel(keep, base - (lr / bc1) * m / denom, p)


class BatchedAdamW(BatchedAdam):
    decoupled = True


def _groups(model: nn.Module, decay: dict[str, bool], wd: float) -> list[dict[str, Any]]:
    params = dict(model.named_parameters())
    groups = [{"params": [params[n] for n in params if decay[n]], "weight_decay": wd},
              {"params": [params[n] for n in params if not decay[n]], "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def _torch_sgd(model: nn.Module, decay: dict[str, bool], hp: Optim) -> torch.optim.Optimizer:
    return torch.optim.SGD(_groups(model, decay, hp.weight_decay), lr=0.0,
                           momentum=hp.momentum, nesterov=hp.nesterov)


def _torch_adam(cls: type[torch.optim.Optimizer]) -> Callable[..., torch.optim.Optimizer]:
    def make(model: nn.Module, decay: dict[str, bool], hp: Optim) -> torch.optim.Optimizer:
        return cls(_groups(model, decay, hp.weight_decay), lr=0.0,  # type: ignore[call-arg]
                   betas=hp.adam_betas, eps=hp.eps)
    return make


@dataclass(frozen=True)
class Kind:
    """One optimizer: its batched implementation and its ``torch.optim`` reference
    (``reference(model, decay, hp)``, learning rate 0 until a scheduler writes it)."""

    batched: type[BatchedOptimizer]
    reference: Callable[[nn.Module, dict[str, bool], Optim], torch.optim.Optimizer]


OPTIMIZERS: dict[str, Kind] = {
    "sgd": Kind(BatchedSGD, _torch_sgd),
    "adam": Kind(BatchedAdam, _torch_adam(torch.optim.Adam)),
    "adamw": Kind(BatchedAdamW, _torch_adam(torch.optim.AdamW)),
}
