"""Predict a schedule's validation-loss curve without training it: a schedule-aware loss law.

**The law** (Tissue et al. 2024, "Scaling Law with Learning Rate Annealing",
arXiv 2408.11029). After ``s`` optimizer steps with learning rates
``eta_0 .. eta_{s-1}``::

    L(s) = L0 + A * S1(s)^(-alpha) - C * S2(s)

    S1(s) = sum_{i<s} eta_i / (P N)                      forward area
    m_i   = lam * m_{i-1} + max(eta_{i-1} - eta_i, 0)    (m_0 = 0)
    S2(s) = (1 - lam) * sum_{i<s} m_i / P                annealing area

``P`` and ``N`` are the fitting runs' peak and length (units only: they keep the
parameters near 1). ``S2`` is the paper's momentum form (a decrease of the rate pays
off gradually, over about ``1/(1-lam)`` steps), times ``1 - lam`` so that ``C``
keeps its scale whatever ``lam``; a rise of the rate (warm-up) adds nothing to it.
The paper fixes ``lam = 0.999`` for runs of tens of thousands of steps; lrkit's runs
are hundreds, so ``lam`` is chosen by the fit among :data:`DELAYS` (the delay
``1/(1-lam)`` as a fraction of ``N``).

**The fit** minimises the Huber loss (``delta = HUBER``) of the residuals in log
space, ``log L_hat - log L``, over every evaluation after step 0, with SciPy's
bounded least squares (``L0, A, alpha, C >= 0``) from several starting points.
Log space, because a loss curve spans a decade and every point should count by
its relative error (the early high losses would dominate plain squares);
Huber with a small ``delta``, as both papers, because evaluation noise and
spikes then pull the fit like a median, not like a mean. The same law
parameters hold for every schedule *at the same peak and training setup*; the
law cannot say which peak is best (a larger rate always has a larger ``S1``),
so lrkit fits it once per peak.

**The uncertainty** comes from the seeds: the law is fitted per seed (that
seed's fitting runs), every seed predicts, and a prediction is the mean over
seeds with the report's 95 % interval (:func:`~lrkit.experiment.stats.mean_ci`).

>>> import numpy as np
>>> n, steps = 400, np.arange(20, 401, 20)
>>> law = TissueLaw(l0=0.5, a=0.3, alpha=0.6, c=0.4, lam=1 - 1 / 12, peak=0.1, n=n)
>>> const, decay = np.full(n, 0.1), 0.1 * (1 - np.arange(n) / n)
>>> fit = fit_law([Curve(const, steps, law.curve(const, steps)),
...                Curve(decay, steps, law.curve(decay, steps))])
>>> round(fit.l0, 4), round(fit.alpha, 4), round(fit.c, 4), fit.lam == law.lam
(0.5, 0.6, 0.4, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from ..errors import InputError
from .floats import float_array, json_float, json_floats
from .stats import MeanCI, mean_ci

#: the annealing delays ``1/(1 - lam)`` the fit tries, as fractions of the run's length
#: (0: a decrease pays off at once, ``lam = 0``)
DELAYS = (0.0, 0.01, 0.03, 0.1, 0.3)
#: the Huber threshold on log-loss residuals (both papers use 1e-3)
HUBER = 1e-3
#: the fewest evaluations after step 0, over a seed's fitting curves, that a fit needs
MIN_POINTS = 8
#: the law's parameters
NAMES = ("l0", "a", "alpha", "c")


@dataclass(frozen=True)
class Curve:
    """One run's curve as the law reads it: ``lr`` at every optimizer step ``0 .. N-1`` and
    the validation ``loss`` after ``steps[i]`` updates."""

    lr: np.ndarray
    steps: np.ndarray
    loss: np.ndarray

    @classmethod
    def of(cls, result: Mapping[str, Any]) -> Curve:
        """From a stored run (``RunResult.to_dict()``)."""
        return cls(float_array(result["lr"]), np.asarray(result["eval_steps"], dtype=np.int64),
                   float_array(result["val_loss"]))


def areas(lr: Any, lam: float, peak: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``S1(s)`` and ``S2(s)`` for ``s = 0 .. len(lr)`` (see the module docstring).

    >>> s1, s2 = areas([1.0, 1.0, 0.5, 0.5], 0.0, 1.0, 4)
    >>> s1.tolist(), s2.tolist()
    ([0.0, 0.25, 0.5, 0.625, 0.75], [0.0, 0.0, 0.0, 0.5, 0.5])
    """
    eta = np.asarray(lr, dtype=np.float64)
    s1 = np.concatenate([[0.0], np.cumsum(eta)]) / (peak * n)
    drop = np.concatenate([[0.0], np.maximum(eta[:-1] - eta[1:], 0.0)])
    if lam == 0:
        m = drop
    else:
        from scipy.signal import lfilter

        m = lfilter([1.0], [1.0, -lam], drop)
    s2 = (1.0 - lam) * np.concatenate([[0.0], np.cumsum(m)]) / peak
    return s1, s2


