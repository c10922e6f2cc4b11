"""lrkit.torch.Scheduler: values written, what can be scheduled, units, bad input."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

import lrkit
from lrkit.torch import _OWNERS, BLOCK, Scheduler

WC = lrkit.warmup(lrkit.cosine(init=0.1, steps=1000, end=0.001), warmup_steps=100)


def sgd(groups: int = 1, **kw: float) -> torch.optim.SGD:
    kw.setdefault("lr", 0.5)
    params = [{"params": [torch.nn.Parameter(torch.zeros(2))]} for _ in range(groups)]
    return torch.optim.SGD(params, **kw)


def adam(**kw: object) -> torch.optim.Adam:
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=0.5, **kw)


def run(opt: torch.optim.Optimizer, sched: Scheduler, n: int, key: str = "lr") -> list[float]:
    out = [opt.param_groups[0][key]]
    for _ in range(n):
        opt.step()
        sched.step()
        out.append(opt.param_groups[0][key])
    return out


def test_values_follow_the_schedule_across_blocks() -> None:
    opt = sgd()
    sched = Scheduler(opt, WC)
    n = BLOCK + 300
    got = run(opt, sched, n)
    np.testing.assert_allclose(got, WC.values(n + 1), rtol=1e-15, atol=0)
    assert all(type(v) is float for v in got)
    assert sched.last_epoch == n
    assert sched.get_last_lr() == [got[-1]]


def test_first_update_uses_s0_and_scalar_path_agrees() -> None:
    spec = "warmup(cosine(init=0.1, steps=1000), warmup_steps=100)"
    opt = sgd()
    sched = Scheduler(opt, spec)
    assert opt.param_groups[0]["lr"] == 0.0
    got = run(opt, sched, 250)
    s = lrkit.parse(spec)
    for t in (0, 1, 50, 99, 100, 101, 250):
        assert got[t] == pytest.approx(s(t), rel=1e-14, abs=0)


def test_is_an_lrscheduler_with_torch_surface() -> None:
    opt = sgd(groups=2)
    sched = Scheduler(opt, WC)
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    assert sched.optimizer is opt
    assert sched.get_last_lr() == [0.0, 0.0]
    assert sched.base_lrs == [0.0, 0.0]
    assert sched._last_lr == [0.0, 0.0]
    sched._step_count += 1  # accelerate does this while accumulating gradients: no effect
    assert sched._step_count == 1 and sched.last_epoch == 0


def test_mapping_momentum_weight_decay_and_betas() -> None:
    oc = lrkit.one_cycle(peak=0.1, steps=200)
    opt = sgd(momentum=0.9, weight_decay=1e-4)
    sched = Scheduler(opt, {"lr": oc, "momentum": oc.momentum(), "weight_decay": "constant(0.01)"})
    lrs, moms = [], []
    for _ in range(200):
        g = opt.param_groups[0]
        lrs.append(g["lr"])
        moms.append(g["momentum"])
        assert g["weight_decay"] == 0.01
        opt.step()
        sched.step()
    np.testing.assert_allclose(lrs, oc.values(200), rtol=1e-15)
    np.testing.assert_allclose(moms, oc.momentum().values(200), rtol=1e-15)
    assert moms[0] == 0.95 and min(moms) == pytest.approx(0.85)

    opt = adam(betas=(0.9, 0.999))
    sched = Scheduler(opt, {"lr": oc, "momentum": oc.momentum(), "beta2": 0.99})
    assert opt.param_groups[0]["betas"] == (0.95, 0.99)
    run(opt, sched, 60)
    assert opt.param_groups[0]["betas"] == (oc.momentum()(60), 0.99)
    assert type(opt.param_groups[0]["betas"]) is tuple


def test_per_group_list_callable_and_multipliers() -> None:
    opt = sgd(groups=3)
    a, b = lrkit.cosine(init=0.1, steps=50), lrkit.linear(init=0.0, end=0.2, steps=50)
    sched = Scheduler(opt, [a, b, a], multipliers=[1.0, 0.5, 0.0])
    for t in range(60):
        lrs = [g["lr"] for g in opt.param_groups]
        assert lrs == [a.values([t])[0], 0.5 * b.values([t])[0], 0.0]
        opt.step()
        sched.step()
    opt = sgd(groups=4)
    decay = 0.5
    sched = Scheduler(opt, lambda i, g: {"lr": WC}, multipliers=lambda i, g: decay ** (3 - i))
    run(opt, sched, 150)
    top = WC.values([150])[0]
    assert [g["lr"] for g in opt.param_groups] == [top * decay**k for k in (3, 2, 1)] + [top]


def test_frozen_group_does_not_move() -> None:
    w0, w1 = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([{"params": [w0]}, {"params": [w1]}], lr=0.1)
    sched = Scheduler(opt, WC, multipliers=[1.0, 0.0])
    for _ in range(20):
        opt.zero_grad()
        ((w0 + w1) ** 2).sum().backward()
        opt.step()
        sched.step()
    assert torch.equal(w1.detach(), torch.ones(3))
    assert not torch.equal(w0.detach(), torch.ones(3))


def test_unscheduled_groups_and_keys_are_left_alone() -> None:
    opt = sgd(groups=2, momentum=0.7)
    sched = Scheduler(opt, [{"lr": WC}, {"momentum": 0.5}])
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[0]["momentum"] == 0.7
    assert sched.get_last_lr() == [0.0, 0.5]


def test_interval_epoch_with_steps_per_epoch_reads_fractional_epochs() -> None:
    s = lrkit.cosine(init=0.1, steps=10)  # written in epochs
    opt = sgd()
    sched = Scheduler(opt, s, interval="epoch", steps_per_epoch=7)
    got = run(opt, sched, 100)
    np.testing.assert_allclose(got, [s(k / 7) for k in range(101)], rtol=1e-14)
    # interval="epoch" without steps_per_epoch: one step() per epoch
    opt = sgd()
    sched = Scheduler(opt, s, interval="epoch")
    assert run(opt, sched, 3) == [s(0), s(1), s(2), s(3)]


def test_keras_style_per_epoch_function() -> None:
    """The seed's ``LearningRateScheduler(step_decayer)`` as a schedule, stepped per epoch."""
    seed = lrkit.step_decay(0.1, factor=0.5, every=10, offset=1)  # 0.1 * 0.5**floor((1+e)/10)
    opt = sgd()
    sched = Scheduler(opt, seed, interval="epoch")
    got = run(opt, sched, 30)
    assert got == [0.1 * math.pow(0.5, math.floor((1 + e) / 10)) for e in range(31)]


