"""Resume is bit-exact, whatever the order of rebuilding and loading, for every schedule."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lrkit
from lrkit.torch import BLOCK, Scheduler
from strategies import schedules

ORDERS = ("sched_then_opt_state", "opt_state_then_sched", "sched_state_then_opt_state",
          "start_step_then_opt_state")


def make_opt() -> torch.optim.SGD:
    params = [{"params": [torch.nn.Parameter(torch.zeros(1))]} for _ in range(2)]
    return torch.optim.SGD(params, lr=0.3, momentum=0.5)


def roundtrip(obj: Any) -> Any:
    """Through torch.save / torch.load(weights_only=True), like a real checkpoint."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def snapshot(opt: torch.optim.Optimizer) -> list[tuple[float, float]]:
    return [(g["lr"], g["momentum"]) for g in opt.param_groups]


def trace(sched: Scheduler, opt: torch.optim.Optimizer, n: int,
          metrics: list[float] | None = None) -> list[list[tuple[float, float]]]:
    out = [snapshot(opt)]
    for i in range(n):
        sched.step(None if metrics is None else metrics[i])
        out.append(snapshot(opt))
    return out


def resume(order: str, build: Callable[[torch.optim.Optimizer, int], Scheduler],
           ckpt: dict[str, Any]) -> tuple[Scheduler, torch.optim.Optimizer]:
    opt = make_opt()
    if order == "sched_then_opt_state":
        sched = build(opt, 0)
        opt.load_state_dict(ckpt["opt"])
        sched.load_state_dict(ckpt["sched"])
    elif order == "opt_state_then_sched":
        opt.load_state_dict(ckpt["opt"])
        sched = build(opt, 0)
        sched.load_state_dict(ckpt["sched"])
    elif order == "sched_state_then_opt_state":
        sched = build(opt, 0)
        sched.load_state_dict(ckpt["sched"])
        opt.load_state_dict(ckpt["opt"])
    else:  # no scheduler state at all: a step count (and a stateless schedule)
        sched = build(opt, ckpt["sched"]["step"])
        opt.load_state_dict(ckpt["opt"])
    return sched, opt


def check_resume(build: Callable[[torch.optim.Optimizer, int], Scheduler], stop: int, more: int,
                 metrics: list[float] | None = None, orders: tuple[str, ...] = ORDERS) -> None:
    opt = make_opt()
    sched = build(opt, 0)
    full = trace(sched, opt, stop + more, metrics)

    opt = make_opt()
    sched = build(opt, 0)
    trace(sched, opt, stop, metrics)
    ckpt = roundtrip({"opt": opt.state_dict(), "sched": sched.state_dict()})
    for order in orders:
        sched2, opt2 = resume(order, build, ckpt)
        assert sched2.last_epoch == stop
        rest = None if metrics is None else metrics[stop:]
        got = trace(sched2, opt2, more, rest)
        assert got == full[stop:], order  # bit for bit


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s=schedules(), stop=st.one_of(st.integers(0, 300), st.integers(BLOCK - 40, BLOCK + 40)),
       more=st.integers(1, 80),
       per_group=st.booleans())
def test_resume_any_schedule_any_order(s: lrkit.Schedule, stop: int, more: int,
                                       per_group: bool) -> None:
    def build(opt: torch.optim.Optimizer, start: int) -> Scheduler:
        spec: Any = {"lr": s, "momentum": lrkit.cosine(init=0.9, steps=100, end=0.5)}
        if per_group:
            return Scheduler(opt, [spec, {"lr": s}], multipliers=[1.0, 0.25], start_step=start)
        return Scheduler(opt, spec, start_step=start)

    check_resume(build, stop, more)


@settings(max_examples=25, deadline=None)
@given(s=schedules(fractional=True), stop=st.integers(0, 400), more=st.integers(1, 50),
       spe=st.integers(1, 37))
def test_resume_fractional_epochs(s: lrkit.Schedule, stop: int, more: int, spe: int) -> None:
    def build(opt: torch.optim.Optimizer, start: int) -> Scheduler:
        return Scheduler(opt, s, interval="epoch", steps_per_epoch=spe, start_step=start)

    check_resume(build, stop, more)


@settings(max_examples=40, deadline=None)
@given(metrics=st.lists(st.one_of(st.floats(0.0, 2.0), st.just(math.nan)), min_size=40,
                        max_size=40),
       stop=st.integers(0, 39), patience=st.integers(0, 3), cooldown=st.integers(0, 2),
       mode=st.sampled_from(["min", "max"]))
