"""Exact values of every catalogue schedule at hand-picked steps.

Expected values are written out by hand from each schedule's documented
formula (numbers, ``math``), never by calling lrkit: the start, each
boundary (a change happens *at* the boundary), the end, and far past the end
(finite schedules hold their final value).
"""

import math

import numpy as np
import pytest

import lrkit

PI = math.pi
FAR = 1e9

CASES = [
    # constant
    ("constant(0.05)", [(0, 0.05), (17.5, 0.05), (FAR, 0.05)]),
    ("constant(0.3, steps=10)", [(0, 0.3), (10, 0.3), (FAR, 0.3)]),
    # time_decay: init / (1 + k p), p = t / every (floored if staircase)
    ("time_decay(0.05, k=0.0001)", [(0, 0.05), (100, 0.05 / 1.01), (10_000, 0.025)]),
    ("time_decay(1.0, k=0.5, every=10)", [(0, 1.0), (10, 1 / 1.5), (15, 1 / 1.75)]),
    ("time_decay(1.0, k=0.5, every=10, staircase=True)",
     [(9, 1.0), (10, 1 / 1.5), (19, 1 / 1.5), (20, 0.5)]),
    ("time_decay(1.0, k=0.5, compounding=True)",
     [(0, 1.0), (0.5, 1.0), (1, 1.0), (2, 1 / 1.5), (2.5, 1 / 1.5 / 2.0 ** 0.5),
      (3, 1 / (1.5 * 2.0)), (4, 1 / (1.5 * 2.0 * 2.5))]),
    # step_decay: init * factor ** floor((t + offset) / every)
    ("step_decay(0.1, factor=0.5, every=10)",
     [(0, 0.1), (9, 0.1), (10, 0.05), (20, 0.025), (25, 0.025), (30, 0.0125)]),
    ("step_decay(1.0, factor=0.1, every=2.5, offset=1)",
     [(0, 1.0), (1, 1.0), (1.5, 0.1), (3.9, 0.1), (4, 0.1 * 0.1)]),
    # exponential: init * exp(-k p) or init * factor ** p, p = t / every (floored if staircase)
    ("exponential(0.1, k=0.09)",
     [(0, 0.1), (10, 0.1 * math.exp(-0.9)), (1000, 0.1 * math.exp(-90))]),
    ("exponential(1.0, factor=0.5, every=10)", [(0, 1.0), (5, 0.5 ** 0.5), (20, 0.25)]),
    ("exponential(1.0, k=0.5, every=10, staircase=True)",
     [(9, 1.0), (10, math.exp(-0.5)), (25, math.exp(-1.0))]),
    ("exponential(init=1.0, k=1.0, end=0.25)",
     [(0, 1.0), (1, math.exp(-1.0)), (2, 0.25), (FAR, 0.25)]),
    ("exponential(1.0, factor=0.5, every=10, staircase=True)", [(9, 1.0), (10, 0.5), (29, 0.25)]),
    ("exponential(1.0, factor=0.5, end=0.2)", [(0, 1.0), (2, 0.25), (3, 0.2), (FAR, 0.2)]),
    ("exponential(0.1, factor=2.0, end=1.0)", [(0, 0.1), (3, 0.8), (4, 1.0), (FAR, 1.0)]),
    ("exponential(0.0, factor=2.0, end=1.0)", [(0, 0.0), (FAR, 0.0)]),
    # piecewise: the level changes AT the boundary (optax); after=True one step later (Keras)
    ("piecewise(levels=(0.1, 0.01, 0.001), at=(100, 200))",
     [(0, 0.1), (99, 0.1), (99.5, 0.1), (100, 0.01), (199, 0.01), (200, 0.001), (FAR, 0.001)]),
    ("piecewise(levels=(0.1, 0.01, 0.001), at=(100, 200), after=True)",
     [(100, 0.1), (101, 0.01), (200, 0.01), (201, 0.001), (FAR, 0.001)]),
    ("piecewise((0.5,), at=())", [(0, 0.5), (FAR, 0.5)]),
    # multistep: init * factor ** #{milestones <= t}; a repeated milestone counts twice
    ("multistep(1.0, factor=0.1, at=(30, 80))",
     [(0, 1.0), (29, 1.0), (30, 0.1), (79, 0.1), (80, 0.1 * 0.1), (FAR, 0.1 * 0.1)]),
    ("multistep(1.0, factor=0.5, at=(10, 10, 20))", [(9, 1.0), (10, 0.25), (20, 0.125)]),
    # linear: init + (end - init) * min(t, steps) / steps
    ("linear(init=0.0, end=0.1, steps=10)", [(0, 0.0), (5, 0.05), (10, 0.1), (FAR, 0.1)]),
    ("linear(init=1.0, end=0.25, steps=4)", [(0, 1.0), (1, 0.8125), (4, 0.25), (FAR, 0.25)]),
    # polynomial: (init - end) (1 - z) ** power + end
    ("polynomial(init=0.1, steps=10, power=2.0)",
     [(0, 0.1), (5, 0.025), (10, 0.0), (FAR, 0.0)]),
    ("polynomial(init=1.0, steps=10, end=0.5, power=0.5)",
     [(0, 1.0), (6, 0.5 * 0.4 ** 0.5 + 0.5), (10, 0.5), (FAR, 0.5)]),
    ("polynomial(init=1.0, steps=10, progress_power=2.0)", [(5, 0.75), (10, 0.0)]),
    # every= (Keras cycle=True): horizon every * ceil(t / every) (>= every), no clipping
    ("polynomial(init=1.0, every=10)",
     [(0, 1.0), (5, 0.5), (10, 0.0), (11, 1 - 11 / 20), (20, 0.0), (25, 1 - 25 / 30)]),
    # cosine: end + (init - end) * ((1 + cos(pi z)) / 2) ** power, z = (t / steps) ** progress_power
    ("cosine(init=0.1, steps=100)", [(0, 0.1), (50, 0.05), (100, 0.0), (FAR, 0.0)]),
    ("cosine(init=0.1, steps=100, end=0.001)",
     [(0, 0.1), (25, 0.001 + 0.099 * (1 + math.cos(PI / 4)) / 2), (100, 0.001), (FAR, 0.001)]),
    ("cosine(init=1.0, steps=100, power=2.0)", [(50, 0.25), (100, 0.0)]),
    ("cosine(init=1.0, steps=100, progress_power=2.0)",
     [(50, (1 + math.cos(PI * 0.25)) / 2), (100, 0.0)]),
    # tanh (timm): end + (init - end) / 2 * (1 - tanh(x_start (1 - z) + x_end z))
    # ... for t < steps, then end (timm sets lr_min once the cycle is over)
    ("tanh(init=0.1, steps=100)",
     [(0, 0.05 * (1 - math.tanh(-7))), (50, 0.05 * (1 - math.tanh(-2))),
      (99, 0.05 * (1 - math.tanh(-7 * 0.01 + 3 * 0.99))), (100, 0.0), (FAR, 0.0)]),
    ("tanh(init=1.0, steps=10, end=0.5, x_start=-1.0, x_end=1.0)",
     [(0, 0.5 + 0.25 * (1 - math.tanh(-1))), (5, 0.75), (9.5, 0.5 + 0.25 * (1 - math.tanh(0.9))),
      (10, 0.5)]),
    # rex: end + (init - end) * r / (1/2 + r/2), r = 1 - z
    ("rex(init=0.1, steps=100)", [(0, 0.1), (50, 0.1 * 0.5 / 0.75), (100, 0.0), (FAR, 0.0)]),
    ("rex(init=1.0, steps=4, end=0.2)", [(3, 0.2 + 0.8 * 0.25 / 0.625), (4, 0.2)]),
    # inverse_sqrt: init / sqrt(1 + t / every)
    ("inverse_sqrt(init=0.01, every=100)", [(0, 0.01), (300, 0.005), (9900, 0.001)]),
    # wsd: init until steps - decay_steps, then f(d) to end
    ("wsd(init=0.1, steps=100, decay_steps=20, shape='linear')",
     [(0, 0.1), (80, 0.1), (90, 0.05), (100, 0.0), (FAR, 0.0)]),
    ("wsd(init=1.0, steps=100, decay_steps=20, end=0.1, shape='cosine')",
     [(80, 1.0), (90, 0.55), (100, 0.1), (FAR, 0.1)]),
    ("wsd(init=1.0, steps=100, decay_steps=16)", [(84, 1.0), (88, 0.5), (100, 0.0), (FAR, 0.0)]),
    # interpolate: linear or cosine between knots, held outside
    ("interpolate(knots=((0, 0.0), (10, 1.0), (20, 0.5)))",
     [(0, 0.0), (5, 0.5), (10, 1.0), (15, 0.75), (20, 0.5), (FAR, 0.5)]),
    ("interpolate(knots=((0, 1.0), (10, 0.0)), shape='cosine')",
     [(0, 1.0), (5, 0.5), (10, 0.0), (FAR, 0.0)]),
    ("interpolate(knots=((10, 1.0), (20, 0.0), (20, 0.5)))",
     [(0, 1.0), (10, 1.0), (15, 0.5), (20, 0.5), (FAR, 0.5)]),
    # one_cycle: knots at 0, up_frac*steps, steps (three-phase: 0, f*steps, 2*f*steps, steps)
    ("one_cycle(peak=0.1, steps=100)",
     [(0, 0.004), (30, 0.1), (100, 4e-7), (FAR, 4e-7),
      (15, 0.1 + (0.004 - 0.1) / 2 * (math.cos(PI * 0.5) + 1))]),
    ("one_cycle(1.0, steps=8, up_frac=0.25, div=10, final_div=100, shape='linear')",
     [(0, 0.1), (1, 0.55), (2, 1.0), (5, 1.0 + (0.001 - 1.0) / 2), (8, 0.001), (FAR, 0.001)]),
    ("one_cycle(peak=1.0, steps=100, up_frac=0.25, div=4, final_div=10, three_phase=True)",
     [(0, 0.25), (25, 1.0), (50, 0.25), (75, 0.025 + 0.225 / 2), (100, 0.025), (FAR, 0.025)]),
    # cosine_restarts (SGDR): cycle i starts at cycle_steps (cycle_mult**i - 1) / (cycle_mult - 1)
    ("cosine_restarts(init=1.0, cycle_steps=10)",
     [(0, 1.0), (5, 0.5), (10, 1.0), (15, 0.5), (1e9 + 5, 0.5)]),
    ("cosine_restarts(init=1.0, cycle_steps=10, cycle_mult=2, cycle_factor=0.5, end=0.1)",
     [(0, 1.0), (10, 0.5), (20, 0.1 + 0.4 * 0.5), (30, 0.25), (50, 0.1 + 0.15 * 0.5)]),
    ("cosine_restarts(init=1.0, cycle_steps=10, cycle_mult=2, end=0.1, cycles=2)",
     [(29.999, None), (30, 0.1), (FAR, 0.1)]),
    # cyclic (torch CyclicLR): cycle = floor(1 + t / total), x = 1 + t/total - cycle
    ("cyclic(init=0.001, peak=0.006, up_steps=2000)",
     [(0, 0.001), (1000, 0.0035), (2000, 0.006), (3000, 0.0035), (4000, 0.001)]),
    ("cyclic(init=1.0, peak=3.0, up_steps=2, down_steps=6, policy='triangular2')",
     [(0, 1.0), (2, 3.0), (5, 2.0), (8, 1.0), (10, 2.0), (18, 1.0 + 2.0 / 4)]),
    ("cyclic(init=1.0, peak=3.0, up_steps=10, policy='exp_range', factor=0.5)",
     [(0, 1.0), (10, 1.0 + 2.0 * 0.5 ** 10), (5, 1.0 + 1.0 * 0.5 ** 5)]),
]

