"""Schedules that rise as well as fall: interpolation between knots,
one-cycle, cosine with warm restarts (SGDR) and cyclical learning rates.
"""

from __future__ import annotations

import math
import sys
from dataclasses import KW_ONLY
from typing import Any

from .. import _check
from ..errors import InputError, InputTypeError, shown
from ..schedule import Schedule, schedule_class
from ..xp import Array, Ops

SHAPES = ("linear", "cosine")
POLICIES = ("triangular", "triangular2", "exp_range")


def _anneal(start: Array, end: Array, pct: Array, rest: Array, shape: str, xp: Ops) -> Array:
    """PyTorch's ``_annealing_cos``/``_annealing_linear`` (``rest = 1 - pct``, computed directly).

    Evaluated with :meth:`lrkit.xp.Ops.cos_bell` and :meth:`lrkit.xp.Ops.lerp`,
    which keep full precision where PyTorch's forms cancel (``pct`` near 1).
    """
    if shape == "cosine":
        return end + (start - end) * xp.cos_bell(pct, rest)
    return xp.lerp(start, end, pct, rest)


@schedule_class
class Interpolate(Schedule):
    """Interpolation through knots ``((t0, v0), (t1, v1), ...)``, held outside them.

    Between knots ``i`` and ``i+1``, with ``pct = (t - t_i) / (t_{i+1} - t_i)``::

        linear: (v_{i+1} - v_i) * pct + v_i
        cosine: v_{i+1} + (v_i - v_{i+1}) / 2 * (cos(pi * pct) + 1)

    Two knots at the same time make a jump. This is optax's
    ``piecewise_interpolate_schedule``, ignite's ``PiecewiseLinear`` and the
    shape underneath one-cycle.

    >>> from lrkit import interpolate
    >>> s = interpolate(((0, 0.0), (10, 1.0), (20, 0.5)))
    >>> s(5), s(15), s(99)
    (0.5, 0.75, 0.5)
    """

    name = "interpolate"
    positional = 1
    knots: tuple[tuple[float, float], ...]
    _: KW_ONLY
    shape: str = "linear"

    def _validate(self) -> None:
        try:
            pairs = tuple(tuple(k) for k in self.knots)
        except TypeError:
            raise InputTypeError(
                f"{self.name}: knots must be a sequence of (t, value) pairs, got {self.knots!r}"
            ) from None
        out = []
        for i, pair in enumerate(pairs):
            if len(pair) != 2:
                raise InputError(
                    f"{self.name}: knots[{i}] must be a (t, value) pair, got {pair!r}"
                )
            t, v = pair
            out.append((_check.number(self.name, f"knots[{i}][0]", t),
                        _check.nonneg(self.name, f"knots[{i}][1]", v)))
        if not out:
            raise InputError(f"{self.name}: knots must hold at least one (t, value) pair, got ()")
        _check.increasing(self.name, "knot times", [t for t, _ in out])
        self._set("knots", tuple(out))
        _check.choice(self.name, "shape", self.shape, SHAPES)

    def _ceiling(self) -> float:
        return max(v for _, v in self.knots)

    @property
    def length(self) -> float | None:
        return max(0.0, float(self.knots[-1][0]))

    def _f(self, t: Array, xp: Ops) -> Array:
        out = t * 0.0 + self.knots[0][1]
        for (t0, v0), (t1, v1) in zip(self.knots, self.knots[1:]):
            if t1 == t0:
                out = xp.where(t >= t1, v1, out)
                continue
            pct = xp.clip((t - t0) / (t1 - t0), 0.0, 1.0)
            rest = xp.clip((t1 - t) / (t1 - t0), 0.0, 1.0)
            out = xp.where(t >= t0, _anneal(v0, v1, pct, rest, self.shape, xp), out)
        t_end, v_end = self.knots[-1]
        out = xp.where(t >= t_end, v_end, out)
        for tk, vk in self.knots:  # exact at the knots (at a jump, the later value wins)
            out = xp.where(t == tk, vk, out)
        return out


