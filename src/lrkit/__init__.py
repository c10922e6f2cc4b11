"""lrkit: learning-rate schedules as portable values.

A schedule is an immutable value with one formula, evaluated on Python
floats (``s(t)``), NumPy (``s.values(n)``), and PyTorch, ``jax.numpy`` or
``keras.ops`` (``s.evaluate(t, xp)``). ``t`` counts completed optimizer
updates: the first update uses ``s(0)``. Finite schedules hold their last
value forever. ``repr(s)`` is a spec that :func:`parse` reads back.

Each schedule has one public name, its spec name, which is its class:

>>> import lrkit
>>> s = lrkit.warmup(lrkit.cosine(0.1, steps=1000), warmup_steps=100)
>>> s
warmup(cosine(init=0.1, steps=1000), warmup_steps=100)
>>> lrkit.parse(repr(s)) == s, isinstance(s, lrkit.warmup)
(True, True)
"""

from typing import Any

from ._version import __version__ as __version__
from .compose import Repeat as repeat
from .compose import Shift as shift
from .compose import Stretch as stretch
from .compose import Warmup as warmup
from .compose import join
from .errors import Error, InputError, InputTypeError, StoreError
from .plateau import Plateau as plateau
from .plateau import PlateauState, split_plateau
from .schedule import REGISTRY, Schedule, clip, maximum, minimum
from .schedule import Constant as constant
from .schedules import WSD as wsd
from .schedules import Cosine as cosine
from .schedules import CosineRestarts as cosine_restarts
from .schedules import Cyclic as cyclic
from .schedules import Exponential as exponential
from .schedules import Interpolate as interpolate
from .schedules import InverseSqrt as inverse_sqrt
from .schedules import Linear as linear
from .schedules import MultiStep as multistep
from .schedules import OneCycle as one_cycle
from .schedules import Piecewise as piecewise
from .schedules import Polynomial as polynomial
from .schedules import Rex as rex
from .schedules import StepDecay as step_decay
from .schedules import Tanh as tanh
from .schedules import TimeDecay as time_decay
from .spec import Shape, SpecError, dumps, from_dict, load, parse

__all__ = [
    "REGISTRY", "Schedule", "Error", "SpecError", "InputError", "InputTypeError",
    "StoreError",
    "PlateauState", "split_plateau",
    "parse", "load", "dumps", "from_dict", "Shape",
    "constant", "time_decay", "step_decay", "exponential", "piecewise", "multistep",
    "linear", "polynomial", "cosine", "cosine_restarts", "cyclic", "one_cycle",
    "interpolate", "inverse_sqrt", "tanh", "rex", "wsd", "plateau",
    "join", "warmup", "repeat", "shift", "stretch", "clip", "minimum", "maximum",
]


def __getattr__(name: str) -> Any:
    """``lrkit.find_lr`` (the learning-rate range test) imports torch, so it loads on first use."""
    if name == "find_lr":
        from .experiment.lr_find import find_lr

        return find_lr
    raise AttributeError(f"module 'lrkit' has no attribute {name!r}")