@dataclass(frozen=True)
class TissueLaw:
    """The fitted law: its parameters, ``lam``, the units ``peak`` and ``n``, ``error``, the
    mean relative error ``|L_hat - L| / L`` over the fitting curves' points, and ``cap``,
    the loss before training (the fitting runs' loss at step 0, the same model for every
    schedule of a seed): no prediction exceeds it. Without the cap a warm-up from a tiny
    rate (``S1`` near 0) would predict a loss far above the untrained model's."""

    l0: float
    a: float
    alpha: float
    c: float
    lam: float
    peak: float
    n: int
    error: float = 0.0
    cap: float = math.inf

    def curve(self, lr: Any, steps: Any = None) -> np.ndarray:
        """The predicted validation loss after ``steps`` updates (default: every step
        ``1 .. len(lr)``) of the run with learning rates ``lr``; step 0 has no prediction
        (``S1 = 0``) and gives NaN."""
        eta = _rates(lr)
        s = np.arange(1, len(eta) + 1) if steps is None else np.asarray(steps, dtype=np.int64)
        if s.size and (s.min() < 0 or s.max() > len(eta)):
            raise InputError(f"steps must be in 0..{len(eta)}, got {s.min()}..{s.max()}")
        s1, s2 = areas(eta, self.lam, self.peak, self.n)
        with np.errstate(divide="ignore"):
            out = self.l0 + self.a * s1[s] ** -self.alpha - self.c * s2[s]
        return np.where(s == 0, np.nan, np.minimum(out, self.cap))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (an infinite ``cap`` is ``None``)."""
        return {**asdict(self), "cap": json_float(self.cap)}


def _rates(lr: Any) -> np.ndarray:
    eta = np.asarray(lr, dtype=np.float64)
    if eta.ndim != 1 or eta.size < 2:
        raise InputError(f"lr must be a learning rate per step (at least 2), got shape "
                         f"{eta.shape}")
    if not np.all(np.isfinite(eta)) or np.any(eta < 0):
        raise InputError("lr must be finite and >= 0 at every step")
    return eta


def _points(
    curves: Sequence[Curve],
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Each curve's rates, steps > 0 and losses, checked."""
    if not curves:
        raise InputError("fit_law needs at least one curve, got none")
    out = []
    for i, c in enumerate(curves):
        eta = _rates(c.lr)
        steps, loss = np.asarray(c.steps, dtype=np.int64), np.asarray(c.loss, dtype=np.float64)
        if steps.shape != loss.shape or steps.ndim != 1:
            raise InputError(f"curve {i}: steps and loss must be 1-d and of one length, got "
                             f"{steps.shape} and {loss.shape}")
        if not np.all(np.isfinite(loss)):
            raise InputError(f"curve {i}: the loss is NaN or infinite at step(s) "
                             f"{steps[~np.isfinite(loss)][:5].tolist()} (a diverged run "
                             "cannot be fitted)")
        if np.any(loss <= 0):
            raise InputError(f"curve {i}: the loss must be > 0 (fitted in log space)")
        if steps.size and (steps.min() < 0 or steps.max() > len(eta)):
            raise InputError(f"curve {i}: steps must be in 0..{len(eta)}")
        keep = steps > 0
        out.append((eta, steps[keep], loss[keep], loss[~keep]))
    total = sum(len(p[1]) for p in out)
    if total < MIN_POINTS:
        raise InputError(f"fit_law needs at least {MIN_POINTS} evaluations after step 0 over "
                         f"its curves, got {total} (evaluate more often: --eval-every)")
    return out


