"""Bad input: every constructor and every evaluation entry point refuses it, saying
which parameter, which value, and what would be valid."""

import math
import re

import numpy as np
import pytest

import lrkit
from lrkit.compose import Join

# constructor, valid keyword arguments, {numeric parameter: kind}
#   kind: "nonneg" (>= 0), "pos" (> 0), "unit" ([0, 1]), "real" (any finite number)
C = lrkit.cosine(init=0.1, steps=100)
TABLE = [
    (lrkit.constant, {"value": 0.1, "steps": 10}, {"value": "nonneg", "steps": "pos"}),
    (lrkit.time_decay, {"init": 0.1, "k": 0.01}, {"init": "nonneg", "k": "nonneg"}),
    (lrkit.time_decay, {"init": 0.1, "k": 0.5, "every": 10}, {"every": "pos"}),
    (lrkit.step_decay, {"init": 0.1, "factor": 0.5, "every": 10, "offset": 1},
     {"init": "nonneg", "factor": "unit", "every": "pos", "offset": "nonneg"}),
    (lrkit.exponential, {"init": 0.1, "k": 0.1, "every": 10}, {"init": "nonneg", "k": "nonneg",
                                                               "every": "pos"}),
    (lrkit.exponential, {"init": 0.1, "factor": 0.5, "every": 10, "end": 0.01},
     {"factor": "pos", "every": "pos", "end": "nonneg"}),
    (lrkit.multistep, {"init": 0.1, "factor": 0.5, "at": (10, 20)},
     {"init": "nonneg", "factor": "unit"}),
    (lrkit.linear, {"init": 0.0, "end": 0.1, "steps": 10},
     {"init": "nonneg", "end": "nonneg", "steps": "pos"}),
    (lrkit.polynomial, {"init": 0.1, "steps": 10, "end": 0.01, "power": 2.0,
                        "progress_power": 1.5},
     {"init": "nonneg", "steps": "pos", "end": "nonneg", "power": "pos",
      "progress_power": "pos"}),
    (lrkit.polynomial, {"init": 0.1, "every": 10}, {"every": "pos"}),
    (lrkit.cosine, {"init": 0.1, "steps": 10, "end": 0.01, "power": 2.0, "progress_power": 1.5},
     {"init": "nonneg", "steps": "pos", "end": "nonneg", "power": "pos",
      "progress_power": "pos"}),
    (lrkit.tanh, {"init": 0.1, "steps": 10, "end": 0.01, "x_start": -7.0, "x_end": 3.0},
     {"init": "nonneg", "steps": "pos", "end": "nonneg", "x_start": "real", "x_end": "real"}),
    (lrkit.rex, {"init": 0.1, "steps": 10, "end": 0.01},
     {"init": "nonneg", "steps": "pos", "end": "nonneg"}),
    (lrkit.inverse_sqrt, {"init": 0.1, "every": 10}, {"init": "nonneg", "every": "pos"}),
    (lrkit.wsd, {"init": 0.1, "steps": 100, "decay_steps": 20, "end": 0.01},
     {"init": "nonneg", "steps": "pos", "decay_steps": "pos", "end": "nonneg"}),
    (lrkit.one_cycle, {"peak": 0.1, "steps": 100, "up_frac": 0.3, "div": 25, "final_div": 1e4},
     {"peak": "nonneg", "steps": "pos", "div": "pos", "final_div": "pos"}),
    (lrkit.cosine_restarts, {"init": 0.1, "cycle_steps": 10, "cycle_mult": 2,
                             "cycle_factor": 0.5, "end": 0.01},
     {"init": "nonneg", "cycle_steps": "pos", "cycle_factor": "unit", "end": "nonneg"}),
    (lrkit.cyclic, {"init": 0.001, "peak": 0.01, "up_steps": 10, "down_steps": 5, "factor": 0.9},
     {"init": "nonneg", "peak": "nonneg", "up_steps": "pos", "down_steps": "pos"}),
    (lrkit.warmup, {"schedule": C, "warmup_steps": 10, "init": 0.01},
     {"warmup_steps": "pos", "init": "nonneg"}),
    (lrkit.repeat, {"schedule": C, "every": 10}, {"every": "pos"}),
    (lrkit.shift, {"schedule": C, "delay": 10}, {"delay": "real"}),
    (lrkit.stretch, {"schedule": C, "steps": 10}, {"steps": "pos"}),
    (lrkit.clip, {"s": C, "low": 0.01, "high": 0.05}, {"low": "nonneg", "high": "nonneg"}),
]


