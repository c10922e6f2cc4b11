"""The schedule families ``lrkit tune`` searches: each a template, its parameters and ranges.

A :class:`Family` turns a point of its search space (``params``, with ``peak``,
the largest learning rate, always among them) into an lrkit schedule for a run
of ``n`` optimizer steps, through the public constructors, so that the
trial's ``repr(schedule)`` is a spec that ``lrkit compare "SPEC" --peaks spec``
runs again. Fractions are of the run (``N = n``) and rounded to whole steps;
learning rates and ratios to ``DIGITS`` (4) significant digits.

``wsd`` (the default) is warm-up + stable + decay; with its ranges it holds
the default compare shapes that win most often: ``cosine`` (no warm-up,
``decay_frac = 1``, ``shape = cosine``), ``wsd`` (``warmup_frac = 0.05``,
``decay_frac = 0.2``, ``shape = 1-sqrt``) and linear decay to zero::

    warmup(wsd(init=P, steps=N, decay_steps=D*N, end=E*P, shape=S), warmup_steps=W*N)
    W in [0, 0.2] (none when W*N < 1), D in [0.05, 1], E in [0, 0.1],
    S in {linear, cosine, 1-sqrt}, P log-uniform in the peak range

``cosine`` is ``warmup(cosine(init=P, steps=N, end=E*P), warmup_steps=W*N)``;
``one-cycle`` is ``one_cycle(peak=P, steps=N, up_frac=U, div=V, final_div=F,
shape=S)`` (its top, at ``t = U*N``, may fall between two steps, so its largest value
over the steps can be a little below ``P``). The peak's range is not the family's:
``lrkit tune`` sets it.

>>> fam = FAMILIES["wsd"]
>>> fam.build({"peak": 0.1, "warmup_frac": 0.05, "decay_frac": 0.2, "end_frac": 0.0,
...            "shape": "1-sqrt"}, 600)
warmup(wsd(init=0.1, steps=600, decay_steps=120), warmup_steps=30)
>>> [p.name for p in fam.params]
['warmup_frac', 'decay_frac', 'shape', 'end_frac']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    from ..schedule import Schedule

# The table below is data (``lrkit tune --help`` shows it without loading a schedule); the
# builders import the schedules on first use.

#: learning rates (the peak, the end) are rounded to this many significant digits
DIGITS = 4


@dataclass(frozen=True)
class Param:
    """One search dimension: a float in ``[low, high]`` (on a grid of ``step``, or
    log-uniform when ``log``), or one of ``choices``."""

    name: str
    doc: str
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        """``"warmup_frac in [0, 0.2] step 0.01"``, ``"shape in {linear, cosine}"``."""
        if self.choices:
            return f"{self.name} in {{{', '.join(self.choices)}}}"
        how = " log" if self.log else f" step {self.step:g}" if self.step else ""
        return f"{self.name} in [{self.low:g}, {self.high:g}]{how}"


@dataclass(frozen=True)
class Family:
    """A schedule template: ``build(params, n)`` is the schedule of a trial. ``starts``
    are the points (all params but the peak) of the default compare shapes it holds,
    where a new search begins."""

    name: str
    template: str
    params: tuple[Param, ...]
    make: Callable[[Mapping[str, Any], int], Schedule]
    starts: tuple[dict[str, Any], ...] = ()

    def build(self, params: Mapping[str, Any], n: int) -> Schedule:
        """The schedule for ``n`` steps at ``params`` (which hold ``peak`` too)."""
        return self.make(params, n)

    def describe(self) -> str:
        """The template and its ranges, one line."""
        return f"{self.template}; " + ", ".join(p.describe() for p in self.params)


def _sig(x: float) -> float:
    """``x`` to ``DIGITS`` significant digits (specs read better so)."""
    from .candidates import round_sig

    return round_sig(float(x), DIGITS)


def _steps(frac: float, n: int) -> int:
    return int(round(float(frac) * n))


def _warm(s: Schedule, frac: float, n: int) -> Schedule:
    from ..compose import Warmup

    w = _steps(frac, n)
    return Warmup(s, warmup_steps=w) if w >= 1 else s


def _wsd(p: Mapping[str, Any], n: int) -> Schedule:
    from ..schedules import WSD

    peak = _sig(p["peak"])
    decay = min(n, max(1, _steps(p["decay_frac"], n)))
    base = WSD(peak, steps=n, decay_steps=decay, end=_sig(float(p["end_frac"]) * peak),
               shape=str(p["shape"]))
    return _warm(base, p["warmup_frac"], n)


def _cosine(p: Mapping[str, Any], n: int) -> Schedule:
    from ..schedules import Cosine

    peak = _sig(p["peak"])
    return _warm(Cosine(peak, steps=n, end=_sig(float(p["end_frac"]) * peak)),
                 p["warmup_frac"], n)


def _one_cycle(p: Mapping[str, Any], n: int) -> Schedule:
    from ..schedules import OneCycle

    return OneCycle(_sig(p["peak"]), steps=n, up_frac=float(p["up_frac"]),
                    div=_sig(p["div"]), final_div=_sig(p["final_div"]), shape=str(p["shape"]))


_WARMUP = Param("warmup_frac", "the warm-up's share of the run (none below one step)",
                0.0, 0.2, 0.01)
_END = Param("end_frac", "the final learning rate over the peak", 0.0, 0.1, 0.01)

FAMILIES: dict[str, Family] = {
    "wsd": Family(
        "wsd",
        "warmup(wsd(init=P, steps=N, decay_steps=D*N, end=E*P, shape=S), warmup_steps=W*N)",
        (_WARMUP, Param("decay_frac", "the decay's share of the run after the warm-up",
                        0.05, 1.0, 0.05),
         Param("shape", "the decay's curve", choices=("linear", "cosine", "1-sqrt")), _END),
        _wsd,
        ({"warmup_frac": 0.05, "decay_frac": 0.2, "shape": "1-sqrt", "end_frac": 0.0},
         {"warmup_frac": 0.0, "decay_frac": 1.0, "shape": "cosine", "end_frac": 0.0})),
    "cosine": Family(
        "cosine", "warmup(cosine(init=P, steps=N, end=E*P), warmup_steps=W*N)",
        (_WARMUP, _END), _cosine, ({"warmup_frac": 0.0, "end_frac": 0.0},)),
    "one-cycle": Family(
        "one-cycle", "one_cycle(peak=P, steps=N, up_frac=U, div=V, final_div=F, shape=S)",
        (Param("up_frac", "the rise's share of the run", 0.05, 0.5, 0.05),
         Param("div", "it starts at peak / div", 1.0, 100.0, log=True),
         Param("final_div", "it ends at peak / div / final_div", 1.0, 1e4, log=True),
         Param("shape", "the curve of both halves", choices=("cosine", "linear"))),
        _one_cycle, ({"up_frac": 0.3, "div": 25.0, "final_div": 1e4, "shape": "cosine"},)),
}
#: the family searched when none is given
FAMILY = "wsd"


def get_family(name: Any) -> Family:
    """The family called ``name``; an unknown name raises :class:`~lrkit.InputError`
    listing the valid ones."""
    if isinstance(name, str) and name in FAMILIES:
        return FAMILIES[name]
    raise InputError(f"--family must be one of {', '.join(FAMILIES)}, got {name!r}")
