"""Finite annealing curves: from a start value to ``end`` over ``steps``, then held.

Each has the form ``end + (peak - end) * shape(t / steps)`` with ``shape``
falling from 1 to 0; past ``steps`` the value stays at ``end``.
"""

from __future__ import annotations

from dataclasses import KW_ONLY
from typing import TYPE_CHECKING

from .. import _check
from ..schedule import Schedule, schedule_class
from ..xp import Array, Ops

WSD_SHAPES = ("linear", "cosine", "1-sqrt")


class _Anneal(Schedule):
    """Shared checks and the clipped progress ``z = min(t, steps) / steps``."""

    if TYPE_CHECKING:  # fields of every subclass
        steps: float
        end: float

    def _check_range(self, first: str) -> None:
        start = _check.nonneg(self.name, first, getattr(self, first))
        self._set(first, start)
        self._set("steps", _check.positive(self.name, "steps", self.steps))
        self._set("end", _check.nonneg(self.name, "end", self.end))

    @property
    def length(self) -> float | None:
        return float(self.steps)

    def _progress(self, t: Array, xp: Ops, k: float = 1.0) -> Array:
        steps = self.steps
        c = xp.minimum(t, steps)
        if k == 1.0:
            return c / steps
        return xp.power(c / steps, k)

    def _rest(self, t: Array, xp: Ops, k: float = 1.0) -> Array:
        """``1 - progress``, computed without cancellation (exactly 0 from the end on)."""
        rest = (self.steps - xp.minimum(t, self.steps)) / self.steps
        return rest if k == 1.0 else xp.one_minus_pow(self._progress(t, xp), rest, k)


@schedule_class
class Linear(_Anneal):
    """Linear from ``init`` to ``end`` over ``steps``, then held::

        init + (end - init) * min(t, steps) / steps

    PyTorch's ``LinearLR`` is
    ``linear(init=start_factor*lr, end=end_factor*lr, steps=total_iters)``.

    >>> from lrkit import linear
    >>> s = linear(init=0.0, end=0.1, steps=10)
    >>> s(0), s(5), s(10), s(99)
    (0.0, 0.05, 0.1, 0.1)
    """

    name = "linear"
    _: KW_ONLY
    init: float
    end: float
    steps: float

    def _validate(self) -> None:
        self._check_range("init")

    def _f(self, t: Array, xp: Ops) -> Array:
        return xp.lerp(self.init, self.end, self._progress(t, xp), self._rest(t, xp))


@schedule_class
class Polynomial(_Anneal):
    """Polynomial decay: ``(init - end) * (1 - z) ** power + end``, ``z = min(t, steps) / steps``.

    ``k_decay`` (timm) uses ``z = (min(t, steps) / steps) ** k_decay``.
    ``cycle=True`` is Keras' variant: the horizon grows to
    ``steps * ceil(t / steps)``, so the value reaches ``end`` at every multiple
    of ``steps`` and then jumps up (such a schedule never settles).

    >>> from lrkit import polynomial
    >>> polynomial(init=0.1, end=0.0, steps=10, power=2.0)(5)
    0.025
    """

    name = "polynomial"
    _: KW_ONLY
    init: float
    steps: float
    end: float = 0.0
    power: float = 1.0
    cycle: bool = False
    k_decay: float = 1.0

    def _validate(self) -> None:
        self._check_range("init")
        self._set("power", _check.positive(self.name, "power", self.power))
        self._set("k_decay", _check.positive(self.name, "k_decay", self.k_decay))
        _check.flag(self.name, "cycle", self.cycle)

    @property
    def length(self) -> float | None:
        return None if self.cycle else float(self.steps)

    def _f(self, t: Array, xp: Ops) -> Array:
        if self.cycle:
            horizon = self.steps * xp.maximum(-xp.floor(-t / self.steps), 1.0)
            rest = xp.one_minus_pow(t / horizon, (horizon - t) / horizon, self.k_decay)
        else:
            rest = self._rest(t, xp, self.k_decay)
        return (self.init - self.end) * xp.power(rest, self.power) + self.end


@schedule_class
class Cosine(_Anneal):
    """Cosine annealing from ``peak`` to ``end`` over ``steps``, then held at ``end``::

        end + (peak - end) * (0.5 * (1 + cos(pi * z))) ** exponent
        z = (min(t, steps) / steps) ** k_decay

    PyTorch's ``CosineAnnealingLR(T_max=steps, eta_min=end)`` (which, unlike
    this, rises again past ``T_max``), optax's ``cosine_decay_schedule`` and
    Keras' ``CosineDecay``. ``k_decay`` is timm's k-decay.

    >>> from lrkit import cosine
    >>> s = cosine(peak=0.1, steps=100, end=0.001)
    >>> s(0), s(100), s(1000)
    (0.1, 0.001, 0.001)
    """

    name = "cosine"
    _: KW_ONLY
    peak: float
    steps: float
    end: float = 0.0
    exponent: float = 1.0
    k_decay: float = 1.0

    def _validate(self) -> None:
        self._check_range("peak")
        self._set("exponent", _check.positive(self.name, "exponent", self.exponent))
        self._set("k_decay", _check.positive(self.name, "k_decay", self.k_decay))

    def _f(self, t: Array, xp: Ops) -> Array:
        k = self.k_decay
        c = xp.cos_bell(self._progress(t, xp, k), self._rest(t, xp, k))
        if self.exponent != 1.0:
            c = xp.power(c, self.exponent)
        return self.end + (self.peak - self.end) * c


