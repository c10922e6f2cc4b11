"""Hypothesis strategies drawing valid lrkit schedules (shared by the property tests).

``schedules()`` draws any catalogue schedule, or a composite of them, with
valid random parameters. ``leaves()`` draws catalogue schedules only and
``decays()`` only the schedules that never increase in ``t``.

Lengths (``steps``, ``every``, boundaries, ...) are integers by default, as
in real training; ``fractional=True`` also draws non-integer lengths.
"""

from __future__ import annotations

from hypothesis import strategies as st

import lrkit

__all__ = ["schedules", "leaves", "decays", "lrs", "lengths", "DECAY_NAMES"]

DECAY_NAMES = (
    "constant", "time_decay", "step_decay", "exponential", "multistep", "linear", "polynomial",
    "cosine", "tanh", "rex", "wsd", "inverse_sqrt",
)
"""Catalogue names whose ``decays()`` draws never increase in ``t``."""


def lrs(low: float = 1e-6, high: float = 10.0, zero: bool = True) -> st.SearchStrategy[float]:
    """A learning-rate-like value in ``[low, high]`` (and sometimes exactly 0)."""
    out = st.floats(low, high, allow_nan=False, allow_infinity=False)
    return st.one_of(st.just(0.0), out) if zero else out


def lengths(low: int = 1, high: int = 100_000,
            fractional: bool = False) -> st.SearchStrategy[float]:
    """A positive phase length (an int, or also a float if ``fractional``)."""
    ints = st.integers(low, high)
    if not fractional:
        return ints
    # thousandths of a step: realistic fractions (epochs at batch resolution), rounding included
    floats = st.floats(float(low), float(high), allow_nan=False).map(lambda x: round(x, 3))
    return st.one_of(ints, floats.filter(lambda x: x >= low))


def _fraction(low: float = 0.0, high: float = 1.0) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False)


@st.composite
def _boundaries(draw: st.DrawFn, n: int, fractional: bool,
                strict: bool = False) -> tuple[float, ...]:
    raw = draw(st.lists(lengths(0 if not strict else 1, 10_000, fractional), min_size=n,
                        max_size=n))
    out: list[float] = []
    total: float = 0
    for x in raw:
        total += x
        out.append(total)
    return tuple(out)


@st.composite
def _constant(draw: st.DrawFn, fractional: bool) -> lrkit.Schedule:
    steps = draw(st.one_of(st.none(), lengths(fractional=fractional)))
    return lrkit.constant(draw(lrs()), steps=steps)


