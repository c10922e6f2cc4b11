"""What a comparison tells its caller while it works.

:class:`Progress` is the protocol :func:`~lrkit.experiment.compare.run_compare`
reports to (the CLI's progress bars implement it); :class:`Silent` is the
one that says nothing. The trainer and the range test report plain
:data:`StepCallback` calls ``(step, total)``; :func:`steps_progress` turns
those into a phase. A leaf: imports nothing from lrkit.

>>> seen = []
>>> class Log(Silent):
...     def phase(self, name, total):
...         seen.append((name, total))
...         return lambda n: seen.append(n)
>>> cb = steps_progress(Log(), "range test")
>>> cb(1, 3); cb(3, 3)
>>> seen
[('range test', 3), 1, 2]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

#: ``callback(step, total)`` after each of ``total`` optimizer steps (the trainer's, the
#: range test's)
StepCallback = Callable[[int, int], Any]


class Progress(Protocol):
    """What :func:`~lrkit.experiment.compare.run_compare` tells its caller."""

    def phase(self, name: str, total: int) -> Callable[[float], None]:
        """A new phase of ``total`` units (runs, or range-test steps); returns
        ``advance(amount)``."""
        ...

    def note(self, text: str) -> None:
        """A one-line message."""
        ...


class Silent:
    """A :class:`Progress` that says nothing."""

    def phase(self, name: str, total: int) -> Callable[[float], None]:
        return lambda n: None

    def note(self, text: str) -> None:
        pass


def steps_progress(progress: Progress, name: str) -> StepCallback:
    """A :data:`StepCallback` that opens the phase ``name`` at its first call (when the
    total is known) and advances it by the steps done since the last call."""
    state: dict[str, Any] = {}

    def cb(step: int, total: int) -> None:
        if "advance" not in state:
            state["advance"], state["last"] = progress.phase(name, total), 0
        state["advance"](step - state["last"])
        state["last"] = step

    return cb


def per_run(advance: Callable[[float], None], steps: int) -> Callable[[int], None]:
    """Run-steps -> runs (the training bars count runs, the trainer counts steps)."""
    return lambda k: advance(k / steps)
