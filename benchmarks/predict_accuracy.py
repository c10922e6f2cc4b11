"""How well the loss law ranks schedules it never trained: predicted vs trained, per task.

Reads a study holding a full ``lrkit compare`` grid (every default schedule x peak x
seed), fits the law on the fitting runs only (constant + cosine at each peak), predicts
every other schedule at every peak, and compares with what was trained:

* Spearman rho between predicted and trained mean final validation loss over the
  held-out schedules x peaks (the fitting runs left out; pairs where either is
  not finite left out);
* whether the predicted winner (over all schedules, at its predicted best peak) is
  within the trained winner's interval (its trained mean - the trained winner's mean
  <= the trained winner's 95 % half-width);
* the mean relative error of the final loss, and of the whole curve (every evaluation
  after step 0), over the held-out schedules x peaks;
* the fit's own error on the fitting runs (the worst peak);
* Spearman rho of the schedules' order (each at its best peak, predicted vs trained);
* the winner ``compare --predict`` reports (the best trained of the fitting runs and the
  top-k at their predicted best peak) and whether it is within the trained winner's
  interval: the winner quality at which the saving is measured;
* the training a ``compare --predict`` would do: the fitting runs at every peak plus
  the top-k's runs at their predicted best peak, against the full grid, in runs and
  in stored run-seconds (each run's share of its chunk's wall time).

    python benchmarks/predict_accuracy.py --storage sqlite:////tmp/pgrid/digits/lrkit.db \
        [--study lrkit-compare] [--top-k 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np

from lrkit.experiment.candidates import parse_candidates
from lrkit.experiment.floats import float_array
from lrkit.experiment.forecast import Grid, forecast, grids
from lrkit.experiment.store import Store


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic) if len(a) > 2 else math.nan


def evaluate(grid: Grid, top_k: int) -> dict[str, object]:
    cands = parse_candidates(None)
    fc = forecast(grid, cands)
    held = [c for c in cands if c.label not in fc.fitting]
    pred, meas, rel_final, rel_curve = [], [], [], []
    for c in held:
        for p, pr in fc.predictions[c.label].items():
            m = grid.measured(c, p)
            if m is None or m.mean is None or not math.isfinite(m.mean):
                continue
            pm = pr.final.mean
            if pm is None or not math.isfinite(pm):
                continue
            pred.append(pm)
            meas.append(m.mean)
            rel_final.append(abs(pm - m.mean) / m.mean)
            curves = [float_array(r["val_loss"])[1:] for s in grid.seeds
                      if (r := grid.result(c, p, s)) is not None]
            mc = np.mean(curves, axis=0)
            rel_curve.append(float(np.mean(np.abs(pr.mean - mc) / mc)))
    # trained winner over every schedule x peak, and its interval
    trained = {}
    for c in cands:
        ms = [(p, m) for p in grid.peaks if (m := grid.measured(c, p)) is not None
              and m.mean is not None and math.isfinite(m.mean)]
        if ms:
            trained[c.label] = min(ms, key=lambda x: (x[1].mean, x[0]))
    win = min(trained, key=lambda k: trained[k][1].mean)
    wmean, wci = trained[win][1].mean, trained[win][1].ci or 0.0
    ranking = fc.ranking()
    pwin = ranking[0]
    pb = fc.best(pwin)
    pm_at = grid.measured(next(c for c in cands if c.label == pwin), pb[0]) if pb else None
    within = bool(pm_at is not None and pm_at.mean is not None
                  and pm_at.mean - wmean <= wci)
    # what --predict trains: the fitting runs at every peak + the top-k's runs at one peak
    fit_c = [c for c in cands if c.label in fc.fitting]
    short = [lab for lab in ranking if lab not in fc.fitting][:top_k]

    def secs(c, p):  # noqa: ANN001, ANN202
        return sum(r["seconds"] for s in grid.seeds if (r := grid.result(c, p, s)))

    full_s = sum(secs(c, p) for c in cands for p in grid.peaks)
    pred_s = sum(secs(c, p) for c in fit_c for p in grid.peaks)
    for lab in short:
        b = fc.best(lab)
        if b:
            pred_s += secs(next(c for c in cands if c.label == lab), b[0])
    # the winner --predict reports: the best trained of the fitting runs and the top-k
    got = {lab: trained[lab] for lab in fc.fitting if lab in trained}
    for lab in short:
        b = fc.best(lab)
        m = grid.measured(next(c for c in cands if c.label == lab), b[0]) if b else None
        if b and m is not None and m.mean is not None and math.isfinite(m.mean):
            got[lab] = (b[0], m)
    swin = min(got, key=lambda k: got[k][1].mean)
    s_within = bool(got[swin][1].mean - wmean <= wci)
    order = list(trained)
    t_order = sorted(trained, key=lambda k: trained[k][1].mean)
    rho_sched = spearman([ranking.index(k) for k in order], [t_order.index(k) for k in order])
    full_runs = len(cands) * len(grid.peaks) * len(grid.seeds)
    pred_runs = (len(fit_c) * len(grid.peaks) + len(short)) * len(grid.seeds)
    return {
        "task": grid.task_name, "steps": grid.steps, "peaks": len(grid.peaks),
        "seeds": len(grid.seeds), "pairs": len(pred),
        "spearman": spearman(pred, meas),
        "predicted_winner": f"{pwin}@{pb[0]:.3g}" if pb else None,
        "trained_winner": f"{win}@{trained[win][0]:.3g}",
        "winner_within_interval": within,
        "final_rel_error": float(np.mean(rel_final)) if rel_final else math.nan,
        "curve_rel_error": float(np.mean(rel_curve)) if rel_curve else math.nan,
        "fit_error": fc.error,
        "schedule_spearman": rho_sched,
        "predict_winner": f"{swin}@{got[swin][0]:.3g}",
        "predict_winner_within_interval": s_within,
        "runs": f"{pred_runs}/{full_runs}",
        "training_saving": full_s / pred_s if pred_s else math.nan,
        "predicted_rank": ranking,
        "trained_rank": sorted(trained, key=lambda k: trained[k][1].mean),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--storage", action="append", required=True)
    ap.add_argument("--study", default="lrkit-compare")
    ap.add_argument("--top-k", type=int, default=1)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    rows = []
    for url in a.storage:
        g = grids(Store(url, a.study).records())[0]
        rows.append(evaluate(g, a.top_k))
    cols = ["task", "steps", "pairs", "spearman", "predicted_winner", "trained_winner",
            "winner_within_interval", "schedule_spearman", "final_rel_error",
            "curve_rel_error", "fit_error", "predict_winner", "predict_winner_within_interval",
            "runs", "training_saving"]
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols))
        print("   predicted rank:", " > ".join(r["predicted_rank"]))  # type: ignore[arg-type]
        print("   trained rank:  ", " > ".join(r["trained_rank"]))  # type: ignore[arg-type]
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
