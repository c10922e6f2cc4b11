"""NaN <-> None: the one pair of converters between float arrays and JSON.

Standard JSON has no NaN or infinity, so ``results.json``, the store and every
``to_dict()`` write a missing or non-finite number as ``null`` (``None``), and
read ``None`` back as NaN. A leaf: imports only NumPy.

>>> json_floats([1.0, float("nan"), float("inf"), None])
[1.0, None, None, None]
>>> float_array([1.0, None]).tolist()
[1.0, nan]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np


def json_floats(values: Iterable[Any]) -> list[float | None]:
    """Floats for JSON: ``float(x)``, or ``None`` where ``x`` is ``None`` or not finite."""
    return [json_float(x) for x in values]


def json_float(x: Any) -> float | None:
    """One number for JSON: ``float(x)``, or ``None`` if ``x`` is ``None`` or not finite.

    >>> json_float(2), json_float(float("-inf"))
    (2.0, None)
    """
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def float_array(values: Iterable[Any]) -> np.ndarray:
    """A float64 array with ``None`` read as NaN."""
    return np.array([math.nan if x is None else x for x in values], dtype=np.float64)
