"""Baselines that are optimizers, not schedules: Schedule-Free SGD/AdamW and Prodigy, batched.

``lrkit compare -s sf-sgd -s sf-adamw -s prodigy`` asks "do I need a schedule at
all?": each such entry trains with its own optimizer at a *constant* rate (the
rate is what its peak grid tunes), beside the schedules, in the same chunks.
Each batched optimizer here updates stacked parameters ``[R, ...]`` (one rate per
run, dead runs never change) with the formulas and order of operations of its
reference package, ``schedulefree`` 1.4 (``SGDScheduleFree``, ``AdamWScheduleFree``,
Defazio et al. 2024) and ``prodigyopt`` 1.1 (``Prodigy``, Mishchenko & Defazio
2024); ``tests/test_baselines.py`` checks them equal in float64.

**Schedule-Free** keeps two sequences per parameter: ``z`` (plain SGD/Adam steps)
and ``x`` (a weighted average of the ``z`` iterates); the gradient is taken at
``y = (1 - b) z + b x`` (``b`` = momentum, or Adam's ``beta1``). The model's
parameters hold ``y`` in *train* mode and ``x`` in *eval* mode: the trainer calls
``train()`` before training and ``eval()`` before every evaluation, so the
evaluated weights are ``x``. At step ``k`` (0-based), rate ``lr``::

    lr_k  = lr * min(1, (k + 1) / warmup_steps)        # its own linear warm-up
    m_k   = max(lr_0, ..., lr_k);  w_k = m_k ** 2       # weight_lr_power 2, r 0
    c_k   = w_k / (w_0 + ... + w_k)
    g     = grad + wd * y                                          (SGD)
    g     = grad / (sqrt(v / (1 - b2^(k+1))) + eps) + wd * y       (AdamW;
            v = b2 v + (1 - b2) grad^2 first)
    y     = y + c_k (z - y) + lr_k (b (1 - c_k) - 1) g
    z     = z - lr_k g
    eval: p = y + (1 - 1/b) (z - y)  (= x);   train: p = x + (1 - b) (z - x)  (= y)

**Prodigy** (Adam with an estimated step size ``d``; its ``lr`` is a multiplier of
``d``, 1 by default; no bias correction, ``d0 = 1e-6``, ``d_coef = 1``, unbounded
growth, decoupled weight decay, as the package's defaults), per run, over all its
parameters at once::

    dlr = d * lr;   b3 = sqrt(b2)
    m = b1 m + d (1 - b1) grad;   v = b2 v + d^2 (1 - b2) grad^2;   s = b3 s + (d/d0) dlr grad
    num = b3 num + (d/d0) dlr <grad, p0 - p>;    d_hat = num / sum |s|
    d = d_max = max(d_max, d_hat)        (growth rate unbounded)
    p = p - wd dlr p;   p = p - dlr m / (sqrt(v) + d eps)

(``p0`` the initial parameters; a run whose ``sum |s|`` is 0 skips the update.)

>>> sorted(KINDS)
['adam', 'adamw', 'prodigy', 'sf-adamw', 'sf-sgd', 'sgd']
>>> warmup_steps("sf-sgd", 600), warmup_steps("prodigy", 600)
(30, 0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from .optim import OPTIMIZERS, BatchedOptimizer, Kind, Optim, _groups
from .recipe import SF_WARMUP

#: Prodigy's settings (the package's defaults)
PRODIGY_D0 = 1e-6
PRODIGY_D_COEF = 1.0


# -- Schedule-Free ----------------------------------------------------------------------------


class _ScheduleFree(BatchedOptimizer):
    """What SF-SGD and SF-AdamW share: the averaging weights, the warm-up and the swap
    between ``y`` (train mode) and ``x`` (eval mode). Starts in eval mode, as the package."""

    def __init__(self, params: dict[str, torch.Tensor], decay: dict[str, bool],
                 hp: Optim) -> None:
        super().__init__(params, decay, hp)
        r = next(iter(params.values())).shape[0]
        dev = next(iter(params.values())).device
        self.lr_max = torch.full((r,), -1.0, dtype=torch.float64, device=dev)
        self.weight_sum = torch.zeros(r, dtype=torch.float64, device=dev)
        self.ckp1 = torch.zeros(r, dtype=torch.float64, device=dev)
        self.training = False

    @property
    def beta(self) -> float:
        raise NotImplementedError

    @torch.no_grad()
    def _swap(self, weight: float) -> None:
        for name, p in self.params.items():
            if name in self.state:
                p.lerp_(self.state[name][0], weight)

    def train(self) -> None:
        if not self.training:
            self._swap(1 - self.beta)  # x -> y
            self.training = True

    def eval(self) -> None:
        if self.training:
            self._swap(1 - 1 / self.beta)  # y -> x
            self.training = False

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], lr: torch.Tensor, alive: torch.Tensor) -> None:
        if not self.training:
            raise RuntimeError("schedule-free step in eval mode: call train() first")
        k, w = self.k, self.hp.warmup_steps
        lr64 = lr.to(torch.float64) * ((k + 1) / w if k < w else 1.0)
        lr_max = torch.maximum(lr64, self.lr_max)
        weight = lr_max ** 2  # (k + 1) ** r * lr_max ** weight_lr_power, r = 0, power 2
        weight_sum = self.weight_sum + weight
        ckp1 = torch.where(weight_sum > 0, weight / weight_sum, torch.zeros_like(weight))
        self.lr_max = torch.where(alive, lr_max, self.lr_max)
        self.weight_sum = torch.where(alive, weight_sum, self.weight_sum)
        self.ckp1 = ckp1
        super().step(grads, lr64.to(lr.dtype), alive)

    def _y_z(self, name: str, p: torch.Tensor, g: torch.Tensor, lr: torch.Tensor,
             keep: torch.Tensor | None) -> torch.Tensor:
        """The shared y and z updates for the (normalised, decayed) direction ``g``."""
        c = self.ckp1.to(p.dtype).view(lr.shape)
        z = self.state[name][0]
        y = torch.lerp(p, z, c)
        y = y + lr * (self.beta * (1 - c) - 1) * g
        self.state[name][0] = self.sel(keep, z - lr * g, z)
        return self.sel(keep, y, p)


class BatchedSFSGD(_ScheduleFree):
    """Schedule-Free SGD (``schedulefree.SGDScheduleFree``); ``momentum`` is its ``b``."""

    @property
    def beta(self) -> float:
        return self.hp.momentum

    def update(self, name: str, p: torch.Tensor, g: torch.Tensor, lr: torch.Tensor,
               keep: torch.Tensor | None, wd: float) -> torch.Tensor:
        if name not in self.state:
            self.state[name] = [p.clone()]
        if wd:
            g = g + wd * p
        return self._y_z(name, p, g, lr, keep)


class BatchedSFAdamW(_ScheduleFree):
    """Schedule-Free AdamW (``schedulefree.AdamWScheduleFree``); its ``b`` is ``beta1``."""

    @property
    def beta(self) -> float:
        return self.hp.adam_betas[0]

    def update(self, name: str, p: torch.Tensor, g: torch.Tensor, lr: torch.Tensor,
               keep: torch.Tensor | None, wd: float) -> torch.Tensor:
        b2 = self.hp.adam_betas[1]
        if name not in self.state:
            self.state[name] = [p.clone(), torch.zeros_like(p)]
        v0 = self.state[name][1]
        v = v0 * b2 + g * g * (1 - b2)
        self.state[name][1] = self.sel(keep, v, v0)
        bc2 = 1 - b2 ** self.k  # self.k is already k + 1
        g = g / ((v / bc2).sqrt() + self.hp.eps)
        if wd:
            g = g + wd * p
        return self._y_z(name, p, g, lr, keep)


# -- Prodigy ----------------------------------------------------------------------------------


class BatchedProdigy(BatchedOptimizer):
    """Prodigy (``prodigyopt.Prodigy``): Adam whose step size ``d`` is estimated per run;
    ``lr`` multiplies it."""

    def __init__(self, params: dict[str, torch.Tensor], decay: dict[str, bool],
                 hp: Optim) -> None:
        super().__init__(params, decay, hp)
        first = next(iter(params.values()))
        r, dev = first.shape[0], first.device
        self.d = torch.full((r,), PRODIGY_D0, dtype=torch.float64, device=dev)
        self.d_max = self.d.clone()
        self.num = torch.zeros(r, dtype=torch.float64, device=dev)

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], lr: torch.Tensor, alive: torch.Tensor) -> None:
        self.k += 1
        b1, b2 = self.hp.adam_betas
        b3 = math.sqrt(b2)
        d0 = PRODIGY_D0
        d, lr64 = self.d, lr.to(torch.float64)
        dlr = d * lr64
        delta = torch.zeros_like(d)
        denom_sum = torch.zeros_like(d)
        r = d.shape[0]
        for (name, p), g in zip(self.params.items(), grads):
            shape = (-1,) + (1,) * (p.dim() - 1)
            if name not in self.state:
                self.state[name] = [p.clone(), torch.zeros_like(p), torch.zeros_like(p),
                                    torch.zeros_like(p)]  # p0, s, m, v
            p0, s0, m0, v0 = self.state[name]
            dd = d.to(p.dtype).view(shape)
            ratio_dlr = ((d / d0) * dlr).to(p.dtype).view(shape)
            delta += ((d / d0) * dlr) * (g * (p0 - p)).reshape(r, -1).sum(1).double()
            m = m0 * b1 + g * (dd * (1 - b1))
            v = v0 * b2 + g * g * (dd * dd * (1 - b2))
            s = s0 * b3 + g * ratio_dlr
            self.state[name][1:] = [s, m, v]
            denom_sum += s.abs().reshape(r, -1).sum(1).double()
        num = self.num * b3 + delta
        d_hat = PRODIGY_D_COEF * num / denom_sum
        # the package: d = max(d, d_hat) while d == d0; d_max = max(d_max, d_hat);
        # d = min(d_max, d * growth_rate), growth_rate = inf: so d = d_max
        d_max = torch.maximum(self.d_max, d_hat)
        d_new = d_max
        live = alive & (denom_sum != 0)
        self.d = torch.where(live, d_new, d)
        self.d_max = torch.where(live, d_max, self.d_max)
        self.num = torch.where(live, num, self.num)
        every = bool(live.all())
        for name, p in self.params.items():
            shape = (-1,) + (1,) * (p.dim() - 1)
            keep = None if every else live.view(shape)
            _, s, m, v = self.state[name]
            step = dlr.to(p.dtype).view(shape)
            denom = v.sqrt() + (self.d.to(p.dtype).view(shape) * self.hp.eps)
            new = p
            if self.decay[name] and self.hp.weight_decay:
                new = new + new * (-self.hp.weight_decay * step)
            new = new - step * m / denom
            p.copy_(self.sel(keep, new, p))


# -- the references (one run, the real packages) ----------------------------------------------


def _sf_sgd(model: nn.Module, decay: dict[str, bool], hp: Optim) -> torch.optim.Optimizer:
    from schedulefree import SGDScheduleFree

    opt: torch.optim.Optimizer = SGDScheduleFree(
        _groups(model, decay, hp.weight_decay), lr=0.0, momentum=hp.momentum,
        warmup_steps=hp.warmup_steps, foreach=False)
    return opt


def _sf_adamw(model: nn.Module, decay: dict[str, bool], hp: Optim) -> torch.optim.Optimizer:
    from schedulefree import AdamWScheduleFree

    opt: torch.optim.Optimizer = AdamWScheduleFree(
        _groups(model, decay, hp.weight_decay), lr=0.0, betas=hp.adam_betas, eps=hp.eps,
        warmup_steps=hp.warmup_steps, foreach=False)
    return opt


def _prodigy(model: nn.Module, decay: dict[str, bool], hp: Optim) -> torch.optim.Optimizer:
    from prodigyopt import Prodigy

    # lr is written by the scheduler before the first step; Prodigy refuses 0 here
    opt: torch.optim.Optimizer = Prodigy(
        _groups(model, decay, hp.weight_decay), lr=1.0, betas=hp.adam_betas, eps=hp.eps,
        d0=PRODIGY_D0, d_coef=PRODIGY_D_COEF, decouple=True)
    return opt


#: how each baseline decides which parameters decay (``optim.decays``'s rule)
DECAY_RULE = {"sf-sgd": "sgd", "sf-adamw": "adamw", "prodigy": "adamw"}

KINDS: dict[str, Kind] = {
    **OPTIMIZERS,
    "sf-sgd": Kind(BatchedSFSGD, _sf_sgd),
    "sf-adamw": Kind(BatchedSFAdamW, _sf_adamw),
    "prodigy": Kind(BatchedProdigy, _prodigy),
}
"""Every optimizer the trainer runs: ``torch.optim``'s and the baselines'."""


def decay_rule(kind: str) -> str:
    """The ``optim.decays`` rule of optimizer ``kind`` (``"sgd"``: every parameter)."""
    return DECAY_RULE.get(kind, kind)


def warmup_steps(kind: str, total: int) -> int:
    """A Schedule-Free optimizer's own warm-up for a run of ``total`` steps:
    ``ceil(SF_WARMUP * total)`` (the 5 % of wsd's warm-up); 0 for the others."""
    return math.ceil(SF_WARMUP * total) if kind.startswith("sf-") else 0


def with_warmup(kind: str, hp: Optim, total: int) -> Optim:
    """``hp`` for optimizer ``kind`` in a run of ``total`` steps."""
    return replace(hp, kind=kind, warmup_steps=warmup_steps(kind, total))


class Mixed(BatchedOptimizer):
    """Several batched optimizers over consecutive slices of the runs (``parts``: the
    number of runs and the optimizer built on those slices' views)."""

    def __init__(self, parts: Sequence[tuple[int, BatchedOptimizer]]) -> None:
        self.parts = list(parts)

    def train(self) -> None:
        for _, opt in self.parts:
            opt.train()

    def eval(self) -> None:
        for _, opt in self.parts:
            opt.eval()

    def step(self, grads: Sequence[torch.Tensor], lr: torch.Tensor, alive: torch.Tensor) -> None:
        a = 0
        for n, opt in self.parts:
            opt.step([g[a:a + n] for g in grads], lr[a:a + n], alive[a:a + n])
            a += n


def build(params: dict[str, torch.Tensor], decay_of: Callable[[str], dict[str, bool]],
          kinds: Sequence[str], hp: Optim, total: int) -> BatchedOptimizer:
    """The batched optimizer of runs whose optimizers are ``kinds`` (runs of one kind
    consecutive); ``decay_of(rule)`` gives the decay map of a rule."""
    parts: list[tuple[int, BatchedOptimizer]] = []
    a = 0
    for kind in dict.fromkeys(kinds):
        n = sum(1 for k in kinds if k == kind)
        view = {name: p[a:a + n] for name, p in params.items()} if n < len(kinds) else params
        h = with_warmup(kind, hp, total)
        parts.append((n, KINDS[kind].batched(view, decay_of(decay_rule(kind)), h)))
        a += n
    return parts[0][1] if len(parts) == 1 else Mixed(parts)


def reference(kind: str, model: nn.Module, decay: dict[str, bool], hp: Optim,
              total: int) -> Any:
    """The one-run reference optimizer of ``kind`` (the real package's class)."""
    return KINDS[kind].reference(model, decay, with_warmup(kind, hp, total))
