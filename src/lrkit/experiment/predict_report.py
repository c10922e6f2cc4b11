"""The predicted-vs-measured report of ``lrkit predict`` and ``lrkit compare --predict``.

:func:`build` turns a :class:`~lrkit.experiment.forecast.Forecast` and the stored runs
(:class:`~lrkit.experiment.forecast.Grid`) into the report dict (``predict.json``):
one row per schedule with its predicted best peak, predicted final validation loss
(mean and 95 % interval over the seeds' laws) and predicted rank, beside what was
trained (the best stored peak's mean final loss and its interval, and the rank among
the trained schedules), and the fit's error per peak. :func:`print_table` prints it,
:func:`plot_predict` draws ``predict.png``: the predicted curves (left) beside the
trained ones with the prediction dashed over them (right).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .candidates import Candidate
from .floats import float_array, json_float, json_floats
from .forecast import Forecast, Grid
from .stats import MeanCI

#: what the report says the figures mean
NOTE = ("predicted: the Tissue et al. (2024) loss law fitted per peak and seed on the "
        "fitting runs, mean over seeds \u00b1 95% interval; trained: mean final validation "
        "loss over seeds at the best trained peak \u00b1 95% interval")


def _ci(m: MeanCI | None) -> dict[str, Any] | None:
    return None if m is None else {"mean": json_float(m.mean), "ci": json_float(m.ci), "n": m.n}


def build(grid: Grid, fc: Forecast, candidates: Sequence[Candidate],
          extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report dict (standard JSON: ``None`` for non-finite)."""
    trained: dict[str, tuple[float, MeanCI]] = {}
    for c in candidates:
        ms = [(p, m) for p in grid.peaks if (m := grid.measured(c, p)) is not None
              and m.mean is not None]
        if ms:
            trained[c.label] = min(ms, key=lambda x: (x[1].mean or math.inf, x[0]))
    t_rank = {lab: i + 1 for i, lab in enumerate(
        sorted(trained, key=lambda k: (trained[k][1].mean or math.inf)))}
    p_rank = {lab: i + 1 for i, lab in enumerate(fc.ranking())}
    rows = []
    for c in candidates:
        b = fc.best(c.label)
        t = trained.get(c.label)
        curve = None
        if b is not None:
            res = [r for s in grid.seeds if (r := grid.result(c, b[0], s)) is not None]
            if res and len(res) == len(grid.seeds):
                curve = {"steps": [int(s) for s in res[0]["eval_steps"]],
                         "mean": json_floats(np.mean([float_array(r["val_loss"]) for r in res],
                                                     axis=0))}
        rows.append({
            "label": c.label, "schedule": c.describe,
            "fitting": c.label in fc.fitting,
            "predicted_rank": p_rank[c.label],
            "predicted_peak": None if b is None else b[0],
            "predicted": None if b is None else b[1].final.to_dict(),
            "predicted_curve": None if b is None else {
                "steps": [int(s) for s in b[1].steps], "mean": json_floats(b[1].mean),
                "low": json_floats(b[1].low), "high": json_floats(b[1].high)},
            "trained_rank": t_rank.get(c.label),
            "trained_peak": None if t is None else t[0],
            "trained": None if t is None else _ci(t[1]),
            "trained_curve": curve,  # at the predicted best peak, if trained there
        })
    return {
        "task": {"name": grid.task_name, "id": grid.config.get("task")},
        "config": grid.config, "peaks": grid.peaks, "seeds": grid.seeds,
        "law": "tissue", "fit_error": json_float(fc.error), "note": NOTE,
        "fits": [{"peak": f.peak, "error": json_float(f.error), "problem": f.problem}
                 for _, f in sorted(fc.fits.items())],
        "schedules": sorted(rows, key=lambda r: r["predicted_rank"]),
        **(extra or {}),
    }


