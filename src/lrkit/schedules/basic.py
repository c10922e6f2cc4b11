"""The seed's decays and the piecewise-constant family.

``time_decay``, ``step_decay`` and ``exponential`` are the three decaying
schedules of the seed document (``time_decay`` and ``exponential`` count time in
periods of ``every`` steps); ``piecewise`` and ``multistep`` are the
piecewise-constant schedules of Keras, optax and PyTorch.
"""

from __future__ import annotations

import math
import sys
from dataclasses import KW_ONLY
from typing import TYPE_CHECKING

from .. import _check
from ..errors import InputError
from ..schedule import Schedule, schedule_class
from ..xp import Array, Ops


class _Periodic(Schedule):
    """The shared ``every``/``staircase`` of two decays: time counted in periods,
    ``p = t / every`` (``floor(t / every)`` if ``staircase``)."""

    if TYPE_CHECKING:  # fields of every subclass
        every: float
        staircase: bool

    def _check_periods(self) -> None:
        self._set("every", _check.length(self.name, "every", self.every))
        _check.flag(self.name, "staircase", self.staircase)

    def _periods(self, t: Array, xp: Ops) -> Array:
        """``p = t / every``, floored if ``staircase``."""
        p = t / self.every
        return xp.floor(p) if self.staircase else p


@schedule_class
class TimeDecay(_Periodic):
    """Time-based (inverse-time) decay: ``init / (1 + k * p)``, ``p = t / every``
    (``floor(t / every)`` if ``staircase``).

    With ``every=1`` this is Keras 2's ``SGD(decay=k)``, which the seed's Example 2
    relies on and which Keras 3 ignores. Keras' ``InverseTimeDecay(init,
    decay_steps=every, decay_rate=k, staircase=...)`` is the same curve.

    ``compounding=True`` (only with ``every=1``, no ``staircase``) is the seed's loop
    ``lr *= 1 / (1 + k * epoch)`` run for ``t`` epochs, in closed form (its first
    factor is 1)::

        init / prod_{n=1}^{t-1} (1 + k * n) = init * exp(-L(t))
        L(t) = (t - 1) * log(k) + lgamma(t + 1/k) - lgamma(1 + 1/k)   (t >= 1)

    Between whole epochs (``n = floor(t)``) the value moves geometrically
    towards the next epoch's (``L`` is interpolated linearly), so it never
    rises (the gamma function's own interpolation would bulge above ``init``
    between ``t = 0`` and ``t = 1``, where the loop multiplies by 1).

    >>> from lrkit import time_decay
    >>> time_decay(0.05, k=0.0001)(100)
    0.04950495049504951
    >>> round(time_decay(0.05, k=0.0001, compounding=True)(3), 12)  # 0.05 / (1.0001 * 1.0002)
    0.049985003499
    >>> time_decay(1.0, k=0.5, every=10, staircase=True)(19)
    0.6666666666666666
    """

    name = "time_decay"
    value_fields = ("init",)
    positional = 1
    init: float
    _: KW_ONLY
    k: float
    every: float = 1
    staircase: bool = False
    compounding: bool = False

    def _validate(self) -> None:
        self._set("init", _check.nonneg(self.name, "init", self.init))
        self._set("k", _check.nonneg(self.name, "k", self.k))
        self._check_periods()
        _check.flag(self.name, "compounding", self.compounding)
        if self.compounding and (self.every != 1 or self.staircase):
            raise InputError(
                f"{self.name}: compounding=True is the seed's per-epoch loop and needs every=1 "
                f"and staircase=False, got every={self.every!r}, staircase={self.staircase!r}"
            )
        if self.compounding and 0 < self.k and not 1.0 / self.k <= sys.float_info.max:
            raise InputError(f"{self.name}: k must be 0 or at least {1 / sys.float_info.max!r} "
                             f"with compounding=True (its formula uses 1 / k), got {self.k!r}")

    def _log_prod(self, n: Array, xp: Ops) -> Array:
        """``log prod_{j=1}^{n-1} (1 + k * j)`` for whole ``n >= 0`` (exactly 0 for n <= 1)."""
        m = xp.maximum(n, 1.0)
        inv = 1.0 / self.k
        return (m - 1.0) * math.log(self.k) + xp.lgamma(m + inv) - xp.lgamma(1.0 + inv)

    def _f(self, t: Array, xp: Ops) -> Array:
        if self.compounding:
            if self.k == 0:
                return t * 0.0 + self.init
            n = xp.floor(t)
            low, high = self._log_prod(n, xp), self._log_prod(n + 1.0, xp)
            log_prod = low + (t - n) * (high - low)
            # >= 0 (every factor is >= 1); rounding of the lgamma difference can dip below,
            # and for k near 1 / (largest float) it is inf - inf: both mean "about 0"
            return self.init * xp.exp(-xp.where(log_prod > 0.0, log_prod, 0.0))
        return self.init / (1.0 + self.k * self._periods(t, xp))


