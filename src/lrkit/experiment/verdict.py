"""Whether a comparison has a winner: never one from runs that diverged or learned nothing.

The **baseline** of a task is the lower of two validation losses that need no
training: the *untrained model's* (the mean over seeds of every run's
validation loss at step 0, before its first update) and the *trivial
predictor's* (:func:`trivial_loss`: predicting the training split's mean target
for ``mse``, the training split's class frequencies for ``cross_entropy``).

A comparison has a **winner** only if its best schedule's score (mean final
validation loss at its best peak) is finite and below the baseline by more than
``LEARNED_MARGIN`` (5 %) of it: ``score < baseline - LEARNED_MARGIN * |baseline|``.
Otherwise the verdict is ``"all-diverged"`` (every peak of every schedule had a
diverged seed) or ``"learned-nothing"``, and ``lrkit compare`` says so in the
table, the report and ``results.json`` and exits with status 3
(``NO_WINNER_EXIT`` in :mod:`lrkit.cli.experiment`).

>>> v = judge([("constant", 0.97)], untrained=1.0, trivial=0.99)
>>> v["status"], v["winner"]
('learned-nothing', None)
>>> judge([("cosine", 0.5), ("constant", 0.6)], untrained=1.0, trivial=0.99)["winner"]
'cosine'
>>> judge([("constant", None)], untrained=1.0, trivial=0.99)["status"]
'all-diverged'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .floats import json_float
from .recipe import LEARNED_MARGIN

STATUSES = ("winner", "all-diverged", "learned-nothing")


def trivial_loss(loss: str, y_train: Any, y_val: Any) -> float:
    """The validation loss of a predictor that ignores its input.

    ``mse``: predict the training targets' mean (per output), loss
    ``mean((y_val - mean(y_train))**2)`` over every element. ``cross_entropy``
    (one label per example or per token): predict the training labels'
    frequencies with one pseudo-count per class (classes ``0 .. max label``),
    loss ``-mean(log p[y_val])`` in nats.

    >>> round(trivial_loss("mse", [[0.0], [2.0]], [[1.0], [3.0]]), 6)
    2.0
    >>> round(trivial_loss("cross_entropy", [0, 0, 1], [0]), 6)   # p(0) = 3/5
    0.510826
    """
    yt = np.asarray(_numpy(y_train))
    yv = np.asarray(_numpy(y_val))
    if loss == "mse":
        yt, yv = yt.astype(np.float64), yv.astype(np.float64)
        mean = yt.reshape(len(yt), -1).mean(axis=0)
        return float(np.mean((yv.reshape(len(yv), -1) - mean) ** 2))
    lt, lv = yt.astype(np.int64).ravel(), yv.astype(np.int64).ravel()
    classes = int(max(lt.max(initial=0), lv.max(initial=0))) + 1
    p = (np.bincount(lt, minlength=classes) + 1.0) / (len(lt) + classes)
    return float(-np.mean(np.log(p[lv])))


def _numpy(x: Any) -> Any:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x


def untrained_loss(results: Iterable[Mapping[str, Any]]) -> float:
    """The mean over seeds of the validation loss at step 0 (before any update) of
    ``results`` (stored run results; one value per seed: the untrained model
    depends only on the seed); NaN if none has one."""
    per_seed: dict[Any, float] = {}
    for r in results:
        steps, vals = r.get("eval_steps") or [], r.get("val_loss") or []
        if steps and steps[0] == 0 and vals and vals[0] is not None:
            per_seed.setdefault(r.get("seed", len(per_seed)), float(vals[0]))
    finite = [v for v in per_seed.values() if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def judge(ranked: Sequence[tuple[str, float | None]], *, untrained: float,
          trivial: float) -> dict[str, Any]:
    """The verdict on ranked ``(label, score)`` pairs (best first; ``None``: no finite
    score): ``{"status", "winner", "baseline", "untrained", "trivial", "margin",
    "message"}`` (see the module docstring)."""
    refs = [v for v in (untrained, trivial) if math.isfinite(v)]
    baseline = min(refs) if refs else math.nan
    best = ranked[0] if ranked else ("", None)
    label, score = best[0], best[1]
    common = {"baseline": json_float(baseline), "untrained": json_float(untrained),
              "trivial": json_float(trivial), "margin": LEARNED_MARGIN}
    if score is None or not math.isfinite(score):
        return {"status": "all-diverged", "winner": None, **common,
                "message": "NO WINNER: every run diverged at every peak tried "
                           "(try smaller peaks)"}
    bar = baseline - LEARNED_MARGIN * abs(baseline)
    if math.isfinite(baseline) and not score < bar:
        return {"status": "learned-nothing", "winner": None, **common,
                "message": f"NO WINNER: the best runs ({label}, val loss {score:.4g}) are no "
                           f"better than the untrained model ({untrained:.4g}) or a trivial "
                           f"predictor ({trivial:.4g}) by more than {LEARNED_MARGIN:.0%}: "
                           "nothing was learned (try other peaks, more steps or another "
                           "optimizer)"}
    return {"status": "winner", "winner": label, **common,
            "message": f"winner: {label}"}


def judge_rows(rows: Sequence[Any], task: Any, results: Iterable[Mapping[str, Any]]
               ) -> dict[str, Any]:
    """:func:`judge` on a comparison's ranked rows (``summary.Row``), with the baseline of
    ``task`` (a :class:`~lrkit.experiment.tasks.Task`; the split every run trains on,
    ``data(0)``) and the untrained loss of ``results`` (stored results with their
    ``seed``)."""
    _, y_train, _, y_val = task.data(0)
    return judge([(r.label, r.score) for r in rows], untrained=untrained_loss(results),
                 trivial=trivial_loss(task.loss, y_train, y_val))