def _num(x: float | None, digits: int = 4) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def _mean_ci(d: dict[str, Any] | None) -> str:
    if d is None or d.get("mean") is None:
        return "-"
    ci = d.get("ci")
    return _num(d["mean"]) + ("" if ci is None else f" \u00b1 {_num(ci, 2)}")


def table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The table's header and rows (text), in predicted order."""
    head = ["pred #", "schedule", "pred peak", "predicted val loss", "trained #",
            "trained peak", "trained val loss"]
    body = []
    for r in report["schedules"]:
        body.append([str(r["predicted_rank"]), r["label"] + (" (fit)" if r["fitting"] else ""),
                     _num(r["predicted_peak"], 3), _mean_ci(r["predicted"]),
                     "-" if r["trained_rank"] is None else str(r["trained_rank"]),
                     _num(r["trained_peak"], 3), _mean_ci(r["trained"])])
    return head, body


def print_table(report: dict[str, Any], console: Any = None) -> None:
    """The table with rich, then the fit errors per peak and any fallback."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    head, body = table(report)
    t = Table(title=f"lrkit predict (experimental): {report['task']['name']}, "
                    f"{report['config'].get('steps')} steps, {len(report['seeds'])} seeds")
    for h in head:
        t.add_column(h, justify="left" if h == "schedule" else "right")
    for row in body:
        t.add_row(*row)
    console.print(t)
    errs = ", ".join(f"{_num(f['peak'], 3)}: " + (_num(f["error"], 2) if f["error"] is not None
                                                  else f"no fit ({f['problem']})")
                     for f in report["fits"])
    console.print(f"fit error on the fitting runs (mean relative error per peak): {errs}",
                  highlight=False, soft_wrap=True)
    if report.get("fallback"):
        console.print(f"fallback: {report['fallback']}", highlight=False, soft_wrap=True)


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=1, allow_nan=False) + "\n"


def plot_predict(report: dict[str, Any], path: str) -> str:
    """``predict.png``: every schedule's predicted curve at its predicted best peak (left,
    band = 95 % interval over seeds) beside the trained curves there (right, solid; the
    prediction dashed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = report["schedules"]
    cmap = matplotlib.colormaps["tab10"]
    fig, (ax_p, ax_t) = plt.subplots(1, 2, figsize=(12, 4.6), dpi=110, sharey=True)
    lows: list[float] = []
    for i, r in enumerate(rows):
        c = cmap(i % 10)
        pc = r["predicted_curve"]
        if pc is None:
            continue
        label = f"{r['predicted_rank']}. {r['label']} (peak {_num(r['predicted_peak'], 3)})"
        m = float_array(pc["mean"])
        ax_p.plot(pc["steps"], m, color=c, lw=1.6, label=label)
        ax_p.fill_between(pc["steps"], float_array(pc["low"]), float_array(pc["high"]),
                          color=c, alpha=0.12, lw=0)
        lows.append(float(np.nanmin(m)))
        tc = r["trained_curve"]
        if tc is not None:
            tm = float_array(tc["mean"])
            ax_t.plot(tc["steps"], tm, color=c, lw=1.6, marker="o", ms=2,
                      label=f"{label}: trained #{r['trained_rank']}")
            ax_t.plot(pc["steps"], m, color=c, lw=1.2, ls="--")
            lows.append(float(np.nanmin(tm)))
    ax_p.set(title="predicted (no training; band = 95% interval over seeds)",
             xlabel="optimizer step", ylabel="validation loss", yscale="log")
    ax_t.set(title="trained (solid, mean over seeds) vs predicted (dashed)",
             xlabel="optimizer step", yscale="log")
    if lows:
        lo = min(v for v in lows if math.isfinite(v))
        ax_p.set_ylim(lo * 0.85, None)
    for ax in (ax_p, ax_t):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right", framealpha=0.9)
    fig.suptitle(f"lrkit predict (experimental) \u2014 {report['task']['name']}", fontsize=12)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
