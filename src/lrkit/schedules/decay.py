"""Finite annealing curves: from a start value to ``end`` over ``steps``, then held.

Each has the form ``end + (init - end) * shape(t / steps)`` with ``shape``
falling from 1 to 0; past ``steps`` the value stays at ``end`` (so ``length == steps``).
``polynomial(every=...)`` is the one that restarts instead.
"""

from __future__ import annotations

from dataclasses import KW_ONLY
from typing import TYPE_CHECKING

from .. import _check
from ..errors import InputError
from ..schedule import Schedule, schedule_class
from ..xp import Array, Ops

WSD_SHAPES = ("linear", "cosine", "1-sqrt")


def _progress(t: Array, steps: float, xp: Ops, k: float = 1.0) -> Array:
    """``z = (min(t, steps) / steps) ** k``."""
    z = xp.minimum(t, steps) / steps
    return z if k == 1.0 else xp.power(z, k)


def _rest(t: Array, steps: float, xp: Ops, k: float = 1.0) -> Array:
    """``1 - z``, computed without cancellation (exactly 0 from ``steps`` on)."""
    rest = (steps - xp.minimum(t, steps)) / steps
    return rest if k == 1.0 else xp.one_minus_pow(_progress(t, steps, xp), rest, k)


class _Anneal(Schedule):
    """Shared checks and the clipped progress ``z = min(t, steps) / steps``."""

    if TYPE_CHECKING:  # fields of every subclass
        init: float
        steps: float
        end: float

    def _check_range(self) -> None:
        self._set("init", _check.nonneg(self.name, "init", self.init))
        self._set("steps", _check.length(self.name, "steps", self.steps))
        self._set("end", _check.nonneg(self.name, "end", self.end))

    @property
    def length(self) -> float | None:
        return float(self.steps)

    def _progress(self, t: Array, xp: Ops, k: float = 1.0) -> Array:
        return _progress(t, self.steps, xp, k)

    def _rest(self, t: Array, xp: Ops, k: float = 1.0) -> Array:
        return _rest(t, self.steps, xp, k)


@schedule_class
class Linear(_Anneal):
    """Linear from ``init`` to ``end`` over ``steps``, then held::

        init + (end - init) * min(t, steps) / steps

    PyTorch's ``LinearLR`` is
    ``linear(start_factor*lr, end=end_factor*lr, steps=total_iters)``.

    >>> from lrkit import linear
    >>> s = linear(0.0, end=0.1, steps=10)
    >>> s(0), s(5), s(10), s(99)
    (0.0, 0.05, 0.1, 0.1)
    """

    name = "linear"
    value_fields = ("init", "end")
    positional = 1
    init: float
    _: KW_ONLY
    end: float
    steps: float

    def _validate(self) -> None:
        self._check_range()

    def _f(self, t: Array, xp: Ops) -> Array:
        return xp.lerp(self.init, self.end, self._progress(t, xp), self._rest(t, xp))


