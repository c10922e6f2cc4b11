"""Real optimizers on real data (sklearn digits), lrkit scheduling lr and momentum / beta1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from sklearn.datasets import load_digits

import lrkit
from lrkit.torch import Scheduler

STEPS = 40
# PyTorch's OneCycleLR(max_lr=0.05, total_steps=STEPS): its last value at the last update
ONE_CYCLE = lrkit.one_cycle(0.05, steps=STEPS - 1, up_frac=(0.3 * STEPS - 1) / (STEPS - 1))
OPTIMIZERS: dict[str, Callable[[Any], torch.optim.Optimizer]] = {
    "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=1.0, momentum=0.9, nesterov=True),
    "adam": lambda p: torch.optim.Adam(p, lr=1.0),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1.0, weight_decay=0.01),
}


def data() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = load_digits(return_X_y=True)
    return torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y)


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))


def set_by_hand(opt: torch.optim.Optimizer, t: int) -> None:
    for g in opt.param_groups:
        g["lr"] = ONE_CYCLE(t)
        if "betas" in g:
            g["betas"] = (ONE_CYCLE.momentum()(t), g["betas"][1])
        else:
            g["momentum"] = ONE_CYCLE.momentum()(t)


def fit(make: Callable[[Any], torch.optim.Optimizer], use_lrkit: bool) -> tuple[Any, list[float]]:
    x, y = data()
    net = model()
    opt = make(net.parameters())
    sched = Scheduler(opt, {"lr": ONE_CYCLE, "momentum": ONE_CYCLE.momentum()}) \
        if use_lrkit else None
    losses = []
    for t in range(STEPS):
        if sched is None:
            set_by_hand(opt, t)
        batch = slice(64 * (t % 20), 64 * (t % 20) + 64)
        loss = torch.nn.functional.cross_entropy(net(x[batch]), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(loss.item())
    return net, losses


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_scheduled_training_equals_hand_set_values(name: str) -> None:
    net, losses = fit(OPTIMIZERS[name], use_lrkit=True)
    ref, ref_losses = fit(OPTIMIZERS[name], use_lrkit=False)
    assert losses[-1] < 0.8 * losses[0]  # it trains
    # lrkit's values are the same floats (up to numpy/math rounding) as setting them by hand
    assert losses == pytest.approx(ref_losses, rel=1e-5)
    for p, q in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_momentum_means_beta1_for_adam_and_is_written() -> None:
    opt = OPTIMIZERS["adam"](model().parameters())
    sched = Scheduler(opt, {"lr": ONE_CYCLE, "momentum": ONE_CYCLE.momentum()})
    seen = []
    for _ in range(STEPS):
        seen.append(opt.param_groups[0]["betas"][0])
        opt.step()
        sched.step()
    assert seen[0] == 0.95 and min(seen) == pytest.approx(0.85) and seen[-1] == pytest.approx(0.95)
    assert opt.param_groups[0]["betas"][1] == 0.999