@schedule_class
class StepDecay(Schedule):
    """Step decay: ``init * factor ** floor((t + offset) / every)``.

    With the default ``offset=0`` the value drops at ``t = every, 2*every, ...``
    like PyTorch's ``StepLR(step_size=every, gamma=factor)``. ``offset=1`` is the
    seed's ``step_decayer``: ``0.1 * 0.5 ** floor((1 + epoch) / 10)``.

    >>> from lrkit import step_decay
    >>> s = step_decay(0.1, factor=0.5, every=10)
    >>> s(9), s(10), s(20)
    (0.1, 0.05, 0.025)
    >>> step_decay(0.1, factor=0.5, every=10, offset=1)(9)
    0.05
    """

    name = "step_decay"
    value_fields = ("init",)
    positional = 1
    init: float
    _: KW_ONLY
    factor: float
    every: float
    offset: float = 0

    def _validate(self) -> None:
        self._set("init", _check.nonneg(self.name, "init", self.init))
        self._set("factor", _check.between(self.name, "factor", self.factor, 0, 1))
        self._set("every", _check.length(self.name, "every", self.every))
        self._set("offset", _check.nonneg(self.name, "offset", self.offset))

    def _f(self, t: Array, xp: Ops) -> Array:
        return self.init * xp.power(self.factor, xp.floor((t + self.offset) / self.every))


@schedule_class
class Exponential(_Periodic):
    """Exponential decay: ``init * exp(-k * p)`` or ``init * factor ** p``, ``p = t / every``
    (``floor(t / every)`` if ``staircase``).

    The ``k`` form is the seed's ``0.1 * exp(-0.09 * epoch)``. The ``factor``
    form is Keras' ``ExponentialDecay(init, decay_steps=every, decay_rate=factor)`` and
    optax's ``exponential_decay``; with ``every=1`` it is PyTorch's
    ``ExponentialLR(gamma=factor)``. ``end`` bounds the value: a floor when it
    decays, a ceiling when ``factor > 1`` (which requires ``end``).

    >>> from lrkit import exponential
    >>> exponential(0.1, k=0.09)(10)
    0.04065696597405992
    >>> exponential(0.1, factor=0.5, every=10, staircase=True)(19)
    0.05
    """

    name = "exponential"
    value_fields = ("init", "end")
    positional = 1
    init: float
    _: KW_ONLY
    k: float | None = None
    factor: float | None = None
    every: float = 1
    staircase: bool = False
    end: float | None = None

    def _validate(self) -> None:
        self._set("init", _check.nonneg(self.name, "init", self.init))
        if (self.k is None) == (self.factor is None):
            raise InputError(f"{self.name}: give exactly one of k= or factor=, "
                             f"got k={self.k!r}, factor={self.factor!r}")
        if self.k is not None:
            self._set("k", _check.nonneg(self.name, "k", self.k))
        else:
            self._set("factor", _check.positive(self.name, "factor", self.factor))
        self._check_periods()
        if self.end is None:
            if self.growing:
                raise InputError(f"{self.name}: factor={self.factor!r} > 1 grows without bound; "
                                 "give end= as a ceiling")
            return
        end = _check.nonneg(self.name, "end", self.end)
        self._set("end", end)
        if self.growing and end < self.init:
            raise InputError(f"{self.name}: end is the ceiling of a growing curve and must be "
                             f">= init={self.init!r}, got {end!r}")
        if not self.growing and end > self.init:
            raise InputError(f"{self.name}: end is the floor of a decay and must be "
                             f"<= init={self.init!r}, got {end!r}")

    @property
    def growing(self) -> bool:
        return self.factor is not None and self.factor > 1

    def _growth_cap(self) -> float:
        """A ``p`` past which a growing curve is above ``end`` (so ``factor ** p`` stays
        finite and ``0 * inf`` cannot happen when ``init == 0``)."""
        assert self.factor is not None and self.end is not None
        if self.init <= 0 or self.end <= self.init:
            return 1.0
        return math.log(self.end / self.init) / math.log(self.factor) + 1.0

    def _f(self, t: Array, xp: Ops) -> Array:
        p = self._periods(t, xp)
        if self.k is not None:
            out = self.init * xp.exp(-self.k * p)
        else:
            if self.growing:
                p = xp.minimum(p, self._growth_cap())
            out = self.init * xp.power(self.factor, p)
        if self.end is None:
            return out
        return xp.minimum(out, self.end) if self.growing else xp.maximum(out, self.end)