def bad_values(kind):
    """(value, exception type) pairs that a parameter of this kind must refuse."""
    out = [(math.nan, ValueError), (math.inf, ValueError), (-math.inf, ValueError),
           (True, TypeError), ("0.1", TypeError), ([0.1], TypeError), (1 + 2j, TypeError)]
    if kind in ("nonneg", "pos", "unit"):
        out.append((-1, ValueError))
        out.append((-1e-300, ValueError))
    if kind == "pos":
        out.append((0, ValueError))
        out.append((0.0, ValueError))
    if kind == "unit":
        out.append((1.5, ValueError))
    return out


CASES = [
    pytest.param(ctor, good, name, value, exc, id=f"{ctor.__name__}-{name}={value!r}")
    for ctor, good, params in TABLE
    for name, kind in params.items()
    for value, exc in bad_values(kind)
]


def _value_in_message(value):
    return re.escape(repr(value))


@pytest.mark.parametrize(("ctor", "good", "name", "value", "exc"), CASES)
def test_constructor_refuses_bad_number(ctor, good, name, value, exc):
    if (ctor, name, value) == (lrkit.clip, "high", math.inf):
        return  # high=inf is clip's default: no upper bound
    ctor(**good)  # the base arguments are valid
    with pytest.raises(exc) as info:
        ctor(**{**good, name: value})
    msg = str(info.value)
    assert re.search(rf"\b{name}\b", msg), msg
    assert _value_in_message(value) in re.escape(msg) or repr(value) in msg, msg


