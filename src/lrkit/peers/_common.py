"""What the three peer constructors share: argument checks in the peer's own words, and the
few shapes every peer builds (a cosine wave, a ramp in front of a schedule)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..compose import Repeat, Warmup, join
from ..errors import InputError, InputTypeError, closest
from ..schedule import Constant, Schedule
from ..schedules import Cosine, Interpolate, Linear

__all__ = ["refuse_unknown", "pick", "name_of", "wave", "ramp_then"]


def refuse_unknown(who: str, given: Iterable[str], valid: Iterable[str],
                   elsewhere: Mapping[str, str] | None = None) -> None:
    """``TypeError`` for the first argument of ``given`` that is not in ``valid``: it names the
    argument, lists the valid ones and offers the closest; ``elsewhere`` maps an argument that
    belongs to another spelling of the same peer (e.g. a timm class argument given to the
    factory form) to a sentence saying where it goes."""
    names = list(valid)
    for key in given:
        if key in names:
            continue
        if elsewhere and key in elsewhere:
            raise InputTypeError(f"{who}: {key!r} is not an argument here; {elsewhere[key]}")
        listed = ", ".join(names) if names else "none"
        raise InputTypeError(f"{who}: unknown argument {key!r}{closest(key, names)} "
                        f"(valid: {listed})")


def pick(who: str, kwargs: dict[str, Any], aliases: tuple[str, ...], default: Any) -> Any:
    """The value of the one of ``aliases`` that was given (``kwargs`` loses it), else
    ``default``; giving two spellings of one argument is refused."""
    given = [a for a in aliases if a in kwargs]
    if len(given) > 1:
        raise InputTypeError(
            f"{who}: {given[0]!r} and {given[1]!r} are the same argument; give one")
    return kwargs.pop(given[0]) if given else default


def name_of(who: str, name: Any, valid: Iterable[str], what: str) -> str:
    """A peer's schedule name as a string (an ``Enum`` such as Hugging Face's
    ``SchedulerType`` gives its value), or ``ValueError`` listing the valid names."""
    names = list(valid)
    text = getattr(name, "value", name)
    if not isinstance(text, str) or text not in names:
        hint = closest(text, names) if isinstance(text, str) else ""
        raise InputError(f"{who}: unknown {what} {text!r}{hint} (valid: {', '.join(names)})")
    return text


def wave(top: float, floor: float, steps: float, cycles: float,
         after: float | None = None) -> Schedule:
    """``floor + (top - floor) * (1 + cos(2 pi * cycles * u / steps)) / 2`` for ``u`` in
    ``[0, steps]``, then ``after`` held (default: the wave's own value at ``steps``).

    Half a cycle (the usual case) is ``cosine(top, steps=steps, end=floor)``; any other number
    of cycles is ``repeat(interpolate(...))`` cut at ``steps`` by a ``join``.
    """
    if cycles == 0.5 and after in (None, floor):
        return Cosine(top, steps=steps, end=floor)
    half = steps / (2.0 * cycles)
    period = Interpolate(((0.0, top), (half, floor), (2.0 * half, top)), shape="cosine")
    if after is None:
        twice = 2.0 * cycles
        if twice.is_integer():  # whole half-cycles end exactly at the top or the floor
            after = floor if int(twice) % 2 else top
        else:
            after = floor + (top - floor) * 0.5 * (1.0 + math.cos(2.0 * math.pi * cycles))
    return join(Repeat(period), Constant(after), at=(steps,))


def ramp_then(schedule: Schedule, warmup_steps: float, init: float, target: float) -> Schedule:
    """A linear ramp from ``init`` to ``target`` over ``warmup_steps``, then ``schedule`` in its
    own time (``schedule(t - warmup_steps)``).

    When ``target`` is where ``schedule`` starts this is ``warmup(schedule, warmup_steps=W,
    init=init, fit=False)``; otherwise (a peer whose ramp ends at the base rate while the
    schedule starts elsewhere) the two pieces are joined.
    """
    if not warmup_steps:
        return schedule
    if schedule(0) == target:
        return Warmup(schedule, warmup_steps=warmup_steps, init=init, fit=False)
    return join(Linear(init, end=target, steps=warmup_steps), schedule)

