"""lrkit.optax: lrkit schedules as optax schedules, checked against optax's own functions."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402

import lrkit  # noqa: E402
import lrkit.optax  # noqa: E402
from lrkit.schedule import schedule_class  # noqa: E402


def _run(fn, n: int, dtype) -> np.ndarray:
    """``fn`` at counts 0..n-1, each a scalar (as optax calls it), under jit."""
    return np.asarray(jax.jit(jax.vmap(fn))(jnp.arange(n, dtype=dtype)), dtype=np.float64)


def _conform(theirs, ours: lrkit.Schedule, n: int) -> None:
    """optax's function and ours, both under jit: float32 on int32 steps, then float64 (x64)."""
    scale = float(np.max(np.abs(ours.values(n)))) or 1.0
    mine = lrkit.optax.schedule(ours)
    np.testing.assert_allclose(_run(mine, n, jnp.int32), _run(theirs, n, jnp.int32),
                               rtol=1e-6, atol=1e-6 * scale)
    with jax.enable_x64(True):
        got = _run(mine, n, jnp.float64)
        want = _run(theirs, n, jnp.float64)
    assert got.dtype == want.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15 * scale)


@pytest.mark.parametrize("init,peak,warm,total,end,exponent", [
    (0.0, 0.1, 10, 100, 0.0, 1.0),
    (0.01, 0.5, 37, 1000, 0.003, 1.0),
    (0.0, 1.0, 1, 50, 0.1, 2.5),
])
def test_warmup_cosine_decay(init, peak, warm, total, end, exponent):
    theirs = optax.warmup_cosine_decay_schedule(init, peak, warm, total, end_value=end,
                                                exponent=exponent)
    ours = lrkit.warmup(lrkit.cosine(init=peak, steps=total, end=end, power=exponent),
                        warmup_steps=warm, init=init)
    _conform(theirs, ours, total + 30)


@pytest.mark.parametrize("begin,staircase,end", [
    (0, False, None), (25, False, None), (25, True, None), (10, True, 0.02), (0, False, 0.05),
])
def test_exponential_decay(begin, staircase, end):
    theirs = optax.exponential_decay(0.1, transition_steps=20, decay_rate=0.5,
                                     transition_begin=begin, staircase=staircase, end_value=end)
    ours = lrkit.shift(lrkit.exponential(0.1, factor=0.5, every=20, staircase=staircase, end=end),
                       delay=begin)
    _conform(theirs, ours, 200)


def test_exponential_growth_with_ceiling():
    theirs = optax.exponential_decay(0.01, transition_steps=10, decay_rate=2.0, end_value=0.3)
    ours = lrkit.exponential(0.01, factor=2.0, every=10, end=0.3)
    _conform(theirs, ours, 100)


def test_sgdr_equals_cosine_restarts():
    kw = dict(init_value=0.1, peak_value=0.1, warmup_steps=0, decay_steps=30, end_value=0.001)
    theirs = optax.sgdr_schedule([kw] * 3)
    ours = lrkit.cosine_restarts(init=0.1, cycle_steps=30, end=0.001, cycles=3)
    _conform(theirs, ours, 120)


def test_sgdr_with_warmups_equals_join():
    kws = [dict(init_value=0.0, peak_value=0.1, warmup_steps=5, decay_steps=40),
           dict(init_value=0.01, peak_value=0.05, warmup_steps=10, decay_steps=60,
                end_value=0.001)]
    theirs = optax.sgdr_schedule(kws)
    ours = lrkit.join(*(
        lrkit.warmup(lrkit.cosine(init=k["peak_value"], steps=k["decay_steps"],
                                  end=k.get("end_value", 0.0)),
                     warmup_steps=k["warmup_steps"], init=k["init_value"])
        for k in kws))
    _conform(theirs, ours, 130)