@pytest.mark.parametrize(("ctor", "kwargs", "exc", "pattern"), [
    # sequences: wrong type, wrong length, order, bad elements
    (lrkit.piecewise, {"levels": 0.1, "at": ()}, TypeError, r"levels must be a sequence.*0\.1"),
    (lrkit.piecewise, {"levels": "ab", "at": ()}, TypeError, r"levels must be a sequence.*'ab'"),
    (lrkit.piecewise, {"levels": (), "at": ()}, ValueError, r"levels must have at least 1"),
    (lrkit.piecewise, {"levels": (0.1, 0.01), "at": ()}, ValueError,
     r"at needs len\(levels\) - 1 = 1 boundaries, got 0"),
    (lrkit.piecewise, {"levels": (0.1, 0.01, 0.1), "at": (20, 10)}, ValueError,
     r"at must be non-decreasing, got \[20, 10\]"),
    (lrkit.piecewise, {"levels": (0.1, -0.01), "at": (10,)}, ValueError,
     r"levels\[1\] must be >= 0, got -0.01"),
    (lrkit.piecewise, {"levels": (0.1, 0.01), "at": (math.nan,)}, ValueError,
     r"at\[0\] must be finite, got nan"),
    (lrkit.piecewise, {"levels": (0.1, 0.01), "at": (-5,)}, ValueError,
     r"at\[0\] must be >= 0, got -5"),
    (lrkit.piecewise, {"levels": (0.1, True), "at": (5,)}, TypeError,
     r"levels\[1\] must be a number, got True"),
    (lrkit.multistep, {"init": 0.1, "factor": 0.5, "at": (30, 10)}, ValueError,
     r"multistep: at must be non-decreasing, got \[30, 10\]"),
    (lrkit.multistep, {"init": 0.1, "factor": 0.5, "at": 30}, TypeError,
     r"multistep: at must be a sequence of numbers, got 30"),
    (lrkit.interpolate, {"knots": ((0, 1.0), (10,))}, ValueError,
     r"knots\[1\] must be a \(t, value\) pair, got \(10,\)"),
    (lrkit.interpolate, {"knots": ((10, 1.0), (0, 0.5))}, ValueError,
     r"knot times must be non-decreasing, got \[10, 0\]"),
    (lrkit.interpolate, {"knots": ()}, ValueError, r"knots must hold at least one"),
    (lrkit.interpolate, {"knots": 5}, TypeError, r"knots must be a sequence of \(t, value\)"),
    (lrkit.interpolate, {"knots": ((0, -1.0),)}, ValueError, r"knots\[0\]\[1\] must be >= 0"),
    (lrkit.interpolate, {"knots": ((0, 1.0),), "shape": "cubic"}, ValueError,
     r"shape must be one of 'linear', 'cosine', got 'cubic'"),
    (lrkit.interpolate, {"knots": ((0, 1.0),), "shape": "cos"}, ValueError,
     r"shape must be one of 'linear', 'cosine', got 'cos'"),
    # choices and flags
    (lrkit.wsd, {"init": 0.1, "steps": 10, "decay_steps": 2, "shape": "sqrt"}, ValueError,
     r"wsd: shape must be one of 'linear', 'cosine', '1-sqrt', got 'sqrt'"),
    (lrkit.cyclic, {"init": 0.0, "peak": 0.1, "up_steps": 5, "policy": "tri"}, ValueError,
     r"cyclic: policy must be one of .*got 'tri'"),
    (lrkit.cyclic, {"init": 0.0, "peak": 0.1, "up_steps": 5, "factor": 0}, ValueError,
     r"cyclic: factor must be in \(0, 1\], got 0"),
    (lrkit.one_cycle, {"peak": 0.1, "steps": 100, "shape": "cos"}, ValueError,
     r"one_cycle: shape must be one of 'linear', 'cosine', got 'cos'"),
    (lrkit.one_cycle, {"peak": 0.1, "steps": 100, "three_phase": 1}, TypeError,
     r"three_phase must be True or False, got 1"),
    (lrkit.time_decay, {"init": 0.1, "k": 0.5, "staircase": "yes"}, TypeError,
     r"staircase must be True or False, got 'yes'"),
    (lrkit.time_decay, {"init": 0.1, "k": 0.5, "compounding": 1}, TypeError,
     r"compounding must be True or False, got 1"),
    (lrkit.exponential, {"init": 0.1, "k": 0.5, "staircase": None}, TypeError,
     r"staircase must be True or False, got None"),
    (lrkit.piecewise, {"levels": (0.1,), "at": (), "after": 0}, TypeError,
     r"after must be True or False, got 0"),
    (lrkit.warmup, {"schedule": C, "warmup_steps": 5, "shape": "exp"}, ValueError,
     r"warmup: shape must be one of 'linear', 'cosine', 'exponential', got 'exp'"),
    (lrkit.warmup, {"schedule": C, "warmup_steps": 5, "fit": "no"}, TypeError,
     r"warmup: fit must be True or False, got 'no'"),
    # relations between parameters
    (lrkit.time_decay, {"init": 0.1}, TypeError, r"missing 1 required keyword-only argument: 'k'"),
    (lrkit.time_decay, {"init": 0.1, "k": 0.1, "every": 10, "compounding": True}, ValueError,
     r"time_decay: compounding=True .* needs every=1 and staircase=False, got every=10, "
     r"staircase=False"),
    (lrkit.time_decay, {"init": 0.1, "k": 0.1, "staircase": True, "compounding": True},
     ValueError, r"compounding=True .*got every=1, staircase=True"),
    (lrkit.exponential, {"init": 0.1}, ValueError,
     r"exponential: give exactly one of k= or factor=, got k=None, factor=None"),
    (lrkit.exponential, {"init": 0.1, "k": 0.1, "factor": 0.5}, ValueError,
     r"exactly one of k= or factor=, got k=0.1, factor=0.5"),
    (lrkit.exponential, {"init": 0.1, "factor": 1.5}, ValueError,
     r"factor=1.5 > 1 .*give end="),
    (lrkit.polynomial, {"init": 0.1}, ValueError,
     r"polynomial: give exactly one of steps= .* or every= .*got steps=None, every=None"),
    (lrkit.polynomial, {"init": 0.1, "steps": 10, "every": 10}, ValueError,
     r"exactly one of steps= .*got steps=10, every=10"),
    (lrkit.wsd, {"init": 0.1, "steps": 10, "decay_steps": 20}, ValueError,
     r"wsd: decay_steps must be <= steps=10, got 20"),
    (lrkit.tanh, {"init": 0.1, "steps": 10, "x_start": 3.0, "x_end": 3.0}, ValueError,
     r"tanh: x_end must be > x_start=3.0, got 3.0"),
    (lrkit.one_cycle, {"peak": 0.1, "steps": 100, "up_frac": 0.5, "three_phase": True},
     ValueError, r"one_cycle: up_frac must be in \(0, 0.5\), got 0.5"),
    (lrkit.one_cycle, {"peak": 0.1, "steps": 100, "up_frac": 1.0}, ValueError,
     r"one_cycle: up_frac must be in \(0, 1\), got 1.0"),
    (lrkit.one_cycle, {"peak": 0.1, "steps": 100, "up_frac": 0}, ValueError,
     r"one_cycle: up_frac must be in \(0, 1\), got 0"),
    (lrkit.cosine_restarts, {"init": 0.1, "cycle_steps": 10, "cycle_mult": 0.5}, ValueError,
     r"cycle_mult must be in \[1, 2\*\*53\] \(a cycle at most 2\*\*53 times longer than the "
     r"one before\), got 0.5"),
    (lrkit.cosine_restarts, {"init": 0.1, "cycle_steps": 10, "cycles": 0}, ValueError,
     r"cycles must be an integer >= 1, got 0"),
    (lrkit.cosine_restarts, {"init": 0.1, "cycle_steps": 10, "cycles": 1.5}, TypeError,
     r"cycles must be an integer >= 1, got 1.5"),
    (lrkit.cosine_restarts, {"init": 0.1, "cycle_steps": 10, "cycles": True}, TypeError,
     r"cycles must be an integer >= 1, got True"),
    # combinators: schedule arguments
    (lrkit.warmup, {"schedule": 5j, "warmup_steps": 3}, TypeError,
     r"warmup: schedule must be a schedule or a number, got 5j"),
    # the core reads no text: a spec string is refused with the way to read it
    (lrkit.warmup, {"schedule": "cosin(init=1, steps=2)", "warmup_steps": 1}, TypeError,
     r"^warmup: schedule must be a schedule or a number, got the string "
     r"'cosin\(init=1, steps=2\)'; read it with lrkit.parse\('cosin\(init=1, steps=2\)'\) "
     r"first$"),
    (lrkit.repeat, {"schedule": None}, TypeError, r"repeat: schedule must be a schedule"),
    (lrkit.join, {"at": None}, ValueError, r"join: needs at least one piece"),
    (lrkit.minimum, {"a": C, "b": "x"}, TypeError,
     r"^b must be a schedule or a number, got the string 'x'; read it with lrkit.parse"),
    (lrkit.maximum, {"a": None, "b": C}, TypeError, r"a must be a schedule.*got None"),
    (lrkit.exponential, {"init": 0.1, "factor": 0.5, "every": 10, "end": 0.2}, ValueError,
     r"exponential: end is the floor of a decay and must be <= init=0.1, got 0.2"),
    (lrkit.exponential, {"init": 0.1, "factor": 2.0, "every": 10, "end": 0.05}, ValueError,
     r"exponential: end is the ceiling of a growing curve and must be >= init=0.1, got 0.05"),
])
def test_constructor_refuses_bad_structure(ctor, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        ctor(**kwargs)


def test_join_pieces_must_be_schedules():
    with pytest.raises(TypeError, match=r"join: pieces\[1\] must be a schedule.*got \[1\]"):
        lrkit.join(C, [1])
    with pytest.raises(TypeError, match=r"join: pieces must be a sequence of schedules"):
        Join(C)
    with pytest.raises(ValueError, match=r"join: at\[0\] must be >= 0, got -1"):
        lrkit.join(C, C, at=(-1,))
    with pytest.raises(TypeError, match=r"join: at\[0\] must be a number, got True"):
        lrkit.join(C, C, at=(True,))


def test_numpy_scalars_are_accepted_as_numbers():
    s = lrkit.cosine(init=np.float64(0.1), steps=np.int64(100))
    assert s == lrkit.cosine(init=0.1, steps=100)
    assert type(s.init) is float and type(s.steps) is int
    with pytest.raises(TypeError, match=r"cosine: init must be a number"):
        lrkit.cosine(init=np.array([0.1, 0.2]), steps=10)
    with pytest.raises(TypeError, match=r"cosine: steps must be a number, got True"):
        lrkit.cosine(init=0.1, steps=np.bool_(True))


BAD_T = [(-1, ValueError), (-1e-9, ValueError), (math.nan, ValueError), (math.inf, ValueError),
         (-math.inf, ValueError), ("3", TypeError), (None, TypeError), (True, TypeError),
         ([3], TypeError), (3j, TypeError)]


@pytest.mark.parametrize(("t", "exc"), BAD_T, ids=[repr(t) for t, _ in BAD_T])
@pytest.mark.parametrize("spec", ["cosine(init=0.1, steps=10)", "constant(0.1)",
                                  "warmup(cosine(init=0.1, steps=10), warmup_steps=2)"])
def test_call_refuses_bad_t(spec, t, exc):
    s = lrkit.parse(spec)
    with pytest.raises(exc, match=r"t must be a (finite )?number >= 0, got " + re.escape(repr(t))):
        s(t)


@pytest.mark.parametrize("ts", [[-1.0], [0, 1, -2], [np.nan], [0, np.inf], [[1, -1]]])
def test_values_refuses_bad_arrays(ts):
    with pytest.raises(ValueError, match=r"t must be finite numbers >= 0, got"):
        C.values(np.array(ts, dtype=float))
    with pytest.raises(ValueError, match=r"t must be finite numbers >= 0, got"):
        C.values(ts)


def test_values_refuses_bad_counts():
    with pytest.raises(ValueError, match=r"values: n must be >= 0, got -3"):
        C.values(-3)
    with pytest.raises(ValueError):
        C.values("abc")
    assert C.values(0).shape == (0,)
    assert C.values(np.array([], dtype=float)).shape == (0,)
    assert C.values(np.zeros((2, 3))).shape == (2, 3)


def test_valid_edge_values_are_accepted():
    assert lrkit.constant(0.0)(5) == 0.0
    assert lrkit.step_decay(1.0, factor=0.0, every=1)(0) == 1.0
    assert lrkit.step_decay(1.0, factor=0.0, every=1)(1) == 0.0
    assert lrkit.cosine(init=0.0, steps=1)(0.5) == 0.0
    assert lrkit.time_decay(0.1, k=0.0, compounding=True)(10**9) == 0.1
    assert lrkit.shift(C, delay=-5)(0) == C(5)
    assert C(10**18) == 0.0 and C(1e300) == 0.0