@st.composite
def _time_decay(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    init = draw(lrs())
    form = draw(st.sampled_from(["decay", "compounding", "rate"]))
    if form == "decay":
        return lrkit.time_decay(init, decay=draw(_fraction(0.0, 10.0)))
    if form == "compounding":
        return lrkit.time_decay(init, decay=draw(_fraction(1e-6, 1.0)), compounding=True)
    return lrkit.time_decay(init, rate=draw(_fraction(1e-6, 10.0)),
                            steps=draw(lengths(fractional=fractional)),
                            staircase=draw(st.booleans()))


@st.composite
def _step_decay(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    every = draw(lengths(1, 10_000, fractional))
    return lrkit.step_decay(draw(lrs()), drop=draw(_fraction()), every=every,
                            offset=draw(lengths(0, 100, fractional)))


@st.composite
def _exponential(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    init = draw(lrs())
    if draw(st.booleans()):
        return lrkit.exponential(init, k=draw(_fraction(0.0, 10.0)))
    growing = not monotone and draw(st.booleans())
    rate = draw(_fraction(1.0, 10.0).filter(lambda r: r > 1) if growing else _fraction(1e-6, 1.0))
    # end bounds the curve on the far side of init: a ceiling above it, a floor below it
    if growing:
        end = init + draw(lrs())
    else:
        end = draw(st.one_of(st.none(), _fraction(0.0, 1.0).map(lambda f: f * init)))
    return lrkit.exponential(init, rate=rate, steps=draw(lengths(fractional=fractional)),
                             staircase=draw(st.booleans()), end=end)


@st.composite
def _piecewise(draw: st.DrawFn, fractional: bool) -> lrkit.Schedule:
    n = draw(st.integers(0, 4))
    levels = tuple(draw(st.lists(lrs(), min_size=n + 1, max_size=n + 1)))
    return lrkit.piecewise(levels=levels, at=draw(_boundaries(n, fractional)),
                           after=draw(st.booleans()))


@st.composite
def _multistep(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    at = draw(_boundaries(draw(st.integers(0, 4)), fractional))
    return lrkit.multistep(draw(lrs()), drop=draw(_fraction()), at=at)


@st.composite
def _linear(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    a, b = draw(lrs()), draw(lrs())
    if monotone:
        a, b = max(a, b), min(a, b)
    return lrkit.linear(init=a, end=b, steps=draw(lengths(fractional=fractional)))


def _peak_end(draw: st.DrawFn) -> tuple[float, float]:
    """A start value and an end value <= it (every decay in the catalogue anneals down)."""
    peak = draw(lrs())
    return peak, draw(_fraction(0.0, 1.0)) * peak


@st.composite
def _polynomial(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    init, end = _peak_end(draw)
    return lrkit.polynomial(init=init, end=end, steps=draw(lengths(fractional=fractional)),
                            power=draw(_fraction(0.1, 5.0)),
                            cycle=False if monotone else draw(st.booleans()),
                            k_decay=draw(_fraction(0.2, 5.0)))


@st.composite
def _cosine(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    peak, end = _peak_end(draw)
    return lrkit.cosine(peak=peak, end=end, steps=draw(lengths(fractional=fractional)),
                        exponent=draw(_fraction(0.2, 5.0)), k_decay=draw(_fraction(0.2, 5.0)))


@st.composite
def _tanh(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    peak, end = _peak_end(draw)
    low = draw(_fraction(-10.0, 0.0))
    return lrkit.tanh(peak=peak, end=end, steps=draw(lengths(fractional=fractional)), low=low,
                      high=low + draw(_fraction(0.5, 15.0)))


@st.composite
def _rex(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    peak, end = _peak_end(draw)
    return lrkit.rex(peak=peak, end=end, steps=draw(lengths(fractional=fractional)))


@st.composite
def _wsd(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    peak, end = _peak_end(draw)
    steps = draw(lengths(fractional=fractional))
    decay = max(steps * draw(_fraction(0.0, 1.0)), 1e-3)
    return lrkit.wsd(peak=peak, end=end, steps=steps, decay=min(decay, steps),
                     shape=draw(st.sampled_from(["linear", "cosine", "1-sqrt"])))


@st.composite
def _inverse_sqrt(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    return lrkit.inverse_sqrt(peak=draw(lrs()), timescale=draw(lengths(fractional=fractional)))


@st.composite
def _constant_decay(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    return draw(_constant(fractional))


@st.composite
def _interpolate(draw: st.DrawFn, fractional: bool) -> lrkit.Schedule:
    n = draw(st.integers(1, 5))
    times = (0,) + draw(_boundaries(n - 1, fractional))
    knots = tuple((t, draw(lrs())) for t in times)
    return lrkit.interpolate(knots=knots, shape=draw(st.sampled_from(["linear", "cos"])))


@st.composite
def _one_cycle(draw: st.DrawFn, fractional: bool) -> lrkit.Schedule:
    three = draw(st.booleans())
    pct = draw(_fraction(0.05, 0.45 if three else 0.95))
    steps = draw(lengths(int(2 / pct) + 2, 100_000, fractional))
    return lrkit.one_cycle(peak=draw(lrs()), steps=steps, pct=pct,
                           div=draw(_fraction(1.0, 1e3)), final_div=draw(_fraction(1.0, 1e5)),
                           shape=draw(st.sampled_from(["cos", "linear"])), three_phase=three)


@st.composite
def _cosine_restarts(draw: st.DrawFn, fractional: bool) -> lrkit.Schedule:
    peak, end = _peak_end(draw)
    return lrkit.cosine_restarts(
        peak=peak, end=end, every=draw(lengths(1, 10_000, fractional)),
        mult=draw(st.one_of(st.just(1.0), st.integers(1, 3), _fraction(1.0, 3.0))),
        decay=draw(_fraction()), cycles=draw(st.one_of(st.none(), st.integers(1, 6))))


@st.composite
def _cyclic(draw: st.DrawFn, fractional: bool) -> lrkit.Schedule:
    a, b = draw(lrs()), draw(lrs())
    return lrkit.cyclic(init=min(a, b), peak=max(a, b), up=draw(lengths(1, 10_000, fractional)),
                        down=draw(st.one_of(st.none(), lengths(1, 10_000, fractional))),
                        mode=draw(st.sampled_from(["triangular", "triangular2", "exp_range"])),
                        gamma=draw(_fraction(0.5, 1.0).filter(lambda g: g > 0)))


_DECAYS = (
    _constant_decay, _time_decay, _step_decay, _exponential, _multistep, _linear, _polynomial,
    _cosine, _tanh, _rex, _wsd, _inverse_sqrt,
)
_OTHERS = (_piecewise, _interpolate, _one_cycle, _cosine_restarts, _cyclic)


def decays(fractional: bool = False) -> st.SearchStrategy[lrkit.Schedule]:
    """Catalogue schedules drawn with parameters that make them non-increasing in ``t``."""
    return st.one_of(*(f(fractional, True) for f in _DECAYS))


def leaves(fractional: bool = False) -> st.SearchStrategy[lrkit.Schedule]:
    """Any catalogue schedule (no combinator) with valid random parameters."""
    return st.one_of(*(f(fractional, False) for f in _DECAYS), *(f(fractional) for f in _OTHERS))


def _finite(s: lrkit.Schedule) -> bool:
    return bool(s.length)


@st.composite
def _composite(draw: st.DrawFn, fractional: bool) -> lrkit.Schedule:
    base = leaves(fractional)
    finite = base.filter(_finite)
    kind = draw(st.sampled_from(
        ["warmup", "warmup_front", "join", "join_at", "repeat", "shift", "stretch", "mul",
         "scale", "add", "min", "max", "clip"]))
    if kind == "warmup":
        s = draw(finite)
        w = draw(_fraction(0.01, 0.9)) * s.length
        return lrkit.warmup(s, steps=w, init=draw(lrs()),
                            shape=draw(st.sampled_from(["linear", "cos"])))
    if kind == "warmup_front":
        s = draw(base)
        shape = draw(st.sampled_from(["linear", "cos", "exp"]))
        init = draw(lrs(zero=False)) if shape == "exp" else draw(lrs())
        if shape == "exp" and s(0) <= 0:
            shape = "linear"
        return lrkit.warmup(s, steps=draw(lengths(fractional=fractional)), init=init,
                            shape=shape, fit=False)
    if kind == "join":
        pieces = draw(st.lists(finite, min_size=1, max_size=3)) + [draw(base)]
        return lrkit.join(*pieces)
    if kind == "join_at":
        pieces = draw(st.lists(base, min_size=2, max_size=4))
        return lrkit.join(*pieces, at=draw(_boundaries(len(pieces) - 1, fractional)))
    if kind == "repeat":
        if draw(st.booleans()):
            return lrkit.repeat(draw(finite))
        return lrkit.repeat(draw(base), every=draw(lengths(fractional=fractional)))
    if kind == "shift":
        return lrkit.shift(draw(base), steps=draw(st.integers(-10_000, 10_000)))
    if kind == "stretch":
        return lrkit.stretch(draw(finite), total=draw(lengths(fractional=fractional)))
    if kind == "mul":
        return draw(base) * draw(base)
    if kind == "scale":
        return draw(_fraction(0.0, 10.0)) * draw(base)
    if kind == "add":
        return draw(base) + draw(lrs())
    if kind == "min":
        return lrkit.minimum(draw(base), draw(base))
    if kind == "max":
        return lrkit.maximum(draw(base), draw(base))
    low = draw(lrs())
    return lrkit.clip(draw(base), low=low, high=low + draw(lrs()))


def schedules(fractional: bool = False,
              composites: bool = True) -> st.SearchStrategy[lrkit.Schedule]:
    """Any catalogue schedule, or (if ``composites``) a combinator over them.

    Every draw is valid: the constructors accept it and, for all ``t >= 0``,
    its values are finite and ``>= 0``.
    """
    if not composites:
        return leaves(fractional)
    leaf, comp = leaves(fractional), _composite(fractional)
    return st.booleans().flatmap(lambda c: comp if c else leaf)