def test_start_step() -> None:
    opt = sgd()
    sched = Scheduler(opt, WC, start_step=500)
    assert opt.param_groups[0]["lr"] == WC.values([500])[0]
    assert run(opt, sched, 3) == WC.values(np.arange(500, 504)).tolist()


def test_tensor_values_are_filled_in_place() -> None:
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=torch.tensor(0.5),
                           betas=(torch.tensor(0.9), torch.tensor(0.999)))
    lr_t, b1_t = opt.param_groups[0]["lr"], opt.param_groups[0]["betas"][0]
    oc = lrkit.one_cycle(peak=0.1, steps=100)
    sched = Scheduler(opt, {"lr": oc, "beta1": oc.momentum()})
    for _ in range(30):
        opt.step()
        sched.step()
    g = opt.param_groups[0]
    assert g["lr"] is lr_t and g["betas"][0] is b1_t
    assert lr_t.item() == pytest.approx(oc(30), rel=1e-6)
    assert b1_t.item() == pytest.approx(oc.momentum()(30), rel=1e-6)
    assert sched.get_last_lr() == [oc.values([30])[0]]


def test_state_dict_is_weights_only_safe() -> None:
    opt = sgd()
    sched = Scheduler(opt, WC * lrkit.plateau(patience=1))
    for m in (1.0, 2.0, float("nan"), 3.0):
        sched.step(m)
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    assert loaded == sched.state_dict()  # (a NaN never becomes the best: == is meaningful)
    assert loaded["step"] == 4 and loaded["plateau"][0]["state"]["scale"] == 0.1
    assert loaded["plateau"][0]["group"] == 0 and loaded["plateau"][0]["key"] == "lr"