@schedule_class
class Polynomial(Schedule):
    """Polynomial decay: ``(init - end) * (1 - z) ** power + end``.

    Give exactly one of ``steps`` or ``every``::

        steps: z = (min(t, steps) / steps) ** progress_power    (held at end from t = steps)
        every: z = (t / h) ** progress_power,  h = every * max(ceil(t / every), 1)

    The ``every`` form is Keras' ``cycle=True``: the horizon ``h`` grows in whole
    periods, so the value reaches ``end`` at every multiple of ``every`` and then
    jumps up (such a schedule never settles: its length is None).
    ``progress_power`` is timm's k-decay.

    >>> from lrkit import polynomial
    >>> polynomial(0.1, steps=10, power=2.0)(5)
    0.025
    >>> s = polynomial(1.0, every=10)
    >>> s(5), s(10), s(12), s.length
    (0.5, 0.0, 0.4, None)
    """

    name = "polynomial"
    value_fields = ("init", "end")
    positional = 1
    init: float
    _: KW_ONLY
    steps: float | None = None
    every: float | None = None
    end: float = 0.0
    power: float = 1.0
    progress_power: float = 1.0

    def _validate(self) -> None:
        self._set("init", _check.nonneg(self.name, "init", self.init))
        if (self.steps is None) == (self.every is None):
            raise InputError(
                f"{self.name}: give exactly one of steps= (decay once, then hold end) or "
                f"every= (restart every `every` steps), got steps={self.steps!r}, "
                f"every={self.every!r}"
            )
        for name in ("steps", "every"):
            if getattr(self, name) is not None:
                self._set(name, _check.length(self.name, name, getattr(self, name)))
        self._set("end", _check.nonneg(self.name, "end", self.end))
        self._set("power", _check.positive(self.name, "power", self.power))
        self._set("progress_power",
                  _check.positive(self.name, "progress_power", self.progress_power))

    @property
    def length(self) -> float | None:
        return None if self.steps is None else float(self.steps)

    def _f(self, t: Array, xp: Ops) -> Array:
        k = self.progress_power
        if self.steps is not None:
            rest = _rest(t, self.steps, xp, k)
        else:
            assert self.every is not None
            horizon = self.every * xp.maximum(-xp.floor(-t / self.every), 1.0)
            # clipped: far out, every * ceil(t / every) can round to just below t
            rest = xp.one_minus_pow(xp.clip(t / horizon, 0.0, 1.0),
                                    xp.clip((horizon - t) / horizon, 0.0, 1.0), k)
        return (self.init - self.end) * xp.power(rest, self.power) + self.end


@schedule_class
class Cosine(_Anneal):
    """Cosine annealing from ``init`` to ``end`` over ``steps``, then held at ``end``::

        end + (init - end) * (0.5 * (1 + cos(pi * z))) ** power
        z = (min(t, steps) / steps) ** progress_power

    PyTorch's ``CosineAnnealingLR(T_max=steps, eta_min=end)`` (which, unlike
    this, rises again past ``T_max``), optax's ``cosine_decay_schedule`` and
    Keras' ``CosineDecay``. ``progress_power`` is timm's k-decay.

    >>> from lrkit import cosine
    >>> s = cosine(0.1, steps=100, end=0.001)
    >>> s(0), s(100), s(1000)
    (0.1, 0.001, 0.001)
    """

    name = "cosine"
    value_fields = ("init", "end")
    positional = 1
    init: float
    _: KW_ONLY
    steps: float
    end: float = 0.0
    power: float = 1.0
    progress_power: float = 1.0

    def _validate(self) -> None:
        self._check_range()
        self._set("power", _check.positive(self.name, "power", self.power))
        self._set("progress_power",
                  _check.positive(self.name, "progress_power", self.progress_power))

    def _f(self, t: Array, xp: Ops) -> Array:
        k = self.progress_power
        c = xp.cos_bell(self._progress(t, xp, k), self._rest(t, xp, k))
        if self.power != 1.0:
            c = xp.power(c, self.power)
        return self.end + (self.init - self.end) * c


@schedule_class
class Tanh(_Anneal):
    """timm's tanh decay:
    ``end + 0.5 * (init - end) * (1 - tanh(x_start * (1 - z) + x_end * z))``
    for ``t < steps``, then ``end``.

    ``z = t / steps``; timm's defaults ``x_start=-7``, ``x_end=3`` (its ``lb``, ``ub``).
    The curve itself starts a hair below ``init`` (``1 - tanh(x_start) < 2``) and stops
    short of ``end`` (``1 - tanh(x_end) > 0``); like timm's ``TanhLRScheduler``, which
    sets ``lr_min`` once its cycle is over, the value is ``end`` from ``t = steps`` on.
    Computed as ``end + (init - end) / (1 + exp(2 x))`` (the same value, without the
    cancellation of ``1 - tanh(x)``).

    >>> from lrkit import tanh
    >>> round(tanh(0.1, steps=100)(50), 6)
    0.098201
    """

    name = "tanh"
    value_fields = ("init", "end")
    positional = 1
    init: float
    _: KW_ONLY
    steps: float
    end: float = 0.0
    x_start: float = -7.0
    x_end: float = 3.0

    def _validate(self) -> None:
        self._check_range()
        self._set("x_start", _check.number(self.name, "x_start", self.x_start))
        self._set("x_end", _check.number(self.name, "x_end", self.x_end))
        if self.x_end <= self.x_start:
            raise InputError(f"{self.name}: x_end must be > x_start={self.x_start!r}, "
                             f"got {self.x_end!r}")

    def _f(self, t: Array, xp: Ops) -> Array:
        z = self._progress(t, xp)
        # 1 - tanh(x) == 2 / (1 + exp(2x)), without the cancellation of 1 - tanh(x) for x >> 0
        x = self.x_start * (1.0 - z) + self.x_end * z
        out = self.end + (self.init - self.end) / (1.0 + xp.exp(2.0 * x))
        return xp.where(t >= self.steps, self.end, out)


