"""The summary: one ranked :class:`Row` per schedule, at its best peak, from stored results.

A schedule's **best peak** is the peak with the lowest mean final validation
loss over the seeds (a peak where any seed diverged counts as infinitely
bad; ties go to the smaller peak). Schedules are ranked by that mean (ties:
the user's order); ``vs_best`` is the paired difference to the winner.
``Row.to_dict()`` is what ``results.json`` holds under ``"schedules"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from .floats import json_float, json_floats
from .grid import Planned
from .stats import MeanCI, band, final, mean_ci, oscillation, paired, steps_to_target
from .store import Result


@dataclass(frozen=True)
class Curves:
    """What the figures draw for a schedule at its best peak: the learning rate at every
    step (the first seed's), the evaluation steps, and the validation loss's mean, low
    and high over seeds at each of them."""

    lr: list[float | None]
    eval_steps: list[int]
    val_loss: dict[str, list[float | None]]


@dataclass(frozen=True)
class Row:
    """One schedule of the report, at its best peak (numbers are ``None`` where not finite).

    ``score`` is the mean final validation loss at the best peak (``None``: every
    peak had a diverged seed); ``edge`` says the best peak is the smallest or the
    largest tried; ``final_val_loss`` and ``seeds`` are per seed at the best peak;
    ``diverged``/``runs`` count over every peak; ``peaks`` maps each peak tried
    (as text) to its score.
    """

    label: str
    schedule: str
    best_peak: float
    edge: bool
    score: float | None
    val_loss: MeanCI
    final_val_loss: dict[str, float | None]
    val_acc: MeanCI | None
    steps_to_target: float | None
    reached_target: int
    oscillation: float | None
    diverged: int
    runs: int
    diverged_at_best: int
    seeds: list[int]
    peaks: dict[str, float | None]
    curves: Curves
    rank: int = 0
    vs_best: MeanCI | None = None
    optimizer: str | None = None  # a baseline's optimizer (an optimizer entry, not a schedule)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for ``results.json``."""
        return asdict(self)


def summarize(
    planned: Sequence[Planned], results: Mapping[str, Result], order: Sequence[str],
    target: Mapping[str, float] | None = None,
) -> list[Row]:
    """Per schedule, at its best peak: the ranked rows of the report.

    ``results`` maps run keys to ``RunResult.to_dict()``; every planned run must be
    there. ``order`` (the labels in the user's order) breaks ties.
    """
    by_label: dict[str, dict[float, list[Planned]]] = {}
    for p in planned:
        by_label.setdefault(p.label, {}).setdefault(p.peak, []).append(p)
    rows = [_row(label, by_label[label], results, target) for label in order]
    rank = sorted(range(len(rows)), key=lambda i: (
        rows[i].score if rows[i].score is not None else math.inf, i))
    ranked: list[Row] = []
    for i in rank:
        r = rows[i]
        vs = None if not ranked else paired(r.final_val_loss, ranked[0].final_val_loss)
        ranked.append(replace(r, rank=len(ranked) + 1, vs_best=vs))
    return ranked


def _row(label: str, peaks: dict[float, list[Planned]], results: Mapping[str, Result],
         target: Mapping[str, float] | None) -> Row:
    score = {}
    for peak, runs in peaks.items():
        finals = [final(results[r.key], "val_loss") for r in runs]
        score[peak] = float(np.mean(finals)) if all(map(math.isfinite, finals)) else math.inf
    best = min(peaks, key=lambda p: (score[p], p))
    runs = sorted(peaks[best], key=lambda r: r.seed)
    res = [results[r.key] for r in runs]
    to_target = [steps_to_target(x, target) for x in res]
    med = sorted(to_target)[(len(to_target) - 1) // 2] if to_target else math.inf
    osc = [oscillation(x["train_loss"]) for x in res if not x["diverged"]]
    per_seed = {r.seed: final(x, "val_loss") for r, x in zip(runs, res)}
    has_metric = all(x.get("val_metric") is not None for x in res)
    return Row(
        label=label,
        schedule=repr(runs[0].schedule),
        best_peak=best,
        edge=len(peaks) > 1 and best in (min(peaks), max(peaks)),
        score=json_float(score[best]),
        val_loss=mean_ci(per_seed.values()),
        final_val_loss={str(k): json_float(v) for k, v in per_seed.items()},
        val_acc=mean_ci(final(x, "val_metric") for x in res) if has_metric else None,
        steps_to_target=json_float(med),
        reached_target=int(sum(math.isfinite(s) for s in to_target)),
        oscillation=mean_ci(osc).mean,
        diverged=sum(bool(results[r.key]["diverged"]) for rs in peaks.values() for r in rs),
        runs=sum(len(rs) for rs in peaks.values()),
        diverged_at_best=int(sum(bool(x["diverged"]) for x in res)),
        seeds=[r.seed for r in runs],
        peaks={repr(p): json_float(score[p]) for p in sorted(peaks)},
        curves=Curves(lr=json_floats(res[0]["lr"]),
                      eval_steps=[int(s) for s in res[0]["eval_steps"]],
                      val_loss=band([x["val_loss"] for x in res])),
        optimizer=runs[0].optimizer,
    )
