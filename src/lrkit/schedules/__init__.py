"""The catalogue of schedules, grouped by family."""

from .basic import Exponential, MultiStep, Piecewise, StepDecay, TimeDecay
from .cyclic import CosineRestarts, Cyclic, Interpolate, OneCycle
from .decay import WSD, Cosine, InverseSqrt, Linear, Polynomial, Rex, Tanh

__all__ = [
    "Cosine", "CosineRestarts", "Cyclic", "Exponential", "InverseSqrt", "Interpolate",
    "Linear", "MultiStep", "OneCycle", "Piecewise", "Polynomial", "Rex", "StepDecay",
    "Tanh", "TimeDecay", "WSD",
]
