"""Train many runs of one task as one batched model, and the one-run reference.

A :class:`Run` is ``(key, schedule, seed)``: the schedule gives the absolute
learning rate at every optimizer step (``t`` = completed updates, so the
first update uses ``schedule(0)``); the seed fixes the initialisation
(``task.build(seed)``), the data order (a permutation per epoch drawn from
``(seed, epoch)``) and the run's random draws inside ``forward`` (dropout,
augmentation: torch's generator seeded from ``(seed, step)`` for every forward,
see :mod:`~lrkit.experiment.batched`). The data split is the task's
``data(data_seed)``, shared by every run.

:func:`train` stacks all runs into one :class:`~lrkit.experiment.batched.BatchedModel`
and updates them with a batched optimizer (:mod:`~lrkit.experiment.optim`) that
applies each run's own learning rate, with the same formulas and order of
operations as ``torch.optim``. :func:`train_one` is the reference: a plain
PyTorch loop with the real ``torch.optim`` optimizer and one run, its learning
rate set by :class:`lrkit.torch.Scheduler` (so the adapter is checked too).
``train(task, [run])`` equals ``train_one(task, run)`` to float tolerance (tested).

**Settings.** A setting left ``None`` takes the task's value (``Task.recipe``),
else lrkit's (:data:`~lrkit.experiment.recipe.TRAINING`). ``grad_clip`` clips each
run's global gradient norm; ``eval_every`` evaluates every k optimizer steps
(always after 0 steps and after the last), else at the end of every epoch;
``device`` is where the tensors live (``"cpu"``, ``"cuda"``).

**Losses.** ``cross_entropy`` over the last axis of the model's output, averaged
over every other axis but the run's: one label per example (``[B]``) or one per
token (``[B, T]``, a language model: nats per token); ``mse`` averaged over every
element. Evaluations cover the whole validation set, in slices of
``task.eval_batch_size`` examples.

Divergence: when a run's training loss (or validation loss) is NaN or
infinite, the run is marked ``diverged``, its parameters stop changing, every
later entry of its ``train_loss``/``val_loss``/``val_metric`` is NaN, and the
other runs carry on untouched (each run's arithmetic only reads its own slice).

Plateau schedules (``base * plateau(...)``) are supported: the plateau
controller observes each run's validation loss at every evaluation.

**Optimizers.** Every run uses the training's optimizer unless its ``Run.optimizer``
names another (:data:`~lrkit.experiment.baselines.KINDS`): the runs of each optimizer
sit side by side in the batch and each optimizer updates its slice. A Schedule-Free
optimizer trains in train mode (the parameters hold ``y``) and is switched to eval mode
(``x``, the average its theory evaluates) before every evaluation and back after, in
:func:`train` and in :func:`train_one` (the package's ``optimizer.eval()``/``train()``).

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
from .._plateau import Plateau, PlateauState, split_plateau
from ..errors import InputError, InputTypeError
from ..schedule import Schedule
from ..torch import Scheduler
from .baselines import KINDS, build, decay_rule, reference
from .batched import seeded
from .floats import float_array, json_floats
from .optim import Optim, clip, decays
from .progress import StepCallback
from .recipe import TRAINING
from .tasks import Task, get_task


@dataclass(frozen=True)
class Run:
    """One training run: a caller-chosen unique ``key``, a ``schedule`` of absolute
    learning rates (``t`` = optimizer step), a ``seed`` (init + data order) and its
    ``optimizer`` (None: the training's; else a key of ``baselines.KINDS``, e.g.
    ``"sf-sgd"``: runs of several optimizers train in one batch)."""

    key: str
    schedule: Schedule
    seed: int = 0
    optimizer: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise InputError(f"Run: key must be a non-empty string, got {self.key!r}")
        if not isinstance(self.schedule, Schedule):
            raise InputTypeError(
                f"Run {self.key!r}: schedule must be an lrkit Schedule, got {self.schedule!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise InputTypeError(f"Run {self.key!r}: seed must be an int, got {self.seed!r}")
        if self.optimizer is not None and self.optimizer not in KINDS:
            raise InputError(f"Run {self.key!r}: optimizer must be one of {tuple(KINDS)} or "
                             f"None, got {self.optimizer!r}")


@dataclass
class RunResult:
    """What one run produced. Arrays are float64; NaN marks "no value" (after divergence).

    ``train_loss[k]`` and ``lr[k]`` belong to optimizer step ``k`` (the loss of the
    batch the k-th update was computed on, before the update); ``val_loss[i]``
    and ``val_metric[i]`` were measured after ``eval_steps[i]`` updates
    (``eval_steps`` starts with 0, then every ``eval_every`` steps or every epoch's end,
    and ends with the last step). ``lr`` holds
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


