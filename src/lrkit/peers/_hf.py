"""Hugging Face ``transformers.get_scheduler`` names and arguments -> lrkit schedules."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from .. import _check
from .._plateau import Plateau
from ..compose import Shift, Warmup, join
from ..errors import InputError, InputTypeError
from ..schedule import Constant, Schedule
from ..schedules import WSD, Cosine, CosineRestarts, InverseSqrt, Linear, Polynomial
from ._common import name_of, refuse_unknown, wave

PLATEAU_KWARGS = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown",
                  "min_lr", "eps")

KWARGS: dict[str, tuple[str, ...]] = {
    "linear": (),
    "cosine": ("num_cycles",),
    "cosine_with_restarts": ("num_cycles",),
    "polynomial": ("lr_end", "power"),
    "constant": (),
    "constant_with_warmup": (),
    "inverse_sqrt": ("timescale",),
    "reduce_lr_on_plateau": PLATEAU_KWARGS,
    "cosine_with_min_lr": ("num_cycles", "min_lr", "min_lr_rate"),
    "cosine_warmup_with_min_lr": ("num_cycles", "min_lr", "min_lr_rate", "warmup_lr_rate"),
    "warmup_stable_decay": ("num_decay_steps", "num_stable_steps", "warmup_type",
                            "decay_type", "min_lr_ratio", "num_cycles"),
}
"""Every ``SchedulerType`` with a closed form -> its ``scheduler_specific_kwargs``."""

REFUSED = {
    "greedy": "'greedy' (GreedyLR) raises and lowers the rate step by step from the training "
              "loss; it has no closed form in the step count. Use a fixed schedule, or "
              "'reduce_lr_on_plateau' for a metric-driven reduction",
}
NAMES = (*KWARGS, *REFUSED)
"""Every ``transformers.SchedulerType`` value (transformers 5.24)."""

SHAPES = ("linear", "cosine", "1-sqrt")
"""Hugging Face's ``warmup_type`` and ``decay_type`` names."""

_NEEDS_TOTAL = ("linear", "cosine", "cosine_with_restarts", "polynomial", "cosine_with_min_lr",
                "cosine_warmup_with_min_lr")


