"""The public names of :mod:`lrkit`, loaded by ``lrkit/__init__`` on first use (see
there). Nothing else imports this module."""


from ._plateau import Plateau as plateau
from ._plateau import PlateauState, split_plateau
from .compose import Repeat as repeat
from .compose import Shift as shift
from .compose import Stretch as stretch
from .compose import Warmup as warmup
from .compose import join
from .errors import Error, InputError, InputTypeError, StoreError
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

