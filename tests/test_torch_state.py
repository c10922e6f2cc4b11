"""Nothing bad reaches an optimizer: corrupted scheduler state is refused with a ValueError
naming the key (fuzzed: keys of a real state dict dropped, replaced, retyped), and every
value written is finite and in its key's range (checked per block, before any write)."""

from __future__ import annotations

import copy
import math
from dataclasses import KW_ONLY
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lrkit
from lrkit.schedule import Schedule, schedule_class
from lrkit.torch import BLOCK, MAX_STEP, Scheduler
from lrkit.xp import Array, Ops

WC = lrkit.warmup(lrkit.cosine(init=0.1, steps=1000, end=0.001), warmup_steps=100)


def sgd(groups: int = 2, **kw: float) -> torch.optim.SGD:
    kw.setdefault("lr", 0.5)
    kw.setdefault("momentum", 0.9)
    return torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(2))]}
                            for _ in range(groups)], **kw)


def values(opt: torch.optim.Optimizer) -> list[tuple[float, float]]:
    return [(g["lr"], g["momentum"]) for g in opt.param_groups]


def build(opt: torch.optim.Optimizer) -> Scheduler:
    p = lrkit.plateau(factor=0.5, patience=0, threshold=0.9)
    return Scheduler(opt, [{"lr": WC * p, "momentum": lrkit.cosine(0.9, steps=50, end=0.8)},
                           {"lr": WC}], multipliers=[1.0, 0.5])


def real_state() -> dict[str, Any]:
    opt = sgd()
    sched = build(opt)
    for m in (1.0, 2.0, 3.0, 4.0):
        sched.step(m)
    return sched.state_dict()


# -- the range check --------------------------------------------------------------------------

@pytest.mark.parametrize(("opt", "schedule", "match"), [
    (sgd(1), {"momentum": lrkit.constant(1.5)},
     r"param_groups\[0\]\['momentum'\] would be 1.5 at step 0, from constant\(1.5\); "
     r"momentum must be in \[0, 1\]: nothing was written"),
    (sgd(1, dampening=0.1), {"dampening": 2.0}, r"dampening must be in \[0, 1\]"),
    (torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))]), {"beta1": 1.0},
     r"param_groups\[0\]\['beta1'\] would be 1.0 .*beta1 must be in \[0, 1\)"),
    (torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))]), {"momentum": 1.0},
     r"\['beta1'\] would be 1.0"),  # momentum is beta1 on Adam: the same range
    (torch.optim.Adadelta([torch.nn.Parameter(torch.zeros(1))]), {"rho": 1.01},
     r"rho must be in \[0, 1\]"),
])
def test_out_of_range_values_are_refused_naming_group_key_and_range(
        opt: torch.optim.Optimizer, schedule: Any, match: str) -> None:
    before = copy.deepcopy(opt.param_groups[0])
    before.pop("params")
    with pytest.raises(ValueError, match=match):
        Scheduler(opt, schedule)
    after = dict(opt.param_groups[0])
    after.pop("params")
    assert after == before


def test_the_range_holds_in_later_blocks_and_a_refused_block_writes_nothing() -> None:
    # momentum crosses 1 at t = 4 * BLOCK / 3, in the second block
    ramp = lrkit.linear(init=0.5, end=2.0, steps=4 * BLOCK)
    opt = sgd(1)
    sched = Scheduler(opt, {"lr": WC, "momentum": ramp})
    for _ in range(BLOCK - 1):
        sched.step()
    held = values(opt)
    with pytest.raises(ValueError, match=r"\['momentum'\] would be 1.000.* at step 10923"):
        sched.step()
    assert values(opt) == held and sched.last_epoch == BLOCK - 1  # nothing moved
    with pytest.raises(ValueError, match="momentum must be in"):
        sched.last_epoch = 2 * BLOCK
    assert values(opt) == held


@schedule_class
class Breaks(Schedule):
    """A user-defined schedule that is NaN (or infinite) from ``at`` on."""

    at: float
    _: KW_ONLY
    bad: float = math.nan

    def _f(self, t: Array, xp: Ops) -> Array:
        return xp.where(t >= self.at, self.bad, t * 0.0 + 0.1)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_value_is_never_written(bad: float) -> None:
    opt = sgd(2)
    with pytest.raises(ValueError, match="would be (nan|inf) at step 3"):
        Scheduler(opt, Breaks(3, bad=bad), relative=False)
    assert values(opt) == [(0.5, 0.9)] * 2
    sched = Scheduler(opt, Breaks(BLOCK + 7, bad=bad), multipliers=[1.0, 0.0])
    for _ in range(BLOCK - 1):
        sched.step()
    with pytest.raises(ValueError, match=f"param_groups\\[0\\]\\['lr'\\] would be {bad}"):
        sched.step()
    assert [v for v, _ in values(opt)] == [0.1, 0.0]
    # a frozen group's 0 * inf would be NaN: refused as well
    sched = Scheduler(sgd(1), Breaks(BLOCK + 7, bad=math.inf), multipliers=[0.0])
    with pytest.raises(ValueError, match=r"would be nan .* \(times 0.0\)"):
        sched.last_epoch = BLOCK


