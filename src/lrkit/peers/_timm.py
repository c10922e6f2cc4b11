"""timm's schedulers (``timm.scheduler``) -> lrkit schedules: from ``create_scheduler_v2``'s
arguments, from a scheduler class's arguments, or from a built scheduler object."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import _check
from .._plateau import Plateau
from ..compose import Repeat, Shift, join
from ..errors import InputError, InputTypeError, closest
from ..schedule import Constant, Schedule, maximum
from ..schedules import (
    WSD,
    Cosine,
    CosineRestarts,
    InverseSqrt,
    MultiStep,
    Polynomial,
    StepDecay,
    Tanh,
    TimeDecay,
)
from ._common import ramp_then, refuse_unknown

REQUIRED = object()

FACTORY: dict[str, Any] = {
    "num_epochs": 300, "decay_epochs": None, "decay_milestones": (90, 180, 270),
    "cooldown_epochs": 0, "patience_epochs": 10, "decay_rate": 0.1, "min_lr": 0.0,
    "warmup_lr": 1e-5, "warmup_epochs": 0, "warmup_prefix": False, "noise": None,
    "noise_pct": 0.67, "noise_std": 1.0, "noise_seed": 42, "cycle_mul": 1.0,
    "cycle_decay": 0.1, "cycle_limit": 1, "k_decay": 1.0, "decay_fn": None,
    "stable_timescale": None, "plateau_mode": "max", "step_on_epochs": True,
    "updates_per_epoch": 0,
}
"""``create_scheduler_v2``'s keyword arguments and defaults (timm 1.0.31), ``sched`` aside."""

SCHEDS = ("cosine", "tanh", "step", "multistep", "poly", "wsd", "rsqrt", "constant", "plateau",
          "none")
"""``create_scheduler_v2``'s ``sched`` names."""

_NOISE = {"noise_range_t": None, "noise_pct": 0.67, "noise_std": 1.0, "noise_seed": 42,
          "initialize": True}
_WARM = {"warmup_t": 0, "warmup_lr_init": 0.0}
_CYCLE = {"cycle_mul": 1.0, "cycle_decay": 1.0, "cycle_limit": 1}

CLASSES: dict[str, dict[str, Any]] = {
    "CosineLRScheduler": {"t_initial": REQUIRED, "lr_min": 0.0, **_CYCLE, **_WARM,
                          "warmup_prefix": False, "t_in_epochs": True, "k_decay": 1.0,
                          **_NOISE},
    "TanhLRScheduler": {"t_initial": REQUIRED, "lb": -7.0, "ub": 3.0, "lr_min": 0.0, **_CYCLE,
                        **_WARM, "warmup_prefix": False, "t_in_epochs": True, **_NOISE},
    "PolyLRScheduler": {"t_initial": REQUIRED, "power": 0.5, "lr_min": 0.0, **_CYCLE, **_WARM,
                        "warmup_prefix": False, "t_in_epochs": True, "k_decay": 1.0, **_NOISE},
    "StepLRScheduler": {"decay_t": REQUIRED, "decay_rate": 1.0, **_WARM, "warmup_prefix": True,
                        "t_in_epochs": True, **_NOISE},
    "MultiStepLRScheduler": {"decay_t": REQUIRED, "decay_rate": 1.0, **_WARM,
                             "warmup_prefix": True, "t_in_epochs": True, **_NOISE},
    "WSDLRScheduler": {"t_initial": REQUIRED, "decay_t": REQUIRED, "lr_min": 0.0,
                       "stable_fn": "constant", "stable_timescale": None, "stable_power": 0.5,
                       "decay_fn": "1-sqrt", "decay_power": 0.5, "decay_ratio": 0.1, **_WARM,
                       "t_in_epochs": True, **_NOISE},
    "PlateauLRScheduler": {"decay_rate": 0.1, "patience_t": 10, "threshold": 1e-4,
                           "cooldown_t": 0, **_WARM, "lr_min": 0.0, "mode": "max",
                           **_NOISE, "noise_type": "normal", "noise_seed": None},
}
"""timm's scheduler classes -> their arguments and defaults (the optimizer aside)."""

MAX_PIECES = 1000
"""Cycles that differ from each other are spelt out one ``join`` piece each, up to this many."""