@pytest.mark.parametrize("total,pct", [(100, 0.3), (57, 0.25), (1000, 0.45)])
def test_cosine_onecycle(total, pct):
    # optax's knots are at 0, floor(pct * T) and T: an interpolate() through them, and
    # one_cycle's own knots (0, up_frac * steps, steps) with up_frac = floor(pct * T) / T
    peak, div, final_div = 0.4, 25.0, 1e4
    theirs = optax.cosine_onecycle_schedule(total, peak, pct_start=pct, div_factor=div,
                                            final_div_factor=final_div)
    ours = lrkit.interpolate(knots=((0, peak / div), (math.floor(pct * total), peak),
                                    (total, peak / (div * final_div))), shape="cosine")
    _conform(theirs, ours, total + 20)
    cycle = lrkit.one_cycle(peak, steps=total, up_frac=math.floor(pct * total) / total,
                            div=div, final_div=final_div)
    _conform(theirs, cycle, total + 20)


@pytest.mark.parametrize("total,pct,pct_final", [(100, 0.3, 0.85), (77, 0.2, 0.9)])
def test_linear_onecycle(total, pct, pct_final):
    peak, div, final_div = 0.4, 25.0, 1e4
    theirs = optax.linear_onecycle_schedule(total, peak, pct_start=pct, pct_final=pct_final,
                                            div_factor=div, final_div_factor=final_div)
    ours = lrkit.interpolate(knots=(
        (0, peak / div), (math.floor(pct * total), peak), (math.floor(pct_final * total),
                                                            peak / div),
        (total, peak / (div * final_div))))
    _conform(theirs, ours, total + 20)


def test_piecewise_constant_and_multistep():
    theirs = optax.piecewise_constant_schedule(0.1, {30: 0.1, 60: 0.5, 90: 0.2})
    ours = lrkit.piecewise(levels=(0.1, 0.01, 0.005, 0.001), at=(30, 60, 90))
    _conform(theirs, ours, 120)
    same_drop = optax.piecewise_constant_schedule(0.1, {20: 0.1, 50: 0.1})
    _conform(same_drop, lrkit.multistep(0.1, factor=0.1, at=(20, 50)), 80)


def test_polynomial_and_cosine_decay():
    _conform(optax.polynomial_schedule(0.1, 0.001, power=2.0, transition_steps=50,
                                       transition_begin=10),
             lrkit.shift(lrkit.polynomial(init=0.1, end=0.001, power=2.0, steps=50), delay=10),
             100)
    _conform(optax.cosine_decay_schedule(0.1, decay_steps=80, alpha=0.1, exponent=1.5),
             lrkit.cosine(init=0.1, steps=80, end=0.01, power=1.5), 100)


def test_dtype_follows_x64_and_int32_counts_do_not_overflow():
    fn = lrkit.optax.schedule(lrkit.inverse_sqrt(init=0.01, every=1000))
    big = jnp.asarray(2**31 - 1, dtype=jnp.int32)
    v32 = jax.jit(fn)(big)
    assert v32.dtype == jnp.float32
    assert float(v32) == pytest.approx(fn.schedule(2**31 - 1), rel=1e-6)
    with jax.enable_x64(True):
        v64 = jax.jit(fn)(jnp.asarray(2**31 - 1, dtype=jnp.int32))
        assert v64.dtype == jnp.float64
        assert float(v64) == pytest.approx(fn.schedule(2**31 - 1), rel=1e-14)


def _example(name: str):
    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_trains_under_jit_with_inject_hyperparams():
    """examples/optax_sgd.py: real jitted updates on digits; the logged lr is s(i) at update i."""
    out = _example("optax_sgd").main(steps=30, verbose=False)
    np.testing.assert_allclose(out["lrs"], out["schedule"].values(30), rtol=1e-6, atol=1e-9)
    assert out["losses"][-1] < 0.5 * out["losses"][0]
    assert out["accuracy"] > 0.85


def test_plain_sgd_uses_the_schedule_per_update():
    """Without momentum, the update is exactly -lr(count) * grad: read the lr back from it."""
    s = lrkit.step_decay(0.2, factor=0.5, every=3)
    tx = optax.sgd(learning_rate=lrkit.optax.schedule(s))
    params = jnp.asarray([1.0, -2.0])
    grads = jnp.asarray([0.5, 0.25])
    state = tx.init(params)
    used = []
    for _ in range(8):
        updates, state = jax.jit(tx.update)(grads, state, params)
        used.append(float(-updates[0] / grads[0]))
    np.testing.assert_allclose(used, s.values(8), rtol=1e-6)


