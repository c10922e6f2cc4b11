"""Reduce-on-plateau as a factor that composes with any schedule.

``cosine(0.1, steps=10_000) * plateau(factor=0.5, patience=3)`` is a
schedule value like any other (it plots as the cosine: the plateau factor is
1 until a metric says otherwise). Adapters split it with :func:`split_plateau`
and keep a :class:`PlateauState` that turns observed metrics into a scale::

    lr(t) = max(base(t) * scale, min(base(t), floor))

so the floor never lifts the value above the base schedule.

The rule is PyTorch's ``ReduceLROnPlateau``: an observation improves on the
best so far if ``m < best * (1 - threshold)`` (``rel``) or
``m < best - threshold`` (``abs``), mirrored for ``mode="max"``; after more
than ``patience`` observations in a row without improvement the scale is
multiplied by ``factor`` and ``cooldown`` observations are ignored. A NaN
metric counts as not improving and never becomes the best. Keras'
``patience=p`` is ``patience=p-1`` here, and its ``min_delta`` is
``threshold`` with ``threshold_mode="abs"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import KW_ONLY
from typing import Any

import numpy as np

from . import _check
from .errors import InputError, InputTypeError
from .schedule import Constant, Mul, Schedule, schedule_class
from .xp import Array, Ops


@schedule_class
class Plateau(Schedule):
    """A reduce-on-plateau factor: multiplies a schedule by a metric-driven scale.

    >>> from lrkit import cosine, plateau
    >>> s = cosine(0.1, steps=100) * plateau(factor=0.5, patience=2)
    >>> s(0)
    0.1
    """

    name = "plateau"
    _: KW_ONLY
    mode: str = "min"
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    cooldown: int = 0
    floor: float = 0.0
    eps: float = 1e-8

    def _validate(self) -> None:
        _check.choice(self.name, "mode", self.mode, ("min", "max"))
        self._set("factor", _check.between(self.name, "factor", self.factor, 0, 1, True, True))
        self._set("patience", _check.integer(self.name, "patience", self.patience, 0))
        self._set("threshold", _check.nonneg(self.name, "threshold", self.threshold))
        _check.choice(self.name, "threshold_mode", self.threshold_mode, ("rel", "abs"))
        self._set("cooldown", _check.integer(self.name, "cooldown", self.cooldown, 0))
        self._set("floor", _check.nonneg(self.name, "floor", self.floor))
        self._set("eps", _check.nonneg(self.name, "eps", self.eps))

    @property
    def length(self) -> float | None:
        return 0.0

    def _ceiling(self) -> float:
        return 1.0

    def _f(self, t: Array, xp: Ops) -> Array:
        return t * 0.0 + 1.0

    def state(self) -> PlateauState:
        """A fresh controller for this configuration."""
        return PlateauState(self)


class PlateauState:
    """The mutable side of :class:`Plateau`: best metric, bad-epoch count, cooldown, scale.

    Its :meth:`state_dict` holds only Python builtins.
    """

    def __init__(self, config: Plateau) -> None:
        self.config = config
        self.scale = 1.0
        self.best = math.inf if config.mode == "min" else -math.inf
        self.num_bad = 0
        self.cooldown_left = 0
        self.reductions = 0

    def _improves(self, m: float) -> bool:
        c = self.config
        if math.isnan(m):
            return False
        if c.mode == "min":
            limit = self.best * (1 - c.threshold) if c.threshold_mode == "rel" else (
                self.best - c.threshold)
            return m < limit
        limit = self.best * (1 + c.threshold) if c.threshold_mode == "rel" else (
            self.best + c.threshold)
        return m > limit

    def observe(self, metric: Any, lr: float | None = None) -> bool:
        """Take one metric value; return True if the scale was reduced.

        ``lr`` (the current value) lets the ``eps`` rule skip reductions that
        would change the value by ``eps`` or less, as PyTorch does.
        """
        if hasattr(metric, "item"):
            metric = metric.item()
        if isinstance(metric, bool) or not isinstance(metric, (int, float)):
            raise InputTypeError(f"plateau: metric must be a number, got {metric!r}")
        m = float(metric)
        if self._improves(m):
            self.best = m
            self.num_bad = 0
        else:
            self.num_bad += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.num_bad = 0
        if self.num_bad > self.config.patience:
            self.num_bad = 0
            self.cooldown_left = self.config.cooldown
            if lr is not None:
                new = max(lr * self.config.factor, min(lr, self.config.floor))
                if lr - new <= self.config.eps:
                    return False
            self.scale *= self.config.factor
            self.reductions += 1
            return True
        return False

    def apply(self, base: Any) -> Any:
        """The value for base-schedule value(s): see :func:`plateau_value`."""
        return plateau_value(base, self.scale, self.config.floor)

    def state_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "best": self.best,
            "num_bad": self.num_bad,
            "cooldown_left": self.cooldown_left,
            "reductions": self.reductions,
        }

    def load_state_dict(self, state: Any, who: str = "plateau state") -> None:
        """Take a :meth:`state_dict`; anything else raises ``ValueError`` naming the key and
        what was expected, and changes nothing.

        ``scale`` must be in ``[0, 1]`` (it only ever shrinks from 1), ``best`` a number
        that is not NaN, the counts integers ``>= 0``.
        """
        keys = {"scale", "best", "num_bad", "cooldown_left", "reductions"}
        if not isinstance(state, Mapping) or set(state) != keys:
            got = sorted(map(repr, state)) if isinstance(state, Mapping) else repr(state)
            raise InputError(f"{who} must have keys {sorted(keys)}, got {got}")
        scale, best = state["scale"], state["best"]
        if not (_check.is_number(scale) and 0.0 <= scale <= 1.0):
            raise InputError(f"{who}: 'scale' must be a number in [0, 1], got {scale!r}")
        try:
            best = float(best) if _check.is_number(best) else math.nan
        except OverflowError:  # an int too large for a float
            best = math.nan
        if best != best:
            raise InputError(f"{who}: 'best' must be a number (not NaN), got {state['best']!r}")
        counts = {}
        for key in ("num_bad", "cooldown_left", "reductions"):
            v = state[key]
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
                raise InputError(f"{who}: {key!r} must be an integer >= 0, got {v!r}")
            counts[key] = v
        self.scale = float(scale)
        self.best = best
        self.num_bad = counts["num_bad"]
        self.cooldown_left = counts["cooldown_left"]
        self.reductions = counts["reductions"]


def plateau_value(base: Any, scale: float, floor: float) -> Any:
    """``max(base * scale, min(base, floor))``, for a Python float or a NumPy array of them.

    The one place the plateau's formula lives: the PyTorch adapter and the batched
    trainer both call it. The floor never lifts a value above its base.

    >>> plateau_value(0.1, 0.5, 0.0), plateau_value(0.1, 0.01, 0.01)
    (0.05, 0.01)
    >>> import numpy as np
    >>> plateau_value(np.array([0.1, 0.001]), 0.1, 0.005).tolist()
    [0.010000000000000002, 0.001]
    """
    if isinstance(base, float | int):
        return max(base * scale, min(base, floor))
    return np.maximum(base * scale, np.minimum(base, floor))


def _factors(s: Schedule) -> list[Schedule]:
    if isinstance(s, Mul):
        return _factors(s.left) + _factors(s.right)
    return [s]


def _contains_plateau(s: Schedule) -> bool:
    return isinstance(s, Plateau) or any(_contains_plateau(c) for c in s.children())


def split_plateau(s: Schedule) -> tuple[Schedule, Plateau | None]:
    """Split ``base * plateau(...)`` into ``(base, plateau)``; ``(s, None)`` without one.

    A plateau factor must multiply the whole schedule (a top-level factor);
    one nested inside ``join``/``warmup``/... is refused, since its scale
    would have no single meaning.
    """
    factors = _factors(s)
    plateaus = [f for f in factors if isinstance(f, Plateau)]
    rest = [f for f in factors if not isinstance(f, Plateau)]
    if len(plateaus) > 1:
        raise InputError(
            f"a schedule may hold one plateau(...) factor, got {len(plateaus)} in {s!r}"
        )
    if any(_contains_plateau(f) for f in rest):
        raise InputError(
            f"plateau(...) must multiply the whole schedule, as in 'schedule * plateau(...)'; "
            f"got it nested in {s!r}"
        )
    if not plateaus:
        return s, None
    base: Schedule = rest[0] if rest else Constant(1.0)
    for f in rest[1:]:
        base = Mul(base, f)
    return base, plateaus[0]
