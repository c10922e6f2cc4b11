"""The limits of ``lrkit compare`` / ``lrkit find-lr`` options, checked before anything runs.

Every check here looks at the option's value alone (no task loaded, no store
opened, nothing trained or allocated), raises :class:`lrkit.InputError` naming
the option, the value and what is allowed, and returns the value cleaned.
:func:`check_compare` runs them all for an ``Options``; it is the first thing
:func:`~lrkit.experiment.compare.run_compare` does. The limits:

* counts: ``--seeds`` at most :data:`MAX_SEEDS` seeds, each ``0 .. MAX_SEED``;
  at most :data:`MAX_SCHEDULES` schedules and :data:`MAX_PEAKS` peaks;
* lengths: ``--epochs`` ``1 .. MAX_EPOCHS``, ``--steps`` ``1 .. MAX_STEPS``,
  ``--eval-every`` ``>= 1``, ``--batch-size`` ``1 .. MAX_BATCH``,
  ``--jobs`` ``1 .. MAX_JOBS``, ``--chunk-size`` ``1 .. MAX_CHUNK``;
* numbers finite: ``--momentum`` in [0, 1), ``--weight-decay >= 0``, ``--eps > 0``,
  ``--grad-clip > 0``, ``--target-acc`` in (0, 1], ``--target-loss >= 0``
  (a loss below 0 is never reached by the built-in losses);
* names: ``--study`` non-blank, at most :data:`MAX_STUDY_CHARS` characters;
  ``--out`` a folder that exists or can be made, and is writable
  (:func:`check_out`, which creates it).

:func:`check_find_lr` does the same for ``lrkit find-lr`` (``--start``, ``--end`` finite
and ``> 0``, ``--end > --start``, ``--steps >= 2``).

>>> seeds_of("3"), seeds_of("0,4,7")
([0, 1, 2], [0, 4, 7])
>>> seeds_of("100000")
Traceback (most recent call last):
...
lrkit.InputError: --seeds must be at most 1000 seeds, got a count of 100000
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import Any

from ..errors import InputError, shown
from .recipe import SUGGESTIONS

MAX_SEEDS = 1000
"""The most seeds a comparison or a range test takes."""

MAX_SEED = 2**32 - 1
"""The largest seed (NumPy's and PyTorch's generators take 32-bit seeds everywhere)."""

MAX_SCHEDULES = 100
"""The most schedules one comparison ranks."""

MAX_PEAKS = 100
"""The most peaks (or ``auto:`` factors) given to ``--peaks``."""

MAX_EPOCHS = 100_000
MAX_STEPS = 10_000_000
"""The longest training run, in epochs and in optimizer steps (each run keeps its learning
rate at every step)."""

MAX_BATCH = 2**31 - 1
MAX_JOBS = 256
MAX_CHUNK = 4096
MAX_STUDY_CHARS = 512
"""Optuna's longest study name."""


