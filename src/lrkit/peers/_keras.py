"""Keras 3 ``LearningRateSchedule`` objects (or their configs) -> lrkit schedules, read from
``get_config()``: nothing here imports Keras."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .. import _check
from ..compose import Warmup
from ..errors import InputError, InputTypeError, closest
from ..schedule import Constant, Schedule
from ..schedules import Cosine, CosineRestarts, Exponential, Piecewise, Polynomial, TimeDecay
from ..spec import from_dict
from ._common import refuse_unknown

CLASSES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "ExponentialDecay": (("initial_learning_rate", "decay_steps", "decay_rate"),
                         ("staircase", "name"), "ExponentialDecay"),
    "PiecewiseConstantDecay": (("boundaries", "values"), ("name",), "PiecewiseConstant"),
    "PolynomialDecay": (("initial_learning_rate", "decay_steps"),
                        ("end_learning_rate", "power", "cycle", "name"), "PolynomialDecay"),
    "InverseTimeDecay": (("initial_learning_rate", "decay_steps", "decay_rate"),
                         ("staircase", "name"), "InverseTimeDecay"),
    "CosineDecay": (("initial_learning_rate", "decay_steps"),
                    ("alpha", "name", "warmup_target", "warmup_steps"), "CosineDecay"),
    "CosineDecayRestarts": (("initial_learning_rate", "first_decay_steps"),
                            ("t_mul", "m_mul", "alpha", "name"), "SGDRDecay"),
}
"""Keras 3's schedule classes -> (required config keys, optional keys, default ``name``)."""

WHO = "lrkit.peers.keras"


def keras(schedule: Any, *, class_name: str | None = None) -> Schedule:
    """A Keras 3 ``keras.optimizers.schedules.LearningRateSchedule`` as an lrkit schedule.

    ``schedule`` is one of:

    * a schedule object (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay,
      InverseTimeDecay, CosineDecay, CosineDecayRestarts; an ``lrkit.keras.Schedule`` gives
      back its lrkit schedule);
    * its serialized form, ``keras.optimizers.schedules.serialize(s)`` -- a dict with
      ``class_name`` and ``config``, as in an optimizer's ``get_config()["learning_rate"]``;
    * its bare ``get_config()`` dict: give ``class_name=`` to say which class, or leave it
      out and the class is read from the keys (and, where two classes share their keys --
      ExponentialDecay and InverseTimeDecay -- from the config's default ``name``).

    ``t`` counts optimizer updates (Keras' ``iterations``), as in Keras::

        ExponentialDecay(lr, T, r, staircase)    exponential(lr, factor=r, every=T, staircase=)
        PiecewiseConstantDecay(b, v)              piecewise(levels=v, at=b, after=True)
        PolynomialDecay(lr, T, end, power)        polynomial(lr, steps=T, end=end, power=power)
                        cycle=True                polynomial(lr, every=T, end=end, power=power)
        InverseTimeDecay(lr, T, r, staircase)     time_decay(lr, k=r, every=T, staircase=)
        CosineDecay(lr, T, alpha)                 cosine(lr, steps=T, end=alpha * lr)
            warmup_target=P, warmup_steps=W       warmup(cosine(P, steps=T, end=alpha * P),
                                                         warmup_steps=W, init=lr, fit=False)
        CosineDecayRestarts(lr, T, t_mul, m_mul, alpha)
                                                  alpha * lr + cosine_restarts((1 - alpha) * lr,
                                                      cycle_steps=T, cycle_mult=t_mul,
                                                      cycle_factor=m_mul)

    Keras' ``PiecewiseConstantDecay`` changes one step after each boundary (``after=True``);
    its ``CosineDecay`` does not count the warm-up in ``decay_steps`` (``fit=False``); its
    ``CosineDecayRestarts`` scales the height *above* the fixed floor ``alpha * lr`` by
    ``m_mul`` each cycle, while ``cosine_restarts``' ``cycle_factor`` scales the top, so the
    floor is added outside (``cosine_restarts(lr, cycle_factor=m_mul, end=alpha * lr)``
    would be a different curve, 1.9 % off at the top of the second cycle for ``m_mul=0.9,
    alpha=0.1``). Refused, each with why: a growing ``ExponentialDecay``
    (``decay_rate > 1``: lrkit needs a ceiling), ``t_mul < 1`` or ``m_mul > 1``, and custom
    ``LearningRateSchedule`` subclasses (their ``__call__`` is Python code).

    >>> from lrkit.peers import keras
    >>> keras({"initial_learning_rate": 0.1, "first_decay_steps": 1000, "t_mul": 2.0,
    ...        "m_mul": 0.9, "alpha": 0.1})
    0.010000000000000002 + cosine_restarts(init=0.09000000000000001, cycle_steps=1000, \
cycle_mult=2.0, cycle_factor=0.9)
    >>> keras({"boundaries": [100, 200], "values": [0.1, 0.01, 0.001]})
    piecewise(levels=(0.1, 0.01, 0.001), at=(100, 200), after=True)
    """
    cls, config = _resolve(schedule, class_name)
    if cls is None:  # an lrkit schedule already
        return _lrkit(config)
    who = f"{WHO}({cls})"
    required, optional, _ = CLASSES[cls]
    refuse_unknown(who, config, (*required, *optional))
    missing = [k for k in required if k not in config]
    if missing:
        raise InputError(f"{who}: the config needs {', '.join(missing)}, got keys "
                         f"{sorted(config)}")
    return _BUILD[cls](who, config)