def test_steps_beyond_exact_float_counts_are_refused() -> None:
    with pytest.raises(ValueError, match=f"start_step must be an integer in \\[0, {MAX_STEP}\\]"):
        Scheduler(sgd(), WC, start_step=MAX_STEP + 1, relative=False)
    Scheduler(sgd(), WC, start_step=MAX_STEP, relative=False)


# -- corrupted state ----------------------------------------------------------------------

def test_load_names_the_missing_or_mistyped_key() -> None:
    sd = real_state()
    sched = build(sgd())
    cases = [
        ({k: v for k, v in sd.items() if k != "schedules"}, "'schedules' is missing; expected"),
        ({**sd, "step": "12"}, "'step' is '12'; expected an integer in"),
        ({**sd, "step": True}, "'step' is True"),
        ({**sd, "interval": "epochs"}, "'interval' is 'epochs'; expected 'step' or 'epoch'"),
        ({**sd, "steps_per_epoch": 0}, "'steps_per_epoch' is 0; expected None or an integer"),
        ({**sd, "schedules": "abc"}, "'schedules' is 'abc'; expected a list of"),
        ({**sd, "schedules": [sd["schedules"][0][:3]]}, r"'schedules'\[0\] is \(0, 'lr'"),
        ({**sd, "plateau": {}}, "'plateau' is {}; expected a list"),
        ({**sd, "plateau": [{"group": 0}]}, r"'plateau'\[0\] is \{'group': 0\}"),
    ]
    for state in ({"scale": math.nan}, {"scale": math.inf}, {"scale": 1e308},
                  {"scale": -0.5}, {"best": math.nan}, {"num_bad": -1}, {"reductions": 1.5},
                  {"cooldown_left": "2"}):
        bad = copy.deepcopy(sd)
        bad["plateau"][0]["state"].update(state)
        key = next(iter(state))
        cases.append((bad, f"plateau state: '{key}' must be"))
    bad = copy.deepcopy(sd)
    del bad["plateau"][0]["state"]["best"]
    cases.append((bad, "plateau state must have keys"))
    for state, match in cases:
        before = sched.state_dict()
        with pytest.raises(ValueError, match=match):
            sched.load_state_dict(state)
        assert sched.state_dict() == before  # nothing changed


def test_a_zero_scale_is_a_state_and_loads() -> None:
    sd = real_state()
    sd["plateau"][0]["state"]["scale"] = 0.0
    opt = sgd()
    build(opt).load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.0  # max(base * 0, min(base, floor=0))


JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.just(MAX_STEP + 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
    st.lists(st.integers(0, 3), max_size=4), st.tuples(st.integers(0, 2), st.text(max_size=3)),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.sampled_from(["step", "epoch", "batch", "lr", "momentum", "lrkit.torch.Scheduler/1"]),
)


def paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key / index path into nested dicts, lists and tuples."""
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += paths(v, prefix + (k,))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out += paths(v, prefix + (i,))
    return out


def mutate(obj: Any, path: tuple[Any, ...], how: str, junk: Any) -> Any:
    """A copy of ``obj`` with the value at ``path`` dropped, replaced or retyped."""
    if not path:
        return junk if how == "replace" else obj
    head, rest = path[0], path[1:]
    out: Any = dict(obj) if isinstance(obj, dict) else list(obj)
    if not rest and how == "drop":
        del out[head]
    else:
        out[head] = mutate(out[head], rest, how, junk) if rest else _change(out[head], how, junk)
    return tuple(out) if isinstance(obj, tuple) else out


def _change(value: Any, how: str, junk: Any) -> Any:
    if how == "replace":
        return junk
    retyped = {int: float, float: str, str: lambda s: s.encode(), bool: int,
               type(None): lambda _: 0, list: tuple, tuple: list, dict: lambda d: list(d)}
    return retyped.get(type(value), str)(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), strict=st.booleans())
def test_fuzzed_state_dicts_raise_only_value_error(data: st.DataObject, strict: bool) -> None:
    sd = real_state()
    for _ in range(data.draw(st.integers(1, 3))):
        options = paths(sd)
        path = data.draw(st.sampled_from(options))
        how = data.draw(st.sampled_from(["drop", "replace", "retype"]))
        sd = mutate(sd, path, how, data.draw(JUNK))
    opt = sgd()
    sched = build(opt)
    sched.step(1.0)
    before_opt, before = values(opt), sched.state_dict()
    try:
        sched.load_state_dict(sd, strict=strict)
    except ValueError:
        assert values(opt) == before_opt and sched.state_dict() == before
    for lr, mom in values(opt):
        assert math.isfinite(lr) and lr >= 0 and 0 <= mom <= 1
    sched.step(2.0)  # and it still runs
    assert all(np.isfinite(v) for pair in values(opt) for v in pair)


def test_a_lrkit_0_1_state_dict_loads() -> None:
    sd = real_state()
    old = dict(sd, format="lrkit.torch.Scheduler/1",
               schedules=[list(e) for e in sd["schedules"]],
               plateau=[sd["plateau"][0]["state"], None, None])
    opt = sgd()
    sched = build(opt)
    sched.load_state_dict(old)
    assert sched.state_dict() == sd
