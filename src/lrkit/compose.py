"""Combinators that re-time schedules: ``join``, ``warmup``, ``repeat``, ``shift``, ``stretch``.

What each does with time, precisely:

* ``join(a, b, c)`` plays pieces one after another. Piece ``i`` starts at
  boundary ``at[i-1]`` (by default the sum of the earlier pieces' lengths)
  and sees its **local** time ``t - at[i-1]``, as in optax's ``join_schedules``.
* ``warmup(s, warmup_steps=W)`` ramps from ``init`` to ``s(0)`` over ``W`` steps. If
  ``s`` is finite (length ``N > W``), ``N`` is the total, warm-up included:
  ``s`` is re-timed to fill the remaining ``N - W`` steps, so that
  ``warmup(cosine(P, steps=N), warmup_steps=W)`` is optax's
  ``warmup_cosine_decay_schedule(0, P, W, N)`` and Hugging Face's
  ``get_cosine_schedule_with_warmup(W, N)``. Otherwise (``s`` never settles,
  or ``fit=False``) the warm-up is put in front: ``s(t - W)`` for ``t >= W``.
* ``repeat(s)`` plays ``s`` periodically: ``s(t mod every)``.
* ``shift(s, delay=k)`` starts ``s`` ``k`` steps later (holding ``s(0)``
  before); a negative ``k`` starts ``|k|`` steps into ``s``.
* ``stretch(s, steps=N)`` re-times a finite schedule to end at ``N``:
  ``s(t / N * s.length)``.
"""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, field
from typing import Any

from . import _check
from .errors import InputError, InputTypeError, shown
from .schedule import T_MAX, Schedule, schedule_class, schedule_field
from .xp import Array, Ops

WARMUP_SHAPES = ("linear", "cosine", "exponential")


def _local(t: Array, start: float, xp: Ops) -> Array:
    """``max(t - start, 0)``, at most ``T_MAX`` (a negative ``start`` can push it past)."""
    return _retimed(xp.maximum(t - start, 0.0), xp)


def _retimed(t: Array, xp: Ops) -> Array:
    """A re-timed step handed to an inner schedule, clamped to ``T_MAX`` like every step
    (see :data:`lrkit.schedule.T_MAX`)."""
    return xp.minimum(t, T_MAX)


def _end(start: float, n: float) -> float:
    """The step at which a piece of length ``n`` that starts at ``start`` ends: ``start + n``,
    nudged up where rounding would leave its local time ``t - start`` just short of ``n``
    (e.g. ``0.7 + 0.1 - 0.7 < 0.1``), so that from there on it is at its final value."""
    end = start + n
    while end - start < n:
        end = math.nextafter(end, math.inf)
    return end