_TO_FACTORY = {"t_initial": "num_epochs", "warmup_t": "warmup_epochs",
               "warmup_lr_init": "warmup_lr", "lr_min": "min_lr", "t_in_epochs": "step_on_epochs",
               "decay_t": "decay_epochs (step) or decay_milestones (multistep)",
               "patience_t": "patience_epochs", "mode": "plateau_mode",
               "noise_range_t": "noise"}
_TO_CLASS = {v: k for k, v in _TO_FACTORY.items() if " " not in v}


def _class_form(k: str) -> str:
    owners = [c for c, args in CLASSES.items() if k in args]
    return f" (or call lrkit.peers.timm({owners[0]!r}, {k}=...))" if owners else ""


_CLASS_ONLY = {
    k: (f"create_scheduler_v2 calls it {_TO_FACTORY[k]}" if k in _TO_FACTORY else
        "it is an argument of timm's scheduler classes only") + _class_form(k)
    for k in sorted({k for args in CLASSES.values() for k in args} - set(FACTORY))}
"""A class argument given to the factory form -> where it goes."""


def timm(sched: Any = "cosine", *, lr: Any = None, **kwargs: Any) -> Any:
    """timm's learning-rate schedulers as lrkit schedules, in timm's own words. Three forms:

    * ``timm("cosine", lr=0.1, num_epochs=100, warmup_epochs=5, ...)``: ``sched`` is a name
      of ``timm.scheduler.create_scheduler_v2`` (cosine, tanh, step, multistep, poly, wsd,
      rsqrt, constant, plateau, none) and the keywords are its arguments, with its defaults
      (``cycle_decay=0.1``, ``warmup_lr=1e-5``, ``decay_rate=0.1`` -- also poly's power);
      ``step_on_epochs=False`` with ``updates_per_epoch=U`` scales every epoch count by ``U``
      and gives a schedule per update, as timm does;
    * ``timm("CosineLRScheduler", lr=0.1, t_initial=..., warmup_t=..., ...)``: a scheduler
      class and its own arguments, with its defaults (``cycle_decay=1``,
      ``warmup_lr_init=0``); ``t`` is in the unit of ``t_initial`` (``t_in_epochs``);
    * ``timm(scheduler)``: a built timm scheduler; its groups' base rates (and ``lr_scale``)
      are read from it, and one schedule per group is returned (a list) when they differ.

    ``lr`` is the base rate (the optimizer's, timm's ``base_values``): timm's ``min_lr`` and
    ``warmup_lr`` are absolute rates, so the result is the learning rate itself. Its ``t``
    counts epochs (timm's ``step(epoch)``; drive it with ``Scheduler(..., interval="epoch")``)
    or, per update, optimizer updates (``step_update(num_updates)``).

    What each becomes (``T = t_initial``, ``W = warmup_t``; cycles ``i = 0 .. cycle_limit-1``
    last ``T * cycle_mul**i`` and start at ``lr * cycle_decay**i``)::

        cosine     cosine(lr, steps=T, end=lr_min, progress_power=k_decay); with cycles,
                   cosine_restarts(..., cycle_mult, cycle_factor, cycles) or, with k_decay,
                   join(cosine(...), cosine(...), ...), one piece per cycle
        tanh       tanh(lr, steps=T, end=lr_min, x_start=lb, x_end=ub); cycles joined
        poly       polynomial(lr, steps=T, end=lr_min, power=power, progress_power=k_decay)
        step       step_decay(lr, factor=decay_rate, every=decay_t)
        multistep  multistep(lr, factor=decay_rate, at=(m - 1 for m in decay_t))
        wsd        wsd(lr, steps=T, decay_steps=decay_t, end=lr_min, shape=decay_fn)
        rsqrt      inverse_sqrt(lr, every=timescale) * (the decay, 1 -> 0) (+ lr_min * (0 -> 1))
        plateau    warmup(constant(lr), ...) * plateau(mode, factor=decay_rate, ...)

    timm's warm-up ramps linearly from ``warmup_lr_init`` to the *base rate* over ``W``;
    ``lrkit.warmup`` ramps to the schedule's first value. Where the two agree the result is
    ``warmup(s, warmup_steps=W, init=warmup_lr_init, fit=False)``; where they do not (tanh,
    whose curve starts a hair below the base; a multistep milestone at 0 or 1) the ramp is a
    ``linear`` piece ``join``-ed in front. With ``warmup_prefix=False`` (the factory's
    default) the warm-up overlaps the schedule, which then starts ``W`` steps in
    (``shift(s, delay=-W)``); tanh's ramp then ends at the schedule's value at ``W``, as in
    timm. multistep's milestones apply one step early (timm compares them with ``t + 1``).

    Refused, each with the reason: ``noise`` (random draws of torch's generator, no closed
    form); growing step/multistep rates (``decay_rate > 1``); wsd's ``decay_fn="exp"`` or a
    callable, and a ``stable_fn="power"`` other than ``stable_power`` 0.5 or 1 (no exact lrkit
    form). Arguments of the other form are refused with the name to use
    (``timm("cosine", t_initial=...)`` points to ``num_epochs``).

    >>> from lrkit.peers import timm
    >>> timm("cosine", lr=0.1, num_epochs=100, warmup_epochs=5, warmup_prefix=True)
    warmup(cosine(init=0.1, steps=100), warmup_steps=5, init=1e-05, fit=False)
    >>> timm("CosineLRScheduler", lr=0.1, t_initial=1000, cycle_limit=3, cycle_decay=0.5)
    cosine_restarts(init=0.1, cycle_steps=1000, cycle_factor=0.5, cycles=3)
    >>> timm("multistep", lr=0.1, decay_milestones=(30, 60), warmup_epochs=0)
    multistep(init=0.1, factor=0.1, at=(29, 59))
    """
    if not isinstance(sched, str):
        if lr is not None or kwargs:
            given = sorted([*kwargs, *(["lr"] if lr is not None else [])])
            raise InputTypeError("lrkit.peers.timm: a built scheduler carries its own arguments; "
                            f"give it alone, got {given}")
        return _from_object(sched)
    names = (*SCHEDS, *CLASSES)
    if sched not in names:
        raise InputError(f"lrkit.peers.timm: unknown scheduler {sched!r}{closest(sched, names)} "
                         f"(valid: {', '.join(names)})")
    who = f"lrkit.peers.timm({sched!r})"
    if lr is None:
        raise InputTypeError(f"{who}: give lr= (the optimizer's base learning rate, which timm's "
                        "schedulers start from: their min_lr and warmup_lr are absolute rates)")
    base = float(_check.positive(who, "lr", lr))
    if sched in CLASSES:
        return _class(who, sched, base, kwargs)
    return _factory(who, sched, base, kwargs)


