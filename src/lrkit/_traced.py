"""Checks for the adapters that evaluate a schedule in a traced framework (Keras, JAX).

Used by :mod:`lrkit.keras` and :mod:`lrkit.optax` only; not part of the core.
"""

from __future__ import annotations

import numpy as np

from .schedule import Schedule

TRACEABLE = ("A schedule's formula must use only the operations of lrkit.xp.Ops on t "
             "(where/minimum/maximum/floor/cos/exp/..., no Python if/math on t)")
"""What a formula may do with ``t``: said when a framework cannot trace a schedule."""


def same_as_numpy(who: str, s: Schedule, ts: np.ndarray, got: np.ndarray, where: str,
                  precise: bool, hint: str) -> None:
    """Refuse ``s`` if ``got`` (its values at ``ts`` computed ``where``) differs from NumPy's:
    to 1e-9 relative when ``precise`` (float64), else 1e-4 (float32); ``hint`` says why."""
    want = s.values(ts)
    rtol = 1e-9 if precise else 1e-4
    atol = rtol * float(np.max(np.abs(want)))
    if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol):
        raise ValueError(f"{who}: {s!r} gives {got.tolist()} {where} but {want.tolist()} "
                         f"in NumPy at t={ts.tolist()}; {hint}")
