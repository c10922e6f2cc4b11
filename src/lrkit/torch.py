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
at the fractional epoch ``k / E``. With ``relative=True`` the schedule is a
shape (peaking at 1) and each group gets its own initial rate times it, as
PyTorch's ``LambdaLR`` and Hugging Face's schedulers do.

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

import inspect
import math
import reprlib
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from . import _check
from ._plateau import PlateauState, split_plateau
from .errors import InputError, InputTypeError, closest
from .schedule import Schedule
from .spec import as_schedule

__all__ = ["Scheduler", "from_torch", "plateau_callback"]

BLOCK = 8192
"""Values are evaluated ahead in aligned blocks of this many steps (vectorised, NumPy)."""
FLAT = 16
"""Values written to fewer groups than this (per key and schedule) go in one flat list."""

FORMAT = "lrkit.torch.Scheduler/2"
"""The ``format`` of :meth:`Scheduler.state_dict`; ``.../1`` (lrkit 0.1) still loads."""
_FORMAT_1 = "lrkit.torch.Scheduler/1"

MAX_STEP = 2**53
"""The largest step count: every count up to it is exact as a float64 ``t``."""

INTERVALS = {"step": "step", "batch": "step", "epoch": "epoch"}
"""The units ``interval`` accepts: ``"batch"`` (Keras' word) is ``"step"``."""

# Hyperparameter names found in torch.optim's optimizers (beta1/beta2 address ``betas``).
KNOWN = (
    "lr", "momentum", "weight_decay", "beta1", "beta2", "dampening", "eps", "alpha",
    "lr_decay", "rho", "lambd", "t0", "momentum_decay", "initial_accumulator_value",
)
RANGES: dict[str, tuple[float, bool]] = {
    "momentum": (1.0, True), "dampening": (1.0, True), "rho": (1.0, True),
    "beta1": (1.0, False), "beta2": (1.0, False),
}
"""Upper bounds ``(high, inclusive)`` of the values written for these keys; every value
written, for any key, is finite and ``>= 0``."""
_BETA = {"beta1": 0, "beta2": 1}
# Other libraries' names, for the "did you mean" hint.
_ALIASES = {"learning_rate": "lr", "beta_1": "beta1", "beta_2": "beta2", "b1": "beta1",
            "b2": "beta2", "wd": "weight_decay", "decay": "weight_decay"}

# The Scheduler that currently owns each optimizer (it re-writes its values
# after ``optimizer.load_state_dict``); a newer Scheduler takes over.
_OWNERS: weakref.WeakKeyDictionary[Optimizer, Any] = weakref.WeakKeyDictionary()

_STEP_FUNCTION = (
    "Scheduler: schedule={fn!r} is a function of the step (what torch's LambdaLR takes). "
    "lrkit takes a schedule value, which it saves in state_dict, checks on resume and "
    "evaluates ahead: write the formula as an lrkit schedule, e.g. "
    "lrkit.warmup(lrkit.cosine(1.0, steps=10_000), warmup_steps=500) "
    "(docs/catalogue.md lists them). LambdaLR(opt, f) multiplies each group's own rate by "
    "f(t): that is Scheduler(opt, shape, relative=True) with shape(t) == f(t). To keep a "
    "Python function, keep LambdaLR. (A callable here is (group_index, group) -> the "
    "schedule of that group.)"
)


def _is_number(v: Any) -> bool:
    if isinstance(v, torch.Tensor):
        return v.numel() == 1 and v.is_floating_point()
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _has_betas(group: Mapping[str, Any]) -> bool:
    betas = group.get("betas")
    return isinstance(betas, (tuple, list)) and len(betas) == 2


def _schedulable(group: Mapping[str, Any]) -> list[str]:
    keys = [k for k, v in group.items()
            if k not in ("initial_lr", "params") and _is_number(v)]
    return keys + (["beta1", "beta2"] if _has_betas(group) else [])


def _resolve_key(key: Any, group: Mapping[str, Any], i: int, opt_name: str) -> str:
    """The group key a hyperparameter name schedules; ``momentum`` means ``beta1`` for Adam."""
    if isinstance(key, str) and key not in ("params", "initial_lr"):
        if key in group:
            if _is_number(group[key]):
                return key
        elif key in _BETA and _has_betas(group):
            return key
        elif key == "momentum" and _has_betas(group):
            return "beta1"
    if not isinstance(key, str):
        raise InputTypeError(f"Scheduler: hyperparameter names must be strings, got {key!r}")
    have = _schedulable(group)
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


def _range_text(key: str) -> str:
    high, inclusive = RANGES.get(key, (math.inf, False))
    if high == math.inf:
        return "a finite number >= 0"
    return f"in [0, {high:g}{']' if inclusive else ')'}"