def _factory(who: str, sched: str, base: float, kw: dict[str, Any]) -> Schedule:
    """``create_scheduler_v2``: translate to the class's arguments, as timm does."""
    refuse_unknown(who, kw, FACTORY, _CLASS_ONLY)
    a = {**FACTORY, **kw}
    if a["noise"] is not None:
        raise InputError(_noise(who, "noise", a["noise"]))
    on_epochs = _check.flag(who, "step_on_epochs", a["step_on_epochs"])
    decay = a["decay_epochs"]
    if decay is None:
        decay = 0.2 if sched in ("wsd", "rsqrt") else 90
    t_initial, warmup_t = a["num_epochs"], a["warmup_epochs"]
    decay_t, timescale = decay, a["stable_timescale"]
    milestones = _milestones(who, "decay_milestones", a["decay_milestones"])
    if not on_epochs:
        upe = a["updates_per_epoch"]
        if _check.is_number(upe) and upe <= 0:
            raise InputError(f"{who}: step_on_epochs=False needs updates_per_epoch (the number "
                             f"of optimizer updates per epoch, > 0), got {upe!r}")
        upe = _check.positive(who, "updates_per_epoch", upe)
        t_initial, warmup_t, decay_t = (_num(who, n, v) * upe for n, v in (
            ("num_epochs", t_initial), ("warmup_epochs", warmup_t), ("decay_epochs", decay_t)))
        milestones = tuple(m * upe for m in milestones)
        if timescale is not None:
            timescale = _num(who, "stable_timescale", timescale) * upe
    warm = {"warmup_lr_init": a["warmup_lr"], "warmup_t": warmup_t,
            "warmup_prefix": a["warmup_prefix"]}
    cycle = {"cycle_mul": a["cycle_mul"], "cycle_decay": a["cycle_decay"],
             "cycle_limit": a["cycle_limit"]}
    args: dict[str, Any]
    if sched == "none":
        return Constant(base)
    if sched in ("cosine", "tanh", "poly"):
        cls = {"cosine": "CosineLRScheduler", "tanh": "TanhLRScheduler",
               "poly": "PolyLRScheduler"}[sched]
        args = {"t_initial": t_initial, "lr_min": a["min_lr"], **cycle, **warm}
        if sched != "tanh":
            args["k_decay"] = a["k_decay"]
        if sched == "poly":
            args["power"] = a["decay_rate"]  # timm reuses decay_rate as the power
        return _class(who, cls, base, args)
    if sched in ("step", "constant"):
        args = {"decay_t": decay_t, "decay_rate": a["decay_rate"], **warm}
        if sched == "constant":
            args.update(decay_t=1, decay_rate=1.0)
        return _class(who, "StepLRScheduler", base, args)
    if sched == "multistep":
        return _class(who, "MultiStepLRScheduler", base,
                      {"decay_t": milestones, "decay_rate": a["decay_rate"], **warm})
    if sched == "plateau":
        if not on_epochs:
            raise InputError(f"{who}: timm's plateau steps once per epoch only "
                             "(step_on_epochs=True)")
        return _class(who, "PlateauLRScheduler", base, {
            "decay_rate": a["decay_rate"], "patience_t": a["patience_epochs"], "cooldown_t": 0,
            "warmup_lr_init": a["warmup_lr"], "warmup_t": warmup_t, "lr_min": a["min_lr"],
            "mode": a["plateau_mode"]})
    # wsd / rsqrt: the warm-up is always a prefix; warmup_prefix=False fits the stable and
    # decay phases inside num_epochs
    prefix = _check.flag(who, "warmup_prefix", a["warmup_prefix"])
    t_sched = t_initial if prefix else t_initial - warmup_t
    if _check.is_number(decay) and 0 < decay < 1:
        decay_t = decay * t_sched
    decay_t = int(round(_num(who, "decay_epochs", decay_t)))
    if not 0 < decay_t <= t_sched:
        raise InputError(
            f"{who}: needs 0 < decay_epochs <= num_epochs{'' if prefix else ' - warmup_epochs'}"
            f", got decay {decay_t} and stable + decay length {t_sched}")
    return _class(who, "WSDLRScheduler", base, {
        "t_initial": t_sched, "decay_t": decay_t, "lr_min": a["min_lr"],
        "stable_fn": "rsqrt" if sched == "rsqrt" else "constant", "stable_timescale": timescale,
        "decay_fn": a["decay_fn"] or ("linear" if sched == "rsqrt" else "1-sqrt"),
        "warmup_t": warmup_t, "warmup_lr_init": a["warmup_lr"]})


