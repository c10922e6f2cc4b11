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
    if draw(st.booleans()):
        return lrkit.time_decay(init, k=draw(_fraction(1e-6, 1.0)), compounding=True)
    return lrkit.time_decay(init, k=draw(_fraction(0.0, 10.0)),
                            every=draw(st.one_of(st.just(1), lengths(fractional=fractional))),
                            staircase=draw(st.booleans()))


@st.composite
def _step_decay(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    every = draw(lengths(1, 10_000, fractional))
    return lrkit.step_decay(draw(lrs()), factor=draw(_fraction()), every=every,
                            offset=draw(lengths(0, 100, fractional)))


@st.composite
def _exponential(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    init = draw(lrs())
    every = draw(st.one_of(st.just(1), lengths(fractional=fractional)))
    staircase = draw(st.booleans())
    floor = st.one_of(st.none(), _fraction(0.0, 1.0).map(lambda f: f * init))
    if draw(st.booleans()):
        return lrkit.exponential(init, k=draw(_fraction(0.0, 10.0)), every=every,
                                 staircase=staircase, end=draw(floor))
    growing = not monotone and draw(st.booleans())
    factor = draw(_fraction(1.0, 10.0).filter(lambda r: r > 1) if growing
                  else _fraction(1e-6, 1.0))
    # end bounds the curve on the far side of init: a ceiling above it, a floor below it
    end = init + draw(lrs()) if growing else draw(floor)
    return lrkit.exponential(init, factor=factor, every=every, staircase=staircase, end=end)


@st.composite
def _piecewise(draw: st.DrawFn, fractional: bool) -> lrkit.Schedule:
    n = draw(st.integers(0, 4))
    levels = tuple(draw(st.lists(lrs(), min_size=n + 1, max_size=n + 1)))
    return lrkit.piecewise(levels, at=draw(_boundaries(n, fractional)),
                           after=draw(st.booleans()))


@st.composite
def _multistep(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    at = draw(_boundaries(draw(st.integers(0, 4)), fractional))
    return lrkit.multistep(draw(lrs()), factor=draw(_fraction()), at=at)


@st.composite
def _linear(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    a, b = draw(lrs()), draw(lrs())
    if monotone:
        a, b = max(a, b), min(a, b)
    return lrkit.linear(a, end=b, steps=draw(lengths(fractional=fractional)))


def _init_end(draw: st.DrawFn) -> tuple[float, float]:
    """A start value and an end value <= it (every decay in the catalogue anneals down)."""
    init = draw(lrs())
    return init, draw(_fraction(0.0, 1.0)) * init


@st.composite
def _polynomial(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    init, end = _init_end(draw)
    n = draw(lengths(fractional=fractional))
    horizon = {"every": n} if not monotone and draw(st.booleans()) else {"steps": n}
    return lrkit.polynomial(init, end=end, **horizon, power=draw(_fraction(0.1, 5.0)),
                            progress_power=draw(_fraction(0.2, 5.0)))


@st.composite
def _cosine(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    init, end = _init_end(draw)
    return lrkit.cosine(init, end=end, steps=draw(lengths(fractional=fractional)),
                        power=draw(_fraction(0.2, 5.0)),
                        progress_power=draw(_fraction(0.2, 5.0)))


@st.composite
def _tanh(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    init, end = _init_end(draw)
    x_start = draw(_fraction(-10.0, 0.0))
    return lrkit.tanh(init, end=end, steps=draw(lengths(fractional=fractional)),
                      x_start=x_start, x_end=x_start + draw(_fraction(0.5, 15.0)))


@st.composite
def _rex(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    init, end = _init_end(draw)
    return lrkit.rex(init, end=end, steps=draw(lengths(fractional=fractional)))


@st.composite
def _wsd(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    init, end = _init_end(draw)
    steps = draw(lengths(fractional=fractional))
    decay = max(steps * draw(_fraction(0.0, 1.0)), 1e-3)
    return lrkit.wsd(init, end=end, steps=steps, decay_steps=min(decay, steps),
                     shape=draw(st.sampled_from(["linear", "cosine", "1-sqrt"])))


@st.composite
def _inverse_sqrt(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    return lrkit.inverse_sqrt(draw(lrs()), every=draw(lengths(fractional=fractional)))


@st.composite
def _constant_decay(draw: st.DrawFn, fractional: bool, monotone: bool) -> lrkit.Schedule:
    return draw(_constant(fractional))


@st.composite
def _interpolate(draw: st.DrawFn, fractional: bool) -> lrkit.Schedule:
    n = draw(st.integers(1, 5))
    times = (0,) + draw(_boundaries(n - 1, fractional))
    knots = tuple((t, draw(lrs())) for t in times)
    return lrkit.interpolate(knots, shape=draw(st.sampled_from(["linear", "cosine"])))


@st.composite
def _one_cycle(draw: st.DrawFn, fractional: bool) -> lrkit.Schedule:
    three = draw(st.booleans())
    up_frac = draw(_fraction(0.05, 0.45 if three else 0.95))
    return lrkit.one_cycle(draw(lrs()), steps=draw(lengths(fractional=fractional)),
                           up_frac=up_frac, div=draw(_fraction(1.0, 1e3)),
                           final_div=draw(_fraction(1.0, 1e5)),
                           shape=draw(st.sampled_from(["cosine", "linear"])), three_phase=three)


@st.composite
def _cosine_restarts(draw: st.DrawFn, fractional: bool) -> lrkit.Schedule:
    init, end = _init_end(draw)
    return lrkit.cosine_restarts(
        init, end=end, cycle_steps=draw(lengths(1, 10_000, fractional)),
        cycle_mult=draw(st.one_of(st.just(1.0), st.integers(1, 3), _fraction(1.0, 3.0))),
        cycle_factor=draw(_fraction()), cycles=draw(st.one_of(st.none(), st.integers(1, 6))))


@st.composite
def _cyclic(draw: st.DrawFn, fractional: bool) -> lrkit.Schedule:
    a, b = draw(lrs()), draw(lrs())
    return lrkit.cyclic(min(a, b), peak=max(a, b),
                        up_steps=draw(lengths(1, 10_000, fractional)),
                        down_steps=draw(st.one_of(st.none(), lengths(1, 10_000, fractional))),
                        policy=draw(st.sampled_from(["triangular", "triangular2", "exp_range"])),
                        factor=draw(_fraction(0.5, 1.0).filter(lambda g: g > 0)))


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
        return lrkit.warmup(s, warmup_steps=w, init=draw(lrs()),
                            shape=draw(st.sampled_from(["linear", "cosine"])))
    if kind == "warmup_front":
        s = draw(base)
        shape = draw(st.sampled_from(["linear", "cosine", "exponential"]))
        init = draw(lrs(zero=False)) if shape == "exponential" else draw(lrs())
        if shape == "exponential" and s(0) <= 0:
            shape = "linear"
        return lrkit.warmup(s, warmup_steps=draw(lengths(fractional=fractional)), init=init,
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
        return lrkit.shift(draw(base), delay=draw(st.integers(-10_000, 10_000)))
    if kind == "stretch":
        return lrkit.stretch(draw(finite), steps=draw(lengths(fractional=fractional)))
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