@schedule_class
class Join(Schedule):
    """Pieces in sequence, each in its own local time.

    ``join(a, b)`` switches to ``b`` at ``t = a.length`` (``b`` then sees
    ``t - a.length``). Pieces that never settle need explicit boundaries:
    ``join(a, b, c, at=(100, 300))``.

    >>> from lrkit import join, linear, cosine
    >>> s = join(linear(0.0, end=0.1, steps=10), cosine(0.1, steps=90))
    >>> s(5), s(10), s(100)
    (0.05, 0.1, 0.0)
    >>> s
    join(linear(init=0.0, end=0.1, steps=10), cosine(init=0.1, steps=90))
    """

    name = "join"
    variadic = True
    positional = written = 1
    pieces: tuple[Schedule, ...]
    _: KW_ONLY
    at: tuple[float, ...] | None = None
    _bounds: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def _validate(self) -> None:
        if isinstance(self.pieces, Schedule) or not isinstance(self.pieces, (tuple, list)):
            raise InputTypeError(
                f"join: pieces must be a sequence of schedules, got {shown(self.pieces)}")
        pieces = tuple(schedule_field("join", f"pieces[{i}]", p) for i, p in enumerate(self.pieces))
        if not pieces:
            raise InputError("join: needs at least one piece, got none")
        self._set("pieces", pieces)
        if self.at is None:
            bounds: list[float] = []
            total = 0.0
            for i, p in enumerate(pieces[:-1]):
                n = p.length
                if not n:
                    raise InputError(
                        f"join: pieces[{i}]={p!r} has no end to join at (length {n!r}); give it "
                        "a length (e.g. constant(..., steps=N)) or pass the boundaries as at=(...)"
                    )
                total += n
                bounds.append(total)
        else:
            bounds = list(_check.numbers("join", "at", self.at))
            _check.increasing("join", "at", bounds)
            if len(bounds) != len(pieces) - 1:
                raise InputError(
                    f"join: at needs len(pieces) - 1 = {len(pieces) - 1} boundaries, "
                    f"got {len(bounds)}"
                )
            self._set("at", tuple(bounds))
        self._set("_bounds", tuple(float(b) for b in bounds))

    def _spec_args(self) -> tuple[list[Any], dict[str, Any]]:
        return list(self.pieces), ({} if self.at is None else {"at": self.at})

    @classmethod
    def _from_args(cls, args: list[Any], kwargs: dict[str, Any]) -> Schedule:
        if "pieces" in kwargs:
            if args:
                raise InputTypeError("join: give the pieces as positional arguments or as "
                                "pieces=(...), not both")
            return cls(**kwargs)
        return cls(tuple(args), **kwargs)

    @property
    def boundaries(self) -> tuple[float, ...]:
        """The steps at which each piece after the first starts."""
        return self._bounds

    @property
    def length(self) -> float | None:
        last = self.pieces[-1].length
        start = self.boundaries[-1] if self.boundaries else 0.0
        return None if last is None else _end(start, last)

    def _f(self, t: Array, xp: Ops) -> Array:
        out = self.pieces[0]._f(t, xp)
        for b, p in zip(self.boundaries, self.pieces[1:]):
            out = xp.where(t < b, out, p._f(_local(t, b, xp), xp))
        return out


def join(*pieces: Any, at: Any = None) -> Join:
    """Pieces in sequence, each in its own local time (see :class:`Join`)."""
    return Join(tuple(pieces), at=at)


@schedule_class
class Warmup(Schedule):
    """A warm-up ramp from ``init`` to ``schedule(0)`` over ``warmup_steps``, then ``schedule``.

    Ramp shapes (``W = warmup_steps``, ``u = t / W``, ``top = schedule(0)``):
    ``"linear"`` ``init + (top - init) * u``; ``"cosine"``
    ``init + (top - init) * (1 - cos(pi u)) / 2``; ``"exponential"``
    ``init * (top / init) ** u`` (needs ``init > 0``).

    When ``schedule`` is finite with length ``N`` and ``fit=True`` (the
    default), ``N`` counts the warm-up and ``schedule`` is re-timed into
    ``[W, N]``: ``schedule((t - W) / (N - W) * N)``. Otherwise the
    warm-up goes in front: ``schedule(t - W)``.

    >>> from lrkit import warmup, cosine
    >>> s = warmup(cosine(0.1, steps=10000), warmup_steps=500)
    >>> s(0), s(250), s(500), s(10000)
    (0.0, 0.05, 0.1, 0.0)
    >>> s
    warmup(cosine(init=0.1, steps=10000), warmup_steps=500)
    """

    name = "warmup"
    value_fields = ("init",)
    positional = written = 1
    schedule: Schedule
    _: KW_ONLY
    warmup_steps: float
    init: float = 0.0
    shape: str = "linear"
    fit: bool = True
    _top: float = field(init=False, repr=False, compare=False)
    _fitted: bool = field(init=False, repr=False, compare=False)

    def _validate(self) -> None:
        self._set("schedule", schedule_field(self.name, "schedule", self.schedule))
        self._set("warmup_steps", _check.length(self.name, "warmup_steps", self.warmup_steps))
        self._set("init", _check.nonneg(self.name, "init", self.init))
        _check.choice(self.name, "shape", self.shape, WARMUP_SHAPES)
        _check.flag(self.name, "fit", self.fit)
        top = self.schedule(0)
        if self.shape == "exponential" and (self.init <= 0 or top <= 0):
            raise InputError(
                f"{self.name}: shape='exponential' needs init > 0 and a target > 0, "
                f"got init={self.init!r}, target={top!r}"
            )
        n = self.schedule.length
        fitted = self.fit and bool(n)
        if fitted and n is not None and n <= self.warmup_steps:
            raise InputError(
                f"{self.name}: warmup_steps={self.warmup_steps!r} must be < the schedule's "
                f"length {n!r}, which counts the warm-up (pass fit=False to put the warm-up "
                "in front)"
            )
        self._set("_top", top)
        self._set("_fitted", fitted)

    @property
    def length(self) -> float | None:
        n = self.schedule.length
        if self._fitted:
            return n
        return None if n is None else _end(self.warmup_steps, n)

    def _f(self, t: Array, xp: Ops) -> Array:
        w, init, top = float(self.warmup_steps), self.init, self._top
        u = xp.minimum(t, w) / w
        if self.shape == "linear":
            ramp = init + (top - init) * u
        elif self.shape == "cosine":
            ramp = init + (top - init) * xp.cos_bell((w - xp.minimum(t, w)) / w, u)
        else:
            ramp = init * xp.power(top / init, u)
        local = _local(t, w, xp)
        if self._fitted:
            # divide first: at t == n the ratio is exactly 1, so the re-timed
            # schedule is at exactly its end (and beyond it for t > n)
            n = float(self.schedule.length or 0.0)
            local = _retimed(local / (n - w) * n, xp)
        return xp.where(t < w, ramp, self.schedule._f(local, xp))