def test_spec_strings_and_numbers_are_accepted():
    fn = lrkit.optax.schedule("cosine(init=0.1, steps=10)")
    assert fn == lrkit.optax.schedule(lrkit.cosine(init=0.1, steps=10))
    assert hash(fn) == hash(lrkit.optax.schedule(lrkit.cosine(init=0.1, steps=10)))
    assert repr(fn) == "lrkit.optax.schedule(cosine(init=0.1, steps=10))"
    assert float(lrkit.optax.schedule(0.05)(3)) == pytest.approx(0.05)


def test_python_function_is_refused():
    with pytest.raises(TypeError, match="Python function"):
        lrkit.optax.schedule(lambda step: 0.1 * 0.5 ** (step // 10))
    with pytest.raises(TypeError, match="lrkit schedule, a number or a spec string"):
        lrkit.optax.schedule([0.1])


def test_plateau_is_refused_with_the_way_out():
    with pytest.raises(ValueError, match="reduce_on_plateau"):
        lrkit.optax.schedule(lrkit.cosine(init=0.1, steps=10) * lrkit.plateau())


@pytest.mark.parametrize("plateau", [
    lrkit.plateau(factor=0.5, patience=1, threshold=0.01),
    lrkit.plateau(factor=0.3, patience=0, threshold=0.5, threshold_mode="abs", cooldown=2),
])
def test_reduce_on_plateau_follows_lrkit_rule_under_jit(plateau):
    s = lrkit.exponential(0.1, k=0.01) * plateau
    base, _ = lrkit.split_plateau(s)
    tx = optax.chain(optax.sgd(lrkit.optax.schedule(base)), lrkit.optax.reduce_on_plateau(s))
    params = jnp.asarray([1.0])
    grads = jnp.asarray([1.0])
    state = tx.init(params)
    update = jax.jit(tx.update)
    values = [5.0, 4.0, 4.0, 3.99, 4.2, 3.5, 3.5, 3.5, 3.49, float("nan"), 3.0, 3.0, 3.0, 3.0]
    ctl = plateau.state()
    for i, v in enumerate(values):
        updates, state = update(grads, state, params, value=jnp.asarray(v))
        ctl.observe(v)
        assert -float(updates[0]) == pytest.approx(ctl.apply(base(i)), rel=1e-6), i
    assert ctl.reductions >= 2


@pytest.mark.parametrize("bad,match", [
    (lrkit.plateau(mode="max"), "mode='max'"),
    (lrkit.plateau(floor=1e-4), "floor=0.0001"),
    (lrkit.plateau(threshold=0.0), "threshold=0"),
    (lrkit.cosine(init=0.1, steps=10), "holds no plateau"),
])
def test_reduce_on_plateau_refuses_what_optax_cannot_do(bad, match):
    with pytest.raises(ValueError, match=match):
        lrkit.optax.reduce_on_plateau(bad)


def test_float32_precision_loss_is_refused_with_the_x64_hint():
    s = lrkit.time_decay(0.05, k=1e-6, compounding=True)
    with pytest.raises(ValueError, match="jax_enable_x64"):
        lrkit.optax.schedule(s)
    with jax.enable_x64(True):
        fn = lrkit.optax.schedule(s)
        assert float(jax.jit(fn)(jnp.asarray(500, jnp.int32))) == pytest.approx(s(500), rel=1e-9)


@schedule_class
class _PythonBranch(lrkit.Schedule):
    """A user schedule whose formula branches in Python on t: not traceable."""

    name = "test_optax_python_branch"

    def _f(self, t, xp):
        return 0.1 if t < 10 else 0.01


def test_untraceable_formula_is_refused_before_training():
    with pytest.raises(TypeError, match="does not trace under jax.jit"):
        lrkit.optax.schedule(_PythonBranch())
