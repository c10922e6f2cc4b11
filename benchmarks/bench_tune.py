"""``lrkit tune`` vs the default ``lrkit compare`` grid, on the same task, seeds and budget.

    python benchmarks/bench_tune.py [--task mnist1d] [--steps 600] [--seeds 3]
                                    [--trials N | --budget B] [--family wsd] [--fresh 3]
                                    [--no-cold] [--out DIR]

1. ``lrkit compare --task T --steps S -j 2 --chunk-size 27`` (the default 7 shapes,
   ``--peaks auto``): its winner and the number of runs R it trained.
2. ``lrkit tune -j 2`` on the same task, steps and seeds with the same budget: ``R / seeds``
   trials (default; ``--budget 2``: twice that; ``--trials`` overrides), TPE seed 0, one
   worker; twice: with the warm start (the default: the first trials are the default
   compare shapes the family holds) and without it (``--no-warm-start``: TPE alone;
   ``--no-cold`` skips it).
3. Both winners are trained again on ``--fresh`` seeds neither search saw (seeds
   ``seeds .. seeds + fresh - 1``), with ``lrkit compare "SPEC" --peaks spec``: a search
   that only found a lucky seed draw shows here. The paired difference (tune - compare,
   seed by seed) and its 95 % interval are printed.

Prints the two winners side by side: spec, mean final validation loss ± 95 % interval
over the search seeds and over the fresh seeds, runs trained, wall time, and
``tune / compare`` ratios. ``--out`` keeps results.json and tune.png.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time

from lrkit.experiment.compare import Options, run_compare
from lrkit.experiment.stats import mean_ci, paired
from lrkit.experiment.tune import TuneOptions, run_tune
from lrkit.experiment.tune_report import write_results


def _fresh(task: str, spec: str, steps: int, seeds: list[int], out: str) -> dict[str, float | None]:
    """Final validation loss per fresh seed of the schedule ``spec`` run as written."""
    r = run_compare(Options(task=task, schedules=[spec], peaks="spec", steps=steps,
                            seeds=",".join(map(str, seeds)), out=out, jobs=2))
    return r.rows[0].final_val_loss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="mnist1d")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--family", default="wsd")
    ap.add_argument("--fresh", type=int, default=3)
    ap.add_argument("--out", default=None)
    ap.add_argument("--budget", type=float, default=1.0,
                    help="tune's trials = budget x compare's runs / seeds")
    ap.add_argument("--no-cold", action="store_true", help="skip the --no-warm-start search")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-tune-")
    seeds = str(a.seeds)

    t0 = time.perf_counter()
    cmp = run_compare(Options(task=a.task, steps=a.steps, seeds=seeds, jobs=2, chunk_size=27,
                              out=os.path.join(work, "compare")))
    t_cmp = time.perf_counter() - t0
    win = cmp.rows[0]
    trials = a.trials or max(1, round(a.budget * cmp.runs / a.seeds))

    tunes = {}
    for warm in (True,) if a.no_cold else (True, False):
        t0 = time.perf_counter()
        tun = run_tune(TuneOptions(Options(task=a.task, steps=a.steps, seeds=seeds),
                                   trials=trials, family=a.family, jobs=2, warm_start=warm,
                                   out=os.path.join(work, f"tune-{warm}")))
        tunes[warm] = (tun, time.perf_counter() - t0)
    if a.out:
        write_results(tunes[True][0], a.out)

    fresh = list(range(a.seeds, a.seeds + a.fresh))
    f_cmp = _fresh(a.task, win.schedule, a.steps, fresh, os.path.join(work, "fresh-c"))

    def ci(m: object) -> str:
        mean, half = getattr(m, "mean", None), getattr(m, "ci", None)
        if mean is None:
            return "diverged"
        return f"{mean:.4f}" + (f" ± {half:.4f}" if half is not None else "")

    print(f"task {a.task}, {a.steps} steps, search seeds 0..{a.seeds - 1}, "
          f"fresh seeds {fresh[0]}..{fresh[-1]}, tune family {a.family}, {trials} trials")
    cols = {"compare -j 2 (7 defaults)": (win.label, win.val_loss, win.schedule, cmp.runs,
                                        t_cmp, f_cmp)}
    for warm, (tun, secs) in tunes.items():
        best = tun.best
        f = _fresh(a.task, best.spec, a.steps, fresh, os.path.join(work, f"fresh-{warm}"))
        cols["tune -j 2" + ("" if warm else " --no-warm-start")] = (
            f"trial {best.number}", mean_ci(best.losses), best.spec,
            len(tun.trials) * a.seeds, secs, f)
    print(f"{'':24}" + "".join(f"{k:>34}" for k in cols))
    rows = [("winner", lambda c: c[0]), ("val loss, search seeds", lambda c: ci(c[1])),
            ("val loss, fresh seeds", lambda c: ci(mean_ci(c[5].values()))),
            ("runs trained", lambda c: str(c[3])), ("wall time (s)", lambda c: f"{c[4]:.1f}")]
    for name, get in rows:
        print(f"{name:24}" + "".join(f"{get(c):>34}" for c in cols.values()))
    for k, c in list(cols.items())[1:]:
        ratio = c[1].mean / win.val_loss.mean if c[1].mean and win.val_loss.mean else math.nan
        print(f"{k} / compare: val loss (search seeds) {ratio:.3f}x, wall time "
              f"{c[4] / t_cmp:.2f}x; fresh seeds, tune - compare paired: "
              f"{ci(paired(c[5], f_cmp))}")
    for k, c in cols.items():
        print(f"{k}: {c[2]}")


if __name__ == "__main__":
    main()