PARAMS = [pytest.param(spec, t, v, id=f"{spec}@{t:g}") for spec, pts in CASES for t, v in pts]


@pytest.mark.parametrize(("spec", "t", "expected"), PARAMS)
def test_exact_value(spec, t, expected):
    s = lrkit.parse(spec)
    got = s(t)
    assert isinstance(got, float)
    if expected is None:  # only "finite and sane" asserted at this point
        assert math.isfinite(got) and got >= 0
        return
    assert got == pytest.approx(expected, rel=1e-13, abs=1e-300)
    assert s.values(np.array([t]))[0] == pytest.approx(expected, rel=1e-13, abs=1e-300)


def test_every_registered_leaf_has_exact_cases():
    covered = {lrkit.parse(spec).name for spec, _ in CASES}
    combinators = {"join", "warmup", "repeat", "shift", "stretch", "mul", "add", "min", "max",
                   "plateau"}
    # other test modules may register schedules of their own: lrkit's are the ones to cover
    builtin = {n for n, c in lrkit.REGISTRY.items() if c.__module__.startswith("lrkit.")}
    assert builtin - combinators <= covered


FINITE = [spec for spec, _ in CASES if lrkit.parse(spec).length is not None]


@pytest.mark.parametrize("spec", FINITE)
def test_finite_schedules_hold_after_length(spec):
    s = lrkit.parse(spec)
    n = s.length
    end = s(n)
    ts = np.array([n, n + 0.5, n + 1, 2 * n + 3, 1e6 + n, 1e9, 1e12])
    v = s.values(ts)
    assert np.all(v == end), (spec, v)
    assert end >= 0 and math.isfinite(end)


