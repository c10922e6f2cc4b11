"""from_torch: the converted schedule's values equal PyTorch's own, over thousands of steps."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as T

import lrkit
from lrkit.torch import Scheduler, from_torch

N = 3000


def opt(lrs: tuple[float, ...] = (0.1,), **kw: Any) -> torch.optim.SGD:
    return torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr}
                            for lr in lrs], lr=lrs[0], **kw)


def momentum(g: dict[str, Any]) -> float:
    return float(g["betas"][0] if "betas" in g else g["momentum"])


def torch_lrs(sched: Any, n: int, key: Callable[[dict[str, Any]], float] = lambda g: g["lr"]
              ) -> np.ndarray:
    """``key(group)`` (the lr, or the momentum) of every group at steps 0 .. n-1."""
    o = sched.optimizer
    out = [[key(g) for g in o.param_groups]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n - 1):
            o.step()
            sched.step()
            out.append([key(g) for g in o.param_groups])
    return np.array(out)


CASES: list[tuple[str, Callable[[torch.optim.Optimizer], Any], int, float]] = [
    ("StepLR", lambda o: T.StepLR(o, step_size=70, gamma=0.7), N, 1e-12),
    ("MultiStepLR", lambda o: T.MultiStepLR(o, milestones=[50, 50, 900, 2000], gamma=0.3), N,
     1e-12),
    ("ConstantLR", lambda o: T.ConstantLR(o, factor=0.25, total_iters=40), N, 1e-12),
    ("LinearLR", lambda o: T.LinearLR(o, start_factor=0.01, end_factor=0.8, total_iters=500), N,
     1e-12),
    ("ExponentialLR", lambda o: T.ExponentialLR(o, gamma=0.999), N, 1e-12),
    ("PolynomialLR", lambda o: T.PolynomialLR(o, total_iters=1700, power=2.5), N, 1e-12),
    ("CosineAnnealingLR", lambda o: T.CosineAnnealingLR(o, T_max=800, eta_min=1e-4), N, 1e-9),
    ("CosineAnnealingWarmRestarts",
     lambda o: T.CosineAnnealingWarmRestarts(o, T_0=100, T_mult=2, eta_min=1e-3), N, 1e-12),
    ("CAWR_mult1", lambda o: T.CosineAnnealingWarmRestarts(o, T_0=37), N, 1e-12),
    ("CyclicLR", lambda o: T.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=200,
                                      step_size_down=300, mode="triangular2",
                                      cycle_momentum=False), N, 1e-12),
    ("CyclicLR_exp", lambda o: T.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=150,
                                          mode="exp_range", gamma=0.999), N, 1e-12),
    ("OneCycleLR", lambda o: T.OneCycleLR(o, max_lr=0.3, total_steps=N), N, 1e-12),
    ("OneCycleLR_3", lambda o: T.OneCycleLR(o, max_lr=0.3, total_steps=N, pct_start=0.25,
                                            anneal_strategy="linear", three_phase=True,
                                            div_factor=10.0, final_div_factor=100.0), N,
     1e-12),
    ("SequentialLR", lambda o: T.SequentialLR(o, [
        T.LinearLR(o, start_factor=0.01, total_iters=100),
        T.CosineAnnealingLR(o, T_max=1500, eta_min=1e-3),
        T.ExponentialLR(o, gamma=0.99)], milestones=[100, 1600]), N, 1e-9),
    # (torch cannot step a SequentialLR that is not the first child: get_lr is not implemented)
    ("SequentialLR_nested", lambda o: T.SequentialLR(o, [
        T.SequentialLR(o, [T.StepLR(o, step_size=100, gamma=0.5),
                           T.PolynomialLR(o, total_iters=500)], milestones=[300]),
        T.ConstantLR(o, factor=0.5, total_iters=10)],
        milestones=[1000]), N, 1e-12),
    ("SequentialLR_nested2", lambda o: T.SequentialLR(o, [
        T.SequentialLR(o, [
            T.SequentialLR(o, [T.ConstantLR(o, factor=0.5, total_iters=10),
                               T.StepLR(o, step_size=100, gamma=0.5)], milestones=[200]),
            T.PolynomialLR(o, total_iters=500)], milestones=[700]),
        T.ExponentialLR(o, gamma=0.999)], milestones=[2000]), N, 1e-12),
]


@pytest.mark.parametrize(("name", "build", "n", "rtol"), CASES, ids=[c[0] for c in CASES])
def test_values_equal_torch(name: str, build: Callable[[torch.optim.Optimizer], Any], n: int,
                            rtol: float) -> None:
    o = opt((0.1, 0.03), momentum=0.9)
    ref = build(o)
    converted = from_torch(ref)
    expected = torch_lrs(ref, n)
    cycles = getattr(ref, "cycle_momentum", False)
    per_group = converted if isinstance(converted, list) else [converted] * 2
    assert all(isinstance(c, dict) == cycles for c in per_group)  # the momentum is not dropped
    for i, c in enumerate(per_group):
        s = c["lr"] if cycles else c
        assert lrkit.parse(repr(s)) == s  # a spec that round-trips
        np.testing.assert_allclose(s.values(n), expected[:, i], rtol=rtol, atol=1e-15)
    # and driving a fresh optimizer through lrkit's Scheduler gives the same lrs
    o2 = opt((0.5, 0.5), momentum=0.5)
    sched = Scheduler(o2, converted)
    got = []
    for _ in range(n):
        got.append([(g["lr"], g["momentum"]) for g in o2.param_groups])
        sched.step()
    np.testing.assert_allclose(np.array(got)[:, :, 0], expected, rtol=rtol, atol=1e-15)
    if cycles:  # the momentum too, as PyTorch cycles it
        moms = torch_lrs(build(opt((0.1, 0.03), momentum=0.9)), n, momentum)
        np.testing.assert_allclose(np.array(got)[:, :, 1], moms, rtol=rtol, atol=1e-15)


@pytest.mark.parametrize("make", [
    lambda o: T.OneCycleLR(o, max_lr=0.3, total_steps=N, base_momentum=0.8, max_momentum=0.97),
    lambda o: T.OneCycleLR(o, max_lr=0.3, total_steps=N, three_phase=True),
    lambda o: T.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=170, mode="triangular2"),
], ids=["OneCycleLR", "OneCycleLR_3", "CyclicLR"])
def test_adams_beta1_cycles_as_in_torch(make: Callable[[torch.optim.Optimizer], Any]) -> None:
    def adam() -> torch.optim.Adam:
        return torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.1,
                                betas=(0.9, 0.99))

    ref = make(adam())
    converted = from_torch(ref)
    assert isinstance(converted, dict) and set(converted) == {"lr", "momentum"}
    want = torch_lrs(make(adam()), N, lambda g: g["betas"][0])[:, 0]
    o = adam()
    sched = Scheduler(o, converted)
    got = []
    for _ in range(N):
        got.append(o.param_groups[0]["betas"])
        sched.step()
    np.testing.assert_allclose([b[0] for b in got], want, rtol=1e-12, atol=1e-15)
    assert {b[1] for b in got} == {0.99}


def test_momentum_cycling_inside_sequential_is_refused() -> None:
    o = opt(momentum=0.9)
    seq = T.SequentialLR(o, [T.LinearLR(o, 0.1, total_iters=10),
                             T.OneCycleLR(o, max_lr=0.3, total_steps=100)], milestones=[10])
    with pytest.raises(ValueError, match="holds a OneCycleLR that also cycles the momentum"):
        from_torch(seq)


def test_one_group_gives_one_schedule() -> None:
    s = from_torch(T.CosineAnnealingWarmRestarts(opt(), T_0=10))
    assert s == lrkit.cosine_restarts(init=0.1, cycle_steps=10)


def test_cosine_annealing_follows_torch_past_t_max() -> None:
    s = from_torch(T.CosineAnnealingLR(opt(), T_max=10))
    assert isinstance(s, lrkit.Schedule)
    assert s(10) == pytest.approx(0.0, abs=1e-17) and s(20) == pytest.approx(0.1)


def test_unsupported_schedulers_are_refused() -> None:
    o = opt()
    with pytest.raises(TypeError, match=r"cannot convert LambdaLR \(it holds a Python function.*"
                       r"Scheduler\(opt, shape, relative=True\).*; supported: StepLR"):
        from_torch(T.LambdaLR(o, lambda e: 0.9**e))
    with pytest.raises(TypeError, match="custom scale_fn"):
        from_torch(T.CyclicLR(opt(), 0.01, 0.1, scale_fn=lambda x: 1.0, cycle_momentum=False))
    with pytest.raises(ValueError, match="ExponentialLR gamma must be in \\(0, 1\\]"):
        from_torch(T.ExponentialLR(opt(), gamma=1.01))


def test_one_cycle_is_mapped_to_lrkits_knots() -> None:
    """PyTorch's knots 0, p*T - 1, T - 1 are one_cycle(steps=T-1, up_frac=(p*T-1)/(T-1))."""
    s = from_torch(T.OneCycleLR(opt(), max_lr=0.3, total_steps=101, pct_start=0.25,
                                anneal_strategy="linear", cycle_momentum=False))
    assert s == lrkit.one_cycle(0.3, steps=100, up_frac=(0.25 * 101 - 1) / 100, shape="linear")
    assert s.length == 100


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"total_steps": 1}, r"total_steps=1, pct_start=0\.3\).*one_cycle: steps must be > 0, got 0"),
    ({"total_steps": 3},
     r"total_steps=3, pct_start=0\.3\).*up_frac must be in \(0, 1\), got -0\.0"),
    ({"total_steps": 100, "pct_start": 1.0}, r"total_steps=100, pct_start=1\).*up_frac must "
     r"be in \(0, 1\), got 1\.0"),
    ({"total_steps": 100, "pct_start": 0.6, "three_phase": True},
     r"total_steps=100, pct_start=0\.6, three_phase=True\).*up_frac must be in \(0, 0\.5\), "
     r"got 0\.59"),
])
def test_one_cycle_that_cannot_be_mapped_is_refused(kwargs: dict[str, Any], pattern: str) -> None:
    sched = T.OneCycleLR(opt(), max_lr=0.3, **kwargs)
    with pytest.raises(ValueError, match=r"^from_torch: OneCycleLR\(" + pattern):
        from_torch(sched)