def _in_range(v: Any, key: str) -> Any:
    """Whether value(s) ``v`` may be written for ``key`` (NaN and infinities never may)."""
    high, inclusive = RANGES.get(key, (math.inf, False))
    below = v <= high if inclusive else v < high
    return (v >= 0.0) & below & (v < math.inf)


class _Cell:
    """The values of one base schedule under one plateau controller, over the current block.

    ``vals`` is updated in place (every target writing from this cell keeps the same list).
    """

    __slots__ = ("base", "plateau", "raw", "vals", "low", "high")

    def __init__(self, base: Schedule, plateau: PlateauState | None) -> None:
        self.base = base
        self.plateau = plateau
        self.raw: np.ndarray = np.empty(0)
        self.vals: list[float] = []
        self.low = self.high = math.nan


def _write_special(group: dict[str, Any], key: str, value: float) -> None:
    """Write into Adam's ``betas`` (``beta1``/``beta2``) or into a tensor, in place."""
    if key in _BETA:
        j = _BETA[key]
        betas = group["betas"]
        if isinstance(betas[j], torch.Tensor):
            betas[j].fill_(value)
        else:
            new = list(betas)
            new[j] = value
            group["betas"] = tuple(new)
    elif isinstance(group[key], torch.Tensor):
        group[key].fill_(value)
    else:
        group[key] = value


def _fits(low: float, high: float, m_low: float, m_high: float, key: str) -> bool:
    """Whether ``v * m`` may be written for ``key`` for every ``v`` in ``[low, high]`` and
    ``m`` in ``[m_low, m_high]`` (a product is extreme at the corners)."""
    return bool(_in_range(low * m_low, key) and _in_range(low * m_high, key)
                and _in_range(high * m_low, key) and _in_range(high * m_high, key))