def _resolve(obj: Any, class_name: str | None) -> tuple[str | None, dict[str, Any]]:
    """(class name, config); class name None for an lrkit schedule (config: its data)."""
    if isinstance(obj, Schedule):
        return None, {"schedule": obj}
    if class_name is not None:
        _class_name(class_name)
    if not isinstance(obj, Mapping):
        cls = type(obj).__name__
        if type(obj).__module__ == "lrkit.keras" and isinstance(getattr(obj, "schedule", None),
                                                               Schedule):
            return None, {"schedule": obj.schedule, "steps_per_epoch": obj.steps_per_epoch}
        if not callable(getattr(obj, "get_config", None)):
            raise InputTypeError(f"{WHO}: expected a Keras LearningRateSchedule, its "
                            f"serialize() dict or its get_config() dict, got {obj!r}")
        if cls not in CLASSES or not type(obj).__module__.startswith("keras"):
            raise InputTypeError(f"{WHO}: cannot convert {cls} (from {type(obj).__module__}): "
                            f"only Keras' own {', '.join(CLASSES)} have a known formula; a "
                            "custom LearningRateSchedule's __call__ is Python code")
        if class_name is not None and class_name != cls:
            raise InputError(f"{WHO}: class_name={class_name!r} but the object is a {cls}")
        return cls, dict(obj.get_config())
    data = dict(obj)
    if "config" in data and "class_name" in data:  # keras.optimizers.schedules.serialize()
        if data.get("registered_name") == "lrkit>Schedule":
            return None, dict(data["config"])
        cls = _class_name(data["class_name"])
        if class_name is not None and class_name != cls:
            raise InputError(f"{WHO}: class_name={class_name!r} but the dict says "
                             f"class_name={cls!r}")
        config = data["config"]
        if not isinstance(config, Mapping):
            raise InputTypeError(f"{WHO}: config must be a dict, got {config!r}")
        return cls, dict(config)
    if class_name is not None:
        return class_name, data
    return _infer(data), data


def _class_name(name: Any) -> str:
    if not isinstance(name, str) or name not in CLASSES:
        hint = closest(name, CLASSES) if isinstance(name, str) else ""
        raise InputError(f"{WHO}: unknown class_name {name!r}{hint} "
                         f"(valid: {', '.join(CLASSES)})")
    return name


def _infer(config: dict[str, Any]) -> str:
    """The class whose config has exactly these keys (its required ones, maybe some others);
    the default ``name`` settles a tie."""
    keys = set(config)
    fits = [c for c, (req, opt, _) in CLASSES.items() if set(req) <= keys <= {*req, *opt}]
    if len(fits) > 1:
        named = [c for c in fits if config.get("name") == CLASSES[c][2]]
        fits = named or fits
    if len(fits) == 1:
        return fits[0]
    if not fits:
        raise InputError(f"{WHO}: no Keras schedule has the config keys {sorted(keys)}; give "
                         f"class_name= (one of {', '.join(CLASSES)})")
    raise InputError(f"{WHO}: the config keys {sorted(keys)} fit {' and '.join(fits)}; give "
                     "class_name= (or keep the config's default name)")


def _lrkit(data: dict[str, Any]) -> Schedule:
    s = data["schedule"]
    schedule = s if isinstance(s, Schedule) else from_dict(s)
    if data.get("steps_per_epoch") is not None:
        raise InputError(
            f"{WHO}: this lrkit.keras.Schedule evaluates {schedule!r} at iterations / "
            f"steps_per_epoch={data['steps_per_epoch']}: that schedule is in epochs; use it "
            "with steps_per_epoch in the adapter")
    return schedule