@schedule_class
class Rex(_Anneal):
    """REX (Chen et al., 2021): ``end + (init - end) * (1 - z) / (0.5 + 0.5 * (1 - z))``.

    >>> from lrkit import rex
    >>> round(rex(0.1, steps=100)(50), 12)
    0.066666666667
    """

    name = "rex"
    value_fields = ("init", "end")
    positional = 1
    init: float
    _: KW_ONLY
    steps: float
    end: float = 0.0

    def _validate(self) -> None:
        self._check_range()

    def _f(self, t: Array, xp: Ops) -> Array:
        r = self._rest(t, xp)
        return self.end + (self.init - self.end) * r / (0.5 + 0.5 * r)


@schedule_class
class InverseSqrt(Schedule):
    """Inverse square root: ``init / sqrt(1 + t / every)``.

    With a warm-up of ``W`` steps in front (``warmup(inverse_sqrt(P, every=W),
    warmup_steps=W)``) this is the Transformer's "Noam" schedule and Hugging Face's
    ``inverse_sqrt`` (whose default ``timescale`` is ``W``).

    >>> from lrkit import inverse_sqrt
    >>> inverse_sqrt(0.01, every=100)(300)
    0.005
    """

    name = "inverse_sqrt"
    value_fields = ("init",)
    positional = 1
    init: float
    _: KW_ONLY
    every: float

    def _validate(self) -> None:
        self._set("init", _check.nonneg(self.name, "init", self.init))
        self._set("every", _check.length(self.name, "every", self.every))

    def _f(self, t: Array, xp: Ops) -> Array:
        return self.init / xp.sqrt(1.0 + t / self.every)


@schedule_class
class WSD(_Anneal):
    """Warmup-stable-decay's stable and decay phases: ``init`` until
    ``steps - decay_steps``, then down to ``end`` over the last ``decay_steps`` steps::

        d = clip((t - (steps - decay_steps)) / decay_steps, 0, 1)
        end + (init - end) * f(d),  f = 1 - d | (1 + cos(pi d)) / 2 | 1 - sqrt(d)

    for ``shape`` = ``"linear"``, ``"cosine"``, ``"1-sqrt"`` (the default, as
    in timm). Put a warm-up in front with :func:`lrkit.warmup`.

    >>> from lrkit import wsd
    >>> s = wsd(0.1, steps=100, decay_steps=20, shape="linear")
    >>> s(80), s(90), s(100)
    (0.1, 0.05, 0.0)
    """

    name = "wsd"
    value_fields = ("init", "end")
    positional = 1
    init: float
    _: KW_ONLY
    steps: float
    decay_steps: float
    end: float = 0.0
    shape: str = "1-sqrt"

    def _validate(self) -> None:
        self._check_range()
        self._set("decay_steps", _check.length(self.name, "decay_steps", self.decay_steps))
        _check.choice(self.name, "shape", self.shape, WSD_SHAPES)
        if self.decay_steps > self.steps:
            raise InputError(f"{self.name}: decay_steps must be <= steps={self.steps!r}, "
                             f"got {self.decay_steps!r}")

    def _f(self, t: Array, xp: Ops) -> Array:
        # rest = 1 - d is computed directly: exactly 0 at t == steps, whatever the rounding
        rest = xp.clip((self.steps - t) / self.decay_steps, 0.0, 1.0)
        d = 1.0 - rest
        if self.shape == "linear":
            f = rest
        elif self.shape == "cosine":
            f = xp.cos_bell(d, rest)
        else:
            f = rest / (1.0 + xp.sqrt(d))  # == 1 - sqrt(d), without cancellation near d = 1
        return self.end + (self.init - self.end) * f
