"""``from_torch``: a built ``torch.optim.lr_scheduler`` scheduler as an lrkit schedule."""

from __future__ import annotations

from typing import Any

from torch.optim import lr_scheduler as T

from .._plateau import Plateau
from ..compose import Repeat, join
from ..errors import InputError, InputTypeError
from ..schedule import Constant, Schedule
from ..schedules import (
    CosineRestarts,
    Cyclic,
    Exponential,
    Interpolate,
    Linear,
    MultiStep,
    OneCycle,
    Piecewise,
    Polynomial,
    StepDecay,
)

SUPPORTED = (
    "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR", "PolynomialLR",
    "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "CyclicLR", "OneCycleLR",
    "SequentialLR", "ReduceLROnPlateau",
)

ANNEAL_SHAPES = {"cos": "cosine", "linear": "linear"}
"""PyTorch's ``anneal_strategy`` -> lrkit's ``shape``."""


def _plateau(s: T.ReduceLROnPlateau, i: int) -> Schedule:
    lr = float(s.optimizer.param_groups[i]["lr"])
    p = Plateau(mode=s.mode, factor=s.factor, patience=s.patience, threshold=s.threshold,
                threshold_mode=s.threshold_mode, cooldown=s.cooldown,
                floor=float(s.min_lrs[i]), eps=s.eps)
    return Constant(lr) * p


def _one_cycle(s: T.OneCycleLR, i: int) -> Schedule:
    """PyTorch's knots are ``0, p*T - 1, T - 1`` (``T = total_steps``, ``p = pct_start``):
    ``one_cycle(steps=T - 1, up_frac=(p*T - 1) / (T - 1))``."""
    g = s.optimizer.param_groups[i]
    peak, low, final = float(g["max_lr"]), float(g["initial_lr"]), float(g["min_lr"])
    phases = s._schedule_phases
    total, up = s.total_steps, float(phases[0]["end_step"])  # p*T - 1
    try:
        return OneCycle(peak, steps=total - 1, up_frac=up / (total - 1) if total > 1 else 0.0,
                        div=peak / low, final_div=low / final,
                        shape=ANNEAL_SHAPES[s._anneal_func_type], three_phase=len(phases) == 3)
    except ValueError as e:
        raise InputError(
            f"from_torch: OneCycleLR(total_steps={total}, pct_start={(up + 1) / total:g}"
            f"{', three_phase=True' if len(phases) == 3 else ''}) has no one_cycle equivalent: "
            f"it is one_cycle(steps=total_steps - 1, up_frac=(pct_start*total_steps - 1) / "
            f"(total_steps - 1)), and {e}"
        ) from None


def momentum(s: Any, i: int) -> Schedule | None:
    """The momentum (``beta1`` for Adam) that OneCycleLR and CyclicLR cycle with
    ``cycle_momentum=True``, for param group ``i``; ``None`` for every other scheduler.

    OneCycleLR's runs ``max_momentum -> base_momentum -> max_momentum`` on the learning
    rate's knots (:meth:`lrkit.one_cycle.momentum`); CyclicLR's is
    ``max_momentum - (max_momentum - base_momentum) * x * scale``, a ``cyclic`` from
    ``max_momentum`` down to ``base_momentum``.
    """
    if not getattr(s, "cycle_momentum", False):
        return None
    if isinstance(s, T.OneCycleLR):
        g = s.optimizer.param_groups[i]
        oc = _one_cycle(s, i)
        assert isinstance(oc, OneCycle)
        return oc.momentum(low=float(g["base_momentum"]), high=float(g["max_momentum"]))
    if isinstance(s, T.CyclicLR):
        c = _cyclic(s, i)
        assert isinstance(c, Cyclic)
        return c.replace(init=float(s.max_momentums[i]), peak=float(s.base_momentums[i]))
    return None


def _no_momentum_inside(s: T.SequentialLR) -> None:
    for child in s._schedulers:
        if isinstance(child, T.SequentialLR):
            _no_momentum_inside(child)
        elif getattr(child, "cycle_momentum", False):
            raise InputError(
                f"from_torch: this SequentialLR holds a {type(child).__name__} that also "
                "cycles the momentum (cycle_momentum=True), which a SequentialLR cannot be "
                "converted with; build it with cycle_momentum=False to convert the learning "
                "rate, and schedule the momentum with its own lrkit schedule "
                "(Scheduler(opt, {'lr': ..., 'momentum': ...}))"
            )


