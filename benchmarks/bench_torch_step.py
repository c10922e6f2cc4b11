"""Per-``step()`` overhead of lrkit's PyTorch Scheduler vs PyTorch's schedulers vs the floor.

The floor is the least any scheduler can do: a Python function that computes the value with
``math.cos`` and assigns it into every ``param_group["lr"]``. Every contender is called the
same way (``for _ in range(n): step()``), side by side in one run; the best of several
repeats is kept. Prints microseconds per step and the ratio to the floor.

    .venv/bin/python benchmarks/bench_torch_step.py [--steps 20000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable

import torch
from torch.optim import lr_scheduler as T

import lrkit
from lrkit.torch import Scheduler

PEAK, WARM, TOTAL = 0.1, 1_000, 10_000_000


def optimizer(groups: int) -> torch.optim.SGD:
    return torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))]}
                            for _ in range(groups)], lr=PEAK, momentum=0.9)


def floor_step(groups: int) -> Callable[[], None]:
    param_groups = optimizer(groups).param_groups
    t = 0

    def step() -> None:
        nonlocal t
        t += 1
        lr = PEAK * 0.5 * (1.0 + math.cos(math.pi * t / TOTAL))
        for g in param_groups:
            g["lr"] = lr

    return step


def floor2_step(groups: int) -> Callable[[], None]:
    """The floor for two values per group (lr and momentum), for the one-cycle row."""
    param_groups = optimizer(groups).param_groups
    t = 0

    def step() -> None:
        nonlocal t
        t += 1
        c = 0.5 * (1.0 + math.cos(math.pi * t / TOTAL))
        lr, mom = PEAK * c, 0.95 - 0.1 * c
        for g in param_groups:
            g["lr"] = lr
            g["momentum"] = mom

    return step


def torch_warmup_cosine(groups: int) -> Callable[[], None]:
    o = optimizer(groups)
    return T.SequentialLR(o, [T.LinearLR(o, start_factor=1e-3, total_iters=WARM),
                              T.CosineAnnealingLR(o, T_max=TOTAL - WARM)],
                          milestones=[WARM]).step


def torch_one_cycle(groups: int) -> Callable[[], None]:
    return T.OneCycleLR(optimizer(groups), max_lr=PEAK, total_steps=TOTAL).step


WC = lrkit.warmup(lrkit.cosine(init=PEAK, steps=TOTAL), warmup_steps=WARM)
OC = lrkit.one_cycle(peak=PEAK, steps=TOTAL)
CASES: list[tuple[str, Callable[[int], Callable[[], None]],
                  Callable[[int], Callable[[], None]]]] = [
    ("warmup+cosine", torch_warmup_cosine, lambda g: Scheduler(optimizer(g), WC).step),
    ("one-cycle (lr+momentum)", torch_one_cycle,
     lambda g: Scheduler(optimizer(g), {"lr": OC, "momentum": OC.momentum()}).step),
    # torch cannot compose a plateau with SequentialLR: its column is the SequentialLR alone
    ("warmup+cosine x plateau", torch_warmup_cosine,
     lambda g: Scheduler(optimizer(g), WC * lrkit.plateau(patience=3)).step),
]


def per_step(step: Callable[[], None], n: int, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # torch's "step() before optimizer.step()" warning
    print(f"per step() call, best of {args.repeat} x {args.steps} steps (microseconds)")
    print("floor: math.cos + assignment of lr into every group; floor2: lr and momentum")
    print(f"{'schedule':26} {'groups':>6} {'floor':>7} {'floor2':>7} {'torch':>7} {'lrkit':>7} "
          f"{'torch/floor':>11} {'lrkit/floor':>11} {'lrkit/floor2':>12}")
    for groups in (1, 10):
        for name, torch_make, lrkit_make in CASES:
            # interleave the contenders so that machine load hits them alike
            f = f2 = t = k = math.inf
            for _ in range(args.repeat):
                f = min(f, per_step(floor_step(groups), args.steps, 1))
                f2 = min(f2, per_step(floor2_step(groups), args.steps, 1))
                t = min(t, per_step(torch_make(groups), args.steps, 1))
                k = min(k, per_step(lrkit_make(groups), args.steps, 1))
            print(f"{name:26} {groups:>6} {f:7.3f} {f2:7.3f} {t:7.3f} {k:7.3f} {t / f:11.1f} "
                  f"{k / f:11.2f} {k / f2:12.2f}")


if __name__ == "__main__":
    main()
