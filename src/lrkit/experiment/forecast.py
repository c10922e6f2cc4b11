"""Forecast a comparison from stored runs: fit the loss law per peak, predict every candidate.

The **fitting runs** are the :data:`~lrkit.experiment.recipe.PREDICT_FIT` shapes (a
constant rate and cosine) at each peak, for each seed. At every peak where all of
them are stored and none diverged, :func:`~lrkit.experiment.predict.fit_law` fits one
law per seed (that seed's fitting runs), and every candidate at that peak is predicted
from ``candidate.at(N, peak).values(N)`` alone (:func:`~lrkit.experiment.predict.predict`:
the mean over seeds and its 95 % interval). A candidate's **predicted best peak** is
the one with the lowest predicted mean final loss; candidates are ranked by that loss.
A peak without a fit (a fitting run missing or diverged) predicts nothing.

A study may hold runs of several training setups; :func:`grids` splits its records
into one :class:`Grid` per setup (the run config: task, steps, optimizer, ...).
Pure NumPy/SciPy; the store is read by the caller.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from .candidates import Candidate, parse_candidates
from .floats import json_float
from .grid import run_key
from .predict import Curve, Prediction, TissueLaw, fit_law, predict
from .recipe import PREDICT_FIT
from .stats import MeanCI, final, mean_ci
from .store import Result

#: the fields of a stored record that are not the run config
_NOT_CONFIG = ("key", "label", "schedule", "peak", "seed", "task_name", "result")


@dataclass(frozen=True)
class Grid:
    """The stored runs of one training setup: its run ``config`` (what :func:`run_key`
    hashes), ``runs`` (key -> result) and the peaks and seeds stored."""

    config: dict[str, Any]
    runs: dict[str, Result]
    peaks: list[float]
    seeds: list[int]
    task_name: str = ""

    @property
    def steps(self) -> int:
        return int(self.config["steps"])

    def result(self, cand: Candidate, peak: float, seed: int) -> Result | None:
        """The stored run of ``cand`` at ``peak`` and ``seed``, if any."""
        return self.runs.get(run_key(self.config, cand.at(self.steps, peak), seed))

    def measured(self, cand: Candidate, peak: float) -> MeanCI | None:
        """The final validation loss over the seeds (``None`` unless every seed is stored;
        a diverged seed makes the mean ``inf``)."""
        res = [self.result(cand, peak, s) for s in self.seeds]
        if any(r is None for r in res):
            return None
        finals = [final(r, "val_loss") for r in res if r is not None]
        if not all(map(math.isfinite, finals)):
            return MeanCI(math.inf, None, len(finals))
        return mean_ci(finals)


def grids(records: Iterable[Mapping[str, Any]]) -> list[Grid]:
    """The stored records (:meth:`~lrkit.experiment.store.Store.records`) grouped by run
    config, the most recently stored setup first."""
    by: dict[str, dict[str, Any]] = {}
    for rec in records:
        cfg = {k: v for k, v in rec.items() if k not in _NOT_CONFIG}
        g = by.setdefault(json.dumps(cfg, sort_keys=True),
                          {"config": cfg, "runs": {}, "peaks": set(), "seeds": set(),
                           "name": rec.get("task_name", "")})
        g["runs"][rec["key"]] = rec["result"]
        g["peaks"].add(float(rec["peak"]))
        g["seeds"].add(int(rec["seed"]))
    return [Grid(g["config"], g["runs"], sorted(g["peaks"]), sorted(g["seeds"]), g["name"])
            for g in reversed(list(by.values()))]


@dataclass(frozen=True)
class PeakFit:
    """The laws fitted at one peak (one per seed), their mean relative ``error`` on the
    fitting runs, or the ``problem`` that left the peak without a fit."""

    peak: float
    laws: list[TissueLaw]
    error: float | None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"peak": self.peak, "error": json_float(self.error), "problem": self.problem,
                "laws": [law.to_dict() for law in self.laws]}


@dataclass
class Forecast:
    """Every fit and every prediction: ``predictions[label][peak]``."""

    fits: dict[float, PeakFit]
    predictions: dict[str, dict[float, Prediction]]
    order: list[str]
    fitting: list[str] = field(default_factory=list)  # the fitting shapes' labels

    @property
    def error(self) -> float | None:
        """The fit error: the median over the peaks fitted of their mean relative error on
        the fitting runs (``None``: no peak fitted). The median, because one unstable peak
        (a large rate whose curve jumps) should not condemn the fits at the others."""
        errs = [f.error for f in self.fits.values() if f.error is not None]
        return float(np.median(errs)) if errs else None

    def best(self, label: str) -> tuple[float, Prediction] | None:
        """The predicted best peak of ``label`` and its prediction (``None``: no peak)."""
        preds = self.predictions.get(label, {})
        ok = [(p, pr) for p, pr in preds.items() if math.isfinite(_score(pr))]
        if not ok:
            return None
        return min(ok, key=lambda x: (_score(x[1]), x[0]))

    def ranking(self) -> list[str]:
        """The labels by predicted final loss at their predicted best peak (unpredicted
        last, in the user's order)."""
        def key(i: int) -> tuple[float, int]:
            b = self.best(self.order[i])
            return (_score(b[1]) if b else math.inf, i)

        return [self.order[i] for i in sorted(range(len(self.order)), key=key)]

    def to_dict(self) -> dict[str, Any]:
        rank = {lab: i + 1 for i, lab in enumerate(self.ranking())}
        out = []
        for lab in self.order:
            b = self.best(lab)
            out.append({"label": lab, "predicted_rank": rank[lab],
                        "best_peak": None if b is None else b[0],
                        "final": None if b is None else b[1].final.to_dict(),
                        "peaks": {repr(p): pr.to_dict()
                                  for p, pr in sorted(self.predictions[lab].items())}})
        return {"law": "tissue", "error": json_float(self.error), "fitting": self.fitting,
                "fits": [f.to_dict() for _, f in sorted(self.fits.items())],
                "schedules": out}


def _score(p: Prediction) -> float:
    m = p.final.mean
    return m if m is not None and math.isfinite(m) else math.inf


def fitting_candidates() -> list[Candidate]:
    """The fitting shapes (``PREDICT_FIT``) as candidates."""
    return parse_candidates(list(PREDICT_FIT))


def fit_peak(grid: Grid, peak: float, fit: Sequence[Candidate] | None = None) -> PeakFit:
    """Fit the law at ``peak``, one per seed, from the fitting runs stored in ``grid``."""
    fit = list(fit) if fit is not None else fitting_candidates()
    laws: list[TissueLaw] = []
    for seed in grid.seeds:
        curves = []
        for c in fit:
            r = grid.result(c, peak, seed)
            if r is None:
                return PeakFit(peak, [], None, f"no {c.label} run at seed {seed}")
            if r.get("diverged"):
                return PeakFit(peak, [], None, f"{c.label} diverged at seed {seed}")
            curves.append(Curve.of(r))
        try:
            laws.append(fit_law(curves))
        except InputError as e:
            return PeakFit(peak, [], None, f"seed {seed}: {e}")
    return PeakFit(peak, laws, sum(law.error for law in laws) / len(laws))


def forecast(grid: Grid, candidates: Sequence[Candidate], peaks: Sequence[float] | None = None,
             fit: Sequence[Candidate] | None = None) -> Forecast:
    """Fit at every peak (default: every peak stored) and predict every candidate there, at
    the fitting runs' evaluation steps."""
    fit = list(fit) if fit is not None else fitting_candidates()
    peaks = sorted(grid.peaks if peaks is None else peaks)
    if not grid.seeds:
        raise InputError("no stored runs to fit the law to")
    fits = {p: fit_peak(grid, p, fit) for p in peaks}
    n = grid.steps
    preds: dict[str, dict[float, Prediction]] = {c.label: {} for c in candidates}
    for p, f in fits.items():
        if not f.laws:
            continue
        ref = grid.result(fit[0], p, grid.seeds[0])
        steps = None if ref is None else ref["eval_steps"][1:]
        for c in candidates:
            preds[c.label][p] = predict(f.laws, c.at(n, p).values(n), steps)
    return Forecast(fits, preds, [c.label for c in candidates], [c.label for c in fit])