def _check_callable(what: str, fn: Any) -> None:
    """A per-group callable takes ``(group_index, group)``; say what to write for a step
    function (``lambda t: ...``, LambdaLR's form)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: just call it
        return
    try:
        sig.bind(0, {})
    except TypeError:
        try:
            sig.bind(0)
        except TypeError:
            one = False
        else:
            one = True
        if one and what == "schedule":
            raise InputTypeError(_STEP_FUNCTION.format(fn=fn)) from None
        raise InputTypeError(
            f"Scheduler: {what}={fn!r} must take (group_index, group) and return the "
            f"{what[:-1] if what.endswith('s') else what} of that param group"
        ) from None


def _per_group(what: str, value: Any, groups: list[dict[str, Any]]) -> list[Any]:
    """A list (one per group), a callable ``(i, group)``, or one value for every group."""
    n = len(groups)
    if callable(value) and not isinstance(value, Schedule):
        _check_callable(what, value)
        return [value(i, g) for i, g in enumerate(groups)]
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise InputError(
                f"Scheduler: {what} has {len(value)} entries but the optimizer has {n} "
                f"param group(s); give one per group"
            )
        return list(value)
    return [value] * n


def _initial_lr(group: Mapping[str, Any]) -> float:
    """A group's own initial rate: ``initial_lr`` (PyTorch's schedulers keep it in the group,
    and it is saved with the optimizer), else its ``lr``."""
    return float(group.get("initial_lr", group["lr"]))


def _step_count(name: str, n: Any) -> int:
    count = int(_check.integer("Scheduler", name, n, 0))
    if count > MAX_STEP:
        raise InputError(f"Scheduler: {name} must be an integer in [0, {MAX_STEP}], got {n!r}")
    return count


def _clip(x: Any) -> str:
    return reprlib.repr(x)


def _refuse_dropped_rates(groups: list[dict[str, Any]], targets: list[Any]) -> None:
    """One schedule for every group (absolute, by default) when the groups start with
    different rates: refused, saying what would happen and how to keep the rates."""
    for index, key, *_ in targets:  # one mapping for every group: group 0's keys are all's
        if index != 0:
            return
        if key == "lr":
            break
    else:
        return
    firsts = {g.get("initial_lr", g["lr"]) for g in groups}  # cheap (floats hash)
    if len(firsts) == 1:
        return
    rates: dict[float, int] = {}
    for i, g in enumerate(groups):
        rates.setdefault(_initial_lr(g), i)
    if len(rates) > 1:
        shown = ", ".join(f"param_groups[{i}] lr={r!r}" for r, i in list(rates.items())[:3])
        raise InputError(
            f"Scheduler: the param groups start with different learning rates ({shown}"
            f"{', ...' if len(rates) > 3 else ''}); one schedule would give every group "
            "the same value s(t) and drop those rates. Pass relative=True to multiply each "
            "group's own rate by the schedule (then write it as a shape peaking at 1, e.g. "
            "lrkit.warmup(lrkit.cosine(1.0, steps=N), warmup_steps=W)), or relative=False "
            "to give every group s(t)"
        )


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
            :meth:`step` ``(metric)`` or :meth:`observe`. A Python function of
            the step (``lambda t: ...``, LambdaLR's form) is refused with what
            to write instead.
        interval: ``"step"`` (``t`` counts ``step()`` calls; ``"batch"`` is
            accepted for it) or ``"epoch"`` (the schedule is written in epochs).
        steps_per_epoch: with ``interval="epoch"``, call ``step()`` every batch
            and read the schedule at ``t = k / steps_per_epoch``.
        start_step: the count to start from (resume from a step count alone).
        multipliers: per-group factors on ``lr`` (a list, or a callable
            ``(i, group) -> float``): layer-wise decay; ``0`` freezes a group.
        relative: ``True``: the ``lr`` schedule is a shape (peaking at 1) and
            each group's ``lr`` is its own initial rate times it (``initial_lr``
            if the group has one, else its ``lr`` at construction; it is kept
            in the group as ``initial_lr``, as PyTorch does, so it is saved
            with the optimizer). ``False``: every group gets the schedule's
            value. ``None`` (the default): as ``False``, but one schedule for
            groups that start with different rates is refused, since it would
            drop those rates.

    The value written for a group is ``mult * max(base(t) * scale,
    min(base(t), floor))`` where ``scale`` and ``floor`` come from the plateau
    factor (``scale = 1`` without one) and ``mult`` is the group's multiplier
    (times its initial rate with ``relative=True``; 1 for keys other than
    ``lr``). Every value is checked before it is written: finite, ``>= 0``, and
    in ``[0, 1]`` for ``momentum``/``dampening``/``rho``, in ``[0, 1)`` for
    ``beta1``/``beta2``; a schedule that leaves that range is refused (at
    construction, or when the block of steps that holds the bad value is
    evaluated), naming the group, the key, the step and the value.

    >>> import torch, lrkit
    >>> w = torch.zeros(2, requires_grad=True)
    >>> opt = torch.optim.SGD([{"params": [w]}, {"params": []}], lr=0.1, momentum=0.9)
    >>> oc = lrkit.one_cycle(0.1, steps=100)
    >>> s = Scheduler(opt, {"lr": oc, "momentum": oc.momentum()}, multipliers=[1.0, 0.5])
    >>> [(g["lr"], g["momentum"]) for g in opt.param_groups]
    [(0.004, 0.95), (0.002, 0.95)]
    >>> ft = torch.optim.AdamW([{"params": [w], "lr": 1e-5}, {"params": [], "lr": 1e-3}])
    >>> s = Scheduler(ft, lrkit.warmup(lrkit.constant(1.0), warmup_steps=10), relative=True)
    >>> for _ in range(5):
    ...     ft.step(); s.step()
    >>> s.get_last_lr()
    [5e-06, 0.0005]
    """

    def __init__(self, optimizer: Optimizer, schedule: Any, *, interval: str = "step",
                 steps_per_epoch: int | None = None, start_step: int = 0,
                 multipliers: Any = None, relative: bool | None = None) -> None:
        if not isinstance(optimizer, Optimizer):
            raise InputTypeError(
                f"Scheduler: optimizer must be a torch.optim.Optimizer, got {optimizer!r}"
            )
        if not (isinstance(interval, str) and interval in INTERVALS):
            raise InputError(
                f"Scheduler: interval must be 'step' (or 'batch') or 'epoch', got {interval!r}")
        interval = INTERVALS[interval]
        if steps_per_epoch is not None:
            if interval != "epoch":
                raise InputError(
                    f"Scheduler: steps_per_epoch={steps_per_epoch!r} goes with interval='epoch', "
                    f"got interval={interval!r}"
                )
            steps_per_epoch = _check.integer("Scheduler", "steps_per_epoch", steps_per_epoch)
        start_step = _step_count("start_step", start_step)
        if relative is not None and not isinstance(relative, bool):
            raise InputTypeError(
                f"Scheduler: relative must be True, False or None, got {relative!r}")
        self.optimizer = optimizer
        self.interval = interval
        self.steps_per_epoch = steps_per_epoch
        self.relative = bool(relative)
        self._build(optimizer, schedule, multipliers, relative)
        self._n = start_step
        self._blk = -1
        self._fill(start_step)  # checks every value of the block before anything is written
        # Validation is over: from here on the optimizer is written.
        if self.relative:
            for g in self._lr_groups:
                if "initial_lr" not in g:
                    lr = g["lr"]
                    g["initial_lr"] = lr.clone() if isinstance(lr, torch.Tensor) else lr
        self._write(start_step - self._blk)
        self._take_over(optimizer)

    # -- construction -------------------------------------------------------
    def _build(self, optimizer: Optimizer, schedule: Any, multipliers: Any,
               relative: bool | None) -> None:
        """The targets and their cells, in one pass over the groups (it is the whole cost of
        construction with many groups).

        A target is a tuple ``(group index, key, schedule, cell, multiplier)``: the value
        ``param_groups[index][key] = multiplier * plateau(base(t))``, ``base(t)`` from the
        cell; ``_specs`` holds ``(index, key, spec text, multiplier)`` for each.
        """
        groups = optimizer.param_groups
        name = type(optimizer).__name__
        per_group = _per_group("schedule", schedule, groups)
        mults: list[Any] = [1.0] * len(groups) if multipliers is None else _per_group(
            "multipliers", multipliers, groups)
        targets: list[tuple[int, str, Schedule, _Cell, float]] = []
        specs: list[tuple[int, str, str, float]] = []
        cells: dict[Any, _Cell] = {}  # (base, plateau) -> cell: same values, same controller
        parsed: dict[int, tuple[Schedule, str, _Cell]] = {}  # id(value) -> parsed once
        pairs: set[tuple[_Cell, str]] = set()
        lr_span = [math.inf, -math.inf]
        lr_groups: list[dict[str, Any]] = []
        last: Any = None
        entries: list[tuple[str, Schedule, str, _Cell]] = []
        for i, g in enumerate(groups):
            spec, m = per_group[i], mults[i]
            if multipliers is not None and (isinstance(m, bool) or not isinstance(
                    m, (int, float)) or not (math.isfinite(m) and m >= 0)):
                raise InputError(f"Scheduler: multipliers[{i}] must be a number >= 0, got {m!r}")
            new_spec = spec is not last or i == 0
            if new_spec:
                last = spec
                entries = self._entries(spec, i, cells, parsed)
            aliased = False
            for key, full, text, cell in entries:
                if type(g.get(key)) is float and key != "initial_lr":
                    k = key
                else:
                    k = _resolve_key(key, g, i, name)
                    aliased |= k != key
                mult = 1.0
                if k == "lr":
                    lr_groups.append(g)
                    if relative:
                        r = g.get("initial_lr")
                        r = g["lr"] if r is None else r
                        mult = r if type(r) is float else float(r)
                        if multipliers is not None:
                            mult *= float(m)
                    elif multipliers is not None:
                        mult = float(m)
                    if mult < lr_span[0]:
                        lr_span[0] = mult
                    if mult > lr_span[1]:
                        lr_span[1] = mult
                targets.append((i, k, full, cell, mult))
                specs.append((i, k, text, mult))
                if new_spec or k != key:
                    pairs.add((cell, k))
            if aliased:  # e.g. "momentum" (beta1 for Adam) next to "beta1"
                mine = [t[1] for t in targets[len(targets) - len(entries):]]
                for k in mine:
                    if mine.count(k) > 1:
                        names = [e[0] for e, r in zip(entries, mine) if r == k]
                        raise InputError(f"Scheduler: param_groups[{i}] schedules {k!r} twice "
                                         f"(as {names[0]!r} and {names[1]!r})")
        one_for_all = not (isinstance(schedule, (list, tuple)) or (
            callable(schedule) and not isinstance(schedule, Schedule)))
        if relative is None and multipliers is None and len(groups) > 1 and one_for_all:
            _refuse_dropped_rates(groups, targets)
        self._targets, self._specs, self._cells = targets, specs, list(cells.values())
        self._lr_groups = lr_groups
        self._spans = [(c, k, *(lr_span if k == "lr" else (1.0, 1.0))) for c, k in pairs]
        self._bind()

    @staticmethod
    def _entries(spec: Any, i: int, cells: dict[Any, _Cell],
                 parsed: dict[int, tuple[Schedule, str, _Cell]]
                 ) -> list[tuple[str, Schedule, str, _Cell]]:
        """``(name, schedule, spec text, cell)`` for each value a group's spec schedules."""
        mapping = spec if isinstance(spec, Mapping) else {"lr": spec}
        if not mapping:
            raise InputError(f"Scheduler: the schedule mapping for param_groups[{i}] is empty")
        out = []
        for key, value in mapping.items():
            if not isinstance(key, str):
                raise InputTypeError(
                    f"Scheduler: hyperparameter names must be strings, got {key!r}")
            known = parsed.get(id(value))
            if known is None:
                s = as_schedule(value, f"Scheduler: schedule for param_groups[{i}][{key!r}]")
                base, config = split_plateau(s)
                cell = cells.get((base, config))
                if cell is None:
                    cell = cells[(base, config)] = _Cell(
                        base, None if config is None else config.state())
                known = parsed[id(value)] = (s, repr(s), cell)
            out.append((key, *known))
        return out

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
        """Evaluate the aligned block holding step ``n`` for every cell, check and commit it."""
        start = n - n % BLOCK
        ts = np.arange(start, start + BLOCK, dtype=np.float64)
        if self.steps_per_epoch is not None:
            ts = ts / self.steps_per_epoch
        raws: dict[Schedule, np.ndarray] = {}
        for cell in self._cells:
            if cell.base not in raws:
                raws[cell.base] = cell.base.values(ts)
        self._derive({cell: raws[cell.base] for cell in self._cells}, start)
        self._blk = start
        if self.optimizer.param_groups is not self._groups:
            self._bind()  # optimizer.load_state_dict put new group dicts in a new list

    def _derive(self, raws: dict[_Cell, np.ndarray], start: int,
                states: dict[_Cell, PlateauState | None] | None = None) -> None:
        """Apply each cell's plateau to its raw block; check every target's values against
        its key's range, then (only if all fit) commit: a refused block writes nothing.

        The check is one per (cell, key), over the span of the multipliers; only if that
        fails are the targets looked at one by one (to name the one that does not fit)."""
        new: dict[_Cell, tuple[np.ndarray, float, float]] = {}
        for cell, raw in raws.items():
            p = cell.plateau if states is None else states[cell]
            v = raw if p is None or p.scale == 1.0 else p.apply(raw)
            new[cell] = (v, float(v.min()), float(v.max()))
        for cell, key, m_low, m_high in self._spans:
            got = new.get(cell)
            if got is not None and not _fits(got[1], got[2], m_low, m_high, key):
                for i, k, full, c, mult in self._targets:
                    if c is cell and k == key and not _fits(got[1], got[2], mult, mult, k):
                        self._refuse(i, k, full, mult, got[0], start)
        for cell, (v, low, high) in new.items():
            cell.raw = raws[cell]
            if states is not None:
                cell.plateau = states[cell]
            cell.vals[:] = v.tolist()
            cell.low, cell.high = low, high

    @staticmethod
    def _refuse(i: int, key: str, full: Schedule, mult: float, v: np.ndarray,
                start: int) -> None:
        with np.errstate(all="ignore"):
            vals = v * mult
            j = int(np.argmin(_in_range(vals, key)))
        scaled = f" (times {mult!r})" if mult != 1.0 else ""
        raise InputError(
            f"Scheduler: param_groups[{i}][{key!r}] would be {float(vals[j])!r} at "
            f"step {start + j}, from {full!r}{scaled}; {key} must be "
            f"{_range_text(key)}: nothing was written"
        )

    def _bind(self) -> None:
        """The write lists of :meth:`step` for the optimizer's current group dicts.

        For the values held as floats with multiplier 1: ``_unit``, ``(key, values,
        groups)``, one entry per key and cell (the loop over the groups is the floor's),
        and ``_flat``, ``(group, key, values)`` for the keys and cells that fewer than
        ``FLAT`` groups share. ``_scaled``, ``(key, values, groups, multipliers)`` for
        the other floats; ``_special``, ``(group, key, values, multiplier)`` for the
        values in ``betas`` or in tensors.
        """
        groups = self._groups = self.optimizer.param_groups
        unit: dict[tuple[str, int], tuple[str, list[float], list[dict[str, Any]]]] = {}
        scaled: dict[tuple[str, int], tuple[str, list[float], list[dict[str, Any]],
                                            list[float]]] = {}
        self._special: list[tuple[dict[str, Any], str, list[float], float]] = []
        unit_at: Any = (None, "", None)  # (cell, key, append) of the entry last added to
        scaled_at: Any = (None, "", None, None)
        for i, key, _, cell, mult in self._targets:
            g = groups[i]
            v = g.get(key)
            if type(v) is float:  # the common cases first: as the group before
                if mult == 1.0:
                    if cell is unit_at[0] and key is unit_at[1]:
                        unit_at[2](g)
                        continue
                elif cell is scaled_at[0] and key is scaled_at[1]:
                    scaled_at[2](g)
                    scaled_at[3](mult)
                    continue
            if key in _BETA or (type(v) is not float and isinstance(v, torch.Tensor)):
                self._special.append((g, key, cell.vals, mult))
            elif mult == 1.0:
                entry = unit.get((key, id(cell)))
                if entry is None:
                    entry = unit[(key, id(cell))] = (key, cell.vals, [])
                entry[2].append(g)
                unit_at = (cell, key, entry[2].append)
            else:
                both = scaled.get((key, id(cell)))
                if both is None:
                    both = scaled[(key, id(cell))] = (key, cell.vals, [], [])
                both[2].append(g)
                both[3].append(mult)
                scaled_at = (cell, key, both[2].append, both[3].append)
        # a few groups per (key, cell): a flat list is faster than a loop per entry
        self._flat = [(g, key, vals) for key, vals, gs in unit.values() if len(gs) < FLAT
                      for g in gs]
        self._unit = [e for e in unit.values() if len(e[2]) >= FLAT]
        self._scaled = list(scaled.values())
        self._rest = bool(self._scaled or self._special)

    def _write(self, k: int) -> None:
        """Write the values of step ``_blk + k`` (:meth:`step` inlines the first two loops)."""
        for g, key, vals in self._flat:
            g[key] = vals[k]
        for key, vals, gs in self._unit:
            v = vals[k]
            for g in gs:
                g[key] = v
        if self._rest:
            self._write_rest(k)

    def _write_rest(self, k: int) -> None:
        """The values with a multiplier other than 1, and those in ``betas`` or tensors."""
        for key, vals, gs, ms in self._scaled:
            v = vals[k]
            for g, m in zip(gs, ms):
                g[key] = v * m
        for group, key, vals, m in self._special:
            _write_special(group, key, vals[k] * m)

    def _goto(self, n: int) -> None:
        """Make step ``n`` current and write its values (evaluating a block only if needed)."""
        if n - n % BLOCK != self._blk:
            self._fill(n)
        elif self.optimizer.param_groups is not self._groups:
            self._bind()
        self._n = n
        self._write(n - self._blk)

    def step(self, metric: Any = None) -> None:
        """Advance one unit (call it after ``optimizer.step()``); ``metric`` feeds the plateau."""
        if metric is not None:
            self.observe(metric)
        n = self._n + 1
        k = n - self._blk
        if k >= BLOCK:
            self._fill(n)
            k = n - self._blk
        self._n = n
        for g, key, vals in self._flat:
            g[key] = vals[k]
        for key, vals, gs in self._unit:
            v = vals[k]
            for g in gs:
                g[key] = v
        if self._rest:
            self._write_rest(k)

    def observe(self, metric: Any) -> bool:
        """Feed a metric to the plateau factor(s) without advancing; True if a value was reduced.

        A NaN metric counts as not improving. Without a plateau factor this raises.
        """
        cells = [c for c in self._cells if c.plateau is not None]
        if not cells:
            raise InputError(
                "Scheduler: got a metric but no schedule has a plateau(...) factor; "
                "write e.g. cosine(...) * plateau(patience=3)"
            )
        k = self._n - self._blk
        reduced = []
        for cell in cells:
            p = cell.plateau
            assert p is not None
            # floor and eps apply to the schedule's value, before the group multiplier
            if p.observe(metric, lr=p.apply(float(cell.raw[k]))):
                reduced.append(cell)
        if reduced:
            self._derive({c: c.raw for c in reduced}, self._blk)
            self._write(k)
        return bool(reduced)

    # -- the LRScheduler surface --------------------------------------------
    @property
    def last_epoch(self) -> int:
        """The number of units done (``start_step`` + calls of ``step()``)."""
        return self._n

    @last_epoch.setter
    def last_epoch(self, n: int) -> None:
        self._goto(_step_count("last_epoch", n))

    def current(self) -> dict[tuple[int, str], float]:
        """The values this scheduler writes now: ``{(group index, key): value}``."""
        k = self._n - self._blk
        return {(i, key): cell.vals[k] * mult for i, key, _, cell, mult in self._targets}

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
        for i, key, _, cell, mult in self._targets:
            if key == "lr":
                out[i] = mult * cell.base(0)
        return out

    @property
    def has_plateau(self) -> bool:
        """Whether a schedule carries a ``plateau(...)`` factor (metrics are expected)."""
        return any(c.plateau is not None for c in self._cells)

    def schedules(self) -> dict[tuple[int, str], Schedule]:
        """The schedule of every scheduled value: ``{(group index, key): schedule}``."""
        return {(i, key): full for i, key, full, _, _ in self._targets}

    # -- state ---------------------------------------------------------------
    def _controllers(self) -> list[tuple[int, str, PlateauState]]:
        """Each plateau controller with the first value it drives."""
        out: dict[int, tuple[int, str, PlateauState]] = {}
        for i, key, _, cell, _ in self._targets:
            p = cell.plateau
            if p is not None and id(p) not in out:
                out[id(p)] = (i, key, p)
        return list(out.values())

    def state_dict(self) -> dict[str, Any]:
        """The step count, the schedules and the plateau states; only builtins.

        ``schedules`` holds one ``(group, key, spec, multiplier)`` per scheduled value;
        ``plateau`` one ``{"group", "key", "state"}`` per plateau controller (named by the
        first value it drives).
        """
        return {
            "format": FORMAT,
            "step": self._n,
            "interval": self.interval,
            "steps_per_epoch": self.steps_per_epoch,
            "schedules": list(self._specs),
            "plateau": [{"group": i, "key": k, "state": p.state_dict()}
                        for i, k, p in self._controllers()] if self.has_plateau else [],
        }

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> None:
        """Resume from :meth:`state_dict` and write the resumed values to the optimizer.

        With ``strict=True`` the checkpoint must come from the same schedules,
        multipliers and units. ``strict=False`` keeps this scheduler's
        schedules and takes only the step count and the plateau state of the
        values scheduled in both: the way to change a schedule on resume.

        A state that is not one (a missing key, a value of the wrong type, a
        plateau scale that is not in ``[0, 1]``) raises ``ValueError`` naming the key and
        what was expected, and changes nothing.
        """
        step, units, saved, states = _read_state(state_dict, self._specs)
        if strict:
            if units != (self.interval, self.steps_per_epoch):
                raise InputError(
                    f"Scheduler.load_state_dict: the checkpoint counts interval={units[0]!r}, "
                    f"steps_per_epoch={units[1]!r}; this scheduler has interval="
                    f"{self.interval!r}, steps_per_epoch={self.steps_per_epoch!r}"
                )
            if saved != self._specs:
                raise InputError(
                    "Scheduler.load_state_dict: the checkpoint is from a different schedule: "
                    f"expected (group, key, schedule, multiplier) = "
                    f"{_clip(self._specs)}, got {_clip(saved)}; pass strict=False to keep "
                    "this scheduler's schedules and resume only the step count"
                )
        if not self.has_plateau:
            self._goto(step)
            return
        fresh: dict[_Cell, PlateauState | None] = {}
        for i, key, _, cell, _ in self._targets:  # a controller takes the state saved for a
            st = states.get((i, key))              # value it drives
            if cell.plateau is not None and st is not None and cell not in fresh:
                p = cell.plateau.config.state()
                p.load_state_dict(st, "Scheduler.load_state_dict: plateau state")
                fresh[cell] = p
        for cell in self._cells:
            if cell.plateau is not None and cell not in fresh:
                fresh[cell] = cell.plateau.config.state()
            fresh.setdefault(cell, None)
        old = {c: c.plateau for c in self._cells}
        self._derive({c: c.raw for c in self._cells}, self._blk, fresh)
        try:
            self._goto(step)
        except ValueError:
            self._derive({c: c.raw for c in self._cells}, self._blk, old)
            raise

    def __repr__(self) -> str:
        parts = ", ".join(f"[{i}][{k!r}]={s!r}" for (i, k), s in self.schedules().items())
        return f"Scheduler({type(self.optimizer).__name__}, {parts}, step={self._n})"


