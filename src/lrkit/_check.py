"""Argument checks shared by every constructor.

Each check names the schedule, the parameter, the value and what would be
valid, e.g. ``cosine: steps must be a positive number, got 0``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


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


def number(owner: str, name: str, value: Any) -> float | int:
    """A finite real number (``bool`` is refused); NumPy scalars become Python numbers."""
    value = _builtin(value)
    if not is_number(value):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}")
    out: float | int = value
    try:
        finite = math.isfinite(out)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        raise ValueError(f"{owner}: {name} must be finite, got {value!r}")
    return out


def nonneg(owner: str, name: str, value: Any) -> float | int:
    x = number(owner, name, value)
    if x < 0:
        raise ValueError(f"{owner}: {name} must be >= 0, got {x!r}")
    return x


def positive(owner: str, name: str, value: Any) -> float | int:
    x = number(owner, name, value)
    if x <= 0:
        raise ValueError(f"{owner}: {name} must be > 0, got {x!r}")
    return x


def between(owner: str, name: str, value: Any, low: float, high: float,
            low_open: bool = False, high_open: bool = False) -> float | int:
    x = number(owner, name, value)
    bad_low = x <= low if low_open else x < low
    bad_high = x >= high if high_open else x > high
    if bad_low or bad_high:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"{owner}: {name} must be in {lo}{low}, {high}{hi}, got {x!r}")
    return x


def integer(owner: str, name: str, value: Any, minimum: int = 1) -> int:
    """An integer ``>= minimum``: an ``int``, a NumPy integer or a whole ``float`` (``2.0``),
    returned as an ``int``; ``bool`` is refused."""
    value = _builtin(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    return value


def choice(owner: str, name: str, value: Any, options: Sequence[str]) -> str:
    if value not in options:
        valid = ", ".join(repr(o) for o in options)
        raise ValueError(f"{owner}: {name} must be one of {valid}, got {value!r}")
    return str(value)


def flag(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be True or False, got {value!r}")
    return value


def numbers(owner: str, name: str, values: Any, check: Any = nonneg,
            min_len: int = 0) -> tuple[float | int, ...]:
    """A sequence of numbers, each passed through ``check``; stored as a tuple."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{owner}: {name} must be a sequence of numbers, got {values!r}")
    out = tuple(check(owner, f"{name}[{i}]", v) for i, v in enumerate(values))
    if len(out) < min_len:
        raise ValueError(
            f"{owner}: {name} must have at least {min_len} element(s), got {list(out)!r}"
        )
    return out


def increasing(owner: str, name: str, values: Sequence[float], strict: bool = False) -> None:
    for i in range(1, len(values)):
        if values[i] < values[i - 1] or (strict and values[i] == values[i - 1]):
            kind = "strictly increasing" if strict else "non-decreasing"
            raise ValueError(f"{owner}: {name} must be {kind}, got {list(values)!r}")
