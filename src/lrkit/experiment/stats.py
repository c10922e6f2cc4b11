"""The statistics of the report: intervals over seeds, paired differences, the run figures.

Pure NumPy (no scipy). A run's result is ``RunResult.to_dict()`` (JSON: ``None``
for NaN), as the store holds it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .floats import float_array, json_floats
from .recipe import OSC_MIN_STEPS, OSC_WINDOW
from .store import Result

#: Student t 0.975 quantiles for 1..30 degrees of freedom (scipy.stats.t.ppf, 6 decimals)
_T975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
         2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.13145, 2.119905,
         2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
         2.059539, 2.055529, 2.051831, 2.048407, 2.04523, 2.042272)


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (no scipy: a table
    up to 30, then the Cornish-Fisher expansion in ``1/df``, error < 1e-7).

    >>> t975(2), round(t975(1000), 4)
    (4.302653, 1.9623)
    """
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df!r}")
    if df <= len(_T975):
        return _T975[df - 1]
    z, v = 1.959963984540054, float(df)
    return (z + (z**3 + z) / (4 * v) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
            + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4))


@dataclass(frozen=True)
class MeanCI:
    """A mean over ``n`` seeds and its 95 % half-width ``ci`` (``None`` for ``n < 2``);
    ``mean`` is ``None`` when ``n == 0``."""

    mean: float | None
    ci: float | None
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean_ci(values: Iterable[float | None]) -> MeanCI:
    """Mean and 95 % half-width over seeds, from the t-distribution: ``t(0.975, n-1) s/sqrt(n)``.

    Non-finite values are left out (``n`` counts the rest).

    >>> d = mean_ci([1.0, 2.0, 3.0])
    >>> d.mean, round(d.ci, 4), d.n
    (2.0, 2.4841, 3)
    """
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if len(v) == 0:
        return MeanCI(None, None, 0)
    ci = t975(len(v) - 1) * float(v.std(ddof=1)) / math.sqrt(len(v)) if len(v) > 1 else None
    return MeanCI(float(v.mean()), ci, int(len(v)))


def paired(a: Mapping[str, float | None], b: Mapping[str, float | None]) -> MeanCI:
    """``a - b`` seed by seed (seed -> final validation loss; a seed fixes the init and the
    data order of every schedule's run, so the difference cancels the seed's luck):
    :func:`mean_ci` over the seeds where both are finite. An interval that excludes 0
    means the gap is real at 95 %.

    >>> paired({"0": 0.5, "1": 0.7, "2": None}, {"0": 0.3, "1": 0.3, "2": 0.3}).mean
    0.3
    """
    return mean_ci(x - y for s, x in a.items()
                   if x is not None and (y := b.get(s)) is not None)


def oscillation(train_loss: Sequence[float | None], window: float = OSC_WINDOW) -> float | None:
    """How much the training loss swings late in training.

    Over the last ``k = max(OSC_MIN_STEPS, ceil(window * n))`` steps (``OSC_MIN_STEPS``
    = 3), with ``L`` the per-step training (minibatch) loss::

        oscillation = std(L[t+1] - L[t]) / mean(L)

    the standard deviation (ddof=0) of the step-to-step changes relative to the
    mean level. ``None`` if the window holds a non-finite loss or its mean is not
    positive.

    >>> # 20 steps: the window is the last 5; changes of +-0.2 around a mean of 1.08
    >>> round(oscillation([2.0] * 15 + [1.0, 1.2, 1.0, 1.2, 1.0]), 6)
    0.185185
    """
    a = float_array(train_loss)
    k = min(len(a), max(OSC_MIN_STEPS, math.ceil(window * len(a))))
    w = a[len(a) - k:]
    if k < OSC_MIN_STEPS or not np.all(np.isfinite(w)) or w.mean() <= 0:
        return None
    return float(np.diff(w).std() / w.mean())


def steps_to_target(res: Result, target: Mapping[str, float] | None) -> float:
    """The first eval step where val accuracy >= ``target["acc"]`` or val loss <=
    ``target["loss"]`` (``inf`` if never; both given: the first step meeting both).

    >>> steps_to_target({"eval_steps": [0, 10, 20], "val_loss": [2.0, 0.5, None]},
    ...                 {"loss": 1.0})
    10.0
    """
    if not target:
        return math.inf
    steps = res["eval_steps"]
    ok = np.ones(len(steps), dtype=bool)
    if target.get("loss") is not None:
        ok &= float_array(res["val_loss"]) <= target["loss"]
    if target.get("acc") is not None:
        m = res.get("val_metric")
        if m is None:
            return math.inf
        ok &= float_array(m) >= target["acc"]
    hit = np.flatnonzero(ok)
    return float(steps[hit[0]]) if len(hit) else math.inf


def final(res: Result, name: str) -> float:
    """The last value of the result's ``name`` series (NaN if the run diverged or has none)."""
    v = res.get(name)
    if res.get("diverged") or not v:
        return math.nan
    x = v[-1]
    return float(x) if x is not None else math.nan


def band(series: Sequence[Sequence[float | None]]) -> dict[str, list[float | None]]:
    """Mean, min and max over seeds at each point (non-finite values left out).

    >>> band([[1.0, 2.0], [3.0, None]])
    {'mean': [2.0, 2.0], 'low': [1.0, 2.0], 'high': [3.0, 2.0]}
    """
    width = max((len(r) for r in series), default=0)
    a = np.full((len(series), width), np.nan)
    for i, r in enumerate(series):
        a[i, :len(r)] = float_array(r)
    a[~np.isfinite(a)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns -> NaN
        return {"mean": json_floats(np.nanmean(a, axis=0)),
                "low": json_floats(np.nanmin(a, axis=0)),
                "high": json_floats(np.nanmax(a, axis=0))}
