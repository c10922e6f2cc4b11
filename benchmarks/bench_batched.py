"""Batched trainer vs one-run-at-a-time PyTorch training of the same grid, and FLOP/s.

    python benchmarks/bench_batched.py [--task digits-mlp] [--runs 63] [--epochs 10 | --steps N]
                                       [--loop-runs 10] [--batch-size B] [--threads 1]
                                       [--chunk N] [--peaks 0.03,0.1,0.3]

Runs the grid (``--runs`` runs: 7 schedule shapes x peaks x seeds, like the
default ``lrkit compare``) once with ``train`` (all runs as one batched model)
and ``--loop-runs`` of them, spread over the grid, with ``train_one`` (plain PyTorch:
the task's model alone, the real ``torch.optim`` optimizer) (``--chunk N``:
``train`` is called on groups of N runs, as ``lrkit compare`` does). The two are
interleaved -- after each ``train`` call, a share of the loop sample -- so both see
the same machine. Prints both wall times, the loop's time extrapolated per run to the
whole grid, and the throughput ratio in run-steps per second. One warm-up call of
each trainer runs first (imports, allocator) and is not timed. Settings not given
are the task's (``lrkit compare --task X`` trains the same way).

FLOP/s: the floating-point operations of one training step of one run (forward and
backward, counted by ``torch.utils.flop_counter.FlopCounterMode`` on the plain model:
matrix products and convolutions, which is nearly all of it) times the run-steps,
over the wall time; beside it, a plain ``torch.mm`` of two 2048 x 2048 float32
matrices on the same threads, measured in the same run: the machine's limit.

Examples (the figures in docs/compare.md)::

    python benchmarks/bench_batched.py --task mnist1d --runs 35 --steps 300 --loop-runs 4
    python benchmarks/bench_batched.py --task tiny-lm --runs 35 --steps 60 --loop-runs 3 \\
        --peaks 0.001,0.003,0.01
"""

from __future__ import annotations

import argparse
import time

import torch

import lrkit
from lrkit.experiment.tasks import get_task
from lrkit.experiment.trainer import Run, _losses, steps_per_epoch, train, train_one


def grid(n: int, total: int, peaks: list[float]) -> list[Run]:
    shapes = [
        lambda p: lrkit.constant(p),
        lambda p: lrkit.time_decay(p, k=10 / total),
        lambda p: lrkit.step_decay(p, factor=0.5, every=max(1, total // 4)),
        lambda p: lrkit.exponential(p, factor=0.01 ** (1 / total)),
        lambda p: lrkit.cosine(init=p, steps=total),
        lambda p: lrkit.one_cycle(peak=p, steps=total),
        lambda p: lrkit.wsd(init=p, steps=total, decay_steps=max(1, total // 5)),
    ]
    runs = []
    for i in range(n):
        shape, peak, seed = shapes[i % 7], peaks[(i // 7) % len(peaks)], i // (7 * len(peaks))
        runs.append(Run(f"run{i}", shape(peak), seed=seed))
    return runs


def step_flops(task_name: str, batch_size: int) -> float:
    """Forward + backward FLOPs of one training step of one run."""
    from torch.utils.flop_counter import FlopCounterMode

    task = get_task(task_name)
    xt, yt, _, _ = task.data(0)
    model = task.build(0)
    x, y = xt[:batch_size], yt[:batch_size]
    with FlopCounterMode(display=False) as fc:
        loss = _losses(task.loss, model(x)[None], y[None])[0]
        loss.backward()  # type: ignore[no-untyped-call]
    return float(fc.get_total_flops())


def mm_flops(threads: int) -> float:
    """FLOP/s of a plain float32 ``torch.mm`` of 2048 x 2048 matrices (best of 5)."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * 2048 ** 3 / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="digits-mlp")
    ap.add_argument("--runs", type=int, default=63)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--loop-runs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=0, help="runs per train() call (0: all)")
    ap.add_argument("--peaks", default=None, help="peaks of the grid (default: the task's "
                    "optimizer's: 0.03,0.1,0.3 for SGD, 0.001,0.003,0.01 for Adam)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    task = get_task(a.task)
    batch = task.setting("batch_size", a.batch_size)
    spe = steps_per_epoch(task, batch)
    if a.steps is not None:
        total = a.steps
    elif a.epochs is not None:
        total = spe * a.epochs
    else:
        total = task.recipe.get("steps") or spe * 10
    sgd = task.setting("optimizer") == "sgd"
    peaks = [float(p) for p in (a.peaks or ("0.03,0.1,0.3" if sgd else
                                            "0.001,0.003,0.01")).split(",")]
    runs = grid(a.runs, total, peaks)
    kw = dict(steps=total, batch_size=batch)

    train(task, runs[:2], steps=3, batch_size=batch)  # warm-up, not timed
    train_one(task, runs[0], steps=3, batch_size=batch)

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
        batched += train(task, call, **kw)
        t1 = time.perf_counter()
        for run in share:
            train_one(task, run, **kw)
        t_batched, t_loop = t_batched + t1 - t0, t_loop + time.perf_counter() - t1
    t_loop_all = t_loop / n_loop * a.runs

    rs = a.runs * total
    flops = step_flops(a.task, batch)
    peak = mm_flops(a.threads)
    print(f"task {a.task}: {a.runs} runs x {total} steps = {rs} run-steps, batch {batch}, "
          f"{task.setting('optimizer')}, {torch.get_num_threads()} thread(s)")
    print(f"batched train(): {t_batched:8.2f} s for all {a.runs} runs "
          f"({-(-a.runs // chunk)} call(s) of <= {chunk})   "
          f"{rs / t_batched:9.0f} run-steps/s   {flops * rs / t_batched / 1e9:6.1f} GFLOP/s")
    print(f"train_one loop : {t_loop:8.2f} s measured for {n_loop} runs -> "
          f"{t_loop_all:.2f} s extrapolated for {a.runs}   "
          f"{n_loop * total / t_loop:9.0f} run-steps/s   "
          f"{flops * n_loop * total / t_loop / 1e9:6.1f} GFLOP/s")
    share, share_loop = flops * rs / t_batched / peak, flops * n_loop * total / t_loop / peak
    print(f"torch.mm 2048^2: {peak / 1e9:.1f} GFLOP/s; batched = {share:.0%} of it, "
          f"loop = {share_loop:.0%}; "
          f"{flops / 1e6:.2f} MFLOP per run-step")
    print(f"speed-up (throughput ratio): {t_loop_all / t_batched:.1f}x")
    div = sum(r.diverged for r in batched)
    best = min(batched, key=lambda r: r.final_val_loss if not r.diverged else float("inf"))
    print(f"diverged runs: {div}; best final val loss {best.final_val_loss:.4f} ({best.key}); "
          f"per run: {t_batched / a.runs:.2f} s batched, {t_loop / n_loop:.2f} s alone")


if __name__ == "__main__":
    main()