def steps_per_epoch(task: Task | str, batch_size: int | None = None, data_seed: int = 0) -> int:
    """``ceil(n_train / batch_size)``: every epoch visits every training example once
    (the last batch may be smaller); ``batch_size`` None: the task's."""
    task = get_task(task)
    batch_size = integer("steps_per_epoch", "batch_size", task.setting("batch_size", batch_size))
    n = len(task.data(data_seed)[0])
    return -(-n // batch_size)


def _order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The data order of run ``seed`` in ``epoch``: a permutation of ``range(n)``."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, epoch, 0x1A7E]).generate_state(2)
    g = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
    return torch.randperm(n, generator=g)


@dataclass
class _Plan:
    """Everything a training needs that does not depend on the runs."""

    task: Task
    data: tuple[torch.Tensor, ...]
    n: int
    batch_size: int
    spe: int
    total: int
    eval_steps: list[int]
    hp: Optim
    grad_clip: float | None
    device: torch.device


def _plan(task: Task | str, epochs: int | None, steps: int | None, dtype: torch.dtype,
          data_seed: int, kw: dict[str, Any]) -> _Plan:
    task = get_task(task)
    st = {k: task.setting(k, v) for k, v in kw.items()}
    check_optimizer(st["optimizer"], st["momentum"], st["weight_decay"], st["betas"],
                    st["eps"], st["grad_clip"])
    batch_size = integer("train", "batch_size", st["batch_size"])
    device = check_device(st["device"])
    if dtype not in (torch.float32, torch.float64):
        raise InputError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")

    def put(t: torch.Tensor) -> torch.Tensor:
        return (t.to(dtype) if t.is_floating_point() else t).to(device)

    xt, yt, xv, yv = task.data(data_seed)
    n = len(xt)
    spe = -(-n // batch_size)
    if epochs is None and steps is None:
        epochs, steps = task.recipe.get("epochs"), task.recipe.get("steps")
        if epochs is None and steps is None:
            raise InputError("give exactly one of epochs and steps, got neither")
        if epochs is not None:
            steps = None
    if (epochs is None) == (steps is None):
        raise InputError(f"give exactly one of epochs and steps, got epochs={epochs!r}, "
                         f"steps={steps!r}")
    if steps is None:
        total = spe * integer("train", "epochs", epochs)
    else:
        total = integer("train", "steps", steps)
    every = st["eval_every"]
    every = spe if every is None else integer("train", "eval_every", every)
    evals = sorted({0, total, *range(every, total + 1, every)})
    hp = Optim(st["optimizer"], float(st["momentum"]), bool(st["nesterov"]),
               float(st["weight_decay"]), None if st["betas"] is None else
               (float(st["betas"][0]), float(st["betas"][1])), float(st["eps"]))
    clip_at = None if st["grad_clip"] is None else float(st["grad_clip"])
    return _Plan(task, tuple(put(t) for t in (xt, yt, xv, yv)), n, batch_size, spe, total,
                 evals, hp, clip_at, device)


def _batches(plan: _Plan, seeds: Sequence[int]) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(step, index [R, B])`` for every optimizer step, in order."""
    step, epoch = 0, 0
    while step < plan.total:
        perms = torch.stack([_order(s, epoch, plan.n) for s in seeds]).to(plan.device)
        for b in range(plan.spe):
            if step >= plan.total:
                return
            yield step, perms[:, b * plan.batch_size:(b + 1) * plan.batch_size]
            step += 1
        epoch += 1


def _losses(kind: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-run mean loss: ``out`` [R, B, ..., C], ``y`` [R, B, ...] -> [R]."""
    r = out.shape[0]
    if kind == "cross_entropy":
        # log-sum-exp minus the target's logit, written out: on CPU, F.cross_entropy over a
        # short class axis (10 digits) vectorises badly and costs ~3x as much, fwd + bwd
        z = out.reshape(-1, out.shape[-1])
        z = z - z.detach().amax(1, keepdim=True)
        per = z.exp().sum(1).log() - z.gather(1, y.reshape(-1, 1)).squeeze(1)
        return per.view(r, -1).mean(1)
    return ((out - y) ** 2).reshape(r, -1).mean(1)


def _metric(kind: str | None, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """Per-run accuracy over every label: ``out`` [R, B, ..., C], ``y`` [R or 1, B, ...]."""
    if kind != "accuracy":
        return None
    hit = (out.argmax(-1) == y).to(torch.float64)
    return hit.reshape(out.shape[0], -1).mean(1)


def _evaluate(forward: Any, xv: torch.Tensor, yv: torch.Tensor, task: Task,
              r: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The validation loss and metric of ``r`` runs (float64 [r]), over the whole set in
    slices of ``task.eval_batch_size``; ``forward(x)`` gives ``[r, B, ...]``."""
    n, size = len(xv), task.eval_batch_size
    loss = torch.zeros(r, dtype=torch.float64, device=xv.device)
    met = torch.zeros(r, dtype=torch.float64, device=xv.device) if task.metric else None
    with torch.no_grad():
        for i in range(0, n, size):
            x, y = xv[i:i + size], yv[i:i + size]
            out = forward(x)
            loss += _losses(task.loss, out, y.expand(r, *y.shape)).double() * len(x)
            m = _metric(task.metric, out, y[None])
            if met is not None and m is not None:
                met += m * len(x)
    return loss / n, None if met is None else met / n


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


def check_optimizer(optimizer: str, momentum: float, weight_decay: float,
                    betas: Sequence[float] | None = None, eps: float = 1e-8,
                    grad_clip: float | None = None) -> None:
    """Refuse what :func:`train` cannot run: ``optimizer`` must be one of ``KINDS``
    (sgd, adam, adamw, and the baselines sf-sgd, sf-adamw, prodigy), ``0 <= momentum < 1``
    (Adam's ``beta1`` unless ``betas`` is given), ``weight_decay >= 0``, ``betas`` two
    numbers in [0, 1), ``eps > 0`` (all finite), ``grad_clip > 0``.

    >>> check_optimizer("adam", 0.9, 0.0)
    >>> check_optimizer("sgd", 1.0, 0.0)
    Traceback (most recent call last):
    ...
    lrkit.InputError: momentum must be in [0, 1), got 1.0
    """
    if optimizer not in KINDS:
        raise InputError(f"optimizer must be one of {tuple(KINDS)}, got {optimizer!r}")
    if not (0 <= momentum < 1):
        raise InputError(f"momentum must be in [0, 1), got {momentum!r}")
    if not (0 <= weight_decay < math.inf):
        raise InputError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
    if betas is not None and (len(betas) != 2 or not all(0 <= b < 1 for b in betas)):
        raise InputError(f"betas must be two numbers in [0, 1), got {betas!r}")
    if not (0 < eps < math.inf):
        raise InputError(f"eps must be a finite number > 0, got {eps!r}")
    if grad_clip is not None and not (grad_clip > 0 and math.isfinite(grad_clip)):
        raise InputError(f"grad_clip must be a number > 0 (or None), got {grad_clip!r}")


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` that exists here.

    >>> check_device("cpu")
    device(type='cpu')
    >>> check_device("gpu")
    Traceback (most recent call last):
    ...
    lrkit.InputError: device must be cpu, cuda or cuda:N, got 'gpu'
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"device must be cpu, cuda or cuda:N, got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r}: no CUDA device here (torch.cuda.is_available() "
                         "is False); use cpu")
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device must be cpu, cuda or cuda:N, got {device!r}")
    return dev


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


def _mark_dead(alive: torch.Tensor, ok: torch.Tensor, died: list[int | None], step: int) -> None:
    """Runs alive but not ``ok`` die at ``step``; ``alive`` is updated in place."""
    for r in torch.nonzero(alive & ~ok).flatten().tolist():
        died[r] = step
    alive &= ok


def _eval_key(i: int) -> int:
    """The randomness key of the ``i``-th evaluation (training forwards use the step)."""
    return -1 - i


# -- training ---------------------------------------------------------------------------------


def train(
    task: Task | str,
    runs: Sequence[Run],
    *,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    optimizer: str | None = None,
    momentum: float | None = None,
    nesterov: bool | None = None,
    weight_decay: float | None = None,
    betas: tuple[float, float] | None = None,
    eps: float | None = None,
    grad_clip: float | None = None,
    eval_every: int | None = None,
    device: str | None = None,
    progress: StepCallback | None = None,
    dtype: torch.dtype = torch.float32,
    data_seed: int = 0,
) -> list[RunResult]:
    """Train every run in ``runs`` at once, as one batched model; results in ``runs`` order.

    ``epochs`` (or ``steps``, at most one; neither: the task's) sets the length:
    ``epochs * steps_per_epoch(task, batch_size)`` optimizer steps. ``progress(step,
    total)`` is called after every optimizer step. ``momentum`` is SGD's momentum, or
    Adam's ``beta1`` when ``betas`` is not given. A setting left None is the task's
    (see the module docstring); see :mod:`~lrkit.experiment.optim` for the updates.
    """
    given = _check_runs(runs)
    t0 = time.perf_counter()
    plan = _plan(task, epochs, steps, dtype, data_seed,
                 {k: v for k, v in locals().items() if k in TRAINING})
    task = plan.task
    xt, yt, xv, yv = plan.data
    kinds = [r.optimizer or plan.hp.kind for r in given]
    # runs of one optimizer side by side (each optimizer updates its slice of the batch)
    order = sorted(range(len(given)), key=lambda i: list(dict.fromkeys(kinds)).index(kinds[i]))
    runs = [given[i] for i in order]
    seeds = [r.seed for r in runs]
    R = len(runs)
    model = task.batched(seeds, dtype, plan.device)
    params = model.params
    opt = build(params, lambda rule: decays(model.base, rule), [kinds[i] for i in order],
                plan.hp, plan.total)
    lrs = _LR(runs, plan.total)
    alive = torch.ones(R, dtype=torch.bool, device=plan.device)
    died: list[int | None] = [None] * R
    train_loss = np.full((R, plan.total), np.nan)
    val_loss = np.full((R, len(plan.eval_steps)), np.nan)
    val_metric = np.full((R, len(plan.eval_steps)), np.nan) if task.metric else None

    def evaluate(i: int, step: int) -> None:
        model.train(False)
        opt.eval()
        loss, met = _evaluate(lambda x: model(x, shared=True, key=_eval_key(i)), xv, yv, task, R)
        opt.train()
        model.train(True)
        ok = alive & torch.isfinite(loss)
        _mark_dead(alive, ok, died, step)
        okn = ok.cpu().numpy()
        val_loss[okn, i] = loss.cpu().numpy()[okn]
        if val_metric is not None and met is not None:
            val_metric[okn, i] = met.cpu().numpy()[okn]

    evaluate(0, 0)  # in eval mode, then back to train mode
    opt.train()
    next_eval = 1
    for step, idx in _batches(plan, seeds):
        out = model(xt[idx], key=step)
        losses = _losses(task.loss, out, yt[idx])
        _mark_dead(alive, torch.isfinite(losses.detach()), died, step)
        masked = torch.where(alive, losses, torch.zeros_like(losses))
        grads = list(torch.autograd.grad(masked.sum(), list(params.values())))
        if plan.grad_clip is not None:
            grads = clip(grads, plan.grad_clip)
        opt.step(grads, torch.as_tensor(lrs.at(step), dtype=dtype, device=plan.device), alive)
        ld = losses.detach().double().cpu().numpy()
        an = alive.cpu().numpy()
        train_loss[an, step] = ld[an]
        if step + 1 == plan.eval_steps[next_eval]:
            evaluate(next_eval, step + 1)
            lrs.observe(step + 1, val_loss[:, next_eval])
            next_eval += 1
        if progress is not None:
            progress(step + 1, plan.total)
    share = (time.perf_counter() - t0) / R
    out_ = [
        RunResult(
            key=run.key, train_loss=train_loss[r], eval_steps=np.asarray(plan.eval_steps),
            val_loss=val_loss[r], val_metric=None if val_metric is None else val_metric[r],
            lr=lrs.used[r].copy(), diverged=died[r] is not None, seconds=share,
            diverged_at=died[r],
        )
        for r, run in enumerate(runs)
    ]
    back = {i: out_[j] for j, i in enumerate(order)}
    return [back[i] for i in range(R)]


def train_one(
    task: Task | str,
    run: Run,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    optimizer: str | None = None,
    momentum: float | None = None,
    nesterov: bool | None = None,
    weight_decay: float | None = None,
    betas: tuple[float, float] | None = None,
    eps: float | None = None,
    grad_clip: float | None = None,
    eval_every: int | None = None,
    device: str | None = None,
    progress: StepCallback | None = None,
    dtype: torch.dtype = torch.float32,
    data_seed: int = 0,
) -> RunResult:
    """The reference: one run, a plain PyTorch loop with a real ``torch.optim`` optimizer
    whose ``lr`` is written by :class:`lrkit.torch.Scheduler` (``step()`` after every
    update, the validation loss fed to a plateau factor after every evaluation),
    ``torch.nn.utils.clip_grad_norm_`` for ``grad_clip``. Same data order, init,
    random streams, evaluation points and divergence rule as :func:`train`; ``lr``
    holds what the scheduler wrote, also after a divergence."""
    (run,) = _check_runs([run])
    t0 = time.perf_counter()
    plan = _plan(task, epochs, steps, dtype, data_seed,
                 {k: v for k, v in locals().items() if k in TRAINING})
    task = plan.task
    xt, yt, xv, yv = plan.data
    model = task.build(run.seed).to(dtype).to(plan.device)
    _base(run, plan.total)  # the same check as train's
    kind = run.optimizer or plan.hp.kind
    opt = reference(kind, model, decays(model, decay_rule(kind)), plan.hp, plan.total)
    # a schedule-free optimizer trains y and is evaluated at x: train()/eval() switch
    opt_train, opt_eval = (getattr(opt, "train", None), getattr(opt, "eval", None))
    sched = Scheduler(opt, run.schedule)  # writes lr(0)
    group = opt.param_groups[0]
    lr = np.full(plan.total, np.nan)
    train_loss = np.full(plan.total, np.nan)
    val_loss = np.full(len(plan.eval_steps), np.nan)
    val_metric = np.full(len(plan.eval_steps), np.nan) if task.metric else None
    died: int | None = None

    def forward(x: torch.Tensor, key: int) -> torch.Tensor:
        with seeded(run.seed, key, plan.device):
            out: torch.Tensor = model(x)
        return out[None]

    def evaluate(i: int, step: int) -> bool:
        model.eval()
        if opt_eval is not None:
            opt_eval()
        loss, met = _evaluate(lambda x: forward(x, _eval_key(i)), xv, yv, task, 1)
        if opt_train is not None:
            opt_train()
        model.train()
        if not math.isfinite(float(loss[0])):
            return False
        val_loss[i] = float(loss[0])
        if val_metric is not None and met is not None:
            val_metric[i] = float(met[0])
        return True

    if not evaluate(0, 0):
        died = 0
    if opt_train is not None:
        opt_train()
    next_eval = 1
    for step, idx in _batches(plan, [run.seed]):
        if died is not None:
            break
        i = idx[0]
        loss = _losses(task.loss, forward(xt[i], step), yt[i][None])[0]
        if not torch.isfinite(loss):
            died = step
            break
        lr[step] = group["lr"]
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        if plan.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), plan.grad_clip)
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
