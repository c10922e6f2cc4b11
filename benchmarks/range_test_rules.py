"""Where each range-test rule lands, against the best peaks of a fixed-peak sweep.

For every built-in task and four tables (iris, wine, breast-cancer, diabetes: CSV
files written from scikit-learn's bundled sets, trained as a user would with
``--data file.csv --target target``):

1. the range test with lrkit's defaults (``recipe.RANGE_TEST``, 3 seeds batched),
   and every rule's suggestion (``lr_find.SUGGESTIONS``);
2. a short fixed-peak comparison: constant and cosine at 8 log-spaced peaks (a wide
   grid: 1e-4 .. 3.16 for SGD, 1e-5 .. 0.316 for Adam/AdamW), 2 seeds (tiny-lm: 1 seed,
   200 steps; mnist1d 600 steps);
3. the **good range**: every peak where some schedule's mean final validation loss
   achieves at least 90 % of that schedule's best improvement over the baseline
   (``verdict``: the untrained model or a trivial predictor), widened by half a grid
   step (x/÷ the square root of the grid factor) on each side. A rule is "in" when
   its suggestion lies inside; "edge" marks a good range touching the grid's end.

Prints the table (task, good range, each rule's suggestion and in/out) and writes
``--json``. Runs are stored in ``--cache`` (an Optuna study), so a rerun only
analyses. ``--quick`` keeps only the tables and digits-mlp (what CI runs).

    PYTHONPATH=src python benchmarks/range_test_rules.py [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from typing import Any

import numpy as np

from lrkit.experiment import recipe
from lrkit.experiment.compare import Options, run_compare
from lrkit.experiment.lr_find import SUGGESTIONS, find_lr_task
from lrkit.experiment.runner import TaskRef

TABLES = ("iris", "wine", "breast-cancer", "diabetes")
#: tasks whose comparison is cut short here (steps): the range test does not depend on it
SHORT = {"mnist1d": 600, "tiny-lm": 200}
#: tiny-lm costs ~47 s per 1,000 steps alone and batching does not help it: one seed,
#: chunks of 4 (docs/compare.md, Speed)
FEWER_SEEDS = {"tiny-lm": 1}
CHUNKS = {"tiny-lm": 4}
KEEP = 0.9  # a good peak achieves this fraction of the best improvement over the baseline
PEAKS = 8


def write_tables(folder: str) -> dict[str, str]:
    """The four scikit-learn tables as CSV files (features, then ``target``)."""
    from sklearn import datasets

    loaders = {"iris": datasets.load_iris, "wine": datasets.load_wine,
               "breast-cancer": datasets.load_breast_cancer,
               "diabetes": datasets.load_diabetes}
    os.makedirs(folder, exist_ok=True)
    out = {}
    for name in TABLES:
        d = loaders[name]()
        path = os.path.join(folder, f"{name}.csv")
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow([f"x{i}" for i in range(d.data.shape[1])] + ["target"])
            for x, y in zip(d.data, d.target):
                w.writerow([repr(float(v)) for v in x] + [y.item()])
        out[name] = path
    return out


def grid(optimizer: str) -> list[float]:
    lo, hi = (-4.0, 0.5) if optimizer == "sgd" else (-5.0, -0.5)
    return [float(f"{p:.3g}") for p in np.logspace(lo, hi, PEAKS)]


def good_range(rows: list[dict[str, Any]], baseline: float, peaks: list[float]
               ) -> tuple[float, float, bool]:
    """(low, high, touches the grid's end) of the good peaks; see the module docstring."""
    good: list[float] = []
    for r in rows:
        scores = {float(k): v for k, v in r["peaks"].items() if v is not None}
        if not scores:
            continue
        best = min(scores.values())
        gain = baseline - best
        bar = best + (1 - KEEP) * gain if gain > 0 else best
        good += [p for p, v in scores.items() if v <= bar]
    if not good:
        return math.nan, math.nan, False
    half = math.sqrt(peaks[1] / peaks[0])
    edge = min(good) == peaks[0] or max(good) == peaks[-1]
    return min(good) / half, max(good) * half, edge


def measure(name: str, ref: dict[str, str | None], cache: str, seeds: int) -> dict[str, Any]:
    task = TaskRef.of(ref.get("task"), ref.get("data"), ref.get("target")).load()
    t0 = time.perf_counter()
    lf = find_lr_task(task, seeds=list(range(recipe.RANGE_TEST_SEEDS)))
    t_lf = time.perf_counter() - t0
    peaks = grid(task.setting("optimizer"))
    o = Options(task=ref.get("task"), data=ref.get("data"), target=ref.get("target"),
                schedules=["constant", "cosine"], peaks=",".join(map(repr, peaks)),
                seeds=min(seeds, FEWER_SEEDS.get(name, seeds)), steps=SHORT.get(name),
                chunk_size=CHUNKS.get(name, Options.chunk_size), out=cache,
                storage="sqlite:///" + os.path.abspath(os.path.join(cache, "runs.db")),
                study=f"range-rules-{name}")
    t0 = time.perf_counter()
    res = run_compare(o)
    t_cmp = time.perf_counter() - t0
    rep = res.to_dict()
    v = rep["verdict"]
    lo, hi, edge = good_range(rep["schedules"], v["baseline"], peaks)
    return {"task": name, "range": [lo, hi], "edge": edge, "peaks": peaks,
            "baseline": v["baseline"], "best": rep["schedules"][0]["score"],
            "suggestions": dict(lf.suggestions),
            "per_seed": [dict(p.suggestions) for p in lf.per_seed],
            "scores": {r["label"]: r["peaks"] for r in rep["schedules"]},
            "seconds": {"range test": round(t_lf, 1), "sweep": round(t_cmp, 1)}}


def inside(x: float, rng: list[float]) -> bool:
    return bool(math.isfinite(x) and rng[0] <= x <= rng[1])


def table(results: list[dict[str, Any]]) -> str:
    head = f"{'task':<16}{'good peaks':>20}  " + "".join(f"{m:>16}" for m in SUGGESTIONS)
    lines = [head, "-" * len(head)]
    hits = dict.fromkeys(SUGGESTIONS, 0)
    for r in results:
        lo, hi = r["range"]
        rng = f"{lo:.3g} .. {hi:.3g}" + ("*" if r["edge"] else " ")
        cells = []
        for m in SUGGESTIONS:
            x = r["suggestions"][m]
            ok = inside(x, r["range"])
            hits[m] += ok
            cells.append(f"{x:>10.3g} {'in ' if ok else 'OUT'}  ")
        lines.append(f"{r['task']:<16}{rng:>20}  " + "".join(f"{c:>16}" for c in cells))
    lines.append("-" * len(head))
    lines.append(f"{'in range':<16}{'':>20}  "
                 + "".join(f"{f'{hits[m]}/{len(results)}':>16}" for m in SUGGESTIONS))
    lines.append("* the good range touches the end of the peak grid")
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the tables and digits-mlp only")
    ap.add_argument("--only", nargs="*", help="these tasks only")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--cache", default="lrkit-out/range-rules")
    ap.add_argument("--json", default=None, help="write the measurements here")
    a = ap.parse_args(argv)
    import torch

    from lrkit.experiment.tasks import BUILTIN

    torch.set_num_threads(1)
    tables = write_tables(os.path.join(a.cache, "tables"))
    refs: dict[str, dict[str, str | None]] = {n: {"task": n} for n in BUILTIN}
    refs.update({n: {"data": p, "target": "target"} for n, p in tables.items()})
    names = list(refs)
    if a.quick:
        names = ["digits-mlp", *TABLES]
    if a.only:
        names = [n for n in names if n in a.only]
    results = []
    for n in names:
        r = measure(n, refs[n], a.cache, a.seeds)
        print(f"{n}: {r['seconds']}", file=sys.stderr, flush=True)
        results.append(r)
    print(table(results))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