def _bad_state(key: str, expected: str, got: Any = None, missing: bool = False) -> ValueError:
    what = "is missing" if missing else f"is {_clip(got)}"
    return ValueError(
        f"Scheduler.load_state_dict: {key} {what}; expected {expected} (a state dict from "
        f"lrkit's Scheduler.state_dict(), format {FORMAT!r})"
    )


def _get(sd: Mapping[str, Any], key: str, ok: Callable[[Any], bool], expected: str) -> Any:
    if key not in sd:
        raise _bad_state(repr(key), expected, missing=True)
    value = sd[key]
    if not ok(value):
        raise _bad_state(repr(key), expected, value)
    return value


def _is_int(x: Any, low: int) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= low


def _finite_nonneg(x: Any) -> bool:
    try:
        return _check.is_number(x) and math.isfinite(x) and x >= 0
    except OverflowError:  # an int too large for a float
        return False


def _spec_entry(x: Any) -> bool:
    return (isinstance(x, (list, tuple)) and len(x) == 4 and _is_int(x[0], 0)
            and isinstance(x[1], str) and isinstance(x[2], str) and _finite_nonneg(x[3]))


def _read_state(sd: Any, mine: list[tuple[Any, ...]]
                ) -> tuple[int, tuple[str, int | None], list[tuple[Any, ...]],
                           dict[tuple[int, str], Mapping[str, Any]]]:
    """``(step, (interval, steps_per_epoch), schedules, {(group, key): plateau state})``
    from a state dict, every field checked (``ValueError`` naming it); ``schedules`` equal
    to this scheduler's own (``mine``, the usual case) need no entry-by-entry check."""
    if not isinstance(sd, Mapping) or sd.get("format") not in (FORMAT, _FORMAT_1):
        got = sd.get("format") if isinstance(sd, Mapping) else type(sd).__name__
        raise InputError(
            f"Scheduler.load_state_dict: expected a state dict from lrkit's Scheduler "
            f"(format {FORMAT!r}), got {_clip(got)}"
        )
    step = _get(sd, "step", lambda x: _is_int(x, 0) and x <= MAX_STEP,
                f"an integer in [0, {MAX_STEP}]")
    interval = _get(sd, "interval", lambda x: isinstance(x, str) and x in INTERVALS,
                    "'step' or 'epoch'")
    spe = _get(sd, "steps_per_epoch", lambda x: x is None or _is_int(x, 1),
               "None or an integer >= 1")
    saved = _get(sd, "schedules", lambda x: isinstance(x, (list, tuple)),
                 "a list of (group, key, spec, multiplier)")
    if saved == mine:
        specs = mine
    else:
        for i, entry in enumerate(saved):
            if not _spec_entry(entry):
                raise _bad_state(f"'schedules'[{i}]", "(group index >= 0, key, spec text, "
                                 "multiplier >= 0)", entry)
        specs = [e if type(e) is tuple else tuple(e) for e in saved]
    plateau = _get(sd, "plateau", lambda x: isinstance(x, (list, tuple)), "a list")
    states: dict[tuple[int, str], Mapping[str, Any]] = {}
    if sd["format"] == _FORMAT_1:  # one state (or None) per entry of "schedules"
        if len(plateau) != len(specs):
            raise _bad_state("'plateau'", f"{len(specs)} entries (one per schedule)", plateau)
        for i, (entry, st) in enumerate(zip(specs, plateau)):
            if st is not None:
                if not isinstance(st, Mapping):
                    raise _bad_state(f"'plateau'[{i}]", "None or a plateau state", st)
                states.setdefault((entry[0], entry[1]), st)
    else:
        for i, item in enumerate(plateau):
            if not (isinstance(item, Mapping) and set(item) == {"group", "key", "state"}
                    and _is_int(item["group"], 0) and isinstance(item["key"], str)
                    and isinstance(item["state"], Mapping)):
                raise _bad_state(f"'plateau'[{i}]", "{'group': index, 'key': name, "
                                 "'state': plateau state}", item)
            states[(item["group"], item["key"])] = item["state"]
    return step, (INTERVALS[interval], spe), specs, states