@schedule_class
class OneCycle(Schedule):
    """One-cycle (Smith & Topin), with PyTorch's ``OneCycleLR`` defaults.

    Knots: ``peak/div`` at 0, ``peak`` at ``up_frac*steps`` and
    ``peak/(div*final_div)`` at ``steps`` (three-phase: back to ``peak/div`` at
    ``2*up_frac*steps`` first), joined by ``shape`` (cosine or linear); the final
    value is held from ``steps`` on.

    PyTorch's ``OneCycleLR(total_steps=T, pct_start=p)`` puts its knots at
    ``0, p*T - 1, T - 1`` (and raises after step ``T - 1``): it is
    ``one_cycle(steps=T-1, up_frac=(p*T - 1)/(T - 1))``. fastai's
    ``fit_one_cycle(lr_max, div=25, div_final=1e5, pct_start=0.25)`` over ``N``
    steps is ``one_cycle(lr_max, steps=N, up_frac=0.25, final_div=1e5/25)`` (its
    ``div_final`` is relative to the peak). :meth:`momentum` gives the companion
    that moves opposite to the learning rate.

    >>> from lrkit import one_cycle
    >>> s = one_cycle(0.1, steps=100)
    >>> s(0), s(30), s(100)
    (0.004, 0.1, 4e-07)
    """

    name = "one_cycle"
    value_fields = ("peak",)
    positional = 1
    peak: float
    _: KW_ONLY
    steps: float
    up_frac: float = 0.3
    div: float = 25.0
    final_div: float = 1e4
    shape: str = "cosine"
    three_phase: bool = False

    def _validate(self) -> None:
        self._set("peak", _check.nonneg(self.name, "peak", self.peak))
        self._set("steps", _check.length(self.name, "steps", self.steps))
        _check.flag(self.name, "three_phase", self.three_phase)
        high = 0.5 if self.three_phase else 1  # three-phase falls back to init by 2*up_frac
        self._set("up_frac", _check.between(self.name, "up_frac", self.up_frac, 0, high,
                                            True, True))
        self._set("div", _check.positive(self.name, "div", self.div))
        self._set("final_div", _check.positive(self.name, "final_div", self.final_div))
        _check.choice(self.name, "shape", self.shape, SHAPES)

    def _ceiling(self) -> float:
        low = self.peak / self.div  # the start; the end is low / final_div
        return max(self.peak, low, low / self.final_div)

    def _overflow(self) -> str:
        return (f"{self.name}: peak / div and peak / div / final_div must be at most the "
                f"largest float ({sys.float_info.max!r}), got peak={self.peak!r}, "
                f"div={self.div!r}, final_div={self.final_div!r}")

    def _times(self) -> list[float]:
        n = float(self.steps)
        up = self.up_frac * n
        return [0.0, up, 2 * up, n] if self.three_phase else [0.0, up, n]

    def _curve(self, values: list[float]) -> Interpolate:
        return Interpolate(tuple(zip(self._times(), values)), shape=self.shape)

    def _lr(self) -> Interpolate:
        low = self.peak / self.div
        final = low / self.final_div
        return self._curve([low, self.peak, low, final] if self.three_phase
                           else [low, self.peak, final])

    def momentum(self, low: float = 0.85, high: float = 0.95) -> Interpolate:
        """The momentum (or Adam ``beta1``) companion: ``high`` -> ``low`` at the peak -> ``high``.

        PyTorch's ``base_momentum=low``, ``max_momentum=high``; fastai's ``moms=(high, low, high)``.
        """
        low = _check.between(self.name, "low", low, 0, 1)
        high = _check.between(self.name, "high", high, 0, 1)
        return self._curve([high, low, high, high] if self.three_phase else [high, low, high])

    @property
    def length(self) -> float | None:
        return float(self.steps)

    def _f(self, t: Array, xp: Ops) -> Array:
        return self._lr()._f(t, xp)


@schedule_class
class CosineRestarts(Schedule):
    """Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter).

    With ``T = cycle_steps`` and ``m = cycle_mult``, cycle ``i`` starts at
    ``S_i = T * (m**i - 1) / (m - 1)`` (``T * i`` when ``m == 1``), lasts
    ``T_i = T * m**i`` and, with ``u = (t - S_i) / T_i``, has the value::

        end + (init * cycle_factor**i - end) * (1 + cos(pi * u)) / 2

    PyTorch's ``CosineAnnealingWarmRestarts(T_0=cycle_steps, T_mult=cycle_mult,
    eta_min=end)`` (any real ``cycle_mult >= 1`` here); ``cycle_factor`` is timm's
    ``cycle_decay``. With ``cycles=n`` the schedule ends after ``n`` cycles and holds
    ``end`` exactly.

    >>> from lrkit import cosine_restarts
    >>> s = cosine_restarts(0.1, cycle_steps=10, cycle_mult=2)
    >>> s(0), s(10), s(30)
    (0.1, 0.1, 0.1)
    """

    name = "cosine_restarts"
    value_fields = ("init", "end")
    positional = 1
    init: float
    _: KW_ONLY
    cycle_steps: float
    cycle_mult: float = 1.0
    cycle_factor: float = 1.0
    end: float = 0.0
    cycles: int | None = None

    def _validate(self) -> None:
        self._set("init", _check.nonneg(self.name, "init", self.init))
        self._set("cycle_steps", _check.length(self.name, "cycle_steps", self.cycle_steps))
        mult = _check.number(self.name, "cycle_mult", self.cycle_mult)
        if not 1 <= mult <= _check.MAX_CYCLE_MULT:
            raise InputError(f"{self.name}: cycle_mult must be in [1, 2**53] (a cycle at most "
                             f"2**53 times longer than the one before), got {shown(mult)}")
        self._set("cycle_mult", mult)
        self._set("cycle_factor",
                  _check.between(self.name, "cycle_factor", self.cycle_factor, 0, 1))
        self._set("end", _check.nonneg(self.name, "end", self.end))
        if self.cycles is not None:
            self._set("cycles", _check.integer(self.name, "cycles", self.cycles))

    def _start(self, i: Any, xp: Ops) -> Any:
        if self.cycle_mult == 1.0:
            return self.cycle_steps * i
        return self.cycle_steps * (xp.power(self.cycle_mult, i) - 1.0) / (self.cycle_mult - 1.0)

    @property
    def length(self) -> float | None:
        if self.cycles is None:
            return None
        from ..xp import MATH

        return float(self._start(float(self.cycles), MATH))

    def _f(self, t: Array, xp: Ops) -> Array:
        n, m = self.cycle_steps, self.cycle_mult
        if m == 1.0:
            i = xp.floor(t / n)
        else:
            i = xp.floor(xp.log(1.0 + t * (m - 1.0) / n) / math.log(m))
            # log rounding can land one cycle off at a boundary: correct it exactly.
            i = i + xp.where(self._start(i + 1.0, xp) <= t, 1.0, 0.0)
            i = i - xp.where(self._start(i, xp) > t, 1.0, 0.0)
        start = self._start(i, xp)
        period = n * xp.power(m, i)
        top = self.init * xp.power(self.cycle_factor, i)
        z = xp.clip((t - start) / period, 0.0, 1.0)
        rest = xp.clip((self._start(i + 1.0, xp) - t) / period, 0.0, 1.0)
        out = self.end + (top - self.end) * xp.cos_bell(z, rest)
        if self.cycles is not None:
            out = xp.where(i >= float(self.cycles), self.end, out)
        return out