def _lr(who: str, config: dict[str, Any], key: str = "initial_learning_rate") -> float:
    return float(_check.nonneg(who, key, config[key]))


def _flag(who: str, config: dict[str, Any], key: str) -> bool:
    value = config.get(key, False)
    return _check.flag(who, key, value.item() if hasattr(value, "item") else value)


def _exponential(who: str, c: dict[str, Any]) -> Schedule:
    lr = _lr(who, c)
    every = _check.positive(who, "decay_steps", c["decay_steps"])
    rate = _check.positive(who, "decay_rate", c["decay_rate"])
    if rate > 1:
        raise InputError(f"{who}: decay_rate={rate!r} > 1 grows without bound; lrkit needs a "
                         f"ceiling: exponential({lr!r}, factor={rate!r}, every={every!r}, "
                         "end=...)")
    return Exponential(lr, factor=rate, every=every, staircase=_flag(who, c, "staircase"))


def _piecewise(who: str, c: dict[str, Any]) -> Schedule:
    at = _check.numbers(who, "boundaries", c["boundaries"])
    levels = _check.numbers(who, "values", c["values"])
    if len(at) != len(levels) - 1:
        raise InputError(f"{who}: boundaries needs len(values) - 1 = {len(levels) - 1} "
                         f"entries, got {len(at)}")
    # Keras casts the boundaries to the step's integer type: a boundary of 10.5 is 10
    at = tuple(b if isinstance(b, int) else math.floor(b) for b in at)
    _check.increasing(who, "boundaries", at, strict=True)
    return Piecewise(levels, at=at, after=True)


def _polynomial(who: str, c: dict[str, Any]) -> Schedule:
    lr = _lr(who, c)
    n = _check.positive(who, "decay_steps", c["decay_steps"])
    end = _check.nonneg(who, "end_learning_rate", c.get("end_learning_rate", 1e-4))
    power = _check.positive(who, "power", c.get("power", 1.0))
    if _flag(who, c, "cycle"):
        return Polynomial(lr, every=n, end=end, power=power)
    return Polynomial(lr, steps=n, end=end, power=power)


def _inverse_time(who: str, c: dict[str, Any]) -> Schedule:
    return TimeDecay(_lr(who, c), k=_check.nonneg(who, "decay_rate", c["decay_rate"]),
                     every=_check.positive(who, "decay_steps", c["decay_steps"]),
                     staircase=_flag(who, c, "staircase"))


def _alpha(who: str, c: dict[str, Any], high: float = math.inf) -> float:
    alpha = _check.nonneg(who, "alpha", c.get("alpha", 0.0))
    if alpha > high:
        raise InputError(f"{who}: alpha must be in [0, {high:g}], got {alpha!r}")
    return float(alpha)


def _cosine(who: str, c: dict[str, Any]) -> Schedule:
    lr = _lr(who, c)
    n = _check.positive(who, "decay_steps", c["decay_steps"])
    alpha = _alpha(who, c)
    target = c.get("warmup_target")
    if target is None:
        return Cosine(lr, steps=n, end=alpha * lr)
    top = _lr(who, c, "warmup_target")
    w = _check.nonneg(who, "warmup_steps", c.get("warmup_steps", 0))
    decay = Cosine(top, steps=n, end=alpha * top)
    return Warmup(decay, warmup_steps=w, init=lr, fit=False) if w else decay


def _restarts(who: str, c: dict[str, Any]) -> Schedule:
    lr = _lr(who, c)
    n = _check.positive(who, "first_decay_steps", c["first_decay_steps"])
    t_mul = _check.number(who, "t_mul", c.get("t_mul", 2.0))
    if t_mul < 1:
        raise InputError(f"{who}: t_mul must be >= 1 (shorter and shorter cycles end in a "
                         f"NaN in Keras, and cosine_restarts has cycle_mult >= 1), got {t_mul!r}")
    m_mul = _check.between(who, "m_mul", c.get("m_mul", 1.0), 0, 1)
    alpha = _alpha(who, c, 1.0)
    if alpha == 1:
        return Constant(lr)
    # lr * ((1 - alpha) * m_mul**i * bell + alpha): m_mul scales the height above alpha * lr
    wave = CosineRestarts((1 - alpha) * lr, cycle_steps=n, cycle_mult=t_mul, cycle_factor=m_mul)
    return alpha * lr + wave if alpha else wave


_BUILD = {"ExponentialDecay": _exponential, "PiecewiseConstantDecay": _piecewise,
          "PolynomialDecay": _polynomial, "InverseTimeDecay": _inverse_time,
          "CosineDecay": _cosine, "CosineDecayRestarts": _restarts}
