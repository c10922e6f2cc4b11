"""Composition: join, warmup, repeat, shift, stretch and arithmetic, with hand-computed values."""

import math

import numpy as np
import pytest

import lrkit
from lrkit import constant, cosine, join, linear, warmup

PI = math.pi


def check(s, points):
    """s(t) and s.values agree with the hand-computed ``points`` [(t, value)]."""
    ts = np.array([t for t, _ in points], dtype=float)
    want = np.array([v for _, v in points])
    np.testing.assert_allclose([s(t) for t in ts], want, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(s.values(ts), want, rtol=1e-13, atol=1e-300)


# -- join ----------------------------------------------------------------------------------


def test_join_pieces_run_in_local_time():
    a = linear(init=0.0, end=1.0, steps=10)
    b = linear(init=1.0, end=0.0, steps=20)
    s = join(a, b, constant(0.25))
    assert s.boundaries == (10.0, 30.0)
    assert s.length == 30.0  # a trailing constant has length 0
    check(s, [(0, 0.0), (5, 0.5), (9, 0.9), (10, 1.0), (20, 0.5), (29, 0.05), (30, 0.25),
              (1e9, 0.25)])


def test_join_explicit_boundaries_override_lengths():
    s = join(constant(1.0), cosine(peak=0.5, steps=10), constant(0.125), at=(3, 8))
    assert s.boundaries == (3.0, 8.0)
    # the cosine piece sees local time t - 3 and is cut at t = 8 (local 5: its midpoint)
    check(s, [(0, 1.0), (2.999, 1.0), (3, 0.5), (5.5, 0.5 * (1 + math.cos(PI * 0.25)) / 2),
              (8, 0.125), (1e9, 0.125)])
    # the cut curve: just before the boundary the cosine is at (almost) its midpoint value
    assert s(7.999999) == pytest.approx(0.25, rel=1e-5)


def test_join_single_piece_is_that_piece():
    c = cosine(peak=1.0, steps=10)
    s = join(c)
    assert s.length == 10
    np.testing.assert_array_equal(s.values(30), c.values(30))


def test_join_needs_lengths_or_at():
    with pytest.raises(ValueError, match=r"pieces\[0\].*has no end to join at"):
        join(lrkit.exponential(1.0, k=0.1), constant(0.1))
    with pytest.raises(ValueError, match=r"at needs len\(pieces\) - 1 = 1"):
        join(constant(1.0), constant(0.5), at=(1, 2))
    with pytest.raises(ValueError, match="non-decreasing"):
        join(constant(1.0), constant(0.5), constant(0.1), at=(5, 2))
    with pytest.raises(ValueError, match="at least one piece"):
        join()


def test_join_zero_length_piece_at_boundary():
    s = join(constant(1.0), constant(0.5), constant(0.25), at=(4, 4))
    check(s, [(3, 1.0), (4, 0.25), (100, 0.25)])


# -- warmup --------------------------------------------------------------------------------


def test_warmup_fit_is_optax_warmup_cosine_decay():
    """warmup(cosine(peak=P, steps=N, end=E), steps=W) == optax.warmup_cosine_decay_schedule(
    0, P, W, decay_steps=N, end_value=E): N counts the warm-up."""
    P, W, N, E = 0.1, 100, 1000, 0.001
    s = warmup(cosine(peak=P, steps=N, end=E), steps=W)
    assert s.length == N

    def optax_formula(t):
        if t < W:
            return P * t / W
        c = min(t - W, N - W) / (N - W)
        return E + (P - E) * (1 + math.cos(PI * c)) / 2

    check(s, [(t, optax_formula(t)) for t in (0, 1, 50, 99, 100, 101, 550, 999, 1000, 5000)])
    assert s(0) == 0.0 and s(W) == P and s(N) == E


def test_warmup_fit_false_puts_the_ramp_in_front():
    s = warmup(cosine(peak=1.0, steps=100), steps=10, fit=False)
    assert s.length == 110
    check(s, [(0, 0.0), (5, 0.5), (10, 1.0), (60, 0.5), (110, 0.0), (1e9, 0.0)])


def test_warmup_of_never_ending_schedule_is_a_prefix():
    s = warmup(lrkit.inverse_sqrt(peak=0.01, timescale=100), steps=100)
    assert s.length is None
    check(s, [(0, 0.0), (50, 0.005), (100, 0.01), (400, 0.005)])
    # the Noam schedule: with init=0, warm-up W, timescale W


@pytest.mark.parametrize(("shape", "ramp"), [
    ("linear", lambda u: 0.1 + (1.0 - 0.1) * u),
    ("cos", lambda u: 0.1 + (1.0 - 0.1) * (1 - math.cos(PI * u)) / 2),
    ("exp", lambda u: 0.1 * (1.0 / 0.1) ** u),
])
def test_warmup_shapes(shape, ramp):
    s = warmup(constant(1.0), steps=8, init=0.1, shape=shape)
    check(s, [(t, ramp(t / 8)) for t in (0, 1, 2, 4, 6, 7, 7.5)] + [(8, 1.0), (1e9, 1.0)])


def test_warmup_targets_the_schedule_start():
    s = warmup(linear(init=0.5, end=0.0, steps=100), steps=20, init=0.1)
    # ramp 0.1 -> 0.5 over 20 steps, then the linear re-timed into [20, 100]
    check(s, [(0, 0.1), (10, 0.3), (20, 0.5), (60, 0.25), (100, 0.0)])


def test_warmup_errors():
    with pytest.raises(ValueError, match=r"steps=100 must be < the schedule's length 100"):
        warmup(cosine(peak=1, steps=100), steps=100)
    with pytest.raises(ValueError, match=r"shape='exp' needs init > 0"):
        warmup(constant(1.0), steps=5, shape="exp")
    with pytest.raises(ValueError, match=r"warmup: shape must be one of"):
        warmup(constant(1.0), steps=5, shape="quadratic")
    with pytest.raises(ValueError, match=r"warmup: steps must be > 0, got 0"):
        warmup(constant(1.0), steps=0)


# -- repeat, shift, stretch ----------------------------------------------------------------


def test_repeat():
    s = lrkit.repeat(linear(init=1.0, end=0.0, steps=10))
    assert s.length is None
    check(s, [(0, 1.0), (5, 0.5), (9, 0.1), (10, 1.0), (15, 0.5), (1e9 + 5, 0.5)])
    s2 = lrkit.repeat(lrkit.exponential(1.0, rate=0.5), every=3)
    check(s2, [(0, 1.0), (2, 0.25), (3, 1.0), (7, 0.5)])
    with pytest.raises(ValueError, match="never ends"):
        lrkit.repeat(lrkit.exponential(1.0, rate=0.5))


def test_shift_positive_and_negative():
    base = linear(init=1.0, end=0.0, steps=10)
    later = lrkit.shift(base, steps=5)
    assert later.length == 15
    check(later, [(0, 1.0), (5, 1.0), (10, 0.5), (15, 0.0), (1e9, 0.0)])
    earlier = lrkit.shift(base, steps=-4)
    assert earlier.length == 6
    check(earlier, [(0, 0.6), (3, 0.3), (6, 0.0), (1e9, 0.0)])
    assert lrkit.shift(base, steps=-40).length == 0
    assert lrkit.shift(base, steps=-40)(0) == 0.0


def test_stretch():
    s = lrkit.stretch(cosine(peak=1.0, steps=10), total=1000)
    assert s.length == 1000
    check(s, [(0, 1.0), (500, 0.5), (1000, 0.0), (1e9, 0.0)])
    shrunk = lrkit.stretch(linear(init=1.0, end=0.0, steps=100), total=4)
    check(shrunk, [(1, 0.75), (4, 0.0)])
    with pytest.raises(ValueError, match="needs a finite schedule"):
        lrkit.stretch(lrkit.inverse_sqrt(peak=1, timescale=1), total=10)


# -- arithmetic ----------------------------------------------------------------------------


def test_arithmetic_with_numbers_and_schedules():
    c = cosine(peak=0.1, steps=100)
    lin = linear(init=1.0, end=0.0, steps=100)
    check(0.5 * c, [(0, 0.05), (50, 0.025), (100, 0.0)])
    check(c * 0.5, [(0, 0.05), (50, 0.025)])
    check(c / 2, [(0, 0.05), (50, 0.025)])
    check(c + 1e-5, [(0, 0.1 + 1e-5), (100, 1e-5), (1e9, 1e-5)])
    check(1e-5 + c, [(100, 1e-5)])
    check(c * lin, [(0, 0.1), (50, 0.025), (100, 0.0)])
    check(c + lin, [(0, 1.1), (50, 0.55), (100, 0.0)])
    assert (c * lin).length == 100
    assert (c * lrkit.exponential(1.0, k=0.1)).length is None
    with pytest.raises(ValueError, match="divisor must be > 0, got 0"):
        c / 0
    with pytest.raises(TypeError, match=r"^other must be a schedule or a number, got \[1, 2\]$"):
        c * [1, 2]
    with pytest.raises(TypeError, match=r"got the string '0.5'; read it with lrkit.parse"):
        c * "0.5"


def test_clip_minimum_maximum():
    lin = linear(init=1.0, end=0.0, steps=100)
    check(lrkit.clip(lin, low=0.2, high=0.7), [(0, 0.7), (50, 0.5), (90, 0.2), (1e9, 0.2)])
    check(lrkit.clip(lin, low=0.3), [(0, 1.0), (100, 0.3)])
    check(lrkit.minimum(lin, 0.4), [(0, 0.4), (80, 0.2)])
    check(lrkit.maximum(lin, cosine(peak=0.5, steps=50)), [(0, 1.0), (75, 0.25), (100, 0.0)])
    with pytest.raises(ValueError, match=r"clip: high must be >= low=0.5, got 0.1"):
        lrkit.clip(lin, low=0.5, high=0.1)
    with pytest.raises(ValueError, match=r"clip: low must be >= 0, got -1"):
        lrkit.clip(lin, low=-1)


def test_spec_of_composites_reads_back():
    c = cosine(peak=0.1, steps=10_000)
    for s in (warmup(c, steps=500), 0.5 * c + 1e-5, join(linear(init=0, end=0.1, steps=5), c),
              lrkit.repeat(c), lrkit.shift(c, steps=-3), lrkit.stretch(c, total=7),
              lrkit.clip(c, low=0.01, high=0.05)):
        assert lrkit.parse(repr(s)) == s
    assert repr(warmup(c, steps=500)) == "warmup(cosine(peak=0.1, steps=10000), steps=500)"


def test_recipe_warmup_then_cosine_to_total_is_one_expression():
    # "warm up for W steps, then cosine to step N, N counting the warm-up"
    s = lrkit.parse("warmup(cosine(peak=3e-4, steps=10000, end=3e-5), steps=500)")
    assert s.length == 10_000
    assert s(500) == 3e-4 and s(10_000) == 3e-5 and s(10**9) == 3e-5
    v = s.values(10_001)
    assert np.all(np.diff(v[:501]) > 0) and np.all(np.diff(v[500:]) <= 0)