def fit_law(curves: Sequence[Curve]) -> TissueLaw:
    """Fit :class:`TissueLaw` to ``curves`` (same peak and setup, e.g. a constant rate and
    a decaying one); see the module docstring. Raises :class:`~lrkit.errors.InputError`
    for fewer than :data:`MIN_POINTS` points, a NaN/inf or non-positive loss, bad rates."""
    pts = _points(curves)
    peak = max(float(p[0].max()) for p in pts)
    if not peak > 0:
        raise InputError("fit_law: every learning rate is 0")
    n = max(len(p[0]) for p in pts)
    y = np.concatenate([p[2] for p in pts])
    start = np.concatenate([p[3] for p in pts])
    cap = float(start.mean()) if start.size else math.inf
    best: tuple[float, TissueLaw] | None = None
    for d in DELAYS:
        lam = 0.0 if d == 0 else 1.0 - 1.0 / max(d * n, 1.0)
        cols = [areas(eta, lam, peak, n) for eta, *_ in pts]
        x1 = np.concatenate([c[0][p[1]] for c, p in zip(cols, pts)])
        x2 = np.concatenate([c[1][p[1]] for c, p in zip(cols, pts)])
        for cost, th in _solve(x1, x2, y):
            if best is None or cost < best[0] - 1e-15:
                best = (cost, TissueLaw(th[0], th[1], th[2], th[3], lam, peak, n, cap=cap))
    if best is None:
        raise InputError("fit_law: the fit failed from every starting point")
    law = best[1]
    err = float(np.mean(np.concatenate(
        [np.abs(law.curve(p[0], p[1]) - p[2]) / p[2] for p in pts])))
    return replace(law, error=err)


def _solve(x1: np.ndarray, x2: np.ndarray, y: np.ndarray) -> list[tuple[float, list[float]]]:
    """Huber least squares in log space of ``L0 + A x1^-alpha - C x2`` against ``y``, from
    each starting point: ``(cost, [L0, A, alpha, C])`` per converged start."""
    from scipy.optimize import least_squares

    logy, lx1 = np.log(y), np.log(x1)

    def model(th: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore"):
            pw = np.exp(-th[2] * lx1)
            pred = th[0] + th[1] * pw - th[3] * x2
        return np.clip(np.nan_to_num(pred, nan=1e-12), 1e-12, 1e12), pw

    def resid(th: np.ndarray) -> np.ndarray:
        return np.asarray(np.log(model(th)[0]) - logy)

    def jac(th: np.ndarray) -> np.ndarray:
        pred, pw = model(th)
        j = np.column_stack([np.ones_like(pw), pw, -th[1] * pw * lx1, -x2]) / pred[:, None]
        j[(pred <= 1e-12) | (pred >= 1e12)] = 0.0
        return np.asarray(np.nan_to_num(j))

    out = []
    for alpha0 in (0.3, 1.5):
        for f0 in (0.0, 0.8):
            l00 = f0 * float(y.min())
            a0 = max(float(np.median((y - l00) * x1 ** alpha0)), 1e-6)
            try:
                r = least_squares(resid, np.array([l00, a0, alpha0, 0.0]), jac=jac,
                                  bounds=([0, 0, 0, 0], [np.inf] * 4), loss="huber",
                                  f_scale=HUBER, x_scale="jac", max_nfev=200)
            except (ValueError, FloatingPointError):
                continue
            if np.isfinite(r.cost):
                out.append((float(r.cost), [float(v) for v in r.x]))
    return out


@dataclass(frozen=True)
class Prediction:
    """A schedule's predicted validation loss after ``steps`` updates: the mean over the
    seeds' laws and its 95 % interval (``low``/``high``; NaN for one seed), and the final
    loss per seed (what the interval of :attr:`final` comes from)."""

    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    finals: list[float]

    @property
    def final(self) -> MeanCI:
        """The predicted final loss: mean and 95 % half-width over seeds."""
        return mean_ci(self.finals)

    def to_dict(self) -> dict[str, Any]:
        f = self.final
        return {"steps": [int(s) for s in self.steps], "mean": json_floats(self.mean),
                "low": json_floats(self.low), "high": json_floats(self.high),
                "final": f.to_dict(), "finals": json_floats(self.finals)}


def predict(laws: Sequence[TissueLaw], lr: Any, steps: Any = None) -> Prediction:
    """Every law (one per seed) predicts the run with rates ``lr``: the mean and the
    interval over them at ``steps`` (default: ``1 .. len(lr)``).

    >>> law = TissueLaw(l0=0.5, a=0.3, alpha=0.6, c=0.4, lam=0.0, peak=0.1, n=4)
    >>> p = predict([law, law], [0.1, 0.1, 0.05, 0.0])
    >>> [round(float(v), 4) for v in p.mean], p.final.ci
    ([1.1892, 0.9547, 0.6977, 0.4977], 0.0)
    """
    if not laws:
        raise InputError("predict needs at least one fitted law, got none")
    eta = _rates(lr)
    s = np.arange(1, len(eta) + 1) if steps is None else np.asarray(steps, dtype=np.int64)
    curves = np.array([law.curve(eta, s) for law in laws])
    mean = curves.mean(axis=0)
    if len(laws) > 1:
        from .stats import t975

        half = t975(len(laws) - 1) * curves.std(axis=0, ddof=1) / math.sqrt(len(laws))
    else:
        half = np.full_like(mean, np.nan)
    return Prediction(s, mean, mean - half, mean + half, [float(c[-1]) for c in curves])