@schedule_class
class Piecewise(Schedule):
    """Piecewise constant: ``levels[i]`` for ``at[i-1] <= t < at[i]``.

    The value changes *at* each boundary, like optax's
    ``piecewise_constant_schedule``. Keras' ``PiecewiseConstantDecay`` changes
    one step later (``at[i-1] < t <= at[i]``): ask for it with ``after=True``.

    >>> from lrkit import piecewise
    >>> s = piecewise((0.1, 0.01, 0.001), at=(100, 200))
    >>> s(99), s(100), s(200)
    (0.1, 0.01, 0.001)
    >>> s
    piecewise(levels=(0.1, 0.01, 0.001), at=(100, 200))
    """

    name = "piecewise"
    value_fields = ("levels",)
    positional = 1
    levels: tuple[float, ...]
    _: KW_ONLY
    at: tuple[float, ...]
    after: bool = False

    def _validate(self) -> None:
        self._set("levels", _check.numbers(self.name, "levels", self.levels, min_len=1))
        self._set("at", _check.numbers(self.name, "at", self.at))
        _check.increasing(self.name, "at", self.at)
        _check.flag(self.name, "after", self.after)
        if len(self.at) != len(self.levels) - 1:
            raise InputError(
                f"{self.name}: at needs len(levels) - 1 = {len(self.levels) - 1} boundaries, "
                f"got {len(self.at)}"
            )

    @property
    def length(self) -> float | None:
        return float(self.at[-1]) + (1 if self.after else 0) if self.at else 0.0

    def _f(self, t: Array, xp: Ops) -> Array:
        out = t * 0.0 + self.levels[0]
        for b, v in zip(self.at, self.levels[1:]):
            out = xp.where(t > b if self.after else t >= b, v, out)
        return out


@schedule_class
class MultiStep(Schedule):
    """Multi-step decay: ``init * factor ** (number of milestones in at that are <= t)``.

    PyTorch's ``MultiStepLR(milestones=at, gamma=factor)``; a repeated milestone
    drops twice, as in PyTorch.

    >>> from lrkit import multistep
    >>> s = multistep(0.1, factor=0.1, at=(30, 80))
    >>> s(29), s(30), s(80)
    (0.1, 0.010000000000000002, 0.0010000000000000002)
    """

    name = "multistep"
    value_fields = ("init",)
    positional = 1
    init: float
    _: KW_ONLY
    factor: float
    at: tuple[float, ...]

    def _validate(self) -> None:
        self._set("init", _check.nonneg(self.name, "init", self.init))
        self._set("factor", _check.between(self.name, "factor", self.factor, 0, 1))
        self._set("at", _check.numbers(self.name, "at", self.at))
        _check.increasing(self.name, "at", self.at)

    @property
    def length(self) -> float | None:
        return float(self.at[-1]) if self.at else 0.0

    def _f(self, t: Array, xp: Ops) -> Array:
        # The levels init * factor ** k are Python floats, computed once: every namespace
        # then returns the same bits (a vectorised pow may round differently from libm's).
        out = t * 0.0 + self.init
        for k, b in enumerate(self.at, start=1):
            out = xp.where(t >= b, self.init * self.factor**k, out)
        return out
