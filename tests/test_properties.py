"""Property tests (hypothesis) over random valid schedules from ``tests/strategies.py``.

For all valid parameters and all t up to 1e9: values are finite and >= 0;
decays never increase; the scalar path equals the vectorised path; the spec,
dict and pickle round trips are identities; finite schedules hold their value
after ``length``; wherever a schedule has a ``steps`` field, ``length == steps``.
"""

import dataclasses
import json
import math
import os
import pickle

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lrkit
from strategies import decays, schedules

# LRKIT_EXAMPLES=2000 for a deeper search than CI's default
SETTINGS = settings(max_examples=int(os.environ.get("LRKIT_EXAMPLES", "80")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

FIXED_T = np.array([0, 0.5, 1, 2, 9, 10, 11, 99.5, 100, 101, 999, 1000, 1001, 12345.678,
                    1e5, 99_999, 1e6, 1e7, 123_456_789, 1e9])


def ts_strategy(n=20):
    return st.lists(st.floats(0, 1e9, allow_nan=False), min_size=1, max_size=n).map(np.array)


@SETTINGS
@given(s=schedules(fractional=True), ts=ts_strategy())
def test_values_are_finite_and_nonnegative(s, ts):
    for t in (FIXED_T, ts):
        v = s.values(t)
        assert v.dtype == np.float64 and v.shape == t.shape
        assert np.all(np.isfinite(v)), (s, t[~np.isfinite(v)])
        assert np.all(v >= 0), (s, t[v < 0])


@SETTINGS
@given(s=schedules(fractional=True), ts=ts_strategy(8))
def test_scalar_equals_vectorised(s, ts):
    t_all = np.concatenate([FIXED_T, ts])
    v = s.values(t_all)
    for t, x in zip(t_all, v):
        y = s(float(t))
        assert type(y) is float
        assert math.isclose(y, x, rel_tol=1e-12, abs_tol=0), (s, t, y, x)
    assert s(int(FIXED_T[4])) == s(float(FIXED_T[4]))


@SETTINGS
@given(s=decays(fractional=True), ts=ts_strategy(40))
def test_decays_never_increase(s, ts):
    """Non-increasing, up to rounding: a later value may exceed an earlier one by at
    most about 4 ulp (1e-15 relative), e.g. where a formula is written from its
    nearer end (``Ops.lerp``) and switches forms at the midpoint."""
    t = np.unique(np.concatenate([FIXED_T, ts, np.arange(0, 200, 0.25)]))
    v = s.values(t)
    rises = v[1:] - v[:-1]
    assert np.all(rises <= 1e-15 * np.abs(v[:-1]) + 1e-300), (s, t[1:][rises > 0])


@SETTINGS
@given(s=schedules(fractional=True))
def test_round_trips_are_identities(s):
    text = repr(s)
    back = lrkit.parse(text)
    assert back == s and hash(back) == hash(s) and repr(back) == text
    d = json.loads(json.dumps(s.to_dict()))
    assert lrkit.from_dict(d) == s
    assert pickle.loads(pickle.dumps(s)) == s
    np.testing.assert_array_equal(back.values(FIXED_T), s.values(FIXED_T))


@SETTINGS
@given(s=schedules(fractional=True).filter(lambda s: s.length is not None),
       extra=st.lists(st.floats(0, 1e9, allow_nan=False), max_size=10))
def test_finite_schedules_hold_after_length(s, extra):
    n = s.length
    end = s(n)
    t = n + np.array([0.0, 0.5, 1.0, 3.0, 1e3, 1e6, *extra])
    np.testing.assert_array_equal(s.values(t), np.full(t.shape, end), err_msg=repr(s))
    assert s(n + 1e9) == end


def nodes(s):
    """``s`` and every schedule inside it."""
    yield s
    for c in s.children():
        yield from nodes(c)


STEPS_FIELD = {name for name, cls in lrkit.REGISTRY.items() if cls.__module__.startswith("lrkit.")
               and "steps" in {f.name for f in dataclasses.fields(cls)}}


def test_the_schedules_with_steps_are_the_ones_drawn_below():
    # a new schedule with a `steps` field must be drawn by tests/strategies.py (and listed here)
    assert STEPS_FIELD == {"constant", "linear", "polynomial", "cosine", "tanh", "rex", "wsd",
                           "one_cycle", "stretch"}


@SETTINGS
@given(s=schedules(fractional=True))
def test_length_is_steps_wherever_there_is_steps(s):
    for node in nodes(s):
        if node.name in STEPS_FIELD and node.steps is not None:
            assert node.length == node.steps, (node, node.length)


@SETTINGS
@given(s=schedules(), data=st.data())
def test_values_n_equals_values_of_arange(s, data):
    n = data.draw(st.integers(0, 300))
    np.testing.assert_array_equal(s.values(n), s.values(np.arange(n, dtype=float)))


@SETTINGS
@given(s=schedules(composites=False), k=st.floats(0, 10, allow_nan=False),
       c=st.floats(0, 1, allow_nan=False))
def test_arithmetic_is_pointwise(s, k, c):
    v = s.values(FIXED_T)
    np.testing.assert_array_equal((k * s).values(FIXED_T), k * v)
    np.testing.assert_array_equal((s + c).values(FIXED_T), v + c)
    np.testing.assert_array_equal(lrkit.minimum(s, c).values(FIXED_T), np.minimum(v, c))
    np.testing.assert_array_equal(lrkit.maximum(s, c).values(FIXED_T), np.maximum(v, c))
