"""PyTorch adapter: :class:`Scheduler`, an ``LRScheduler`` driven by lrkit schedules.

Every value is computed in closed form from the step count, in float64, and
written into ``param_groups`` as a Python float (or, for tensor values, in
place with ``fill_``, so ``torch.compile`` does not recompile). Nothing is
read back from the optimizer, so resuming never depends on the order in
which the optimizer and the scheduler are rebuilt and loaded.

Semantics (the same as the core's): right after construction the optimizer
holds ``s(start_step)``; after ``k`` calls of :meth:`Scheduler.step` it holds
``s(start_step + k)``. With ``interval="epoch"`` and ``steps_per_epoch=E``,
``step()`` is called every batch and the schedule (written in epochs) is read
at the fractional epoch ``k / E``.

>>> import torch, lrkit
>>> from lrkit.torch import Scheduler
>>> opt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=1.0)
>>> sched = Scheduler(opt, lrkit.warmup(lrkit.cosine(0.1, steps=100), warmup_steps=10))
>>> opt.param_groups[0]["lr"]
0.0
>>> for _ in range(10):
...     opt.step(); sched.step()
>>> sched.get_last_lr()
[0.1]
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from . import _check
from .errors import InputError, InputTypeError, closest
from .plateau import PlateauState, split_plateau
from .schedule import Schedule
from .spec import as_schedule

__all__ = ["Scheduler", "from_torch", "plateau_callback"]

BLOCK = 8192
"""Values are evaluated ahead in aligned blocks of this many steps (vectorised, NumPy)."""

FORMAT = "lrkit.torch.Scheduler/1"

# Hyperparameter names found in torch.optim's optimizers (beta1/beta2 address ``betas``).
KNOWN = (
    "lr", "momentum", "weight_decay", "beta1", "beta2", "dampening", "eps", "alpha",
    "lr_decay", "rho", "lambd", "t0", "momentum_decay", "initial_accumulator_value",
)
_BETA = {"beta1": 0, "beta2": 1}
# Other libraries' names, for the "did you mean" hint.
_ALIASES = {"learning_rate": "lr", "beta_1": "beta1", "beta_2": "beta2", "b1": "beta1",
            "b2": "beta2", "wd": "weight_decay", "decay": "weight_decay"}

# The Scheduler that currently owns each optimizer (it re-writes its values
# after ``optimizer.load_state_dict``); a newer Scheduler takes over.
_OWNERS: weakref.WeakKeyDictionary[Optimizer, Any] = weakref.WeakKeyDictionary()


def _is_number(v: Any) -> bool:
    if isinstance(v, torch.Tensor):
        return v.numel() == 1 and v.is_floating_point()
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _schedulable(group: Mapping[str, Any]) -> list[str]:
    keys = [k for k, v in group.items()
            if k not in ("initial_lr", "params") and _is_number(v)]
    betas = group.get("betas")
    if isinstance(betas, (tuple, list)) and len(betas) == 2:
        keys += ["beta1", "beta2"]
    return keys


def _resolve_key(key: Any, group: Mapping[str, Any], i: int, opt_name: str) -> str:
    """The group key a hyperparameter name schedules; ``momentum`` means ``beta1`` for Adam."""
    if not isinstance(key, str):
        raise InputTypeError(f"Scheduler: hyperparameter names must be strings, got {key!r}")
    have = _schedulable(group)
    if key in have:
        return key
    if key == "momentum" and "beta1" in have:
        return "beta1"
    if key not in KNOWN:
        hint = f"; did you mean {_ALIASES[key]!r}?" if key in _ALIASES else closest(key, KNOWN)
        raise InputError(
            f"Scheduler: unknown hyperparameter {key!r}{hint}; "
            f"{opt_name} param_groups[{i}] can schedule: {', '.join(have)}"
        )
    raise InputError(
        f"Scheduler: {opt_name} param_groups[{i}] has no {key!r}; "
        f"it can schedule: {', '.join(have)}"
    )


class _Target:
    """One scheduled value: ``param_groups[group][key]`` = ``mult * plateau(base(t))``."""

    __slots__ = ("group", "index", "key", "full", "base", "plateau", "mult", "block", "vals")

    def __init__(self, group: dict[str, Any], index: int, key: str, full: Schedule,
                 mult: float, pool: dict[Any, PlateauState]) -> None:
        self.group = group
        self.index = index
        self.key = key
        self.full = full
        base, config = split_plateau(full)
        self.base = base
        # targets with the same base and plateau share one controller: it sees the same metrics
        self.plateau: PlateauState | None = None
        if config is not None:
            self.plateau = pool.setdefault((base, config), config.state())
        self.mult = mult
        self.block: np.ndarray = np.empty(0)
        self.vals: list[float] = []

    def derive(self, cache: dict[Any, list[float]]) -> None:
        """Turn the base block into the written values (plateau scale, floor, multiplier)."""
        p = self.plateau
        key = (id(self.block), self.mult, id(p))
        vals = cache.get(key)
        if vals is None:
            v = self.block
            if p is not None and p.scale != 1.0:
                v = p.apply(v)
            if self.mult != 1.0:
                v = v * self.mult
            vals = cache[key] = v.tolist()
        self.vals = vals

    def write(self, value: float) -> None:
        g = self.group
        if self.key in _BETA:
            j = _BETA[self.key]
            betas = g["betas"]
            if isinstance(betas[j], torch.Tensor):
                betas[j].fill_(value)
            else:
                new = list(betas)
                new[j] = value
                g["betas"] = tuple(new)
        elif isinstance(g[self.key], torch.Tensor):
            g[self.key].fill_(value)
        else:
            g[self.key] = value

    def spec(self) -> list[Any]:
        return [self.index, self.key, repr(self.full), self.mult]


def _per_group(what: str, value: Any, groups: list[dict[str, Any]]) -> list[Any]:
    """A list (one per group), a callable ``(i, group)``, or one value for every group."""
    n = len(groups)
    if callable(value) and not isinstance(value, Schedule):
        return [value(i, g) for i, g in enumerate(groups)]
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise InputError(
                f"Scheduler: {what} has {len(value)} entries but the optimizer has {n} "
                f"param group(s); give one per group"
            )
        return list(value)
    return [value] * n


class Scheduler(LRScheduler):
    """Schedule any hyperparameter of any param group with lrkit schedules.

    Args:
        optimizer: a ``torch.optim.Optimizer``.
        schedule: what to schedule, in one of these forms:

            * a schedule (or spec string, or number) for ``lr`` in every group;
            * a mapping ``{"lr": ..., "momentum": ..., "weight_decay": ...,
              "beta1": ..., "beta2": ...}`` (``beta1``/``beta2`` are the
              entries of Adam's ``betas``; ``momentum`` means ``beta1`` for an
              optimizer that has ``betas`` but no ``momentum``);
            * a list with one schedule or mapping per param group;
            * a callable ``(group_index, group) -> schedule or mapping``.

            A schedule may carry one ``* plateau(...)`` factor, fed with
            :meth:`step` ``(metric)`` or :meth:`observe`.
        interval: ``"step"`` (``t`` counts ``step()`` calls) or ``"epoch"``
            (the schedule is written in epochs).
        steps_per_epoch: with ``interval="epoch"``, call ``step()`` every batch
            and read the schedule at ``t = k / steps_per_epoch``.
        start_step: the count to start from (resume from a step count alone).
        multipliers: per-group factors on ``lr`` (a list, or a callable
            ``(i, group) -> float``): layer-wise decay; ``0`` freezes a group.

    The value written for a group is ``mult * max(base(t) * scale,
    min(base(t), floor))`` where ``scale`` and ``floor`` come from the plateau
    factor (``scale = 1`` without one).

    >>> import torch, lrkit
    >>> w = torch.zeros(2, requires_grad=True)
    >>> opt = torch.optim.SGD([{"params": [w]}, {"params": []}], lr=0.1, momentum=0.9)
    >>> oc = lrkit.one_cycle(0.1, steps=100)
    >>> s = Scheduler(opt, {"lr": oc, "momentum": oc.momentum()}, multipliers=[1.0, 0.5])
    >>> [(g["lr"], g["momentum"]) for g in opt.param_groups]
    [(0.004, 0.95), (0.002, 0.95)]
    """

    def __init__(self, optimizer: Optimizer, schedule: Any, *, interval: str = "step",
                 steps_per_epoch: int | None = None, start_step: int = 0,
                 multipliers: Any = None) -> None:
        if not isinstance(optimizer, Optimizer):
            raise InputTypeError(
                f"Scheduler: optimizer must be a torch.optim.Optimizer, got {optimizer!r}"
            )
        if interval not in ("step", "epoch"):
            raise InputError(f"Scheduler: interval must be 'step' or 'epoch', got {interval!r}")
        if steps_per_epoch is not None:
            if interval != "epoch":
                raise InputError(
                    f"Scheduler: steps_per_epoch={steps_per_epoch!r} goes with interval='epoch', "
                    f"got interval={interval!r}"
                )
            steps_per_epoch = _check.integer("Scheduler", "steps_per_epoch", steps_per_epoch)
        start_step = _check.integer("Scheduler", "start_step", start_step, 0)
        self.optimizer = optimizer
        self.interval = interval
        self.steps_per_epoch = steps_per_epoch
        self._targets = self._build(optimizer, schedule, multipliers)
        # Validation is over: from here on the optimizer is written.
        self._n = start_step
        self._blk = -1
        self._fill(start_step)
        self._write_all(start_step - self._blk)
        self._take_over(optimizer)

    # -- construction -------------------------------------------------------
    def _build(self, optimizer: Optimizer, schedule: Any, multipliers: Any) -> list[_Target]:
        groups = optimizer.param_groups
        name = type(optimizer).__name__
        per_group = _per_group("schedule", schedule, groups)
        mults = [1.0] * len(groups) if multipliers is None else _per_group(
            "multipliers", multipliers, groups)
        targets: list[_Target] = []
        pool: dict[Any, PlateauState] = {}
        for i, (g, spec, m) in enumerate(zip(groups, per_group, mults)):
            if isinstance(m, bool) or not isinstance(m, (int, float)) or not (
                    math.isfinite(m) and m >= 0):
                raise InputError(f"Scheduler: multipliers[{i}] must be a number >= 0, got {m!r}")
            mapping = spec if isinstance(spec, Mapping) else {"lr": spec}
            if not mapping:
                raise InputError(f"Scheduler: the schedule mapping for param_groups[{i}] is empty")
            seen: dict[str, str] = {}
            for key, value in mapping.items():
                k = _resolve_key(key, g, i, name)
                if k in seen:
                    raise InputError(
                        f"Scheduler: param_groups[{i}] schedules {k!r} twice "
                        f"(as {seen[k]!r} and {key!r})"
                    )
                seen[k] = key
                s = as_schedule(value, f"Scheduler: schedule for param_groups[{i}][{key!r}]")
                targets.append(_Target(g, i, k, s, float(m) if k == "lr" else 1.0, pool))
        return targets

    def _take_over(self, optimizer: Optimizer) -> None:
        old = _OWNERS.get(optimizer)
        if old is not None:
            old.remove()
        ref = weakref.ref(self)

        def rewrite(_opt: Optimizer) -> None:
            # load_state_dict replaces the group dicts: write into the new ones
            me = ref()
            if me is not None:
                me.last_epoch = me._n

        _OWNERS[optimizer] = optimizer.register_load_state_dict_post_hook(rewrite)

    # -- evaluation ---------------------------------------------------------
    def _fill(self, n: int) -> None:
        """Evaluate the aligned block holding step ``n`` for every target."""
        start = n - n % BLOCK
        for tg in self._targets:  # the optimizer's current group dicts
            tg.group = self.optimizer.param_groups[tg.index]
        ts = np.arange(start, start + BLOCK, dtype=np.float64)
        if self.steps_per_epoch is not None:
            ts = ts / self.steps_per_epoch
        cache: dict[Schedule, np.ndarray] = {}
        for tg in self._targets:
            block = cache.get(tg.base)
            if block is None:
                block = cache[tg.base] = tg.base.values(ts)
            tg.block = block
        self._blk = start
        self._derive()

    def _derive(self) -> None:
        cache: dict[Any, list[float]] = {}
        for tg in self._targets:
            tg.derive(cache)
        self._index()

    def _index(self) -> None:
        """The write lists of :meth:`step`: ``_plain``, ``(group, key, values)`` for each
        target holding a float; ``_special``, the targets in ``betas`` or tensors."""
        self._plain: list[tuple[dict[str, Any], str, list[float]]] = []
        self._special: list[_Target] = []
        for tg in self._targets:
            if tg.key in _BETA or isinstance(tg.group[tg.key], torch.Tensor):
                self._special.append(tg)
            else:
                self._plain.append((tg.group, tg.key, tg.vals))

    def _write_all(self, k: int) -> None:
        for tg in self._targets:
            tg.write(tg.vals[k])

    def step(self, metric: Any = None) -> None:
        """Advance one unit (call it after ``optimizer.step()``); ``metric`` feeds the plateau."""
        if metric is not None:
            self.observe(metric)
        n = self._n + 1
        self._n = n
        k = n - self._blk
        if k >= BLOCK:
            self._fill(n)
            k = n - self._blk
        for group, key, vals in self._plain:
            group[key] = vals[k]
        for tg in self._special:
            tg.write(tg.vals[k])

    def observe(self, metric: Any) -> bool:
        """Feed a metric to the plateau factor(s) without advancing; True if a value was reduced.

        A NaN metric counts as not improving. Without a plateau factor this raises.
        """
        controlled = {id(tg.plateau): tg for tg in self._targets if tg.plateau is not None}
        if not controlled:
            raise InputError(
                "Scheduler: got a metric but no schedule has a plateau(...) factor; "
                "write e.g. cosine(...) * plateau(patience=3)"
            )
        k = self._n - self._blk
        reduced = False
        for tg in controlled.values():
            assert tg.plateau is not None
            # floor and eps apply to the schedule's value, before the group multiplier
            reduced |= tg.plateau.observe(metric, lr=tg.plateau.apply(float(tg.block[k])))
        if reduced:
            self._derive()
            self._write_all(k)
        return reduced

    # -- the LRScheduler surface --------------------------------------------
    @property
    def last_epoch(self) -> int:
        """The number of units done (``start_step`` + calls of ``step()``)."""
        return self._n

    @last_epoch.setter
    def last_epoch(self, n: int) -> None:
        n = _check.integer("Scheduler", "last_epoch", n, 0)
        self._n = n
        self._fill(n)
        self._write_all(n - self._blk)

    def current(self) -> dict[tuple[int, str], float]:
        """The values this scheduler writes now: ``{(group index, key): value}``."""
        k = self._n - self._blk
        return {(tg.index, tg.key): tg.vals[k] for tg in self._targets}

    def get_last_lr(self) -> list[float]:  # type: ignore[override]
        """The learning rate of every param group (scheduled or not) as Python floats."""
        now = self.current()
        return [now.get((i, "lr"), float(g["lr"]))
                for i, g in enumerate(self.optimizer.param_groups)]

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return self.get_last_lr()

    @property
    def _step_count(self) -> int:
        """torch's count of step() calls plus one; accelerate adds to it (ignored here)."""
        return self._n + 1

    @_step_count.setter
    def _step_count(self, _value: int) -> None:
        pass

    @property
    def _last_lr(self) -> list[float]:  # type: ignore[override]  # torch's attribute
        return self.get_last_lr()

    @property
    def base_lrs(self) -> list[float]:  # type: ignore[override]
        """The learning rate of every group at ``t = 0``."""
        out = [float(g["lr"]) for g in self.optimizer.param_groups]
        for tg in self._targets:
            if tg.key == "lr":
                out[tg.index] = tg.mult * tg.base(0)
        return out

    @property
    def has_plateau(self) -> bool:
        """Whether a schedule carries a ``plateau(...)`` factor (metrics are expected)."""
        return any(tg.plateau is not None for tg in self._targets)

    def schedules(self) -> dict[tuple[int, str], Schedule]:
        """The schedule of every scheduled value: ``{(group index, key): schedule}``."""
        return {(tg.index, tg.key): tg.full for tg in self._targets}

    # -- state ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The step count, the schedules (as specs) and the plateau states; only builtins."""
        return {
            "format": FORMAT,
            "step": self._n,
            "interval": self.interval,
            "steps_per_epoch": self.steps_per_epoch,
            "schedules": [tg.spec() for tg in self._targets],
            "plateau": [tg.plateau.state_dict() if tg.plateau is not None else None
                        for tg in self._targets],
        }

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> None:
        """Resume from :meth:`state_dict` and write the resumed values to the optimizer.

        With ``strict=True`` the checkpoint must come from the same schedules,
        multipliers and units. ``strict=False`` keeps this scheduler's
        schedules and takes only the step count and the plateau state of the
        values scheduled in both: the way to change a schedule on resume.
        """
        sd = state_dict
        if not isinstance(sd, Mapping) or sd.get("format") != FORMAT:
            got = sd.get("format") if isinstance(sd, Mapping) else type(sd).__name__
            raise InputError(
                f"Scheduler.load_state_dict: expected a state dict from lrkit's Scheduler "
                f"(format {FORMAT!r}), got {got!r}"
            )
        step = _check.integer("Scheduler.load_state_dict", "step", sd.get("step"), 0)
        saved = [list(x) for x in sd["schedules"]]
        mine = [tg.spec() for tg in self._targets]
        if strict:
            units = (sd.get("interval"), sd.get("steps_per_epoch"))
            if units != (self.interval, self.steps_per_epoch):
                raise InputError(
                    f"Scheduler.load_state_dict: the checkpoint counts interval={units[0]!r}, "
                    f"steps_per_epoch={units[1]!r}; this scheduler has interval="
                    f"{self.interval!r}, steps_per_epoch={self.steps_per_epoch!r}"
                )
            if saved != mine:
                raise InputError(
                    "Scheduler.load_state_dict: the checkpoint is from a different schedule: "
                    f"expected [group, key, schedule, multiplier] = {mine!r}, got {saved!r}; "
                    "pass strict=False to keep this scheduler's schedules and resume only "
                    "the step count"
                )
        states = dict(zip(((x[0], x[1]) for x in saved), sd["plateau"]))
        fresh: dict[Any, PlateauState] = {}
        for tg in self._targets:
            if tg.plateau is not None:
                key = (tg.base, tg.plateau.config)
                if key not in fresh:
                    fresh[key] = tg.plateau.config.state()
                    st = states.get((tg.index, tg.key))
                    if st is not None:
                        fresh[key].load_state_dict(dict(st))
                tg.plateau = fresh[key]
        self.last_epoch = step

    def __repr__(self) -> str:
        parts = ", ".join(f"[{i}][{k!r}]={s!r}" for (i, k), s in self.schedules().items())
        return f"Scheduler({type(self.optimizer).__name__}, {parts}, step={self._n})"


