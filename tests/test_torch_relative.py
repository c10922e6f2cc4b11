"""Per-group rates: ``Scheduler(opt, shape, relative=True)`` multiplies each group's own
initial rate by the schedule (LambdaLR's and Hugging Face's rule), resumes in any order,
composes with a plateau factor and other hyperparameters; one absolute schedule for groups
that start with different rates is refused unless asked for."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch

import lrkit
from lrkit._plateau import plateau_value
from lrkit.torch import BLOCK, Scheduler

SHAPE = lrkit.warmup(lrkit.cosine(1.0, steps=1000, end=0.01), warmup_steps=100)  # peak 1
RATES = (1e-5, 1e-3)


def finetune_opt(kind: type[torch.optim.Optimizer] = torch.optim.AdamW,
                 **kw: Any) -> torch.optim.Optimizer:
    backbone, head = torch.nn.Linear(4, 4), torch.nn.Linear(4, 2)
    return kind([{"params": backbone.parameters(), "lr": RATES[0]},
                 {"params": head.parameters(), "lr": RATES[1]}], **kw)


def lrs(opt: torch.optim.Optimizer) -> list[float]:
    return [g["lr"] for g in opt.param_groups]


def run(opt: torch.optim.Optimizer, sched: Scheduler, n: int) -> list[list[float]]:
    out = [lrs(opt)]
    for _ in range(n):
        opt.step()
        sched.step()
        out.append(lrs(opt))
    return out


def test_each_group_gets_its_own_rate_times_the_shape() -> None:
    opt = finetune_opt()
    sched = Scheduler(opt, SHAPE, relative=True)
    n = BLOCK + 50  # across a block boundary
    got = run(opt, sched, n)
    shape = SHAPE.values(n + 1)
    for t in (0, 1, 50, 100, 101, 999, 1000, BLOCK, n):
        assert got[t] == [RATES[0] * shape[t], RATES[1] * shape[t]]  # bit for bit
    assert got[100] == list(RATES)  # the peak: every group at its own rate
    assert sched.get_last_lr() == got[-1]
    assert [g["initial_lr"] for g in opt.param_groups] == list(RATES)  # as PyTorch keeps it


def test_the_absolute_default_refuses_groups_with_different_rates() -> None:
    opt = finetune_opt()
    before = lrs(opt)
    with pytest.raises(ValueError) as err:
        Scheduler(opt, lrkit.cosine(1e-3, steps=100))
    msg = str(err.value)
    assert "param_groups[0] lr=1e-05, param_groups[1] lr=0.001" in msg
    assert "would give every group the same value s(t)" in msg
    assert "relative=True" in msg and "relative=False" in msg
    assert lrs(opt) == before  # nothing written
    # asked for: every group gets s(t)
    s = lrkit.cosine(1e-3, steps=100)
    sched = Scheduler(opt, s, relative=False)
    assert run(opt, sched, 3)[3] == [s(3), s(3)]
    # one schedule per group, or multipliers, say what each group gets: no refusal
    Scheduler(finetune_opt(), [s, s])
    Scheduler(finetune_opt(), s, multipliers=[0.01, 1.0])
    Scheduler(finetune_opt(), {"weight_decay": 0.01})  # lr is not scheduled
    same = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))]}] * 1
                           + [{"params": [torch.nn.Parameter(torch.zeros(1))]}], lr=0.1)
    Scheduler(same, s)  # groups with one rate: no question


def test_relative_with_multipliers_plateau_and_other_hyperparameters() -> None:
    oc = lrkit.one_cycle(1.0, steps=200)
    p = lrkit.plateau(factor=0.5, patience=0, threshold=0.9, floor=0.2)  # a relative floor
    opt = finetune_opt(torch.optim.AdamW, betas=(0.9, 0.999))
    sched = Scheduler(opt, {"lr": oc * p, "momentum": oc.momentum(), "weight_decay": 0.05},
                      multipliers=[0.5, 1.0], relative=True)
    ctl = p.state()
    for t in range(1, 60):
        opt.step()
        metric = 1.0 if t < 20 else 2.0
        sched.step(metric)
        ctl.observe(metric, lr=ctl.apply(oc.values([t - 1])[0]))  # (eps rule: as Scheduler)
        want = plateau_value(oc.values([t])[0], ctl.scale, 0.2)
        assert lrs(opt) == [0.5 * RATES[0] * want, RATES[1] * want]
        g = opt.param_groups[1]
        assert g["betas"] == (oc.momentum().values([t])[0], 0.999)  # absolute, not scaled
        assert g["weight_decay"] == 0.05
    assert ctl.scale < 1  # the plateau did reduce


def test_a_second_relative_scheduler_reads_initial_lr_and_does_not_compound() -> None:
    opt = finetune_opt()
    first = Scheduler(opt, SHAPE, relative=True)
    run(opt, first, 30)  # the groups' lr are now RATES * SHAPE(30)
    again = Scheduler(opt, SHAPE, relative=True, start_step=30)
    assert lrs(opt) == [r * SHAPE.values([30])[0] for r in RATES]
    assert again.base_lrs == [r * SHAPE(0) for r in RATES]


def roundtrip(obj: Any) -> Any:
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("order", ["sched_then_opt", "opt_then_sched", "sched_state_first"])
def test_relative_resumes_bit_exactly_in_any_order(order: str) -> None:
    s = SHAPE * lrkit.plateau(patience=0, threshold=0.9, factor=0.5)
    metrics = [1.0, 2.0, 3.0] * 20
    opt = finetune_opt()
    sched = Scheduler(opt, s, relative=True)
    full = []
    for m in metrics:
        opt.step()
        sched.step(m)
        full.append(lrs(opt))

    opt = finetune_opt()
    sched = Scheduler(opt, s, relative=True)
    for m in metrics[:25]:
        opt.step()
        sched.step(m)
    ckpt = roundtrip({"opt": opt.state_dict(), "sched": sched.state_dict()})
    opt2 = finetune_opt()
    if order == "sched_then_opt":
        sched2 = Scheduler(opt2, s, relative=True)
        opt2.load_state_dict(ckpt["opt"])
        sched2.load_state_dict(ckpt["sched"])
    elif order == "opt_then_sched":  # the groups' lr are scheduled values: initial_lr counts
        opt2.load_state_dict(ckpt["opt"])
        sched2 = Scheduler(opt2, s, relative=True)
        sched2.load_state_dict(ckpt["sched"])
    else:
        sched2 = Scheduler(opt2, s, relative=True)
        sched2.load_state_dict(ckpt["sched"])
        opt2.load_state_dict(ckpt["opt"])
    assert lrs(opt2) == full[24]
    for m, want in zip(metrics[25:], full[25:]):
        opt2.step()
        sched2.step(m)
        assert lrs(opt2) == want


def test_other_rates_refuse_a_strict_load() -> None:
    sd = Scheduler(finetune_opt(), SHAPE, relative=True).state_dict()
    opt = finetune_opt()
    opt.param_groups[1]["lr"] = 3e-3
    with pytest.raises(ValueError, match="different schedule"):
        Scheduler(opt, SHAPE, relative=True).load_state_dict(sd)


def test_step_function_is_refused_with_what_to_write() -> None:
    opt = finetune_opt()
    with pytest.raises(TypeError) as err:
        Scheduler(opt, lambda t: 0.1)
    msg = str(err.value)
    assert "is a function of the step (what torch's LambdaLR takes)" in msg
    assert "Scheduler(opt, shape, relative=True) with shape(t) == f(t)" in msg
    assert "keep LambdaLR" in msg
    with pytest.raises(TypeError, match="multipliers=.* must take \\(group_index, group\\)"):
        Scheduler(opt, SHAPE, multipliers=lambda i: 1.0, relative=True)
    # the per-group callable still works
    Scheduler(opt, lambda i, g: SHAPE, relative=True)


@pytest.mark.parametrize("word", ["step", "batch"])
def test_batch_is_a_word_for_step(word: str) -> None:
    opt = finetune_opt()
    sched = Scheduler(opt, SHAPE, interval=word, relative=True)
    assert sched.interval == "step"
    assert sched.state_dict()["interval"] == "step"
