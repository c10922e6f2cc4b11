"""What a baseline optimizer costs per run: SF-SGD, SF-AdamW and Prodigy beside SGD, batched.

    python benchmarks/bench_baselines.py [--task mnist1d] [--runs 27] [--steps 100]
                                         [--repeats 3] [--loop-steps 30]

Trains ``--runs`` runs of one optimizer as one batched model (``train``, the task's
model, one torch thread, as ``lrkit compare`` does) for every optimizer in turn,
``--repeats`` rounds interleaved so all see the same machine, and prints per optimizer
the best round's seconds per run-step and its ratio to SGD's (the schedules' optimizer
on mnist1d). Then the same run alone with the package's own optimizer (``train_one``,
``--loop-steps`` steps): what a plain PyTorch loop pays per step, and the batched
trainer's speed-up over it. One warm-up call of each runs first and is not timed.

Example (the figures in docs/compare.md)::

    python benchmarks/bench_baselines.py --task mnist1d --runs 27 --steps 100
"""

from __future__ import annotations

import argparse
import time

import torch

import lrkit
from lrkit.experiment.trainer import Run, train, train_one

KINDS = ("sgd", "sf-sgd", "adamw", "sf-adamw", "prodigy")
RATE = {"sgd": 0.1, "sf-sgd": 1.0, "adamw": 0.01, "sf-adamw": 0.01, "prodigy": 0.5}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="mnist1d")
    ap.add_argument("--runs", type=int, default=27)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--loop-steps", type=int, default=30)
    a = ap.parse_args()
    torch.set_num_threads(1)

    def runs(kind: str) -> list[Run]:
        return [Run(f"{kind}-{i}", lrkit.constant(RATE[kind] * (1 + i % 3) / 2), seed=i,
                    optimizer=kind) for i in range(a.runs)]

    for kind in KINDS:  # warm-up
        train(a.task, runs(kind)[:2], steps=5)
        train_one(a.task, runs(kind)[0], steps=5)
    best = {k: float("inf") for k in KINDS}
    for _ in range(a.repeats):
        for kind in KINDS:
            t0 = time.perf_counter()
            train(a.task, runs(kind), steps=a.steps)
            best[kind] = min(best[kind], (time.perf_counter() - t0) / (a.runs * a.steps))
    alone = {}
    for kind in KINDS:
        t0 = time.perf_counter()
        train_one(a.task, runs(kind)[0], steps=a.loop_steps)
        alone[kind] = (time.perf_counter() - t0) / a.loop_steps
    print(f"{a.task}: {a.runs} runs batched x {a.steps} steps, best of {a.repeats}; "
          f"alone: {a.loop_steps} steps of one run (the package's optimizer)")
    print(f"{'optimizer':>10} {'ms/run-step':>12} {'vs sgd':>7} {'alone ms/step':>14} "
          f"{'batched speed-up':>17}")
    for kind in KINDS:
        ms = best[kind] * 1e3
        print(f"{kind:>10} {ms:12.3f} {best[kind] / best['sgd']:7.2f} "
              f"{alone[kind] * 1e3:14.2f} {alone[kind] / best[kind]:16.1f}x")


if __name__ == "__main__":
    main()
