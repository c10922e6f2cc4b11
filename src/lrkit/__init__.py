"""lrkit: learning-rate schedules as portable values.

A schedule is an immutable value with one formula, evaluated on Python
floats (``s(t)``), NumPy (``s.values(n)``), and PyTorch, ``jax.numpy`` or
``keras.ops`` (``s.evaluate(t, xp)``). ``t`` counts completed optimizer
updates: the first update uses ``s(0)``. Finite schedules hold their last
value forever. ``repr(s)`` is a spec that :func:`parse` reads back.

>>> import lrkit
>>> s = lrkit.warmup(lrkit.cosine(peak=0.1, steps=1000), steps=100)
>>> s
warmup(cosine(peak=0.1, steps=1000), steps=100)
>>> lrkit.parse(repr(s)) == s
True
"""

from typing import Any

from .compose import Join, Repeat, Shift, Stretch, Warmup, join, warmup
from .errors import Error, InputError, InputTypeError
from .plateau import Plateau, PlateauState, split_plateau
from .schedule import REGISTRY, Constant, Schedule, clip, maximum, minimum
from .schedules import (
    WSD,
    Cosine,
    CosineRestarts,
    Cyclic,
    Exponential,
    Interpolate,
    InverseSqrt,
    Linear,
    MultiStep,
    OneCycle,
    Piecewise,
    Polynomial,
    Rex,
    StepDecay,
    Tanh,
    TimeDecay,
)
from .spec import Shape, SpecError, dumps, from_dict, load, parse

__version__ = "0.1.0"

# The lower-case names are the ones to use; they are the spec language's names.
constant = Constant
time_decay = TimeDecay
step_decay = StepDecay
exponential = Exponential
piecewise = Piecewise
multistep = MultiStep
linear = Linear
polynomial = Polynomial
cosine = Cosine
cosine_restarts = CosineRestarts
cyclic = Cyclic
one_cycle = OneCycle
interpolate = Interpolate
inverse_sqrt = InverseSqrt
tanh = Tanh
rex = Rex
wsd = WSD
plateau = Plateau
repeat = Repeat
shift = Shift
stretch = Stretch

__all__ = [
    "REGISTRY", "Schedule", "Error", "SpecError", "InputError", "InputTypeError",
    "Plateau", "PlateauState", "split_plateau", "parse", "load", "dumps", "from_dict", "Shape",
    "constant", "time_decay", "step_decay", "exponential", "piecewise", "multistep",
    "linear", "polynomial", "cosine", "cosine_restarts", "cyclic", "one_cycle",
    "interpolate", "inverse_sqrt", "tanh", "rex", "wsd", "plateau",
    "join", "warmup", "repeat", "shift", "stretch", "clip", "minimum", "maximum",
    "Constant", "TimeDecay", "StepDecay", "Exponential", "Piecewise", "MultiStep", "Linear",
    "Polynomial", "Cosine", "CosineRestarts", "Cyclic", "OneCycle", "Interpolate",
    "InverseSqrt", "Tanh", "Rex", "WSD", "Join", "Warmup", "Repeat", "Shift", "Stretch",
]


def __getattr__(name: str) -> Any:
    """``lrkit.find_lr`` (the learning-rate range test) imports torch, so it loads on first use."""
    if name == "find_lr":
        from .experiment.lr_find import find_lr

        return find_lr
    raise AttributeError(f"module 'lrkit' has no attribute {name!r}")