def _whole(name: str, value: Any, low: int, high: int) -> int:
    """An integer in ``low .. high`` (a whole float such as ``2.0`` too)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"{name} must be an integer from {low} to {high:,}, got {shown(value)}")
    return value


def whole(name: str, value: Any, low: int = 1, high: int = MAX_STEPS) -> int | None:
    """``value`` (``None`` passes) as an integer in ``low .. high``."""
    return None if value is None else _whole(name, value, low, high)


def real(name: str, value: Any, low: float = 0.0, high: float = math.inf, *,
         low_open: bool = False, high_open: bool = False) -> float | None:
    """``value`` (``None`` passes) as a finite float in the interval given."""
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high)
    if not ok:
        lo = f"> {low:g}" if low_open else f">= {low:g}"
        hi = "" if high == math.inf else (f" and < {high:g}" if high_open else
                                          f" and <= {high:g}")
        raise InputError(f"{name} must be a finite number {lo}{hi}, got {shown(value)}")
    return float(value)


def seeds_of(seeds: Any, name: str = "--seeds") -> list[int]:
    """``3`` or ``"3"`` -> ``[0, 1, 2]``; ``"0,4,7"`` or ``[0, 4, 7]`` -> those seeds:
    distinct, ``0 .. MAX_SEED``, at most :data:`MAX_SEEDS` of them (checked before any
    list is made)."""
    what = f"{name} must be a count like 3 or distinct seeds like 0,1,2"
    if isinstance(seeds, str):
        parts = [p.strip() for p in seeds.split(",")]
        if any(not p for p in parts) and len(parts) > 1 or not parts[0]:
            raise InputError(f"{what} (no empty item), got {shown(seeds)}")
        try:
            vals = [int(p) for p in parts]
        except ValueError:
            raise InputError(f"{what}, got {shown(seeds)}") from None
        count = vals[0] if len(parts) == 1 else None
    elif isinstance(seeds, int) and not isinstance(seeds, bool):
        count, vals = seeds, []
    elif hasattr(seeds, "item") and getattr(seeds, "shape", None) == () and \
            isinstance(seeds.item(), int):  # a NumPy integer
        count, vals = int(seeds.item()), []
    else:
        try:
            vals = [v for v in seeds if isinstance(v, int) and not isinstance(v, bool)]
            if len(vals) != len(seeds):
                raise TypeError
        except TypeError:
            raise InputError(f"{what}, got {shown(seeds)}") from None
        count = None
    if count is not None:
        if count < 1:
            raise InputError(f"{what}, got {shown(seeds)}")
        if count > MAX_SEEDS:
            raise InputError(f"{name} must be at most {MAX_SEEDS} seeds, got a count of "
                             f"{shown(count)}")
        return list(range(count))
    if len(vals) > MAX_SEEDS:
        raise InputError(f"{name} must be at most {MAX_SEEDS} seeds, got {len(vals)}")
    if not vals or len(set(vals)) != len(vals):
        raise InputError(f"{what}, got {shown(seeds)}")
    bad = [v for v in vals if not 0 <= v <= MAX_SEED]
    if bad:
        raise InputError(f"{name}: every seed must be from 0 to {MAX_SEED}, got {shown(bad[0])}")
    return vals


def study_name(study: Any) -> str:
    """A non-blank Optuna study name of at most :data:`MAX_STUDY_CHARS` characters."""
    if not isinstance(study, str) or not study.strip() or len(study) > MAX_STUDY_CHARS:
        raise InputError(f"--study must be a name of 1 to {MAX_STUDY_CHARS} characters, not "
                         f"blank, got {shown(study)}")
    return study


def peaks_text(text: Any) -> None:
    """``--peaks`` has no empty item and at most :data:`MAX_PEAKS` of them (the values
    are read by :func:`~lrkit.experiment.candidates.parse_peaks`)."""
    if text is None:
        return
    if not isinstance(text, str):
        raise InputError(f"--peaks must be text like 'auto' or '0.01,0.1', got {shown(text)}")
    body = text.strip().lower()
    body = body[5:] if body.startswith("auto:") else body
    if body in ("auto", "spec"):
        return
    items = body.split(",")
    if any(not p.strip() for p in items):
        raise InputError(f"--peaks has an empty item in {shown(text)}; give numbers "
                         "separated by single commas, like 0.01,0.1")
    if len(items) > MAX_PEAKS:
        raise InputError(f"--peaks must list at most {MAX_PEAKS} peaks, got {len(items)}")


def check_out(out: Any, name: str = "--out", make: bool = True) -> str:
    """Make the folder ``out`` (and its parents) if needed and prove it writable by
    creating and removing a file in it; else an ``InputError`` saying why. With
    ``make=False``, only refuse a path that is not a folder (nothing is written)."""
    if not isinstance(out, (str, os.PathLike)) or not str(out).strip():
        raise InputError(f"{name} must be a folder's path, got {shown(out)}")
    path = os.fspath(out)
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputError(f"{name} {path!r} is a file, not a folder; give a folder for the "
                         "outputs")
    if not make:
        return path
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".lrkit-probe-", dir=path)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise InputError(f"{name} {path!r} is not a writable folder: "
                         f"{e.strerror or type(e).__name__}") from None
    return path


def check_compare(o: Any) -> None:
    """Every option of ``lrkit compare`` (an ``Options``) that can be checked alone,
    before a task is loaded or a store opened; ``--out`` is made last."""
    if len(o.schedules) > MAX_SCHEDULES:
        raise InputError(f"give at most {MAX_SCHEDULES} schedules, got {len(o.schedules)}")
    peaks_text(o.peaks)
    if o.seeds is not None:
        seeds_of(o.seeds)
    whole("--epochs", o.epochs, 1, MAX_EPOCHS)
    whole("--steps", o.steps, 1, MAX_STEPS)
    whole("--eval-every", o.eval_every, 1, MAX_STEPS)
    whole("--batch-size", o.batch_size, 1, MAX_BATCH)
    whole("--jobs", o.jobs, 1, MAX_JOBS)
    whole("--chunk-size", o.chunk_size, 1, MAX_CHUNK)
    check_training(o)
    real("--target-acc", o.target_acc, 0.0, 1.0, low_open=True)
    real("--target-loss", o.target_loss, 0.0)
    if o.method is not None and o.method not in SUGGESTIONS:
        raise InputError(f"--method must be one of {', '.join(SUGGESTIONS)}, got {o.method!r}")
    if o.study is not None:  # None: the default name
        study_name(o.study)
    if o.storage is not None:  # its form (the driver, a journal's absolute path), no I/O
        from .storage import check_form

        check_form(o.storage)
    check_out(o.out)


def check_find_lr(o: Any) -> None:
    """The options of ``lrkit find-lr`` that can be checked alone (``o`` has ``start``,
    ``end``, ``steps``, ``batch_size``, ``out`` and :func:`check_training`'s); ``--out``
    is made last."""
    real("--start", o.start, 0.0, low_open=True)
    real("--end", o.end, 0.0, low_open=True)
    if o.start is not None and o.end is not None and not o.end > o.start:
        raise InputError(f"--end must be > --start={o.start!r}, got {o.end!r}")
    whole("--steps", o.steps, 2)
    whole("--batch-size", o.batch_size, 1, MAX_BATCH)
    check_training(o)
    check_out(o.out)


def check_nesterov(nesterov: Any, optimizer: str, momentum: float) -> None:
    """``--nesterov`` (given, not the task's) needs SGD with momentum > 0 (PyTorch's rule;
    Adam has no Nesterov switch here)."""
    if nesterov and (optimizer != "sgd" or not momentum > 0):
        raise InputError(f"--nesterov needs --optimizer sgd with --momentum > 0, got optimizer "
                         f"{optimizer!r} and momentum {momentum!r}")


def check_training(o: Any) -> None:
    """The optimizer's numbers given on the command line (``None``: the task's own)."""
    real("--momentum", o.momentum, 0.0, 1.0, high_open=True)
    real("--weight-decay", o.weight_decay, 0.0)
    real("--eps", o.eps, 0.0, low_open=True)
    real("--grad-clip", o.grad_clip, 0.0, low_open=True)
    if o.betas is not None:
        b = tuple(o.betas)
        if len(b) != 2:
            raise InputError(f"--betas must be two numbers in [0, 1), got {shown(o.betas)}")
        for i, v in enumerate(b):
            real(f"--betas[{i}]", v, 0.0, 1.0, high_open=True)