def _class(who: str, cls: str, base: float, kw: dict[str, Any]) -> Schedule:
    """One timm scheduler class, from its own arguments."""
    spec = CLASSES[cls]
    refuse_unknown(who, kw, spec, {
        k: f"it is create_scheduler_v2's name; {cls} calls it {_TO_CLASS[k]!r}"
        for k in FACTORY if k in _TO_CLASS and _TO_CLASS[k] in spec} | {
        k: f"it is create_scheduler_v2's argument; {cls} takes its lengths in the unit of t "
           "already (updates when t_in_epochs=False)" for k in ("updates_per_epoch",
                                                                 "step_on_epochs")})
    missing = [k for k, v in spec.items() if v is REQUIRED and k not in kw]
    if missing:
        raise InputTypeError(f"{who}: {cls} needs {missing[0]}")
    a = {**spec, **kw}
    if a["noise_range_t"] is not None:
        raise InputError(_noise(who, "noise_range_t", a["noise_range_t"]))
    if "t_in_epochs" in a:
        _check.flag(who, "t_in_epochs", a["t_in_epochs"])
    w = _check.nonneg(who, "warmup_t", a["warmup_t"])
    init = _check.nonneg(who, "warmup_lr_init", a["warmup_lr_init"])
    if cls == "PlateauLRScheduler":
        return _plateau(who, base, a, w, init)
    if cls == "WSDLRScheduler":
        return ramp_then(_wsd(who, base, a, w), w, init, base)
    if cls == "StepLRScheduler":
        s = _step(who, base, a)
    elif cls == "MultiStepLRScheduler":
        at = _milestones(who, "decay_t", a["decay_t"])
        rate = _rate(who, a["decay_rate"])
        s = MultiStep(base, factor=rate, at=tuple(max(m - 1, 0) for m in at)) if (
            at and rate != 1) else Constant(base)
    else:
        s = _cycled(who, cls, base, a)
    prefix = _check.flag(who, "warmup_prefix", a["warmup_prefix"])
    if not w:
        return s
    inner = s if prefix or isinstance(s, Constant) else Shift(s, delay=-w)
    # tanh without a prefix ramps to its curve's value at W (timm's _get_lr(warmup_t))
    target = inner(0) if cls == "TanhLRScheduler" and not prefix else base
    return ramp_then(inner, w, init, target)