def transformers(name: Any, num_warmup_steps: Any = None, num_training_steps: Any = None, *,
                 lr: Any = None, scheduler_specific_kwargs: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> Schedule:
    """Hugging Face's ``get_scheduler(name, optimizer, num_warmup_steps, num_training_steps,
    scheduler_specific_kwargs)`` as an lrkit schedule.

    Hugging Face's schedules are ``LambdaLR`` multipliers of each group's own learning rate.
    Without ``lr=`` the result is that multiplier (its peak is 1): multiply it by the rate
    (``0.1 * s``), or give ``lr=0.1`` for the learning rates themselves. ``polynomial`` (its
    ``lr_end``) and ``cosine_with_min_lr`` / ``cosine_warmup_with_min_lr`` with ``min_lr``
    read the optimizer's rate (``optimizer.defaults["lr"]``), so they need ``lr=``, as does
    ``reduce_lr_on_plateau`` with a ``min_lr``. The scheduler's own arguments go as keywords
    or in ``scheduler_specific_kwargs`` (the ``lr_scheduler_kwargs`` of ``TrainingArguments``).

    With ``W = num_warmup_steps`` and ``N = num_training_steps``, ``t`` the optimizer updates
    done (Hugging Face's ``current_step``), ``top`` = 1 (or ``lr``)::

        linear               warmup(linear(top, end=0, steps=N), warmup_steps=W)
        cosine               warmup(cosine(top, steps=N), warmup_steps=W)   (num_cycles=0.5)
        cosine_with_restarts warmup(cosine_restarts(top, cycle_steps=(N-W)/c, cycles=c),
                                    warmup_steps=W, fit=False)              (num_cycles=c)
        polynomial           warmup(polynomial(lr, steps=N, end=lr_end, power=power),
                                    warmup_steps=W)
        constant             constant(top)
        constant_with_warmup warmup(constant(top), warmup_steps=W)
        inverse_sqrt         warmup(inverse_sqrt(top, every=timescale), warmup_steps=W)
        cosine_with_min_lr   warmup(cosine(top, steps=N, end=r*top), warmup_steps=W)
        warmup_stable_decay  warmup(wsd(top, steps=S+D, decay_steps=D, end=r*top, shape=decay_type),
                                    warmup_steps=W, init=r*top, shape=warmup_type, fit=False)
        reduce_lr_on_plateau constant(top) * plateau(mode, factor, ..., floor=min_lr, eps)

    ``warmup_stable_decay``'s stable length is ``num_stable_steps``, or Hugging Face's implied
    ``S = N - W - D`` (``D = num_decay_steps``). ``num_cycles`` other than 0.5 (a cosine
    that comes back up) is a ``repeat`` of the wave, cut at ``N``. ``cosine_warmup_with_min_lr``
    starts its cosine one step early (at ``W - 1``), and its warm-up at ``1/W`` (or
    ``warmup_lr_rate``): both are reproduced. Like Hugging Face, ``constant`` ignores ``W`` and
    ``N``, and ``constant_with_warmup`` and ``inverse_sqrt`` ignore ``N``.

    One difference on purpose: past ``N`` Hugging Face's ``cosine`` and ``cosine_with_min_lr``
    follow the cosine back up (``0.5 * (1 + cos(pi * p))`` with ``p > 1``: 0.0115 at step 599
    of ``get_cosine_schedule_with_warmup(opt, 50, 500)`` at lr 0.1); these schedules hold their
    final value there, like every finite lrkit schedule. ``'greedy'`` has no closed form and is
    refused.

    >>> from lrkit.peers import transformers
    >>> transformers("cosine", num_warmup_steps=100, num_training_steps=1000)
    warmup(cosine(init=1.0, steps=1000), warmup_steps=100)
    >>> transformers("linear", 100, 1000, lr=3e-4)
    warmup(linear(init=0.0003, end=0.0, steps=1000), warmup_steps=100)
    >>> transformers("warmup_stable_decay", num_warmup_steps=100, num_training_steps=1000,
    ...              num_decay_steps=200, decay_type="1-sqrt")
    warmup(wsd(init=1.0, steps=900, decay_steps=200), warmup_steps=100, fit=False)
    >>> transformers("cosin", 100, 1000)
    Traceback (most recent call last):
    ...
    lrkit.InputError: lrkit.peers.transformers: unknown scheduler 'cosin'; did you mean 'cosine'? \
(valid: linear, cosine, cosine_with_restarts, polynomial, constant, constant_with_warmup, \
inverse_sqrt, reduce_lr_on_plateau, cosine_with_min_lr, cosine_warmup_with_min_lr, \
warmup_stable_decay, greedy)
    """
    key = name_of("lrkit.peers.transformers", name, NAMES, "scheduler")
    who = f"lrkit.peers.transformers({key!r})"
    if key in REFUSED:
        raise InputError(f"{who}: {REFUSED[key]}")
    kw = _merge(who, scheduler_specific_kwargs, kwargs)
    refuse_unknown(who, kw, KWARGS[key], {
        "last_epoch": "lrkit computes every value from the step count; to resume, load the "
                      "lrkit Scheduler's state_dict (or pass start_step=)",
        "optimizer": "lrkit needs no optimizer here; give its learning rate as lr=",
    })
    top = 1.0 if lr is None else float(_check.positive(who, "lr", lr))
    w = _steps(who, "num_warmup_steps", num_warmup_steps, 0)
    n = _steps(who, "num_training_steps", num_training_steps, 1)
    if key in ("constant", "reduce_lr_on_plateau"):
        return Constant(top) if key == "constant" else _plateau(who, top, lr, kw)
    if w is None:
        raise InputError(f"{who}: needs num_warmup_steps (an integer >= 0), got None")
    if key == "constant_with_warmup":
        return Warmup(Constant(top), warmup_steps=w) if w else Constant(top)
    if key == "inverse_sqrt":
        return _inverse_sqrt(who, top, w, kw)
    if key == "warmup_stable_decay":
        return _wsd(who, top, w, n, kw)
    if n is None:
        raise InputError(f"{who}: needs num_training_steps (an integer >= 1), got None")
    if key in _NEEDS_TOTAL and w >= n:
        raise InputError(f"{who}: num_warmup_steps must be < num_training_steps={n}, got {w}")
    if key == "linear":
        return _warm(Linear(top, end=0.0, steps=n), w)
    if key == "polynomial":
        return _polynomial(who, lr, w, n, kw)
    if key == "cosine_with_restarts":
        return _restarts(who, top, w, n, kw)
    if key == "cosine":
        return _cosine(top, 0.0, w, n, _cycles(who, kw))
    floor = _min_lr(who, top, lr, kw)
    if key == "cosine_with_min_lr":
        return _cosine(top, floor, w, n, _cycles(who, kw))
    return _cosine_lr_rate(who, top, floor, w, n, kw)


def _merge(who: str, a: Mapping[str, Any] | None, b: dict[str, Any]) -> dict[str, Any]:
    if a is None:
        return dict(b)
    if not isinstance(a, Mapping):
        raise InputTypeError(f"{who}: scheduler_specific_kwargs must be a dict, got {a!r}")
    both = sorted(set(a) & set(b))
    if both:
        raise InputTypeError(f"{who}: {both[0]!r} is given both as a keyword and in "
                        "scheduler_specific_kwargs; give it once")
    return {**a, **b}


def _steps(who: str, name: str, value: Any, minimum: int) -> int | None:
    return None if value is None else _check.integer(who, name, value, minimum)


def _warm(schedule: Schedule, w: int) -> Schedule:
    """Hugging Face's warm-up ``t / W`` in front, ``W`` counted in ``schedule``'s length."""
    return Warmup(schedule, warmup_steps=w) if w else schedule


def _cycles(who: str, kw: dict[str, Any], default: float = 0.5) -> float:
    return float(_check.positive(who, "num_cycles", kw.get("num_cycles", default)))


def _cosine(top: float, floor: float, w: int, n: int, cycles: float) -> Schedule:
    """``floor + (top - floor) * 0.5 * (1 + cos(2 pi c p))``, ``p = (t - W) / (N - W)``,
    after the ramp; held from ``N`` on."""
    if cycles == 0.5:
        return _warm(Cosine(top, steps=n, end=floor), w)
    decay = wave(top, floor, n - w, cycles)
    return Warmup(decay, warmup_steps=w, fit=False) if w else decay


def _restarts(who: str, top: float, w: int, n: int, kw: dict[str, Any]) -> Schedule:
    """``num_cycles`` hard restarts over ``[W, N]``, each a cosine from ``top`` to 0; 0 from
    ``N`` on."""
    c = _cycles(who, kw, 1.0)
    span = n - w
    if c.is_integer():
        cycle = span // int(c) if span % int(c) == 0 else span / c
        decay: Schedule = CosineRestarts(top, cycle_steps=cycle, cycles=int(c))
    else:  # a last, partial cycle cut at N
        decay = join(CosineRestarts(top, cycle_steps=span / c), Constant(0.0), at=(span,))
    return Warmup(decay, warmup_steps=w, fit=False) if w else decay


def _polynomial(who: str, lr: Any, w: int, n: int, kw: dict[str, Any]) -> Schedule:
    if lr is None:
        raise InputError(
            f"{who}: lr_end is an absolute rate that Hugging Face divides by the optimizer's "
            "lr (optimizer.defaults['lr']); give that rate as lr= (the result is then the "
            "learning rate itself; divide it by lr for the multiplier)")
    top = float(lr)
    end = float(_check.nonneg(who, "lr_end", kw.get("lr_end", 1e-7)))
    if not top > end:
        raise InputError(f"{who}: lr_end ({end!r}) must be smaller than lr ({top!r})")
    power = _check.positive(who, "power", kw.get("power", 1.0))
    return _warm(Polynomial(top, steps=n, end=end, power=power), w)


def _inverse_sqrt(who: str, top: float, w: int, kw: dict[str, Any]) -> Schedule:
    tau = kw.get("timescale")
    tau = (w or 10_000) if tau is None else _check.positive(who, "timescale", tau)
    s = InverseSqrt(top, every=tau)
    return Warmup(s, warmup_steps=w) if w else s


def _min_lr(who: str, top: float, lr: Any, kw: dict[str, Any]) -> float:
    """The floor, as a value of the result: ``min_lr`` (absolute, needs ``lr``) or
    ``min_lr_rate * top``."""
    min_lr, rate = kw.get("min_lr"), kw.get("min_lr_rate")
    if min_lr is not None and rate is not None:
        raise InputError(f"{who}: give one of min_lr or min_lr_rate, got min_lr={min_lr!r} "
                         f"and min_lr_rate={rate!r}")
    if min_lr is not None:
        if lr is None:
            raise InputError(
                f"{who}: min_lr={min_lr!r} is an absolute rate that Hugging Face divides by "
                "the optimizer's lr; give that rate as lr=, or give min_lr_rate= instead")
        return float(_check.nonneg(who, "min_lr", min_lr))
    if rate is None:
        raise InputError(f"{who}: needs one of min_lr (with lr=) or min_lr_rate")
    return float(_check.nonneg(who, "min_lr_rate", rate)) * top


def _cosine_lr_rate(who: str, top: float, floor: float, w: int, n: int,
                    kw: dict[str, Any]) -> Schedule:
    """``cosine_warmup_with_min_lr``: the ramp is ``(t + 1) / W`` (or ``r + (1 - r) t /
    (W - 1)`` with ``warmup_lr_rate=r``) and the cosine's progress is ``(t - W + 1) / (N - W)``:
    the cosine starts at ``W - 1``, where the ramp reaches the top."""
    rate = kw.get("warmup_lr_rate")
    if rate is not None:
        rate = float(_check.nonneg(who, "warmup_lr_rate", rate))
    cycles = _cycles(who, kw)
    if w == 0:  # progress (t + 1) / N: the cosine one step in
        return Shift(wave(top, floor, n, cycles), delay=-1)
    decay = wave(top, floor, n - w, cycles)
    if w >= 2:
        start = (1.0 / w if rate is None else rate) * top
        return Warmup(decay, warmup_steps=w - 1, init=start, fit=False)
    if rate is None:  # W == 1: (0 + 1) / 1 == 1, the cosine's start
        return decay
    return join(Constant(rate * top, steps=1), Shift(decay, delay=-1))


def _wsd(who: str, top: float, w: int, n: int | None, kw: dict[str, Any]) -> Schedule:
    """Warm-up (``warmup_type``) from ``r * top``, ``S`` stable steps, a decay
    (``decay_type``) over ``D`` steps to ``r * top``, held."""
    if "num_decay_steps" not in kw:
        raise InputError(f"{who}: needs num_decay_steps (an integer >= 1)")
    d = _check.integer(who, "num_decay_steps", kw["num_decay_steps"], 1)
    stable = kw.get("num_stable_steps")
    if stable is None:
        if n is None:
            raise InputError(f"{who}: needs num_training_steps or num_stable_steps")
        s = n - w - d
        if s < 0:
            raise InputError(f"{who}: num_training_steps={n} must be >= num_warmup_steps + "
                             f"num_decay_steps = {w + d} (the stable phase is "
                             "num_training_steps - num_warmup_steps - num_decay_steps)")
    else:
        s = _check.integer(who, "num_stable_steps", stable, 0)
        if n is not None and n != w + s + d:
            warnings.warn(f"{who}: num_training_steps={n} is not num_warmup_steps + "
                          f"num_stable_steps + num_decay_steps = {w + s + d}; "
                          "num_stable_steps is used (as Hugging Face does)", stacklevel=3)
    warm = _check.choice(who, "warmup_type", kw.get("warmup_type", "linear"), SHAPES)
    shape = _check.choice(who, "decay_type", kw.get("decay_type", "cosine"), SHAPES)
    r = float(_check.between(who, "min_lr_ratio", kw.get("min_lr_ratio", 0.0), 0, 1))
    cycles = _cycles(who, kw)
    low = r * top
    if shape == "cosine" and cycles != 0.5:
        decay = wave(top, low, d, cycles, after=low)
        rest: Schedule = join(Constant(top, steps=s), decay) if s else decay
    else:
        rest = WSD(top, steps=s + d, decay_steps=d, end=low, shape=shape)
    if not w:
        return rest
    if warm == "1-sqrt":  # r + (1 - r) * (1 - sqrt(1 - t / W)): a polynomial rising to top
        return join(Polynomial(low, steps=w, end=top, power=0.5), rest)
    return Warmup(rest, warmup_steps=w, init=low, shape=warm, fit=False)


def _plateau(who: str, top: float, lr: Any, kw: dict[str, Any]) -> Schedule:
    """PyTorch's ``ReduceLROnPlateau(**kwargs)``: ``constant(top) * plateau(...)``."""
    args = dict(kw)
    floor = args.pop("min_lr", 0.0)
    if isinstance(floor, (list, tuple)):
        raise InputError(f"{who}: min_lr={floor!r}: one value for every group here (build one "
                         "schedule per group for per-group floors)")
    floor = _check.nonneg(who, "min_lr", floor)
    if floor and lr is None:
        raise InputError(f"{who}: min_lr={floor!r} is an absolute rate: give lr= so that the "
                         "schedule is the learning rate itself")
    try:
        return Constant(top) * Plateau(floor=floor, **args)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{who}: {e}") from None