def test_plateau_composes_with_warmup_cosine() -> None:
    opt = sgd()
    p = lrkit.plateau(factor=0.5, patience=1, floor=0.02)
    sched = Scheduler(opt, WC * p)
    metrics = [1.0, 0.9, 0.95, 0.95, float("nan"), float("nan"), 0.5]
    got = []
    for m in metrics:
        opt.step()
        sched.step(m)
        got.append(opt.param_groups[0]["lr"])
    ctl = p.state()
    for t, m in enumerate(metrics, start=1):
        ctl.observe(m)
        assert got[t - 1] == pytest.approx(ctl.apply(WC(t)), rel=1e-14)
    assert ctl.scale == 0.25  # reduced twice: once on 0.95, once on the NaNs
    assert sched.observe(10.0) is False  # feeds without advancing
    assert sched.last_epoch == len(metrics)


def test_plateau_floor_and_multiplier_order() -> None:
    opt = sgd(groups=2)
    sched = Scheduler(opt, lrkit.constant(0.1) * lrkit.plateau(factor=0.1, patience=0,
                                                                floor=0.05),
                      multipliers=[1.0, 0.5])
    sched.observe(1.0)
    assert sched.observe(2.0) is True
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.025]
    assert sched.observe(3.0) is False  # at the floor: nothing changes (eps rule)


BAD = [
    ({"learning_rate": WC}, ValueError, "unknown hyperparameter 'learning_rate'; did you mean"),
    ({"lr": WC, "betas": 0.9}, ValueError, "unknown hyperparameter 'betas'"),
    ({"beta1": 0.9}, ValueError, "SGD param_groups\\[0\\] has no 'beta1'"),
    ([WC, WC], ValueError, "schedule has 2 entries but the optimizer has 1 param group"),
    ({}, ValueError, "mapping for param_groups\\[0\\] is empty"),
    ({"lr": "cosin(peak=1, steps=2)"}, lrkit.SpecError, "did you mean 'cosine'"),
    ({"lr": object()}, TypeError, "must be an lrkit schedule, a number or a spec string"),
]


@pytest.mark.parametrize(("schedule", "exc", "match"), BAD)
def test_bad_schedule_argument_writes_nothing(schedule: object, exc: type, match: str) -> None:
    opt = sgd(momentum=0.3)
    before = [dict(g) for g in opt.param_groups]
    with pytest.raises(exc, match=match):
        Scheduler(opt, schedule)
    assert [dict(g) for g in opt.param_groups] == before
    assert opt not in _OWNERS  # no hook registered either


@pytest.mark.parametrize(("kw", "match"), [
    ({"steps_per_epoch": 0, "interval": "epoch"}, "steps_per_epoch must be an integer >= 1, got 0"),
    ({"steps_per_epoch": -3, "interval": "epoch"}, "steps_per_epoch must be an integer >= 1"),
    ({"steps_per_epoch": 10}, "steps_per_epoch=10 goes with interval='epoch'"),
    ({"interval": "batches"}, "interval must be 'step' \\(or 'batch'\\) or 'epoch', got 'batches'"),
    ({"start_step": -1}, "start_step must be an integer >= 0, got -1"),
    ({"multipliers": [1.0, 2.0]}, "multipliers has 2 entries but the optimizer has 1"),
    ({"multipliers": [-1.0]}, "multipliers\\[0\\] must be a number >= 0, got -1.0"),
])
def test_bad_options_write_nothing(kw: dict[str, object], match: str) -> None:
    opt = sgd()
    with pytest.raises(ValueError, match=match):
        Scheduler(opt, WC, **kw)  # type: ignore[arg-type]
    assert opt.param_groups[0]["lr"] == 0.5


def test_other_bad_input() -> None:
    with pytest.raises(TypeError, match="must be a torch.optim.Optimizer"):
        Scheduler("sgd", WC)  # type: ignore[arg-type]
    sched = Scheduler(sgd(), WC)
    with pytest.raises(ValueError, match="no schedule has a plateau"):
        sched.step(0.5)
    with pytest.raises(ValueError, match="plateau\\(...\\) must multiply the whole schedule"):
        Scheduler(sgd(), lrkit.warmup(lrkit.constant(0.1) * lrkit.plateau(), warmup_steps=5))
    sched = Scheduler(sgd(), WC * lrkit.plateau())
    with pytest.raises(TypeError, match="metric must be a number"):
        sched.step("low")


def test_repr_and_schedules() -> None:
    sched = Scheduler(sgd(), WC)
    assert sched.schedules() == {(0, "lr"): WC}
    assert repr(WC) in repr(sched)