def _cyclic(s: T.CyclicLR, i: int) -> Schedule:
    if getattr(s, "_scale_fn_custom", None) is not None:
        raise InputTypeError("from_torch: CyclicLR with a custom scale_fn (a Python function) "
                        "has no lrkit equivalent")
    total = float(s.total_size)
    up = total * s.step_ratio
    return Cyclic(float(s.base_lrs[i]), peak=float(s.max_lrs[i]), up_steps=up,
                  down_steps=total - up, policy=s.mode, factor=s.gamma)


def _cosine_annealing(s: T.CosineAnnealingLR, base: float) -> Schedule:
    # PyTorch keeps following the cosine past T_max (back up to base at 2*T_max).
    t, end = float(s.T_max), float(s.eta_min)
    return Repeat(Interpolate(((0.0, base), (t, end), (2 * t, base)), shape="cosine"))


def _exponential(s: T.ExponentialLR, base: float) -> Schedule:
    if not 0 < s.gamma <= 1:
        raise InputError(f"from_torch: ExponentialLR gamma must be in (0, 1], got {s.gamma!r}")
    return Exponential(base, factor=s.gamma)


def _constant(s: T.ConstantLR, base: float) -> Schedule:
    if s.total_iters <= 0:
        return Constant(base)
    return Piecewise((base * s.factor, base), at=(s.total_iters,))


def _by_base(s: Any, base: float) -> Schedule | None:
    """Schedulers that depend only on the group's base lr."""
    if isinstance(s, T.StepLR):
        return StepDecay(base, factor=s.gamma, every=s.step_size)
    if isinstance(s, T.MultiStepLR):
        return MultiStep(base, factor=s.gamma, at=tuple(sorted(s.milestones.elements())))
    if isinstance(s, T.ConstantLR):
        return _constant(s, base)
    if isinstance(s, T.LinearLR):
        return Linear(base * s.start_factor, end=base * s.end_factor, steps=s.total_iters)
    if isinstance(s, T.ExponentialLR):
        return _exponential(s, base)
    if isinstance(s, T.PolynomialLR):
        return Polynomial(base, steps=s.total_iters, power=s.power)
    if isinstance(s, T.CosineAnnealingLR):
        return _cosine_annealing(s, base)
    if isinstance(s, T.CosineAnnealingWarmRestarts):
        return CosineRestarts(base, cycle_steps=s.T_0, cycle_mult=s.T_mult,
                              end=float(s.eta_min))
    return None


def convert(s: Any, i: int, depth: int = 0) -> Schedule:
    """The schedule of param group ``i`` under scheduler ``s``.

    A SequentialLR nested as the first child of another runs ``depth`` steps
    ahead in PyTorch (the outer constructor steps it without undoing its
    count), so its milestones come ``depth`` steps early; that is reproduced.
    """
    if isinstance(s, T.ReduceLROnPlateau):
        return _plateau(s, i)
    if isinstance(s, T.SequentialLR):
        _no_momentum_inside(s)
        kids = [convert(c, i, depth + 1 if k == 0 else 0) for k, c in enumerate(s._schedulers)]
        return join(*kids, at=tuple(m - depth for m in s._milestones))
    if isinstance(s, T.OneCycleLR):
        return _one_cycle(s, i)
    if isinstance(s, T.CyclicLR):
        return _cyclic(s, i)
    if isinstance(s, T.LRScheduler):
        out = _by_base(s, float(s.base_lrs[i]))
        if out is not None:
            return out
    hint = ""
    if isinstance(s, (T.LambdaLR, T.MultiplicativeLR)):
        hint = (" (it holds a Python function: write the factor it computes as an lrkit "
                "schedule, a shape peaking at 1, and use Scheduler(opt, shape, relative=True),"
                " which multiplies each group's own rate by it as LambdaLR does)")
    raise InputTypeError(
        f"from_torch: cannot convert {type(s).__name__}{hint}; supported: {', '.join(SUPPORTED)}"
    )