# -- conversion from torch.optim.lr_scheduler ------------------------------------
def from_torch(scheduler: Any) -> Schedule | list[Schedule]:
    """The lrkit schedule equal to a built PyTorch scheduler's learning rates.

    Returns one schedule when every param group gets the same one, else a list
    (one per group); either can be passed to :class:`Scheduler`. The result
    describes the scheduler from its start (``t = 0`` is the value after
    construction) whatever step it is at now. Covered: StepLR, MultiStepLR,
    ConstantLR, LinearLR, ExponentialLR, PolynomialLR, CosineAnnealingLR (which
    PyTorch continues periodically past ``T_max``: so does the result),
    CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR (held after its last
    step, where PyTorch raises), SequentialLR trees (a SequentialLR nested as
    a first child runs one step ahead per level in PyTorch: reproduced), and
    ReduceLROnPlateau (``constant(lr) * plateau(...)`` with the group's
    current lr). LambdaLR, MultiplicativeLR and ChainedScheduler raise
    ``TypeError``.

    >>> import torch
    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> from_torch(torch.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.5))
    step_decay(init=0.1, factor=0.5, every=30)
    """
    from ._torch.convert import convert

    n = len(scheduler.optimizer.param_groups)
    out = [convert(scheduler, i) for i in range(n)]
    return out[0] if all(s == out[0] for s in out) else out



def plateau_callback(monitor: str, *, strict: bool = True) -> Any:
    """A Lightning callback feeding ``trainer.callback_metrics[monitor]`` to every lrkit
    :class:`Scheduler` with a plateau factor, after each validation run.

    Lightning steps a scheduler with a metric only when it is a
    ``ReduceLROnPlateau`` (and then only once per validation); this callback
    lets a schedule stepped every batch (``"interval": "step"``) also carry a
    plateau factor. ``strict=True`` raises if the metric is missing.
    """
    import lightning.pytorch as pl

    class LrkitPlateau(pl.Callback):
        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.sanity_checking:
                return
            scheds = [c.scheduler for c in trainer.lr_scheduler_configs
                      if isinstance(c.scheduler, Scheduler) and c.scheduler.has_plateau]
            if not scheds:
                return
            value = trainer.callback_metrics.get(monitor)
            if value is None:
                if strict:
                    raise InputError(
                        f"plateau_callback: monitor={monitor!r} is not among the logged "
                        f"metrics {sorted(trainer.callback_metrics)}"
                    )
                return
            for s in scheds:
                s.observe(value)

    return LrkitPlateau()