def _cycled(who: str, cls: str, base: float, a: dict[str, Any]) -> Schedule:
    """cosine / tanh / poly: ``cycle_limit`` cycles, cycle ``i`` of ``T * cycle_mul**i`` steps
    from ``base * cycle_decay**i`` to ``lr_min``; ``lr_min`` held after them."""
    t = _check.positive(who, "t_initial", a["t_initial"])
    end = _check.nonneg(who, "lr_min", a["lr_min"])
    mult = _check.positive(who, "cycle_mul", a["cycle_mul"])
    mult = int(mult) if float(mult).is_integer() else mult  # whole cycle lengths print whole
    decay = _check.nonneg(who, "cycle_decay", a["cycle_decay"])
    limit = _check.integer(who, "cycle_limit", a["cycle_limit"], 0)
    k = _check.positive(who, "k_decay", a.get("k_decay", 1.0))
    piece: Callable[[float, float], Schedule]
    if cls == "CosineLRScheduler":
        def piece(top: float, n: float) -> Schedule:
            return Cosine(top, steps=n, end=end, progress_power=k)
    elif cls == "PolyLRScheduler":
        power = _check.positive(who, "power", a["power"])

        def piece(top: float, n: float) -> Schedule:
            return Polynomial(top, steps=n, end=end, power=power, progress_power=k)
    else:
        lb = _check.number(who, "lb", a["lb"])
        ub = _check.number(who, "ub", a["ub"])
        if not lb < ub:
            raise InputError(f"{who}: lb must be < ub={ub!r}, got {lb!r}")

        def piece(top: float, n: float) -> Schedule:
            return Tanh(top, steps=n, end=end, x_start=lb, x_end=ub)
    if limit == 0:
        return Constant(end)
    if limit == 1:
        return piece(base, t)
    if cls == "CosineLRScheduler" and k == 1 and mult >= 1 and decay <= 1:
        return CosineRestarts(base, cycle_steps=t, cycle_mult=mult, cycle_factor=decay,
                              end=end, cycles=limit)
    if mult == 1 and decay == 1:
        return join(Repeat(piece(base, t)), Constant(end), at=(t * limit,))
    if limit > MAX_PIECES:
        raise InputError(f"{who}: cycle_limit={limit} cycles that differ from each other are "
                         f"spelt out one join piece each; at most {MAX_PIECES}")
    return join(*(piece(base * decay**i, t * mult**i) for i in range(limit)))


def _step(who: str, base: float, a: dict[str, Any]) -> Schedule:
    every = _check.positive(who, "decay_t", a["decay_t"])
    rate = _rate(who, a["decay_rate"])
    return Constant(base) if rate == 1 else StepDecay(base, factor=rate, every=every)


def _rate(who: str, rate: Any) -> float:
    r = _check.nonneg(who, "decay_rate", rate)
    if r > 1:
        raise InputError(f"{who}: decay_rate must be in [0, 1] (a growing step rate has no "
                         f"lrkit form), got {r!r}")
    return float(r)