@schedule_class
class Cyclic(Schedule):
    """Cyclical learning rates (Smith, 2017): PyTorch's ``CyclicLR``.

    With ``total = up_steps + down_steps`` (``down_steps`` defaults to ``up_steps``),
    ``r = up_steps / total``, ``c = floor(1 + t / total)`` and ``x = 1 + t / total - c``::

        init + (peak - init) * (x / r if x <= r else (x - 1) / (r - 1)) * scale

    ``scale`` is 1 (``policy="triangular"``), ``1 / 2**(c - 1)`` (``"triangular2"``) or
    ``factor**t`` (``"exp_range"``). PyTorch's ``CyclicLR(base_lr=init, max_lr=peak,
    step_size_up=up_steps, step_size_down=down_steps, mode=policy, gamma=factor)``.

    >>> from lrkit import cyclic
    >>> s = cyclic(0.001, peak=0.006, up_steps=2000)
    >>> s(0), s(2000), s(4000)
    (0.001, 0.006, 0.001)
    """

    name = "cyclic"
    value_fields = ("init", "peak")
    positional = 1
    init: float
    _: KW_ONLY
    peak: float
    up_steps: float
    down_steps: float | None = None
    policy: str = "triangular"
    factor: float = 1.0

    def _validate(self) -> None:
        self._set("init", _check.nonneg(self.name, "init", self.init))
        self._set("peak", _check.nonneg(self.name, "peak", self.peak))
        self._set("up_steps", _check.length(self.name, "up_steps", self.up_steps))
        if self.down_steps is not None:
            self._set("down_steps", _check.length(self.name, "down_steps", self.down_steps))
        _check.choice(self.name, "policy", self.policy, POLICIES)
        self._set("factor", _check.between(self.name, "factor", self.factor, 0, 1, True, False))
        if not self._total() <= sys.float_info.max:
            raise InputError(f"{self.name}: up_steps + down_steps must be at most "
                             f"{sys.float_info.max!r} (the length of a cycle), got "
                             f"up_steps={self.up_steps!r}, down_steps={self.down_steps!r}")

    def _total(self) -> float:
        """The length of a cycle: ``up_steps + down_steps``."""
        up = float(self.up_steps)
        return up + float(self.down_steps if self.down_steps is not None else up)

    def _f(self, t: Array, xp: Ops) -> Array:
        total = self._total()
        ratio = float(self.up_steps) / total
        cycle = xp.floor(1 + t / total)
        x = 1.0 + t / total - cycle  # in [0, 1)
        # a phase far shorter than the other rounds ratio to 0 or 1; its branch is then
        # never taken (x == 0 gives 0 either way), but Python floats evaluate both
        frac = xp.where(x <= ratio, x / (ratio or 1.0), (x - 1) / ((ratio - 1) or -1.0))
        height = (self.peak - self.init) * frac
        if self.policy == "triangular2":
            height = height * (1 / xp.power(2.0, cycle - 1))
        elif self.policy == "exp_range":
            height = height * xp.power(self.factor, t)
        return self.init + height
