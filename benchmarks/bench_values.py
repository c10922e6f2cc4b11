"""How fast lrkit evaluates a schedule, measured side by side in one run.

    .venv/bin/python benchmarks/bench_values.py [--quick]

1. ``s.values(10_000_000)`` for ``s = warmup(cosine(init=0.1, steps=10_000_000),
   warmup_steps=500_000)`` against a hand-written NumPy closed form of the same curve
   (goal: ratio <= 1.5): the one anybody writes (``np.where`` over both branches,
   the reference of the ratio) and one tuned by hand (each branch only where it
   applies, in place). The results are checked equal (to 1e-12 x peak) first.
2. Stepping PyTorch's ``SequentialLR(LinearLR, CosineAnnealingLR)`` for 1,000,000 steps
   (one ``scheduler.step()`` and one read of the lr per step), for scale: its per-step
   cost against NumPy's per-value cost.
3. One scalar call ``s(t)``, in microseconds.

Every figure is the best of several timeit repeats; the three array evaluations are
timed in alternation, so that load from elsewhere hits them alike (``--quick``: 10x
smaller sizes).
"""

from __future__ import annotations

import argparse
import math
import timeit
import warnings

import numpy as np

import lrkit

PEAK = 0.1


def closed_form_where(n: int, total: int, warm: int) -> np.ndarray:
    """The same curve as one would write it: ``np.where`` over a ramp and a cosine."""
    t = np.arange(n, dtype=np.float64)
    u = np.minimum(t - warm, total - warm) / (total - warm)
    return np.where(t < warm, PEAK * t / warm, 0.5 * PEAK * (1 + np.cos(np.pi * u)))


def closed_form(n: int, total: int, warm: int) -> np.ndarray:
    """The same curve tuned by hand: each branch only where it applies, in place."""
    out = np.empty(n)
    t = np.arange(n, dtype=np.float64)
    w = min(warm, n)
    np.multiply(t[:w], PEAK / warm, out=out[:w])
    u = t[w:]
    u -= warm
    u *= math.pi / (total - warm)
    np.minimum(u, math.pi, out=u)
    np.cos(u, out=u)
    u += 1.0
    u *= PEAK / 2
    out[w:] = u
    return out


def best(fn, number: int, repeat: int) -> float:
    """Best time of one call, in seconds."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def interleaved(fns, repeat: int) -> list[float]:
    """Best time of one call of each ``fn``, timed in alternation so that a busy machine
    slows all of them alike."""
    times = [math.inf] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            times[i] = min(times[i], timeit.timeit(fn, number=1))
    return times


def torch_steps(steps: int, total: int, warm: int) -> float:
    """Seconds to step SequentialLR(LinearLR, CosineAnnealingLR) ``steps`` times."""
    import torch

    torch.set_num_threads(1)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=PEAK)
    first = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1e-8, end_factor=1.0,
                                              total_iters=warm)
    second = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - warm)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [first, second], milestones=[warm])
    opt.step()  # no gradients: a no-op that keeps torch from warning about the order
    lrs = []
    group = opt.param_groups[0]
    start = timeit.default_timer()
    for _ in range(steps):
        sched.step()
        lrs.append(group["lr"])
    elapsed = timeit.default_timer() - start
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10x smaller sizes (a smoke run)")
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    n = 10_000_000 // scale
    warm = 500_000 // scale
    torch_n = 1_000_000 // scale
    s = lrkit.warmup(lrkit.cosine(init=PEAK, steps=n), warmup_steps=warm)

    ours = s.values(n)
    for form in (closed_form_where, closed_form):
        err = float(np.max(np.abs(ours - form(n, n, warm))))
        if not err <= 1e-12 * PEAK:
            raise SystemExit(f"{form.__name__} differs from lrkit: max abs difference {err:.3g}")

    repeat = 7
    t_np, t_tuned, t_lr = interleaved(
        [lambda: closed_form_where(n, n, warm), lambda: closed_form(n, n, warm),
         lambda: s.values(n)], repeat)
    t_scalar = best(lambda: s(123_456.0), 20_000, repeat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_torch = torch_steps(torch_n, n, warm)

    per_np = t_np / n
    per_torch = t_torch / torch_n
    rows = [
        (f"NumPy closed form (np.where), {n:,}", t_np, per_np, 1.0),
        (f"NumPy closed form (tuned), {n:,}", t_tuned, t_tuned / n, t_tuned / t_np),
        (f"lrkit s.values({n:,})", t_lr, t_lr / n, t_lr / t_np),
        (f"torch SequentialLR, {torch_n:,} steps", t_torch, per_torch, per_torch / per_np),
        ("lrkit s(t), one scalar call", t_scalar, t_scalar, t_scalar / per_np),
    ]
    print(f"s = {s!r}   (best of {repeat}; torch: one run)")
    print(f"{'what':<40} {'total':>10} {'per value':>11} {'x NumPy/value':>14}")
    for name, total, per, ratio in rows:
        print(f"{name:<40} {total * 1e3:>8.1f}ms {per * 1e9:>9.1f}ns {ratio:>14.2f}")
    print(f"values / closed form = {t_lr / t_np:.2f} (goal <= 1.5; "
          f"{t_lr / t_tuned:.2f} against the tuned one); "
          f"scalar s(t) = {t_scalar * 1e6:.2f} us; "
          f"torch per step / NumPy per value = {per_torch / per_np:.0f}x")


if __name__ == "__main__":
    main()