@schedule_class
class Tanh(_Anneal):
    """timm's tanh decay: ``end + 0.5 * (peak - end) * (1 - tanh(low * (1 - z) + high * z))``
    for ``t < steps``, then ``end``.

    ``z = t / steps``; timm's defaults ``low=-7``, ``high=3``. The curve itself
    stops short of ``end`` (``1 - tanh(high) > 0``); like timm's
    ``TanhLRScheduler``, which sets ``lr_min`` once its cycle is over, the value
    is ``end`` from ``t = steps`` on. Computed as ``end + (peak - end) / (1 + exp(2 x))``
    (the same value, without the cancellation of ``1 - tanh(x)``).

    >>> from lrkit import tanh
    >>> round(tanh(peak=0.1, steps=100)(50), 6)
    0.098201
    """

    name = "tanh"
    _: KW_ONLY
    peak: float
    steps: float
    end: float = 0.0
    low: float = -7.0
    high: float = 3.0

    def _validate(self) -> None:
        self._check_range("peak")
        self._set("low", _check.number(self.name, "low", self.low))
        self._set("high", _check.number(self.name, "high", self.high))
        if self.high <= self.low:
            raise ValueError(f"{self.name}: high must be > low={self.low!r}, got {self.high!r}")

    def _f(self, t: Array, xp: Ops) -> Array:
        z = self._progress(t, xp)
        # 1 - tanh(x) == 2 / (1 + exp(2x)), without the cancellation of 1 - tanh(x) for x >> 0
        x = self.low * (1.0 - z) + self.high * z
        out = self.end + (self.peak - self.end) / (1.0 + xp.exp(2.0 * x))
        return xp.where(t >= self.steps, self.end, out)


@schedule_class
class Rex(_Anneal):
    """REX (Chen et al., 2021): ``end + (peak - end) * (1 - z) / (0.5 + 0.5 * (1 - z))``.

    >>> from lrkit import rex
    >>> round(rex(peak=0.1, steps=100)(50), 12)
    0.066666666667
    """

    name = "rex"
    _: KW_ONLY
    peak: float
    steps: float
    end: float = 0.0

    def _validate(self) -> None:
        self._check_range("peak")

    def _f(self, t: Array, xp: Ops) -> Array:
        r = self._rest(t, xp)
        return self.end + (self.peak - self.end) * r / (0.5 + 0.5 * r)


@schedule_class
class InverseSqrt(Schedule):
    """Inverse square root: ``peak / sqrt(1 + t / timescale)``.

    With a warm-up of ``W`` steps in front (``warmup(inverse_sqrt(peak=P,
    timescale=W), steps=W)``) this is the Transformer's "Noam" schedule and
    Hugging Face's ``inverse_sqrt`` (whose default timescale is ``W``).

    >>> from lrkit import inverse_sqrt
    >>> inverse_sqrt(peak=0.01, timescale=100)(300)
    0.005
    """

    name = "inverse_sqrt"
    _: KW_ONLY
    peak: float
    timescale: float

    def _validate(self) -> None:
        self._set("peak", _check.nonneg(self.name, "peak", self.peak))
        self._set("timescale", _check.positive(self.name, "timescale", self.timescale))

    def _f(self, t: Array, xp: Ops) -> Array:
        return self.peak / xp.sqrt(1.0 + t / self.timescale)


@schedule_class
class WSD(Schedule):
    """Warmup-stable-decay's stable and decay phases: ``peak`` until
    ``steps - decay``, then down to ``end`` over the last ``decay`` steps::

        d = clip((t - (steps - decay)) / decay, 0, 1)
        end + (peak - end) * f(d),  f = 1 - d | (1 + cos(pi d)) / 2 | 1 - sqrt(d)

    for ``shape`` = ``"linear"``, ``"cosine"``, ``"1-sqrt"`` (the default, as
    in timm). Put a warm-up in front with :func:`lrkit.warmup`.

    >>> from lrkit import wsd
    >>> s = wsd(peak=0.1, steps=100, decay=20, shape="linear")
    >>> s(80), s(90), s(100)
    (0.1, 0.05, 0.0)
    """

    name = "wsd"
    _: KW_ONLY
    peak: float
    steps: float
    decay: float
    end: float = 0.0
    shape: str = "1-sqrt"

    def _validate(self) -> None:
        self._set("peak", _check.nonneg(self.name, "peak", self.peak))
        self._set("steps", _check.positive(self.name, "steps", self.steps))
        self._set("decay", _check.positive(self.name, "decay", self.decay))
        self._set("end", _check.nonneg(self.name, "end", self.end))
        _check.choice(self.name, "shape", self.shape, WSD_SHAPES)
        if self.decay > self.steps:
            raise ValueError(
                f"{self.name}: decay must be <= steps={self.steps!r}, got {self.decay!r}"
            )

    @property
    def length(self) -> float | None:
        return float(self.steps)

    def _f(self, t: Array, xp: Ops) -> Array:
        # rest = 1 - d is computed directly: exactly 0 at t == steps, whatever the rounding
        rest = xp.clip((self.steps - t) / self.decay, 0.0, 1.0)
        d = 1.0 - rest
        if self.shape == "linear":
            f = rest
        elif self.shape == "cosine":
            f = xp.cos_bell(d, rest)
        else:
            f = rest / (1.0 + xp.sqrt(d))  # == 1 - sqrt(d), without cancellation near d = 1
        return self.end + (self.peak - self.end) * f