# -- conversion from torch.optim.lr_scheduler ------------------------------------
def from_torch(scheduler: Any) -> Schedule | dict[str, Schedule] | list[Any]:
    """The lrkit schedule equal to a built PyTorch scheduler's learning rates.

    Returns one schedule when every param group gets the same one, else a list
    (one per group); either can be passed to :class:`Scheduler`. A scheduler
    that also cycles the momentum (``OneCycleLR`` and ``CyclicLR`` with
    ``cycle_momentum=True``, their default) gives ``{"lr": ..., "momentum":
    ...}`` (or a list of them), which :class:`Scheduler` takes as it is
    (``momentum`` is ``beta1`` for Adam, as in PyTorch). The result
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
    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    >>> sorted(from_torch(torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=100)))
    ['lr', 'momentum']
    """
    from ._torch.convert import convert, momentum

    n = len(scheduler.optimizer.param_groups)
    out: list[Any] = [convert(scheduler, i) for i in range(n)]
    moms = [momentum(scheduler, i) for i in range(n)]
    if any(m is not None for m in moms):
        out = [{"lr": s, "momentum": m} for s, m in zip(out, moms)]
    return out[0] if all(s == out[0] for s in out) else out


def plateau_callback(monitor: str, *, strict: bool = True) -> Any:
    """A Lightning callback feeding ``trainer.callback_metrics[monitor]`` to every lrkit
    :class:`Scheduler` with a plateau factor, after each validation run.

    Lightning steps a scheduler with a metric only when it is a
    ``ReduceLROnPlateau`` (and then only once per validation); this callback
    lets a schedule stepped every batch (``"interval": "step"``) also carry a
    plateau factor. ``strict=True`` raises if the metric is missing.
    """
    from ._torch.lightning import PlateauCallback

    return PlateauCallback(monitor, strict=strict, kind=Scheduler)
