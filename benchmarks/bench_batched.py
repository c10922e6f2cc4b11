"""Batched trainer vs one-run-at-a-time PyTorch training of the same grid.

    python benchmarks/bench_batched.py [--task digits-mlp] [--runs 63] [--epochs 10]
                                       [--loop-runs 10] [--batch-size 64] [--threads 1]
                                       [--chunk N]

Runs the grid (``--runs`` runs: 7 schedule shapes x peaks x seeds, like the
default ``lrkit compare``) once with ``train`` (all runs as one batched model)
and ``--loop-runs`` of them, spread over the grid, with ``train_one`` (plain PyTorch,
torch.optim.SGD) (``--chunk N``: ``train`` is called on groups of N runs, as
``lrkit compare`` does). The two are interleaved -- after each ``train`` call, a share
of the loop sample -- so both see the same machine. Prints both wall times, the loop's
time extrapolated per run to the whole grid, and the throughput ratio in run-steps
per second. One warm-up call of
each trainer runs first (imports, allocator) and is not timed.
"""

from __future__ import annotations

import argparse
import time

import torch

import lrkit
from lrkit.experiment.trainer import Run, steps_per_epoch, train, train_one


def grid(n: int, total: int) -> list[Run]:
    shapes = [
        lambda p: lrkit.constant(p),
        lambda p: lrkit.time_decay(p, k=10 / total),
        lambda p: lrkit.step_decay(p, factor=0.5, every=max(1, total // 4)),
        lambda p: lrkit.exponential(p, factor=0.01 ** (1 / total)),
        lambda p: lrkit.cosine(init=p, steps=total),
        lambda p: lrkit.one_cycle(peak=p, steps=total),
        lambda p: lrkit.wsd(init=p, steps=total, decay_steps=max(1, total // 5)),
    ]
    peaks = [0.03, 0.1, 0.3]
    runs = []
    for i in range(n):
        shape, peak, seed = shapes[i % 7], peaks[(i // 7) % 3], i // 21
        runs.append(Run(f"run{i}", shape(peak), seed=seed))
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="digits-mlp")
    ap.add_argument("--runs", type=int, default=63)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--loop-runs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=0, help="runs per train() call (0: all)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    spe = steps_per_epoch(a.task, a.batch_size)
    total = spe * a.epochs
    runs = grid(a.runs, total)
    kw = dict(epochs=a.epochs, batch_size=a.batch_size)

    train(a.task, runs[:2], steps=3, batch_size=a.batch_size)  # warm-up, not timed
    train_one(a.task, runs[0], steps=3, batch_size=a.batch_size)

    # Interleaved: after each batched call, time a share of the loop sample, so that both
    # trainers see the same machine (these machines are shared and their speed drifts).
    chunk = a.chunk or a.runs
    calls = [runs[i:i + chunk] for i in range(0, a.runs, chunk)]
    n_loop = min(a.loop_runs, a.runs)
    sample = [runs[round(i * a.runs / n_loop)] for i in range(n_loop)]  # spread over the grid
    shares = [sample[k::len(calls)] for k in range(len(calls))]
    t_batched = t_loop = 0.0
    batched = []
    for call, share in zip(calls, shares):
        t0 = time.perf_counter()
        batched += train(a.task, call, **kw)
        t1 = time.perf_counter()
        for run in share:
            train_one(a.task, run, **kw)
        t_batched, t_loop = t_batched + t1 - t0, t_loop + time.perf_counter() - t1
    t_loop_all = t_loop / n_loop * a.runs

    rs = a.runs * total
    print(f"task {a.task}: {a.runs} runs x {a.epochs} epochs x {spe} steps = {rs} run-steps, "
          f"batch {a.batch_size}, {torch.get_num_threads()} thread(s)")
    print(f"batched train(): {t_batched:8.2f} s for all {a.runs} runs "
          f"({-(-a.runs // chunk)} call(s) of <= {chunk})   "
          f"{rs / t_batched:9.0f} run-steps/s")
    print(f"train_one loop : {t_loop:8.2f} s measured for {n_loop} runs -> "
          f"{t_loop_all:.2f} s extrapolated for {a.runs}   "
          f"{n_loop * total / t_loop:9.0f} run-steps/s")
    print(f"speed-up (throughput ratio): {t_loop_all / t_batched:.1f}x")
    div = sum(r.diverged for r in batched)
    best = min(batched, key=lambda r: r.final_val_loss if not r.diverged else float("inf"))
    print(f"diverged runs: {div}; best final val loss {best.final_val_loss:.4f} ({best.key})")


if __name__ == "__main__":
    main()