@schedule_class
class Repeat(Schedule):
    """``schedule(t mod every)``; ``every`` defaults to the schedule's length.

    >>> from lrkit import repeat, linear
    >>> s = repeat(linear(1.0, end=0.0, steps=10))
    >>> s(5), s(10), s(15)
    (0.5, 1.0, 0.5)
    """

    name = "repeat"
    positional = written = 1
    schedule: Schedule
    _: KW_ONLY
    every: float | None = None

    def _validate(self) -> None:
        self._set("schedule", schedule_field(self.name, "schedule", self.schedule))
        if self.every is None:
            if not self.schedule.length:
                raise InputError(
                    f"{self.name}: {self.schedule!r} never ends (length "
                    f"{self.schedule.length!r}); give the period as every="
                )
            _check.length(self.name, "the period (the schedule's length)",
                          self.schedule.length)
        else:
            self._set("every", _check.length(self.name, "every", self.every))

    @property
    def period(self) -> float:
        return float(self.every if self.every is not None else self.schedule.length or 0.0)

    def _f(self, t: Array, xp: Ops) -> Array:
        return self.schedule._f(xp.mod(t, self.period), xp)


@schedule_class
class Shift(Schedule):
    """``schedule(max(t - delay, 0))``: start ``delay`` steps later; negative starts inside.

    >>> from lrkit import shift, linear
    >>> s = shift(linear(1.0, end=0.0, steps=10), delay=5)
    >>> s(0), s(5), s(10)
    (1.0, 1.0, 0.5)
    """

    name = "shift"
    positional = written = 1
    schedule: Schedule
    _: KW_ONLY
    delay: float

    def _validate(self) -> None:
        self._set("schedule", schedule_field(self.name, "schedule", self.schedule))
        self._set("delay", _check.number(self.name, "delay", self.delay))

    @property
    def length(self) -> float | None:
        n = self.schedule.length
        return None if n is None else max(0.0, _end(self.delay, n))

    def _f(self, t: Array, xp: Ops) -> Array:
        return self.schedule._f(_local(t, float(self.delay), xp), xp)


@schedule_class
class Stretch(Schedule):
    """``schedule(t / steps * schedule.length)``: the same curve, ending at ``steps``.

    >>> from lrkit import stretch, linear
    >>> stretch(linear(1.0, end=0.0, steps=10), steps=100)(50)
    0.5
    """

    name = "stretch"
    positional = written = 1
    schedule: Schedule
    _: KW_ONLY
    steps: float

    def _validate(self) -> None:
        self._set("schedule", schedule_field(self.name, "schedule", self.schedule))
        self._set("steps", _check.length(self.name, "steps", self.steps))
        if not self.schedule.length:
            raise InputError(
                f"{self.name}: needs a finite schedule with a length > 0, got "
                f"{self.schedule!r} (length {self.schedule.length!r})"
            )

    @property
    def length(self) -> float | None:
        return float(self.steps)

    def _f(self, t: Array, xp: Ops) -> Array:
        # t / steps first: exactly 1 at t == steps, so the end is reached exactly
        return self.schedule._f(
            _retimed(t / self.steps * float(self.schedule.length or 0.0), xp), xp)