@pytest.mark.parametrize("spec", [spec for spec, _ in CASES])
def test_values_and_scalar_agree(spec):
    s = lrkit.parse(spec)
    ts = np.concatenate([np.arange(0, 300, 0.5), [1e3, 1e6, 1e9]])
    v = s.values(ts)
    assert v.dtype == np.float64
    assert np.all(np.isfinite(v)) and np.all(v >= 0)
    np.testing.assert_allclose(v, [s(t) for t in ts], rtol=1e-13, atol=0)
    np.testing.assert_array_equal(s.values(20), s.values(np.arange(20.0)))


def test_lengths():
    assert lrkit.constant(0.1).length == 0
    assert lrkit.cosine(init=1, steps=7).length == 7
    assert lrkit.one_cycle(peak=1, steps=100).length == 100
    assert lrkit.piecewise(levels=(1, 2), at=(5,)).length == 5
    assert lrkit.piecewise(levels=(1, 2), at=(5,), after=True).length == 6
    assert lrkit.multistep(1.0, factor=0.5, at=(3, 9)).length == 9
    assert lrkit.cosine_restarts(init=1, cycle_steps=10, cycle_mult=2, cycles=3).length == 70
    assert lrkit.cosine_restarts(init=1, cycle_steps=10).length is None
    assert lrkit.polynomial(init=1, every=10).length is None
    for s in (lrkit.time_decay(1.0, k=0.1), lrkit.exponential(1.0, k=0.1),
              lrkit.inverse_sqrt(init=1, every=3), lrkit.cyclic(init=0, peak=1, up_steps=3),
              lrkit.step_decay(1.0, factor=0.5, every=3)):
        assert s.length is None