def test_resume_plateau(metrics: list[float], stop: int, patience: int, cooldown: int,
                        mode: str) -> None:
    base = lrkit.warmup(lrkit.cosine(init=0.1, steps=60, end=0.01), warmup_steps=5)
    p = lrkit.plateau(mode=mode, factor=0.5, patience=patience, cooldown=cooldown, floor=0.02)

    def build(opt: torch.optim.Optimizer, start: int) -> Scheduler:
        return Scheduler(opt, base * p, start_step=start)

    # the plateau's state lives in the scheduler's state dict: a step count alone cannot resume
    check_resume(build, stop, 40 - stop, metrics, orders=ORDERS[:3])


def test_resume_across_block_boundary_with_plateau_reduction() -> None:
    s = lrkit.cosine(init=0.1, steps=5000) * lrkit.plateau(patience=0, factor=0.5)
    metrics = [1.0] * 2 + [2.0] * (BLOCK + 100)

    def build(opt: torch.optim.Optimizer, start: int) -> Scheduler:
        return Scheduler(opt, s, start_step=start)

    check_resume(build, BLOCK - 3, 60, metrics, orders=ORDERS[:3])


def test_load_state_dict_from_a_different_schedule_is_refused() -> None:
    a = lrkit.cosine(init=0.1, steps=100)
    sd = Scheduler(make_opt(), a).state_dict()
    other = Scheduler(make_opt(), lrkit.cosine(init=0.1, steps=200))
    with pytest.raises(ValueError, match="checkpoint is from a different schedule: expected"):
        other.load_state_dict(sd)
    with pytest.raises(ValueError, match="interval='step'"):
        Scheduler(make_opt(), a, interval="epoch").load_state_dict(sd)
    with pytest.raises(ValueError, match="different schedule"):
        Scheduler(make_opt(), a, multipliers=[1.0, 0.5]).load_state_dict(sd)
    torch_sd = torch.optim.lr_scheduler.StepLR(make_opt(), 10).state_dict()
    with pytest.raises(ValueError, match="expected a state dict from lrkit's Scheduler"):
        other.load_state_dict(torch_sd)
    with pytest.raises(ValueError, match="'step' is -2; expected an integer in \\[0, "):
        other.load_state_dict({**sd, "step": -2})


def test_extend_the_total_on_resume() -> None:
    """A 1000-step cosine run, checkpointed at 600, continued as a 2000-step cosine."""
    old = lrkit.warmup(lrkit.cosine(init=0.1, steps=1000), warmup_steps=100)
    new = lrkit.warmup(lrkit.cosine(init=0.1, steps=2000), warmup_steps=100)
    opt = make_opt()
    sched = Scheduler(opt, old)
    trace(sched, opt, 600)
    ckpt = roundtrip({"opt": opt.state_dict(), "sched": sched.state_dict()})
    opt2 = make_opt()
    sched2 = Scheduler(opt2, new)
    opt2.load_state_dict(ckpt["opt"])
    with pytest.raises(ValueError, match="different schedule"):
        sched2.load_state_dict(ckpt["sched"])
    sched2.load_state_dict(ckpt["sched"], strict=False)
    assert sched2.last_epoch == 600 and opt2.param_groups[0]["lr"] == new.values([600])[0]
    sched2.step()
    assert opt2.param_groups[0]["lr"] == new.values([601])[0]


def test_branch_a_wsd_cooldown_from_a_checkpoint() -> None:
    """WSD: warm up 100, stay at the peak; at step 3000 branch a 500-step cooldown."""
    w, k, d = 100, 3000, 500
    long_run = lrkit.warmup(lrkit.constant(0.1), warmup_steps=w)  # warm-up, then stable forever
    opt = make_opt()
    sched = Scheduler(opt, long_run)
    trace(sched, opt, k)
    ckpt = roundtrip({"opt": opt.state_dict(), "sched": sched.state_dict()})

    branch = lrkit.warmup(lrkit.wsd(init=0.1, steps=k + d - w, decay_steps=d, shape="linear"),
                          warmup_steps=w, fit=False)
    assert branch.values(k).tolist() == long_run.values(k).tolist()  # same history
    opt2 = make_opt()
    opt2.load_state_dict(ckpt["opt"])
    sched2 = Scheduler(opt2, branch)
    sched2.load_state_dict(ckpt["sched"], strict=False)
    got = [g[0][0] for g in trace(sched2, opt2, d + 5)]
    assert got[0] == 0.1 and got[d // 2] == pytest.approx(0.05) and got[d:] == [0.0] * 6