def _wsd(who: str, base: float, a: dict[str, Any], w: float) -> Schedule:
    """``lr_min + (max(base * stable(t), lr_min) - lr_min) * decay(frac)``."""
    t = _check.positive(who, "t_initial", a["t_initial"])
    d = _check.positive(who, "decay_t", a["decay_t"])
    if d > t:
        raise InputError(f"{who}: decay_t must be in (0, t_initial={t!r}], got {d!r}")
    end = _check.nonneg(who, "lr_min", a["lr_min"])
    stable_fn = _check.choice(who, "stable_fn", a["stable_fn"], ("constant", "rsqrt", "power"))
    fn = a["decay_fn"]
    if callable(fn):
        raise InputTypeError(f"{who}: decay_fn={fn!r} is a Python function; lrkit schedules are "
                        "values: use one of 'linear', '1-sqrt', 'cosine', 'power'")
    fn = _check.choice(who, "decay_fn", fn, ("linear", "1-sqrt", "cosine", "power", "exp"))
    if fn == "exp":
        raise InputError(f"{who}: decay_fn='exp' ((r**frac - r) / (1 - r)) has no exact lrkit "
                         "form (it is a difference of schedules); use 'linear', '1-sqrt', "
                         "'cosine' or 'power'")
    power = _check.positive(who, "decay_power", a["decay_power"])

    def curve(top: float, low: float) -> Schedule:
        """``top`` through the stable phase, then ``decay_fn`` down (or up) to ``low``."""
        if fn != "power":
            return WSD(top, steps=t, decay_steps=d, end=low, shape=fn)
        tail = Polynomial(top, steps=d, end=low, progress_power=power)
        return join(Constant(top, steps=t - d), tail) if t > d else tail

    if stable_fn == "constant":
        return curve(base, end)
    p = 0.5 if stable_fn == "rsqrt" else _check.positive(who, "stable_power",
                                                          a["stable_power"])
    tau = a["stable_timescale"]
    if tau is None:
        tau = w
    if not (_check.is_number(tau) and tau > 0):
        raise InputError(f"{who}: stable_fn={stable_fn!r} needs a stable_timescale > 0 (it "
                         f"defaults to warmup_t), got {tau!r}")
    if p == 0.5:
        stable: Schedule = InverseSqrt(base, every=tau)
    elif p == 1:
        stable = TimeDecay(base, k=1.0, every=tau)
    else:
        raise InputError(f"{who}: stable_power={p!r}: lrkit has (1 + t / timescale) ** -p for "
                         "p = 0.5 (inverse_sqrt) and p = 1 (time_decay) only")
    if end:
        return maximum(stable, end) * curve(1.0, 0.0) + end * curve(0.0, 1.0)
    return stable * curve(1.0, 0.0)


def _plateau(who: str, base: float, a: dict[str, Any], w: float, init: float) -> Schedule:
    try:
        p = Plateau(mode=a["mode"], factor=a["decay_rate"], patience=a["patience_t"],
                    threshold=a["threshold"], cooldown=a["cooldown_t"], floor=a["lr_min"])
    except (TypeError, ValueError) as e:
        names = {"factor": "decay_rate", "patience": "patience_t", "cooldown": "cooldown_t",
                 "floor": "lr_min"}
        text = str(e).removeprefix("plateau: ")
        for ours, theirs in names.items():
            text = text.replace(f"{ours} must", f"{theirs} must")
        raise type(e)(f"{who}: {text}") from None
    return ramp_then(Constant(base), w, init, base) * p


def _milestones(who: str, name: str, value: Any) -> tuple[float, ...]:
    at = _check.numbers(who, name, value)
    _check.increasing(who, name, at)  # timm bisects them: they must be sorted
    return tuple(at)


def _num(who: str, name: str, value: Any) -> float:
    return _check.nonneg(who, name, value)


def _noise(who: str, name: str, value: Any) -> str:
    return (f"{who}: {name}={value!r}: timm's noise multiplies the rate by a random draw of "
            "torch's generator at every step, which has no closed form; leave it out")


def _from_object(obj: Any) -> Schedule | list[Schedule]:
    """A built timm scheduler: its class's arguments are its attributes."""
    cls = type(obj).__name__
    if cls not in CLASSES or not hasattr(obj, "base_values"):
        raise InputTypeError(f"lrkit.peers.timm: cannot convert {type(obj).__name__} (give a timm "
                        f"scheduler name, or one of {', '.join(CLASSES)})")
    who = f"lrkit.peers.timm({cls})"
    state = vars(obj)
    kw = {k: state[k] for k in CLASSES[cls] if k in state and k != "initialize"}
    inner = state.get("lr_scheduler")  # PlateauLRScheduler wraps torch's ReduceLROnPlateau
    if inner is not None:
        kw.update(decay_rate=inner.factor, patience_t=inner.patience,
                  threshold=inner.threshold, cooldown_t=inner.cooldown, mode=inner.mode)
    out = []
    for i, group in enumerate(obj.optimizer.param_groups):
        if inner is not None:
            kw["lr_min"] = inner.min_lrs[i]
        s = _class(who, cls, float(obj.base_values[i]), kw)
        scale = group.get("lr_scale")
        out.append(s if scale is None or scale == 1 else float(scale) * s)
    return out[0] if all(s == out[0] for s in out) else out