def test_one_cycle_momentum_companion():
    s = lrkit.one_cycle(peak=0.1, steps=100)
    m = s.momentum()
    assert (m(0), m(30), m(100), m(FAR)) == (0.95, 0.85, 0.95, 0.95)
    m3 = lrkit.one_cycle(peak=0.1, steps=100, up_frac=0.25, three_phase=True).momentum(0.8, 0.9)
    assert (m3(0), m3(25), m3(50), m3(100)) == (0.9, 0.8, 0.9, 0.9)


def test_cosine_tail_keeps_full_relative_precision():
    """Near the end, 1 + cos(pi t/T) cancels; lrkit evaluates sin(pi (T - t) / 2T) ** 2."""
    T = 1_000_000
    s = lrkit.cosine(init=1.0, steps=T)
    # (1 + cos(pi (1 - 1/T))) / 2 = sin(pi / (2T)) ** 2, with sin x = x - x**3/6 + ...
    x = PI / (2 * T)
    exact = (x - x**3 / 6) ** 2
    assert s(T - 1) == pytest.approx(exact, rel=1e-14)
    assert s.values(np.array([T - 1.0]))[0] == pytest.approx(exact, rel=1e-14)


@pytest.mark.parametrize("k", [0.3, 1.5, 2.5])
def test_k_decay_keeps_full_precision_near_its_end(k):
    """``1 - z**k`` cancels near z = 1; lrkit computes it as ``-expm1(k log1p(-rest))``.
    Checked against mpmath at 40 digits, scalar and vectorised, to 1e-14 relative."""
    mpmath = pytest.importorskip("mpmath")
    n = 100_000
    ts = np.array([0, 1, 7, 10_000, 20_000, 50_000, 80_000, 99_000, 99_990, 99_999, 99_999.5, n],
                  dtype=float)
    poly = lrkit.polynomial(init=1.0, steps=n, progress_power=k)
    cyc = lrkit.polynomial(init=1.0, every=2, progress_power=k)
    cos = lrkit.cosine(init=1.0, steps=n, progress_power=k)
    with mpmath.workdps(40):
        def z(t, steps):
            return (mpmath.mpf(float(t)) / steps) ** mpmath.mpf(k)

        def horizon(t):
            return 2 * max(mpmath.ceil(mpmath.mpf(float(t)) / 2), 1)

        exact = {
            poly: [float(1 - z(t, n)) for t in ts],
            cyc: [float(1 - z(t, horizon(t))) for t in ts],
            cos: [float((1 + mpmath.cos(mpmath.pi * z(t, n))) / 2) for t in ts],
        }
    for s, want in exact.items():
        np.testing.assert_allclose(s.values(ts), want, rtol=1e-14, atol=0, err_msg=repr(s))
        np.testing.assert_allclose([s(t) for t in ts], want, rtol=1e-14, atol=0, err_msg=repr(s))
