"""Schedules that rise as well as fall: interpolation between knots,
one-cycle, cosine with warm restarts (SGDR) and cyclical learning rates.
"""

from __future__ import annotations

import math
from dataclasses import KW_ONLY
from typing import Any

from .. import _check
from ..schedule import Schedule, schedule_class
from ..xp import Array, Ops

SHAPES = ("linear", "cos")


def _anneal(start: Array, end: Array, pct: Array, rest: Array, shape: str, xp: Ops) -> Array:
    """PyTorch's ``_annealing_cos``/``_annealing_linear`` (``rest = 1 - pct``, computed directly).

    Evaluated with :meth:`lrkit.xp.Ops.cos_bell` and :meth:`lrkit.xp.Ops.lerp`,
    which keep full precision where PyTorch's forms cancel (``pct`` near 1).
    """
    if shape == "cos":
        return end + (start - end) * xp.cos_bell(pct, rest)
    return xp.lerp(start, end, pct, rest)


@schedule_class
class Interpolate(Schedule):
    """Interpolation through knots ``((t0, v0), (t1, v1), ...)``, held outside them.

    Between knots ``i`` and ``i+1``, with ``pct = (t - t_i) / (t_{i+1} - t_i)``::

        linear: (v_{i+1} - v_i) * pct + v_i
        cos:    v_{i+1} + (v_i - v_{i+1}) / 2 * (cos(pi * pct) + 1)

    Two knots at the same time make a jump. This is optax's
    ``piecewise_interpolate_schedule``, ignite's ``PiecewiseLinear`` and the
    shape underneath one-cycle.

    >>> from lrkit import interpolate
    >>> s = interpolate(knots=((0, 0.0), (10, 1.0), (20, 0.5)))
    >>> s(5), s(15), s(99)
    (0.5, 0.75, 0.5)
    """

    name = "interpolate"
    _: KW_ONLY
    knots: tuple[tuple[float, float], ...]
    shape: str = "linear"

    def _validate(self) -> None:
        try:
            pairs = tuple(tuple(k) for k in self.knots)
        except TypeError:
            raise TypeError(
                f"{self.name}: knots must be a sequence of (t, value) pairs, got {self.knots!r}"
            ) from None
        out = []
        for i, pair in enumerate(pairs):
            if len(pair) != 2:
                raise ValueError(
                    f"{self.name}: knots[{i}] must be a (t, value) pair, got {pair!r}"
                )
            t, v = pair
            out.append((_check.number(self.name, f"knots[{i}][0]", t),
                        _check.nonneg(self.name, f"knots[{i}][1]", v)))
        if not out:
            raise ValueError(f"{self.name}: knots must hold at least one (t, value) pair, got ()")
        _check.increasing(self.name, "knot times", [t for t, _ in out])
        self._set("knots", tuple(out))
        _check.choice(self.name, "shape", self.shape, SHAPES)

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

    Knots: ``peak/div`` at 0, ``peak`` at ``pct*steps - 1``, and
    ``peak/(div*final_div)`` at ``steps - 1`` (three-phase: back to
    ``peak/div`` at ``2*pct*steps - 2`` first), joined by cosine or linear
    ``shape``. Unlike PyTorch it holds the final value after ``steps - 1``
    instead of rising again at step ``steps`` and raising after it.

    fastai's ``fit_one_cycle(lr_max, div=25, div_final=1e5, pct_start=0.25)``
    ends at ``lr_max/div_final`` relative to the peak: ``pct=0.25,
    final_div=1e5/25``. :meth:`momentum` gives the companion that moves
    opposite to the learning rate.

    >>> from lrkit import one_cycle
    >>> s = one_cycle(peak=0.1, steps=100)
    >>> s(0), s(29), s(99)
    (0.004, 0.1, 4e-07)
    """

    name = "one_cycle"
    _: KW_ONLY
    peak: float
    steps: float
    pct: float = 0.3
    div: float = 25.0
    final_div: float = 1e4
    shape: str = "cos"
    three_phase: bool = False

    def _validate(self) -> None:
        self._set("peak", _check.nonneg(self.name, "peak", self.peak))
        self._set("steps", _check.positive(self.name, "steps", self.steps))
        self._set("pct", _check.between(self.name, "pct", self.pct, 0, 1, True, True))
        self._set("div", _check.positive(self.name, "div", self.div))
        self._set("final_div", _check.positive(self.name, "final_div", self.final_div))
        _check.choice(self.name, "shape", self.shape, SHAPES)
        _check.flag(self.name, "three_phase", self.three_phase)
        if self.three_phase and self.pct >= 0.5:
            raise ValueError(f"{self.name}: three_phase needs pct < 0.5, got {self.pct!r}")
        if self._times()[1] <= 0:
            raise ValueError(
                f"{self.name}: pct*steps - 1 must be > 0 so that the peak comes after step 0; "
                f"got pct={self.pct!r}, steps={self.steps!r}"
            )

    def _times(self) -> list[float]:
        n = float(self.steps)
        if self.three_phase:
            return [0.0, self.pct * n - 1, 2 * self.pct * n - 2, n - 1]
        return [0.0, self.pct * n - 1, n - 1]

    def _curve(self, values: list[float]) -> Interpolate:
        return Interpolate(knots=tuple(zip(self._times(), values)), shape=self.shape)

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
        return float(self.steps) - 1

    def _f(self, t: Array, xp: Ops) -> Array:
        return self._lr()._f(t, xp)


@schedule_class
class CosineRestarts(Schedule):
    """Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter).

    Cycle ``i`` starts at ``S_i = every * (mult**i - 1) / (mult - 1)`` (``every * i``
    when ``mult == 1``), lasts ``T_i = every * mult**i`` and, with
    ``u = (t - S_i) / T_i``, has the value::

        end + (peak * decay**i - end) * (1 + cos(pi * u)) / 2

    PyTorch's ``CosineAnnealingWarmRestarts(T_0=every, T_mult=mult, eta_min=end)``
    (any real ``mult >= 1`` here); ``decay`` is timm's ``cycle_decay``. With
    ``cycles=n`` the schedule ends after ``n`` cycles and holds ``end`` exactly.

    >>> from lrkit import cosine_restarts
    >>> s = cosine_restarts(peak=0.1, every=10, mult=2)
    >>> s(0), s(10), s(30)
    (0.1, 0.1, 0.1)
    """

    name = "cosine_restarts"
    _: KW_ONLY
    peak: float
    every: float
    mult: float = 1.0
    decay: float = 1.0
    end: float = 0.0
    cycles: int | None = None

    def _validate(self) -> None:
        self._set("peak", _check.nonneg(self.name, "peak", self.peak))
        self._set("every", _check.positive(self.name, "every", self.every))
        mult = _check.number(self.name, "mult", self.mult)
        if mult < 1:
            raise ValueError(f"{self.name}: mult must be >= 1, got {mult!r}")
        self._set("mult", mult)
        self._set("decay", _check.between(self.name, "decay", self.decay, 0, 1))
        self._set("end", _check.nonneg(self.name, "end", self.end))
        if self.cycles is not None:
            self._set("cycles", _check.integer(self.name, "cycles", self.cycles))

    def _start(self, i: Any, xp: Ops) -> Any:
        if self.mult == 1.0:
            return self.every * i
        return self.every * (xp.power(self.mult, i) - 1.0) / (self.mult - 1.0)

    @property
    def length(self) -> float | None:
        if self.cycles is None:
            return None
        from ..xp import MATH

        return float(self._start(float(self.cycles), MATH))

    def _f(self, t: Array, xp: Ops) -> Array:
        if self.mult == 1.0:
            i = xp.floor(t / self.every)
        else:
            i = xp.floor(xp.log(1.0 + t * (self.mult - 1.0) / self.every) / math.log(self.mult))
            # log rounding can land one cycle off at a boundary: correct it exactly.
            i = i + xp.where(self._start(i + 1.0, xp) <= t, 1.0, 0.0)
            i = i - xp.where(self._start(i, xp) > t, 1.0, 0.0)
        start = self._start(i, xp)
        period = self.every * xp.power(self.mult, i)
        peak = self.peak * xp.power(self.decay, i)
        z = (t - start) / period
        rest = xp.maximum((self._start(i + 1.0, xp) - t) / period, 0.0)
        out = self.end + (peak - self.end) * xp.cos_bell(z, rest)
        if self.cycles is not None:
            out = xp.where(i >= self.cycles, self.end, out)
        return out


@schedule_class
class Cyclic(Schedule):
    """Cyclical learning rates (Smith, 2017): PyTorch's ``CyclicLR``.

    With ``total = up + down`` (``down`` defaults to ``up``), ``r = up / total``,
    ``c = floor(1 + t / total)`` and ``x = 1 + t / total - c``::

        init + (peak - init) * (x / r if x <= r else (x - 1) / (r - 1)) * scale

    ``scale`` is 1 (``triangular``), ``1 / 2**(c - 1)`` (``triangular2``) or
    ``gamma**t`` (``exp_range``).

    >>> from lrkit import cyclic
    >>> s = cyclic(init=0.001, peak=0.006, up=2000)
    >>> s(0), s(2000), s(4000)
    (0.001, 0.006, 0.001)
    """

    name = "cyclic"
    _: KW_ONLY
    init: float
    peak: float
    up: float
    down: float | None = None
    mode: str = "triangular"
    gamma: float = 1.0

    def _validate(self) -> None:
        self._set("init", _check.nonneg(self.name, "init", self.init))
        self._set("peak", _check.nonneg(self.name, "peak", self.peak))
        self._set("up", _check.positive(self.name, "up", self.up))
        if self.down is not None:
            self._set("down", _check.positive(self.name, "down", self.down))
        _check.choice(self.name, "mode", self.mode, ("triangular", "triangular2", "exp_range"))
        self._set("gamma", _check.between(self.name, "gamma", self.gamma, 0, 1, True, False))

    def _f(self, t: Array, xp: Ops) -> Array:
        up = float(self.up)
        total = up + float(self.down if self.down is not None else up)
        ratio = up / total
        cycle = xp.floor(1 + t / total)
        x = 1.0 + t / total - cycle
        factor = xp.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
        height = (self.peak - self.init) * factor
        if self.mode == "triangular2":
            height = height * (1 / xp.power(2.0, cycle - 1))
        elif self.mode == "exp_range":
            height = height * xp.power(self.gamma, t)
        return self.init + height
