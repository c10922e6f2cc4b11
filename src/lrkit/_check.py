"""Argument checks shared by every constructor.

Each check names the schedule, the parameter, the value and what would be
valid, e.g. ``cosine: steps must be > 0, got 0``. A bad value raises
:class:`lrkit.errors.InputError` (a ``ValueError``), a value of the wrong type
:class:`lrkit.errors.InputTypeError` (a ``TypeError``); values are shown with
:func:`lrkit.errors.shown`, so a huge value still makes a short message.

>>> from lrkit import _check
>>> _check.positive("cosine", "steps", 0)
Traceback (most recent call last):
...
lrkit.InputError: cosine: steps must be > 0, got 0
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from .errors import InputError, InputTypeError, shown


def is_number(x: Any) -> bool:
    """An ``int`` or a ``float`` (or a subclass, such as ``numpy.float64``), not a ``bool``."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _builtin(value: Any) -> Any:
    """NumPy scalars (even float64) and subclasses of int/float as Python numbers; other
    values unchanged."""
    if type(value) not in (int, float):
        if hasattr(value, "item") and getattr(value, "shape", None) == ():
            return value.item()
        if is_number(value):
            return float(value) if isinstance(value, float) else int(value)
    return value


EXACT_INT = 2**53
"""Integers up to this size are exact in float64; a larger ``int`` parameter is stored as
the float the formulas compute with (so that ``s(t)`` and ``s.values`` compare it alike)."""


def number(owner: str, name: str, value: Any) -> float | int:
    """A finite real number (``bool`` is refused); NumPy scalars become Python numbers, and
    an ``int`` beyond :data:`EXACT_INT` becomes a ``float``."""
    value = _builtin(value)
    if not is_number(value):
        raise InputTypeError(f"{owner}: {name} must be a number, got {shown(value)}")
    out: float | int = value
    try:
        finite = math.isfinite(out)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        raise InputError(f"{owner}: {name} must be finite, got {shown(value)}")
    if isinstance(out, int) and abs(out) > EXACT_INT:
        return float(out)
    return out


def nonneg(owner: str, name: str, value: Any) -> float | int:
    x = number(owner, name, value)
    if x < 0:
        raise InputError(f"{owner}: {name} must be >= 0, got {shown(x)}")
    return x


def positive(owner: str, name: str, value: Any) -> float | int:
    x = number(owner, name, value)
    if x <= 0:
        raise InputError(f"{owner}: {name} must be > 0, got {shown(x)}")
    return x


MIN_LENGTH = 2.0**-30
"""The shortest length a schedule accepts (``steps``, ``every``, ``cycle_steps``, ...):
about 9.3e-10 steps. With ``t`` at most ``lrkit.schedule.T_MAX`` (2**53), ``t / length``
and the cycle counts built from it stay far inside float64 (below 2**83); a shorter
length would make them overflow to ``inf`` and the formulas undefined."""

MAX_CYCLE_MULT = 2.0**53
"""The largest growth factor of a cycle (``cosine_restarts``' ``cycle_mult``): beyond
it the second cycle ends past any step a schedule tells apart (``T_MAX``), and the cycle
starts (``cycle_steps * cycle_mult ** i``) could overflow."""


def length(owner: str, name: str, value: Any) -> float | int:
    """A length in steps: a finite number ``> 0`` and ``>= MIN_LENGTH`` (2**-30, about
    9.3e-10).

    >>> length("cosine", "steps", 1e-12)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lrkit.InputError: cosine: steps must be >= 2**-30 (9.313225746154785e-10; ...), got 1e-12
    """
    x = positive(owner, name, value)
    if x < MIN_LENGTH:
        raise InputError(f"{owner}: {name} must be >= 2**-30 ({MIN_LENGTH!r}; a length in "
                         f"steps), got {shown(x)}")
    return x


def between(owner: str, name: str, value: Any, low: float, high: float,
            low_open: bool = False, high_open: bool = False) -> float | int:
    x = number(owner, name, value)
    bad_low = x <= low if low_open else x < low
    bad_high = x >= high if high_open else x > high
    if bad_low or bad_high:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise InputError(f"{owner}: {name} must be in {lo}{low}, {high}{hi}, got {shown(x)}")
    return x


def integer(owner: str, name: str, value: Any, minimum: int = 1) -> int:
    """An integer ``>= minimum`` that a float can hold (at most ``sys.float_info.max``,
    since formulas compute in float64): an ``int``, a NumPy integer or a whole ``float``
    (``2.0``), returned as an ``int``; ``bool`` is refused."""
    value = _builtin(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    what = f"{owner}: {name} must be an integer >= {minimum}"
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputTypeError(f"{what}, got {shown(value)}")
    if value < minimum:
        raise InputError(f"{what}, got {shown(value)}")
    if value > sys.float_info.max:
        raise InputError(f"{what} and at most {sys.float_info.max!r}, got {shown(value)}")
    return value


def choice(owner: str, name: str, value: Any, options: Sequence[str]) -> str:
    if value not in options:
        valid = ", ".join(repr(o) for o in options)
        raise InputError(f"{owner}: {name} must be one of {valid}, got {shown(value)}")
    return str(value)


def flag(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InputTypeError(f"{owner}: {name} must be True or False, got {shown(value)}")
    return value


def numbers(owner: str, name: str, values: Any, check: Any = nonneg,
            min_len: int = 0) -> tuple[float | int, ...]:
    """A sequence of numbers, each passed through ``check``; stored as a tuple."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InputTypeError(
            f"{owner}: {name} must be a sequence of numbers, got {shown(values)}")
    out = tuple(check(owner, f"{name}[{i}]", v) for i, v in enumerate(values))
    if len(out) < min_len:
        raise InputError(
            f"{owner}: {name} must have at least {min_len} element(s), got {shown(list(out))}"
        )
    return out


def increasing(owner: str, name: str, values: Sequence[float], strict: bool = False) -> None:
    for i in range(1, len(values)):
        if values[i] < values[i - 1] or (strict and values[i] == values[i - 1]):
            kind = "strictly increasing" if strict else "non-decreasing"
            raise InputError(f"{owner}: {name} must be {kind}, got {shown(list(values))}")
