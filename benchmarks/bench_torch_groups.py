"""Cost of lrkit's PyTorch Scheduler with many param groups vs PyTorch's schedulers.

A model with per-layer groups (layer-wise rates, fine-tuning) has hundreds of groups and
pays construction once, ``state_dict()`` at every checkpoint and ``load_state_dict()`` on
resume. Timed side by side in one run, contenders interleaved, best of several repeats,
with the garbage collector off during each timing (as ``timeit`` does), the same warm-up +
cosine schedule for all:

* lrkit: ``Scheduler(opt, warmup(cosine(...)))`` (every group the same value) and
  ``Scheduler(opt, shape, relative=True)`` with a different rate per group;
* PyTorch ``LambdaLR`` with a warm-up + cosine lambda (what Hugging Face's
  ``get_cosine_schedule_with_warmup`` builds): the per-group reference;
* PyTorch ``SequentialLR(LinearLR, CosineAnnealingLR)``.

``load_state_dict`` loads a state dict of the same scheduler (from a copy of it, so it is
not the very same object); lrkit's also writes the values into all the groups (PyTorch's
leaves that to ``optimizer.load_state_dict``). Prints microseconds and the ratios.

    .venv/bin/python benchmarks/bench_torch_groups.py [--groups 1000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import copy
import functools
import gc
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch.optim import lr_scheduler as T

import lrkit
from lrkit.torch import Scheduler

PEAK, WARM, TOTAL = 0.1, 1_000, 100_000


def optimizer(groups: int, distinct: bool = False) -> torch.optim.SGD:
    return torch.optim.SGD(
        [{"params": [torch.nn.Parameter(torch.zeros(1))],
          "lr": PEAK * 0.99 ** i if distinct else PEAK} for i in range(groups)],
        lr=PEAK, momentum=0.9)


def hf_lambda(t: int) -> float:
    if t < WARM:
        return t / WARM
    return 0.5 * (1.0 + math.cos(math.pi * (t - WARM) / (TOTAL - WARM)))


SHAPE = lrkit.warmup(lrkit.cosine(1.0, steps=TOTAL), warmup_steps=WARM)
ABSOLUTE = lrkit.warmup(lrkit.cosine(PEAK, steps=TOTAL), warmup_steps=WARM)

CONTENDERS: dict[str, tuple[Callable[[int], Any], Callable[[Any], Any]]] = {
    # name: (make an optimizer for g groups, build the scheduler on it)
    "lrkit": (lambda g: optimizer(g), lambda o: Scheduler(o, ABSOLUTE)),
    "lrkit relative": (lambda g: optimizer(g, True),
                       lambda o: Scheduler(o, SHAPE, relative=True)),
    "torch LambdaLR": (lambda g: optimizer(g, True), lambda o: T.LambdaLR(o, hf_lambda)),
    "torch SequentialLR": (
        lambda g: optimizer(g),
        lambda o: T.SequentialLR(o, [T.LinearLR(o, start_factor=1e-3, total_iters=WARM),
                                     T.CosineAnnealingLR(o, T_max=TOTAL - WARM)],
                                 milestones=[WARM])),
}


def timed(fn: Callable[[], Any], n: int) -> float:
    """Microseconds per call of ``fn`` over ``n`` calls, collector off."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n * 1e6
    finally:
        gc.enable()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # torch's "step() before optimizer.step()" warning
    g = args.groups
    ops = ("construct", "state_dict", "load_state_dict")
    best = {(name, op): math.inf for name in CONTENDERS for op in ops}
    setups = {}
    for name, (make_opt, build) in CONTENDERS.items():
        opt = make_opt(g)
        sched = build(opt)
        setups[name] = (opt, build, sched, copy.deepcopy(sched.state_dict()))
    for _ in range(args.repeat):  # interleaved: machine load hits every contender alike
        for name, (opt, build, sched, sd) in setups.items():
            calls = {"construct": (functools.partial(build, opt), 3),
                     "state_dict": (sched.state_dict, 50),
                     "load_state_dict": (functools.partial(sched.load_state_dict, sd), 50)}
            for op, (fn, n) in calls.items():
                best[name, op] = min(best[name, op], timed(fn, n))
    print(f"{g} param groups; microseconds per call, best of {args.repeat} repeats")
    names = list(CONTENDERS)
    print(f"{'operation':16}" + "".join(f"{n:>20}" for n in names)
          + f"{'lrkit/LambdaLR':>16}{'relative/LambdaLR':>19}{'lrkit/Sequential':>18}")
    for op in ops:
        row = [best[n, op] for n in names]
        lam, seq = best["torch LambdaLR", op], best["torch SequentialLR", op]
        print(f"{op:16}" + "".join(f"{v:20.1f}" for v in row)
              + f"{best['lrkit', op] / lam:16.2f}{best['lrkit relative', op] / lam:19.2f}"
              f"{best['lrkit', op] / seq:18.2f}")


if __name__ == "__main__":
    main()
