"""``lrkit tune`` vs the default ``lrkit compare`` grid, on the same task, seeds and budget.

    python benchmarks/bench_tune.py [--task mnist1d] [--steps 600] [--seeds 3]
                                    [--trials N] [--family wsd] [--fresh 3] [--out DIR]

1. ``lrkit compare --task T --steps S -j 2 --chunk-size 27`` (the default 7 shapes,
   ``--peaks auto``): its winner and the number of runs R it trained.
2. ``lrkit tune`` on the same task, steps and seeds with the same budget: ``R / seeds``
   trials (default; ``--trials`` overrides), TPE seed 0, one worker.
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
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-tune-")
    seeds = str(a.seeds)

    t0 = time.perf_counter()
    cmp = run_compare(Options(task=a.task, steps=a.steps, seeds=seeds, jobs=2, chunk_size=27,
                              out=os.path.join(work, "compare")))
    t_cmp = time.perf_counter() - t0
    win = cmp.rows[0]
    trials = a.trials or max(1, cmp.runs // a.seeds)

    t0 = time.perf_counter()
    tun = run_tune(TuneOptions(task=a.task, steps=a.steps, seeds=seeds, trials=trials,
                               family=a.family, out=os.path.join(work, "tune")))
    t_tune = time.perf_counter() - t0
    best = tun.best
    if a.out:
        write_results(tun, a.out)

    fresh = list(range(a.seeds, a.seeds + a.fresh))
    f_cmp = _fresh(a.task, win.schedule, a.steps, fresh, os.path.join(work, "fresh-c"))
    f_tune = _fresh(a.task, best.spec, a.steps, fresh, os.path.join(work, "fresh-t"))
    d = paired(f_tune, f_cmp)

    def ci(m: object) -> str:
        mean, half = getattr(m, "mean", None), getattr(m, "ci", None)
        if mean is None:
            return "diverged"
        return f"{mean:.4f}" + (f" ± {half:.4f}" if half is not None else "")

    print(f"task {a.task}, {a.steps} steps, search seeds 0..{a.seeds - 1}, "
          f"fresh seeds {fresh[0]}..{fresh[-1]}")
    print(f"{'':28} {'compare (7 default shapes)':>32} {'tune (' + a.family + ')':>32}")
    print(f"{'winner':28} {win.label:>32} {'trial ' + str(best.number):>32}")
    print(f"{'val loss, search seeds':28} {ci(win.val_loss):>32} "
          f"{ci(mean_ci(best.losses)):>32}")
    print(f"{'val loss, fresh seeds':28} {ci(mean_ci(f_cmp.values())):>32} "
          f"{ci(mean_ci(f_tune.values())):>32}")
    print(f"{'runs trained':28} {cmp.runs:>32} {len(tun.trials) * a.seeds:>32}")
    print(f"{'wall time (s)':28} {t_cmp:>32.1f} {t_tune:>32.1f}")
    ratio = (best.value / win.score) if win.score else float("nan")
    print(f"tune / compare: val loss (search seeds) {ratio:.3f}x, wall time "
          f"{t_tune / t_cmp:.2f}x; fresh seeds, tune - compare paired: {ci(d)}")
    print(f"compare winner: {win.schedule}")
    print(f"tune winner:    {best.spec}")


if __name__ == "__main__":
    main()
