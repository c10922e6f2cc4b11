"""``lrkit compare --predict`` (experimental): train the fitting runs, predict the rest,
train only the shortlist.

In this order, every step a plain :func:`~lrkit.experiment.compare.run_compare` on the
same study (so every run is stored and reused like any comparison's, and a later full
``lrkit compare`` trains only what is missing):

1. the fitting runs: :data:`~lrkit.experiment.recipe.PREDICT_FIT` (constant, cosine)
   at the comparison's peaks (``--peaks auto``: the range test and the extensions, as
   decided by the fitting runs) and seeds;
2. the forecast (:func:`~lrkit.experiment.forecast.forecast`): every candidate at every
   peak, from its schedule's values alone;
3. if the fit error (:attr:`~lrkit.experiment.forecast.Forecast.error`) exceeds
   ``PREDICT_MAX_ERROR``, or no peak could be fitted: the **fallback**, the full
   comparison (every candidate trained), and the report says why;
4. else the ``top_k`` best-predicted candidates not trained yet, each at its predicted
   best peak and every seed (one comparison with ``--peaks spec``, each schedule as its
   exact run schedule, so the runs' keys are those of a plain comparison's).

The result is the predicted-vs-trained report of :mod:`~lrkit.experiment.predict_report`;
its winner is the best *trained* schedule.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Any

from .._check import integer
from ..errors import InputError
from .candidates import parse_candidates, parse_peaks
from .compare import CompareResult, Options, default_storage, run_compare
from .forecast import Forecast, Grid, fitting_candidates, forecast
from .predict_report import build
from .progress import Progress, Silent
from .recipe import PREDICT_FIT, PREDICT_MAX_ERROR, PREDICT_TOP_K, STUDY
from .store import Store


@dataclass
class Shortlisted:
    """What :func:`run_predict_compare` found: the report dict (``predict.json``), the
    forecast, the fitting comparison and, after a fallback, the full one."""

    report: dict[str, Any]
    forecast: Forecast
    fitting: CompareResult
    full: CompareResult | None = None
    timing: dict[str, float] = field(default_factory=dict)


def run_predict_compare(o: Options, top_k: int = PREDICT_TOP_K,
                        progress: Progress | None = None,
                        max_error: float = PREDICT_MAX_ERROR) -> Shortlisted:
    """See the module docstring."""
    progress = progress or Silent()
    top_k = integer("lrkit compare --predict", "--top-k", top_k, minimum=0)
    if parse_peaks(o.peaks)[0] == "spec":
        raise InputError("--predict needs peaks to fit the law at (--peaks auto or numbers), "
                         "not --peaks spec")
    cands = parse_candidates(list(o.schedules))
    if o.storage is None:
        os.makedirs(o.out, exist_ok=True)
        o = replace(o, storage=default_storage(o.out))
    t0 = time.perf_counter()
    fitting = run_compare(replace(o, schedules=list(PREDICT_FIT)), progress)
    timing = {"fitting runs": time.perf_counter() - t0}
    grid = _grid(o, fitting)
    fc = forecast(grid, cands, fitting.peaks, fitting_candidates())
    err = fc.error
    if err is None or err > max_error:
        why = ("no peak could be fitted" if err is None else
               f"the fit error {err:.3f} exceeds {max_error:g}") + ": trained every schedule"
        progress.note(f"--predict: {why}")
        t1 = time.perf_counter()
        full = run_compare(o, progress)
        timing["full grid (fallback)"] = time.perf_counter() - t1
        grid = _grid(o, full)
        report = build(grid, fc, cands, {"fallback": why, "top_k": top_k, "timing": timing})
        return Shortlisted(report, fc, fitting, full, timing)
    todo: list[str] = []
    for label in fc.ranking():
        if len(todo) == top_k:
            break
        b = fc.best(label)
        c = next(x for x in cands if x.label == label)
        if b is not None and grid.measured(c, b[0]) is None:
            todo.append(f"{label}={c.at(grid.steps, b[0])!r}")
    t1 = time.perf_counter()
    if todo:
        run_compare(replace(o, schedules=todo, peaks="spec"), progress)
    timing["shortlist"] = time.perf_counter() - t1
    grid = _grid(o, fitting)
    report = build(grid, fc, cands, {"fallback": None, "top_k": top_k, "timing": timing})
    return Shortlisted(report, fc, fitting, None, timing)


def _grid(o: Options, res: CompareResult) -> Grid:
    """The stored runs of ``res``'s setup (every run of the study with its config)."""
    assert o.storage is not None
    config = {"task": res.task["id"], **res.training.settings()}
    return Grid(config, Store(o.storage, o.study or STUDY).load(), list(res.peaks),
                list(res.seeds), res.task["name"])
