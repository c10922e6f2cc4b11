"""JAX / optax adapter: an lrkit schedule as an optax schedule (a function of the step count).

``lrkit.optax.schedule(s)`` returns a callable ``count -> learning rate`` that
evaluates the schedule's one formula with ``jax.numpy``. It traces under
``jax.jit`` (``count`` is optax's int32 step counter: the first update uses
``s(0)``), computes in float32, or in float64 when ``jax_enable_x64`` is on,
and plugs in wherever optax takes a schedule::

    tx = optax.sgd(learning_rate=lrkit.optax.schedule(s), momentum=0.9)
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=lrkit.optax.schedule(s))
    # ... state.hyperparams["learning_rate"] is the value used by the last update

JAX and optax are imported when a schedule is built, not when this module is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _traced
from ._plateau import Plateau, split_plateau
from .errors import InputError, InputTypeError
from .schedule import Schedule
from .spec import as_schedule

__all__ = ["schedule", "OptaxSchedule", "reduce_on_plateau"]


def _dtype() -> Any:
    """float32, or float64 when ``jax_enable_x64`` is on."""
    import jax

    return jax.dtypes.canonicalize_dtype(np.float64)


class OptaxSchedule:
    """``count -> s(count)`` in ``jax.numpy``: an optax ``Schedule`` (see :func:`schedule`)."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule

    def __call__(self, count: Any) -> Any:
        import jax.numpy as jnp

        dtype = _dtype()
        t = jnp.asarray(count).astype(dtype)
        return jnp.asarray(self.schedule.evaluate(t, "jax.numpy"), dtype=dtype)

    def __repr__(self) -> str:
        return f"lrkit.optax.schedule({self.schedule!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OptaxSchedule) and other.schedule == self.schedule

    def __hash__(self) -> int:
        return hash(("lrkit.optax", self.schedule))


def schedule(s: Any) -> OptaxSchedule:
    """An optax schedule (``count -> lr``) computing the lrkit schedule ``s`` in ``jax.numpy``.

    ``s`` is an lrkit schedule, a number or a spec string. The formula is
    checked once here: it must trace under ``jax.jit`` and agree with NumPy,
    so a bad formula fails now rather than inside a training step. A Python
    function (``lambda step: ...``) is refused: optax takes one directly.
    """
    who = "lrkit.optax.schedule"
    if callable(s) and not isinstance(s, Schedule):
        raise InputTypeError(
            f"{who}: s={s!r} is a Python function, not an lrkit schedule; lrkit cannot check "
            "that it traces under jax.jit. Write it as an lrkit schedule (e.g. "
            "lrkit.exponential(0.1, factor=0.5, every=1000)), or pass a jnp function to optax "
            "directly"
        )
    sched = as_schedule(s, f"{who}: s")
    if split_plateau(sched)[1] is not None:
        raise InputError(
            f"{who}: {sched!r} holds a plateau(...) factor, which needs metric values that an "
            "optax schedule (a function of the step count) never sees; schedule the base and "
            "chain lrkit.optax.reduce_on_plateau(s) after the optimizer (see its docstring)"
        )
    out = OptaxSchedule(sched)
    _check_traceable(who, out)
    return out


def _check_traceable(who: str, fn: OptaxSchedule) -> None:
    """Run once under ``jax.jit`` on a few int32 steps and compare with NumPy."""
    import jax
    import jax.numpy as jnp

    s = fn.schedule
    ts = np.array([0, 1, 7, 1000], dtype=np.int32)
    try:
        got = np.asarray(jax.jit(fn)(jnp.asarray(ts)), dtype=np.float64)
    except Exception as e:  # noqa: BLE001 - report whatever the formula raised
        raise InputTypeError(
            f"{who}: {s!r} does not trace under jax.jit ({type(e).__name__}: {e}). "
            f"{_traced.TRACEABLE}"
        ) from e
    x64 = _dtype() == np.float64
    why = ("its formula is not the same in every namespace" if x64 else
           "float32 cannot hold this formula's precision (or its formula is not the same "
           "in every namespace); enable float64 with jax.config.update('jax_enable_x64', True)")
    _traced.same_as_numpy(who, s, ts, got, "in jax.numpy", x64, why)


def reduce_on_plateau(s: Any, *, accumulation_size: int = 1) -> Any:
    """``optax.contrib.reduce_on_plateau`` configured from an lrkit ``plateau(...)`` factor.

    ``s`` is a ``plateau(...)`` or ``base * plateau(...)``; schedule the base
    with :func:`schedule` and chain this after the optimizer, passing the loss
    as ``value=`` to ``update``::

        base, _ = lrkit.split_plateau(s)
        tx = optax.chain(optax.sgd(lrkit.optax.schedule(base)),
                         lrkit.optax.reduce_on_plateau(s))
        updates, state = tx.update(grads, state, params, value=loss)

    The update at step ``i`` then uses ``base(i) * scale``, where ``scale``
    has seen the values up to and including step ``i``: lrkit's rule
    (``PlateauState.observe`` then ``apply``) with optax's
    ``patience = patience + 1``, ``rtol``/``atol`` = ``threshold`` for
    ``threshold_mode`` ``rel``/``abs``. Not expressible in optax, hence
    refused: ``mode="max"`` (pass ``value=-metric``), ``floor > 0`` (optax
    floors the scale, not the rate) and ``threshold=0``; ``eps`` is not applied.
    """
    import optax

    who = "lrkit.optax.reduce_on_plateau"
    p = s if isinstance(s, Plateau) else split_plateau(as_schedule(s, f"{who}: s"))[1]
    if p is None:
        raise InputError(f"{who}: s={s!r} holds no plateau(...) factor")
    for bad, msg in ((p.mode != "min", f"mode={p.mode!r}: optax minimises; pass value=-metric "
                                       "to a mode='min' plateau"),
                     (p.floor > 0, f"floor={p.floor!r}: optax's min_scale floors the scale, not "
                                   "the learning rate; use floor=0"),
                     (p.threshold == 0, "threshold=0: optax needs rtol or atol > 0")):
        if bad:
            raise InputError(f"{who}: {msg}")
    rel = p.threshold_mode == "rel"
    return optax.contrib.reduce_on_plateau(
        factor=p.factor, patience=p.patience + 1, rtol=p.threshold if rel else 0.0,
        atol=0.0 if rel else p.threshold, cooldown=p.cooldown,
        accumulation_size=accumulation_size)
