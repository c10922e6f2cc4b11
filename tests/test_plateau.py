"""The plateau factor and its controller, against torch's ReduceLROnPlateau."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lrkit
from lrkit._plateau import PlateauState
from lrkit.torch import Scheduler, from_torch

METRICS = st.lists(
    st.one_of(st.floats(-3.0, 3.0), st.sampled_from([math.nan, 1.0, 0.5])), min_size=1,
    max_size=80)


def opt_with(lr: float, groups: int = 1) -> torch.optim.SGD:
    return torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))]}
                            for _ in range(groups)], lr=lr)


@settings(max_examples=150, deadline=None)
@given(metrics=METRICS, mode=st.sampled_from(["min", "max"]),
       factor=st.sampled_from([0.1, 0.5, 0.9]), patience=st.integers(0, 4),
       threshold=st.sampled_from([0.0, 1e-4, 0.1]),
       threshold_mode=st.sampled_from(["rel", "abs"]), cooldown=st.integers(0, 3),
       min_lr=st.sampled_from([0.0, 1e-3, 0.05]), eps=st.sampled_from([1e-8, 1e-3]))
def test_equals_torch_reduce_lr_on_plateau(metrics: list[float], mode: str, factor: float,
                                           patience: int, threshold: float,
                                           threshold_mode: str, cooldown: int, min_lr: float,
                                           eps: float) -> None:
    kw = dict(mode=mode, factor=factor, patience=patience, threshold=threshold,
              threshold_mode=threshold_mode, cooldown=cooldown, min_lr=min_lr, eps=eps)
    t_opt = opt_with(0.1)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **kw)  # type: ignore[arg-type]
    schedule = from_torch(ref)
    assert isinstance(schedule, lrkit.Schedule)
    opt = opt_with(0.7)
    ours = Scheduler(opt, schedule)
    for m in metrics:
        t_opt.step()
        ref.step(m)
        opt.step()
        ours.step(m)
        assert opt.param_groups[0]["lr"] == pytest.approx(t_opt.param_groups[0]["lr"],
                                                          rel=1e-12, abs=0)
    assert ours.get_last_lr()[0] == pytest.approx(ref.get_last_lr()[0], rel=1e-12)


def test_per_group_min_lr_converts_per_group() -> None:
    t_opt = opt_with(0.1, groups=2)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, patience=0, min_lr=[0.05, 0.0])
    converted = from_torch(ref)
    assert isinstance(converted, list) and len(converted) == 2
    opt = opt_with(0.1, groups=2)
    ours = Scheduler(opt, converted)
    for m in [1.0, 2.0, 3.0, 4.0]:
        ref.step(m)
        ours.step(m)
    assert ours.get_last_lr() == pytest.approx(ref.get_last_lr(), rel=1e-12)
    assert ours.get_last_lr()[0] == 0.05


def test_nan_counts_as_not_improving_and_never_becomes_best() -> None:
    st_ = lrkit.plateau(patience=1, factor=0.5).state()
    assert st_.observe(1.0) is False
    assert st_.observe(math.nan) is False
    assert st_.observe(math.nan) is True
    assert st_.best == 1.0 and st_.scale == 0.5
    assert st_.observe(0.5) is False and st_.best == 0.5
    assert math.isfinite(st_.state_dict()["best"])


def test_tensor_metric_and_keras_mapping() -> None:
    # Keras ReduceLROnPlateau(patience=2, min_delta=0.1) is patience=1, threshold=0.1 'abs' here
    st_ = lrkit.plateau(patience=1, threshold=0.1, threshold_mode="abs", factor=0.5).state()
    for m in [1.0, 0.95, 0.92]:  # neither improves on 1.0 by more than 0.1
        reduced = st_.observe(torch.tensor(m))
    assert reduced and st_.scale == 0.5


def test_state_dict_roundtrip_and_bad_state() -> None:
    cfg = lrkit.plateau(patience=0, cooldown=2)
    a = cfg.state()
    for m in [3.0, 2.0, 4.0, 5.0]:
        a.observe(m)
    b = PlateauState(cfg)
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict()
    for m in [1.0, 6.0, 7.0, 8.0]:
        assert a.observe(m) == b.observe(m)
    with pytest.raises(ValueError, match="plateau state must have keys"):
        b.load_state_dict({"scale": 1.0})


def test_apply_floor_never_lifts_above_base() -> None:
    st_ = lrkit.plateau(factor=0.1, patience=0, floor=0.05).state()
    st_.observe(1.0)
    st_.observe(2.0)
    assert st_.apply(0.1) == pytest.approx(0.05)
    assert st_.apply(0.01) == pytest.approx(0.01)  # base below the floor: the base
    assert st_.apply(1.0) == pytest.approx(0.1)


@pytest.mark.parametrize(("kw", "match"), [
    ({"mode": "lowest"}, "mode must be one of 'min', 'max', got 'lowest'"),
    ({"factor": 1.0}, "factor must be in \\(0, 1\\), got 1.0"),
    ({"patience": -1}, "patience must be an integer >= 0, got -1"),
    ({"threshold_mode": "pct"}, "threshold_mode must be one of"),
    ({"floor": -1.0}, "floor must be >= 0, got -1.0"),
])
def test_bad_parameters(kw: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        lrkit.plateau(**kw)  # type: ignore[arg-type]


def test_split_plateau() -> None:
    base = lrkit.cosine(init=0.1, steps=10)
    p = lrkit.plateau(patience=2)
    assert lrkit.split_plateau(base * p) == (base, p)
    assert lrkit.split_plateau(p * base) == (base, p)
    assert lrkit.split_plateau(base) == (base, None)
    assert lrkit.split_plateau(p)[1] == p
    with pytest.raises(ValueError, match="one plateau"):
        lrkit.split_plateau(base * p * p)
    with pytest.raises(ValueError, match="must multiply the whole schedule"):
        lrkit.split_plateau(base + 0.5 * p)
    assert lrkit.parse(repr(base * p)) == base * p
    assert (base * p)(3) == base(3)  # plots as the base schedule
