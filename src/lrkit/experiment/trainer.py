"""Train many runs of one task as one batched model, and the one-run reference.

A :class:`Run` is ``(key, schedule, seed)``: the schedule gives the absolute
learning rate at every optimizer step (``t`` = completed updates, so the
first update uses ``schedule(0)``); the seed fixes the initialisation
(``task.build(seed)``) and the data order (a permutation per epoch drawn from
``(seed, epoch)``). The data split is the task's ``data(data_seed)``, shared by
every run.

:func:`train` stacks all runs into one :class:`~lrkit.experiment.tasks.BatchedModel`
(``torch.func.vmap`` over ``functional_call``) and updates them with a
hand-written optimizer that applies each run's own learning rate. It matches
PyTorch's optimizers exactly (same formulas, same order of operations):

* ``sgd``: ``g = grad + wd * p``; with momentum ``mu``: ``b = g`` at the first
  step, then ``b = mu * b + g``; ``g = g + mu * b`` (Nesterov) or ``g = b``;
  ``p = p - lr * g``  (``torch.optim.SGD``, dampening 0);
* ``adam``: ``g = grad + wd * p``; ``m = b1 m + (1 - b1) g``;
  ``v = b2 v + (1 - b2) g^2``; ``p = p - lr / (1 - b1^k) * m / (sqrt(v) / sqrt(1 - b2^k) + eps)``
  (``torch.optim.Adam``, ``betas=(momentum, 0.999)``, ``eps=1e-8``);
* ``adamw``: as ``adam`` without the ``wd * p`` term, after ``p = p * (1 - lr * wd)``.

:func:`train_one` is the reference: a plain PyTorch loop with ``torch.optim``
and one run, its learning rate set by :class:`lrkit.torch.Scheduler` (so the
adapter is checked too). ``train(task, [run])`` equals ``train_one(task, run)``
to float tolerance (tested).

Divergence: when a run's training loss (or validation loss) is NaN or
infinite, the run is marked ``diverged``, its parameters stop changing, every
later entry of its ``train_loss``/``val_loss``/``val_metric`` is NaN, and the
other runs carry on untouched (each run's arithmetic only reads its own slice).

Plateau schedules (``base * plateau(...)``) are supported: the plateau
controller observes each run's validation loss at the end of every epoch.

Neither function spawns threads; ``torch.set_num_threads`` is the caller's choice.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._check import integer
from ..errors import InputError, InputTypeError
from ..plateau import Plateau, PlateauState, split_plateau
from ..schedule import Schedule
from ..torch import Scheduler
from .floats import float_array, json_floats
from .progress import StepCallback
from .recipe import BATCH_SIZE, MOMENTUM, NESTEROV, OPTIMIZER, OPTIMIZERS, WEIGHT_DECAY
from .tasks import Task, get_task


@dataclass(frozen=True)
class Run:
    """One training run: a caller-chosen unique ``key``, a ``schedule`` of absolute
    learning rates (``t`` = optimizer step) and a ``seed`` (init + data order)."""

    key: str
    schedule: Schedule
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise InputError(f"Run: key must be a non-empty string, got {self.key!r}")
        if not isinstance(self.schedule, Schedule):
            raise InputTypeError(
                f"Run {self.key!r}: schedule must be an lrkit Schedule, got {self.schedule!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise InputTypeError(f"Run {self.key!r}: seed must be an int, got {self.seed!r}")


@dataclass
class RunResult:
    """What one run produced. Arrays are float64; NaN marks "no value" (after divergence).

    ``train_loss[k]`` and ``lr[k]`` belong to optimizer step ``k`` (the loss of the
    batch the k-th update was computed on, before the update); ``val_loss[i]``
    and ``val_metric[i]`` were measured after ``eval_steps[i]`` updates
    (``eval_steps`` starts with 0, then the end of every epoch). ``lr`` holds
    the schedule's value at every step, also after a divergence.
    ``seconds`` is the run's share of the wall time (group time / runs in the group).
    """

    key: str
    train_loss: np.ndarray
    eval_steps: np.ndarray
    val_loss: np.ndarray
    val_metric: np.ndarray | None
    lr: np.ndarray
    diverged: bool
    seconds: float
    diverged_at: int | None = None

    @property
    def final_val_loss(self) -> float:
        return float(self.val_loss[-1])

    @property
    def final_val_metric(self) -> float | None:
        return None if self.val_metric is None else float(self.val_metric[-1])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: lists of floats, NaN/inf written as ``None``."""
        return {
            "key": self.key,
            "train_loss": json_floats(self.train_loss),
            "eval_steps": [int(s) for s in self.eval_steps],
            "val_loss": json_floats(self.val_loss),
            "val_metric": None if self.val_metric is None else json_floats(self.val_metric),
            "lr": json_floats(self.lr),
            "diverged": bool(self.diverged),
            "diverged_at": self.diverged_at,
            "seconds": float(self.seconds),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResult:
        return cls(
            key=str(d["key"]),
            train_loss=float_array(d["train_loss"]),
            eval_steps=np.asarray(d["eval_steps"], dtype=np.int64),
            val_loss=float_array(d["val_loss"]),
            val_metric=None if d.get("val_metric") is None else float_array(d["val_metric"]),
            lr=float_array(d["lr"]),
            diverged=bool(d["diverged"]),
            seconds=float(d["seconds"]),
            diverged_at=d.get("diverged_at"),
        )


# -- shared pieces ---------------------------------------------------------------------


def steps_per_epoch(task: Task | str, batch_size: int, data_seed: int = 0) -> int:
    """``ceil(n_train / batch_size)``: every epoch visits every training example once
    (the last batch may be smaller)."""
    batch_size = integer("steps_per_epoch", "batch_size", batch_size)
    n = len(get_task(task).data(data_seed)[0])
    return -(-n // batch_size)


def _order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The data order of run ``seed`` in ``epoch``: a permutation of ``range(n)``."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, epoch, 0x1A7E]).generate_state(2)
    g = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
    return torch.randperm(n, generator=g)


@dataclass
class _Plan:
    task: Task
    data: tuple[torch.Tensor, ...]
    n: int
    batch_size: int
    spe: int
    total: int
    eval_steps: list[int]


def _plan(task: Task | str, epochs: int | None, steps: int | None, batch_size: int,
          dtype: torch.dtype, data_seed: int) -> _Plan:
    task = get_task(task)
    batch_size = integer("train", "batch_size", batch_size)
    xt, yt, xv, yv = task.data(data_seed)
    if dtype not in (torch.float32, torch.float64):
        raise InputError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    if task.loss == "mse":
        yt, yv = yt.to(dtype), yv.to(dtype)
    n = len(xt)
    spe = -(-n // batch_size)
    if (epochs is None) == (steps is None):
        raise InputError(f"give exactly one of epochs and steps, got epochs={epochs!r}, "
                         f"steps={steps!r}")
    if steps is None:
        total = spe * integer("train", "epochs", epochs)
    else:
        total = integer("train", "steps", steps)
    evals = sorted({0, total, *range(spe, total + 1, spe)})
    return _Plan(task, (xt.to(dtype), yt, xv.to(dtype), yv), n, batch_size, spe, total, evals)


def _batches(plan: _Plan, seeds: Sequence[int]) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(step, index [R, B])`` for every optimizer step, in order."""
    step, epoch = 0, 0
    while step < plan.total:
        perms = torch.stack([_order(s, epoch, plan.n) for s in seeds])
        for b in range(plan.spe):
            if step >= plan.total:
                return
            yield step, perms[:, b * plan.batch_size:(b + 1) * plan.batch_size]
            step += 1
        epoch += 1


def _losses(kind: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-run mean loss: ``out`` [R, B, ...], ``y`` [R, B, ...] -> [R]."""
    r, b = out.shape[:2]
    if kind == "cross_entropy":
        # log-sum-exp minus the target's logit, written out: on CPU, F.cross_entropy over a
        # short class axis (10 digits) vectorises badly and costs ~3x as much, fwd + bwd
        z = out.reshape(r * b, -1)
        z = z - z.detach().amax(1, keepdim=True)
        per = z.exp().sum(1).log() - z.gather(1, y.reshape(r * b, 1)).squeeze(1)
        return per.view(r, b).mean(1)
    return ((out - y) ** 2).reshape(r, -1).mean(1)


def _metric(kind: str | None, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    if kind != "accuracy":
        return None
    return (out.argmax(-1) == y).to(torch.float64).mean(-1)


def _base(run: Run, total: int) -> tuple[np.ndarray, Plateau | None]:
    """The values of the run's schedule without its plateau factor at ``t < total``
    (checked: finite and >= 0), and that factor."""
    base, pl = split_plateau(run.schedule)
    values = base.values(total)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise InputError(f"run {run.key!r}: schedule gives a negative or non-finite lr")
    return values, pl


class _LR:
    """Per-run learning rates: schedule values, with plateau controllers applied."""

    def __init__(self, runs: Sequence[Run], total: int) -> None:
        bases, self.plateaus = [], []
        for run in runs:
            values, pl = _base(run, total)
            bases.append(values)
            self.plateaus.append(None if pl is None else PlateauState(pl))
        self.base = np.stack(bases)
        self.used = self.base.copy()

    def at(self, step: int) -> np.ndarray:
        out: np.ndarray = self.used[:, step]
        return out

    def observe(self, step: int, val_loss: np.ndarray) -> None:
        """Feed the validation losses measured after ``step`` updates; re-plan the rest."""
        for r, state in enumerate(self.plateaus):
            if state is None or step >= self.used.shape[1]:
                continue
            state.observe(float(val_loss[r]), lr=float(self.used[r, step]))
            rest = self.base[r, step:]
            self.used[r, step:] = state.apply(rest)


def check_optimizer(optimizer: str, momentum: float, weight_decay: float) -> None:
    """Refuse what :func:`train` cannot run: ``optimizer`` must be one of ``OPTIMIZERS``
    (sgd, adam, adamw), ``0 <= momentum < 1`` (Adam's ``beta1``), ``weight_decay >= 0``.

    >>> check_optimizer("adam", 0.9, 0.0)
    >>> check_optimizer("sgd", 1.0, 0.0)
    Traceback (most recent call last):
    ...
    lrkit.InputError: momentum must be in [0, 1), got 1.0
    """
    if optimizer not in OPTIMIZERS:
        raise InputError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if not (0 <= momentum < 1):
        raise InputError(f"momentum must be in [0, 1), got {momentum!r}")
    if not (weight_decay >= 0):
        raise InputError(f"weight_decay must be >= 0, got {weight_decay!r}")


def _check_runs(runs: Sequence[Run]) -> list[Run]:
    runs = list(runs)
    if not runs:
        raise InputError("train: runs is empty")
    for r in runs:
        if not isinstance(r, Run):
            raise InputTypeError(f"train: runs must be Run values, got {r!r}")
    keys = [r.key for r in runs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise InputError(f"train: run keys must be unique, {dup!r} appears twice")
    return runs


# -- the batched optimizer -----------------------------------------------------------------


class _BatchedOptimizer:
    """SGD (momentum, Nesterov) / Adam / AdamW on stacked parameters ``[R, ...]``,
    with a learning rate per run and an ``alive`` mask (dead runs never change)."""

    def __init__(self, params: dict[str, torch.Tensor], kind: str, momentum: float,
                 nesterov: bool, weight_decay: float) -> None:
        self.params, self.kind, self.mu = params, kind, momentum
        self.nesterov, self.wd, self.k = nesterov, weight_decay, 0
        self.state: dict[str, list[torch.Tensor]] = {}

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], lr: torch.Tensor, alive: torch.Tensor) -> None:
        self.k += 1
        everyone = bool(alive.all())
        for (name, p), g in zip(self.params.items(), grads):
            shape = (-1,) + (1,) * (p.dim() - 1)
            keep = None if everyone else alive.view(shape)
            p.copy_(self._update(name, p, g, lr.view(shape), keep))

    @staticmethod
    def _sel(keep: torch.Tensor | None, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
        """``new`` for live runs, ``old`` for dead ones (``keep`` None: all live)."""
        return new if keep is None else torch.where(keep, new, old)

    def _update(self, name: str, p: torch.Tensor, g: torch.Tensor, lr: torch.Tensor,
                keep: torch.Tensor | None) -> torch.Tensor:
        sel = self._sel
        if self.kind == "sgd":
            if self.wd:
                g = g + self.wd * p
            if self.mu:
                if name not in self.state:
                    buf = g.clone()
                    self.state[name] = [sel(keep, buf, torch.zeros_like(buf))]
                else:
                    old = self.state[name][0]
                    buf = self.mu * old + g
                    self.state[name] = [sel(keep, buf, old)]
                g = g + self.mu * buf if self.nesterov else buf
            return sel(keep, p - lr * g, p)
        b1, b2, eps = self.mu, 0.999, 1e-8
        base = p
        if self.kind == "adamw":
            base = p * (1 - lr * self.wd)
        elif self.wd:
            g = g + self.wd * p
        if name not in self.state:
            self.state[name] = [torch.zeros_like(p), torch.zeros_like(p)]
        m0, v0 = self.state[name]
        m = m0 + (g - m0) * (1 - b1)   # torch: exp_avg.lerp_(grad, 1 - beta1)
        v = v0 * b2 + g * g * (1 - b2)
        self.state[name] = [sel(keep, m, m0), sel(keep, v, v0)]
        bc1, bc2 = 1 - b1 ** self.k, 1 - b2 ** self.k
        denom = v.sqrt() / math.sqrt(bc2) + eps
        return sel(keep, base - (lr / bc1) * m / denom, p)


def _mark_dead(alive: torch.Tensor, ok: torch.Tensor, died: list[int | None], step: int) -> None:
    """Runs alive but not ``ok`` die at ``step``; ``alive`` is updated in place."""
    for r in torch.nonzero(alive & ~ok).flatten().tolist():
        died[r] = step
    alive &= ok


# -- training ---------------------------------------------------------------------------------


def train(
    task: Task | str,
    runs: Sequence[Run],
    *,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int = BATCH_SIZE,
    optimizer: str = OPTIMIZER,
    momentum: float = MOMENTUM,
    nesterov: bool = NESTEROV,
    weight_decay: float = WEIGHT_DECAY,
    progress: StepCallback | None = None,
    dtype: torch.dtype = torch.float32,
    data_seed: int = 0,
) -> list[RunResult]:
    """Train every run in ``runs`` at once, as one batched model; results in ``runs`` order.

    ``epochs`` (or ``steps``, exactly one) sets the length: ``epochs *
    steps_per_epoch(task, batch_size)`` optimizer steps. ``progress(step, total)``
    is called after every optimizer step. ``momentum`` is SGD's momentum, or
    Adam's ``beta1``. See the module docstring for the update rules.
    """
    runs = _check_runs(runs)
    check_optimizer(optimizer, momentum, weight_decay)
    t0 = time.perf_counter()
    plan = _plan(task, epochs, steps, batch_size, dtype, data_seed)
    task = plan.task
    xt, yt, xv, yv = plan.data
    seeds = [r.seed for r in runs]
    R = len(runs)
    model = task.batched(seeds, dtype)
    params = model.params
    opt = _BatchedOptimizer(params, optimizer, momentum, nesterov, weight_decay)
    lrs = _LR(runs, plan.total)
    alive = torch.ones(R, dtype=torch.bool)
    died: list[int | None] = [None] * R
    train_loss = np.full((R, plan.total), np.nan)
    val_loss = np.full((R, len(plan.eval_steps)), np.nan)
    val_metric = np.full((R, len(plan.eval_steps)), np.nan) if task.metric else None

    def evaluate(i: int, step: int) -> None:
        model.train(False)
        with torch.no_grad():
            out = model(xv, shared=True)
            loss = _losses(task.loss, out, yv.expand(R, *yv.shape))
            met = _metric(task.metric, out, yv)
        model.train(True)
        ok = alive & torch.isfinite(loss)
        _mark_dead(alive, ok, died, step)
        okn = ok.numpy()
        val_loss[okn, i] = loss.double().numpy()[okn]
        if val_metric is not None and met is not None:
            val_metric[okn, i] = met.numpy()[okn]

    evaluate(0, 0)
    next_eval = 1
    for step, idx in _batches(plan, seeds):
        out = model(xt[idx])
        losses = _losses(task.loss, out, yt[idx])
        _mark_dead(alive, torch.isfinite(losses.detach()), died, step)
        masked = torch.where(alive, losses, torch.zeros_like(losses))
        grads = torch.autograd.grad(masked.sum(), list(params.values()))
        lr_np = lrs.at(step)
        opt.step(grads, torch.as_tensor(lr_np, dtype=dtype), alive)
        ld = losses.detach().double().numpy()
        an = alive.numpy()
        train_loss[an, step] = ld[an]
        if step + 1 == plan.eval_steps[next_eval]:
            evaluate(next_eval, step + 1)
            lrs.observe(step + 1, val_loss[:, next_eval])
            next_eval += 1
        if progress is not None:
            progress(step + 1, plan.total)
    share = (time.perf_counter() - t0) / R
    return [
        RunResult(
            key=run.key, train_loss=train_loss[r], eval_steps=np.asarray(plan.eval_steps),
            val_loss=val_loss[r], val_metric=None if val_metric is None else val_metric[r],
            lr=lrs.used[r].copy(), diverged=died[r] is not None, seconds=share,
            diverged_at=died[r],
        )
        for r, run in enumerate(runs)
    ]


def _torch_optimizer(kind: str, params: Any, lr: float, momentum: float, nesterov: bool,
                     weight_decay: float) -> torch.optim.Optimizer:
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov,
                               weight_decay=weight_decay)
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    return cls(params, lr=lr, betas=(momentum, 0.999), eps=1e-8, weight_decay=weight_decay)


def train_one(
    task: Task | str,
    run: Run,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int = BATCH_SIZE,
    optimizer: str = OPTIMIZER,
    momentum: float = MOMENTUM,
    nesterov: bool = NESTEROV,
    weight_decay: float = WEIGHT_DECAY,
    progress: StepCallback | None = None,
    dtype: torch.dtype = torch.float32,
    data_seed: int = 0,
) -> RunResult:
    """The reference: one run, a plain PyTorch loop with a real ``torch.optim`` optimizer
    whose ``lr`` is written by :class:`lrkit.torch.Scheduler` (``step()`` after every
    update, the validation loss fed to a plateau factor after every evaluation). Same
    data order, init, evaluation points and divergence rule as :func:`train`; ``lr``
    holds what the scheduler wrote, also after a divergence."""
    (run,) = _check_runs([run])
    check_optimizer(optimizer, momentum, weight_decay)
    t0 = time.perf_counter()
    plan = _plan(task, epochs, steps, batch_size, dtype, data_seed)
    task = plan.task
    xt, yt, xv, yv = plan.data
    model = task.build(run.seed).to(dtype)
    _base(run, plan.total)  # the same check as train's
    opt = _torch_optimizer(optimizer, model.parameters(), 0.0, momentum, nesterov,
                           weight_decay)
    sched = Scheduler(opt, run.schedule)  # writes lr(0)
    group = opt.param_groups[0]
    lr = np.full(plan.total, np.nan)
    train_loss = np.full(plan.total, np.nan)
    val_loss = np.full(len(plan.eval_steps), np.nan)
    val_metric = np.full(len(plan.eval_steps), np.nan) if task.metric else None
    died: int | None = None

    def evaluate(i: int, step: int) -> bool:
        model.eval()
        with torch.no_grad():
            out = model(xv)[None]
            loss = float(_losses(task.loss, out, yv[None])[0])
            met = _metric(task.metric, out, yv[None])
        model.train()
        if not math.isfinite(loss):
            return False
        val_loss[i] = loss
        if val_metric is not None and met is not None:
            val_metric[i] = float(met[0])
        return True

    if not evaluate(0, 0):
        died = 0
    next_eval = 1
    for step, idx in _batches(plan, [run.seed]):
        if died is not None:
            break
        i = idx[0]
        loss = _losses(task.loss, model(xt[i])[None], yt[i][None])[0]
        if not torch.isfinite(loss):
            died = step
            break
        lr[step] = group["lr"]
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        sched.step()
        train_loss[step] = float(loss.detach())
        if step + 1 == plan.eval_steps[next_eval]:
            if not evaluate(next_eval, step + 1):
                died = step + 1
                break
            if sched.has_plateau:
                sched.observe(float(val_loss[next_eval]))
            next_eval += 1
        if progress is not None:
            progress(step + 1, plan.total)
    for t in range(sched.last_epoch, plan.total):  # what the schedule goes on to write
        lr[t] = group["lr"]
        sched.step()
    return RunResult(
        key=run.key, train_loss=train_loss, eval_steps=np.asarray(plan.eval_steps),
        val_loss=val_loss, val_metric=val_metric, lr=lr,
        diverged=died is not None, seconds=time.perf_counter() - t0, diverged_at=died,
    )
