"""The learning-rate range test (Smith 2015; fastai's ``lr_find``).

Train for ``steps`` updates while the learning rate sweeps from ``start`` to
``end``, exponentially (``lr_i = start * (end / start) ** (i / (steps - 1))``)
or linearly, record the loss of every batch, and read a good learning rate off
the curve.

* **Smoothing**: the bias-corrected exponential moving average (fastai's
  ``AvgSmoothLoss``): ``a_i = smooth * a_{i-1} + (1 - smooth) * loss_i``,
  ``smoothed_i = a_i / (1 - smooth ** (i + 1))``.
* **Stop on divergence**: the sweep stops at the first step whose loss is NaN
  or infinite (that point is dropped), or whose smoothed loss satisfies
  ``smoothed_i - best > (diverge - 1) * (|best| + (first - best))`` (that point
  is kept), where ``best`` is the lowest smoothed loss so far and ``first`` the
  first one. For a positive loss that has not fallen (``best == first``) this
  is fastai's ``smoothed > diverge * best``; the ``first - best`` term (how far
  the loss has fallen) makes the rule meaningful when the loss is negative or
  near zero, where a ratio to ``best`` means nothing.
* **Suggestions**, computed on the recorded points without the first
  ``steps // 10`` and the last 5 (as fastai; all points if fewer than 3 remain);
  every derivative is taken with respect to ``log(lr)`` (``np.gradient``):
  ``steep`` — the steepest descent, the lr where ``d smoothed / d log(lr)`` is
  lowest; ``valley`` — fastai's: the longest strictly decreasing (not
  necessarily contiguous) run of the smoothed loss, and the lr
  ``len/3 + len/6`` points into it (about mid-valley); ``minimum`` — the lr at
  the lowest smoothed loss, divided by 10 (drawn and labelled "minimum / 10");
  ``fall`` — the smaller of ``minimum`` and the lr where the smoothed loss has
  first completed ``FALL`` (80 %) of its fall from the first point to the lowest
  (``smoothed_i <= first - FALL * (first - lowest)``): the noisy flat start is
  far above that line, so it never counts, and a sweep that never turns up (the
  lowest point at its end, where ``minimum`` is too high) still gets a point
  inside the fall.

:func:`find_lr` works on any PyTorch model, optimizer and iterable of
``(x, y)``, and restores the model's and the optimizer's state afterwards.
:func:`find_lr_task` runs the sweep for several seeds at once through the
batched trainer and reports the median suggestion. :func:`plot_lr_find` draws it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .._check import integer
from .._files import save_figure
from ..errors import InputError, InputTypeError
from ..schedule import Schedule
from ..schedules import Exponential, Linear
from .floats import float_array, json_float, json_floats
from .progress import StepCallback
from .recipe import RANGE_TEST, RANGE_TEST_SEEDS, SUGGESTIONS

#: what each suggestion's marker on the figure says it is
MARKER_LABELS = {"valley": "valley (fastai: mid longest descent)",
                 "steep": "steep (steepest slope)",
                 "minimum": "minimum / 10 (lowest loss's lr / 10)",
                 "fall": "fall (80 % of the fall, at most minimum / 10)"}
#: ``fall``: the fraction of the fall (first smoothed loss minus the lowest) completed
FALL = 0.8
MODES = ("exp", "linear")


@dataclass
class LRFindResult:
    """The sweep: ``lrs[i]`` was used for update ``i``, whose batch loss (measured before
    the update) is ``losses[i]``; ``smoothed`` is their bias-corrected EMA.

    ``suggestion`` is ``suggestions[method]``. ``diverged`` says the sweep stopped
    early. For :func:`find_lr_task`, ``losses``/``smoothed`` are the mean over
    seeds (of the seeds still running at each step), ``suggestions`` the median
    of the seeds' suggestions (geometric middle for an even count), ``diverged``
    says every seed stopped early, and ``per_seed`` holds each seed's own result.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float
    suggestions: dict[str, float]
    method: str = "valley"
    diverged: bool = False
    per_seed: list[LRFindResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (lists of floats, non-finite values as ``None``)."""
        return {
            "lrs": json_floats(self.lrs), "losses": json_floats(self.losses),
            "smoothed": json_floats(self.smoothed), "suggestion": json_float(self.suggestion),
            "suggestions": {k: json_float(v) for k, v in self.suggestions.items()},
            "method": self.method,
            "diverged": self.diverged, "per_seed": [r.to_dict() for r in self.per_seed],
        }

    def choose(self, method: str) -> LRFindResult:
        """This sweep with ``suggestion = suggestions[method]``.

        >>> r = analyse([1e-3, 1e-2, 1e-1, 1.0], [1.0, 0.5, 0.2, 9.0], smooth=0.0)
        >>> r.choose("minimum").suggestion == r.suggestions["minimum"]
        True
        """
        if method not in SUGGESTIONS:
            raise InputError(f"method must be one of {', '.join(SUGGESTIONS)}, got {method!r}")
        return replace(self, suggestion=self.suggestions.get(method, math.nan), method=method)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LRFindResult:
        """The inverse of :meth:`to_dict` (``None`` reads back as NaN)."""
        sugg = d["suggestions"]
        return cls(
            float_array(d["lrs"]), float_array(d["losses"]), float_array(d["smoothed"]),
            float(float_array([d["suggestion"]])[0]),
            {str(k): float(v) for k, v in zip(sugg, float_array(sugg.values()))},
            str(d.get("method", "valley")), bool(d.get("diverged", False)),
            [cls.from_dict(p) for p in d.get("per_seed", [])],
        )


# -- the analysis (shared by find_lr and find_lr_task) -----------------------------------


def check_options(start: float, end: float, steps: int, mode: str, smooth: float,
                  diverge: float, suggestion: str) -> None:
    """Refuse range-test options that cannot run (``InputError`` naming the option): the one
    check behind :func:`find_lr`, :func:`find_lr_task`, ``lrkit.lightning.FindLR`` and
    ``lrkit.keras.find_lr``.

    >>> check_options(1e-7, 10.0, 100, "exp", 0.98, 4.0, "valley")
    """
    if not (isinstance(start, (int, float)) and math.isfinite(start) and start > 0):
        raise InputError(f"find_lr: start must be a number > 0, got {start!r}")
    if not (isinstance(end, (int, float)) and math.isfinite(end) and end > start):
        raise InputError(f"find_lr: end must be a finite number > start={start!r}, got {end!r}")
    integer("find_lr", "steps", steps, 2)
    if mode not in MODES:
        raise InputError(f"find_lr: mode must be one of {MODES}, got {mode!r}")
    if not (isinstance(smooth, (int, float)) and 0 <= smooth < 1):
        raise InputError(f"find_lr: smooth must be in [0, 1), got {smooth!r}")
    if not (isinstance(diverge, (int, float)) and diverge > 1):
        raise InputError(f"find_lr: diverge must be a number > 1, got {diverge!r}")
    if suggestion not in SUGGESTIONS:
        raise InputError(f"find_lr: suggestion must be one of {SUGGESTIONS}, got {suggestion!r}")


def sweep(start: float, end: float, steps: int, mode: str = "exp") -> Schedule:
    """The sweep as an lrkit schedule (``t`` = update index, held at ``end`` afterwards).

    >>> s = sweep(1e-4, 1.0, 5)
    >>> [round(s(t), 6) for t in range(5)]
    [0.0001, 0.001, 0.01, 0.1, 1.0]
    """
    if mode == "exp":
        return Exponential(start, factor=(end / start) ** (1 / (steps - 1)), end=end)
    return Linear(init=start, end=end, steps=steps - 1)


class _Smoother:
    """Feeds losses one by one: the bias-corrected EMA and the divergence rule."""

    def __init__(self, smooth: float, diverge: float) -> None:
        self.smooth, self.diverge = smooth, diverge
        self.avg, self.n = 0.0, 0
        self.first = self.best = math.nan

    def add(self, loss: float) -> tuple[float, bool]:
        """``(smoothed, stop)``; a non-finite loss gives ``(nan, True)``."""
        if not math.isfinite(loss):
            return math.nan, True
        self.n += 1
        self.avg = self.smooth * self.avg + (1 - self.smooth) * loss
        s = self.avg / (1 - self.smooth ** self.n)
        if self.n == 1:
            self.first = self.best = s
        self.best = min(self.best, s)
        spread = abs(self.best) + (self.first - self.best)
        return s, s - self.best > (self.diverge - 1) * spread


def _valley(losses: np.ndarray) -> int:
    """fastai's valley: index ``len/3 + len/6`` into the longest strictly decreasing run."""
    n = len(losses)
    lds = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return max_start + int(sections) + int(sections / 2)


def _fall(lrs: np.ndarray, smoothed: np.ndarray) -> float:
    """The ``fall`` rule (the module docstring)."""
    low = int(np.argmin(smoothed))
    line = smoothed[0] - FALL * (smoothed[0] - smoothed[low])
    done = int(np.argmax(smoothed <= line))  # <= low: the lowest point is below the line
    return float(min(lrs[done], lrs[low] / 10))


def _suggest(lrs: np.ndarray, smoothed: np.ndarray, planned: int) -> dict[str, float]:
    lo, hi = planned // 10, len(lrs) - 5
    if hi - lo < 3:
        lo, hi = 0, len(lrs)
    x, y = lrs[lo:hi], smoothed[lo:hi]
    if len(x) == 0:
        return {k: math.nan for k in SUGGESTIONS}
    out = {"valley": float(x[_valley(y)]), "minimum": float(x[int(np.argmin(y))] / 10)}
    out["fall"] = _fall(x, y)
    out["steep"] = float(x[int(np.argmin(np.gradient(y, np.log(x))))]) if len(x) > 1 else (
        float(x[0]))
    return {k: out[k] for k in SUGGESTIONS}


def analyse(
    lrs: Sequence[float] | np.ndarray,
    losses: Sequence[float] | np.ndarray,
    *,
    planned: int | None = None,
    smooth: float = 0.98,
    diverge: float = 4.0,
    suggestion: str = "valley",
) -> LRFindResult:
    """Smooth, cut at divergence and suggest, for a recorded sweep ``(lrs, losses)``.

    >>> import numpy as np
    >>> lrs = np.logspace(-4, 1, 60)
    >>> u = np.log10(lrs)
    >>> losses = 1 + (u + 1.5) ** 2 + np.exp(4 * u)   # lowest near lr = 10**-1.5, then explodes
    >>> r = analyse(lrs, losses, smooth=0.0)
    >>> round(float(np.log10(r.suggestions["minimum"] * 10)), 1)
    -1.5
    >>> r.diverged, len(r.lrs) < 60     # the rising tail trips the divergence rule
    (True, True)
    """
    lr_a, loss_a = np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    sm = _Smoother(smooth, diverge)
    smoothed: list[float] = []
    stopped = False
    for loss in loss_a:
        s, stop = sm.add(float(loss))
        if math.isfinite(s):
            smoothed.append(s)
        if stop:
            stopped = True
            break
    n = len(smoothed)
    sugg = _suggest(lr_a[:n], np.asarray(smoothed), planned or len(loss_a))
    return LRFindResult(lr_a[:n], loss_a[:n], np.asarray(smoothed), sugg[suggestion], sugg,
                        suggestion, stopped)


# -- any PyTorch model -----------------------------------------------------------------------


def _batches(data: Iterable[Any]) -> Any:
    """Cycle through ``data`` (re-iterating a re-iterable; a one-shot iterator ends)."""
    while True:
        it = iter(data)
        empty = True
        for batch in it:
            empty = False
            yield batch
        if empty or it is data:
            return


def find_lr(
    model: Any,
    optimizer: Any,
    loss_fn: Callable[[Any, Any], Any],
    data: Iterable[Any],
    *,
    start: float = 1e-7,
    end: float = 10.0,
    steps: int = 100,
    mode: str = "exp",
    smooth: float = 0.98,
    diverge: float = 4.0,
    suggestion: str = "valley",
) -> LRFindResult:
    """The range test on any PyTorch ``model``/``optimizer``; ``loss_fn(model(x), y)``.

    ``data`` yields ``(x, y)`` batches (a ``DataLoader`` or any iterable; it is
    cycled if it has fewer than ``steps`` batches). Every parameter group gets
    the sweep's learning rate at each update. Afterwards the model's
    parameters and buffers, its train/eval mode, and the optimizer's state
    (moments, learning rates; a schedule-free optimizer's mode: it is switched to train
    mode, ``optimizer.train()``, for the sweep) are restored, so training can start afresh.
    See the module docstring for the smoothing, stop rule and suggestions.

    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> x = torch.randn(256, 4); y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    >>> model = torch.nn.Linear(4, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.123, momentum=0.9)
    >>> batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 256, 32)]
    >>> r = find_lr(model, opt, torch.nn.functional.mse_loss, batches, steps=60)
    >>> 1e-4 < r.suggestion < 1.0, opt.param_groups[0]["lr"]
    (True, 0.123)
    """
    import torch

    check_options(start, end, steps, mode, smooth, diverge, suggestion)
    if not hasattr(optimizer, "param_groups"):
        raise InputTypeError(f"find_lr: optimizer must be a torch optimizer, got {optimizer!r}")
    lrs = sweep(start, end, steps, mode).values(steps)
    model_state = copy.deepcopy(model.state_dict())
    opt_state = copy.deepcopy(optimizer.state_dict())
    was_training = model.training
    losses: list[float] = []
    sm = _Smoother(smooth, diverge)
    try:
        model.train()
        switch = getattr(optimizer, "train", None)  # schedule-free: step in train mode (y)
        if callable(switch):
            switch()
        for i, batch in enumerate(_batches(data)):
            if i >= steps:
                break
            x, y = batch
            for group in optimizer.param_groups:
                group["lr"] = float(lrs[i])
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            value = float(loss.detach())
            losses.append(value)
            if sm.add(value)[1]:
                break
            loss.backward()
            optimizer.step()
    finally:
        with torch.no_grad():
            model.load_state_dict(model_state)
        optimizer.load_state_dict(opt_state)
        model.train(was_training)
    if not losses:
        raise InputError("find_lr: data gave no batches")
    return analyse(lrs[:len(losses)], losses, planned=steps, smooth=smooth, diverge=diverge,
                   suggestion=suggestion)


# -- a task, several seeds at once ------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    """The median in log space (the geometric middle for an even count); NaN if none."""
    v = np.asarray([x for x in values if math.isfinite(x) and x > 0])
    return float(np.exp(np.median(np.log(v)))) if len(v) else math.nan


def find_lr_task(
    task: Any,
    *,
    seeds: Sequence[int] = tuple(range(RANGE_TEST_SEEDS)),
    batch_size: int | None = None,
    start: float = RANGE_TEST["start"],
    end: float = RANGE_TEST["end"],
    steps: int = RANGE_TEST["steps"],
    mode: str = "exp",
    smooth: float = RANGE_TEST["smooth"],
    diverge: float = RANGE_TEST["diverge"],
    suggestion: str = RANGE_TEST["suggestion"],
    optimizer: str | None = None,
    momentum: float | None = None,
    nesterov: bool | None = None,
    weight_decay: float | None = None,
    progress: StepCallback | None = None,
) -> LRFindResult:
    """The range test on a task (name or :class:`~lrkit.experiment.tasks.Task`) for every
    seed at once: one batched training whose runs all follow the sweep schedule
    (each with its own init and data order). Each seed's losses are analysed as
    in :func:`find_lr`; the result's suggestions are the medians over seeds.

    The defaults are ``RANGE_TEST`` (:mod:`~lrkit.experiment.recipe`), the same for
    ``lrkit find-lr`` and ``lrkit compare --peaks auto``; a training setting left
    ``None`` is the task's (``Task.recipe``), else lrkit's."""
    from .tasks import get_task
    from .trainer import Run, train

    check_options(start, end, steps, mode, smooth, diverge, suggestion)
    task = get_task(task)
    batch_size = task.setting("batch_size", batch_size)
    optimizer = task.setting("optimizer", optimizer)
    momentum = task.setting("momentum", momentum)
    nesterov = task.setting("nesterov", nesterov)
    weight_decay = task.setting("weight_decay", weight_decay)
    seeds = list(seeds)
    if not seeds:
        raise InputError("find_lr_task: seeds is empty")
    schedule = sweep(start, end, steps, mode)
    runs = [Run(f"lr-find-{s}", schedule, seed=s) for s in seeds]
    results = train(task, runs, steps=steps, batch_size=batch_size, optimizer=optimizer,
                    momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                    progress=progress)
    per = [analyse(r.lr, r.train_loss, planned=steps, smooth=smooth, diverge=diverge,
                   suggestion=suggestion) for r in results]
    n = max(len(p.lrs) for p in per)
    if n == 0:
        raise InputError("find_lr_task: the loss was not finite at the first step for any seed")

    def stack(attr: str) -> np.ndarray:
        out = np.full((len(per), n), np.nan)
        for i, p in enumerate(per):
            out[i, :len(p.lrs)] = getattr(p, attr)
        return np.asarray(np.nanmean(out, axis=0))

    sugg = {k: _median([p.suggestions[k] for p in per]) for k in SUGGESTIONS}
    lrs = np.asarray(results[0].lr[:n])
    return LRFindResult(lrs, stack("losses"), stack("smoothed"), sugg[suggestion], sugg,
                        suggestion, all(p.diverged for p in per), per)


# -- the picture --------------------------------------------------------------------------------


def plot_lr_find(result: LRFindResult, path: str | None = None, *, ax: Any = None,
                 title: str | None = None) -> Any:
    """Loss vs learning rate (log x): raw losses, the smoothed curve (one faint curve per
    seed for a task), every suggestion marked and labelled with its rule
    (``MARKER_LABELS``), the chosen one highlighted, and the lowest smoothed loss
    marked with an x. Writes a
    PNG to ``path`` if given; returns the matplotlib figure."""
    import matplotlib

    if ax is None:
        matplotlib.use("Agg") if path else None
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    else:
        fig = ax.figure
    lrs, sm = result.lrs, result.smoothed
    for p in result.per_seed:
        ax.plot(p.lrs, p.smoothed, color="tab:blue", alpha=0.25, lw=1)
    ax.plot(lrs, result.losses, color="0.6", lw=0.8, alpha=0.7, label="loss (per batch)")
    seeds = f" (mean of {len(result.per_seed)} seeds)" if result.per_seed else ""
    ax.plot(lrs, sm, color="tab:blue", lw=2, label=f"smoothed loss{seeds}")
    colors = {"valley": "tab:green", "steep": "tab:orange", "minimum": "tab:purple",
              "fall": "tab:red"}
    for name, lr in result.suggestions.items():
        if not (math.isfinite(lr) and len(lrs)):
            continue
        y = float(np.interp(np.log(lr), np.log(lrs), sm))
        chosen = name == result.method
        ax.plot([lr], [y], "o", ms=11 if chosen else 7, color=colors.get(name, "k"),
                markeredgecolor="k" if chosen else "none", mew=1.5, zorder=5,
                label=f"{MARKER_LABELS.get(name, name)}: {lr:.3g}"
                      + ("  <- suggestion" if chosen else ""))
        if chosen:
            ax.axvline(lr, color=colors.get(name, "k"), ls="--", lw=1.2)
    if len(sm) and np.isfinite(sm).any():
        i = int(np.nanargmin(sm))
        ax.plot([lrs[i]], [sm[i]], "x", ms=9, mew=2, color="k", zorder=6,
                label=f"lowest smoothed loss: lr {lrs[i]:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    if len(sm):
        low, first = float(min(np.nanmin(sm), np.nanmin(result.losses))), float(sm[0])
        pad = 0.1 * max(first - low, abs(low) * 0.05, 1e-12)
        ax.set_ylim(low - pad, max(first, low) + 4 * pad)
    ax.set_title(title or f"learning-rate range test: suggestion {result.suggestion:.3g}"
                 f" ({result.method})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    if path:
        import matplotlib.pyplot as plt

        try:
            save_figure(fig, path)  # atomically: a failure leaves no partial image
        finally:
            plt.close(fig)
    return fig
