"""What is compared: ``--schedules`` items -> candidates, and ``--peaks``.

A :class:`Candidate` is one schedule of the comparison: a label and a *shape*,
a spec in which ``N`` stands for the run's total number of optimizer steps
and ``P`` for the peak being tried (``cosine(init=P, steps=N)``), parsed once,
or a schedule file (which may hold a shape too). For ``N`` steps at peak ``p`` the run's schedule is
the shape with ``N = n`` and ``P = p``, rescaled so that its largest value over
``t = 0 .. N-1`` is the peak unless it already is::

    run(shape, p) = s                  if max_{t<N} s(t) == p
                    (p / max_{t<N} s(t)) * s   otherwise,   s = shape(N=n, P=p)

so a shape without ``P`` (``cosine(init=1, steps=N)``, a file) is rescaled and
one written with ``P`` is run as it reads. With ``--peaks spec`` nothing is
rescaled: each schedule runs as written (and may not use ``P``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..schedule import Schedule
from ..spec import TRIAL, Shape, SpecError, read
from .recipe import AUTO_FACTORS, BASELINES, DEFAULT_SHAPES, PEAK_DIGITS, SHAPE_NAMES

if TYPE_CHECKING:  # a schedule file's path (pathlib loads when there is one)
    from pathlib import Path


@dataclass(frozen=True)
class Candidate:
    """One schedule of the comparison: its ``label`` and ``source``, a :class:`~lrkit.Shape`
    (parsed once) or the path of a schedule file (read with :func:`lrkit.spec.read`, so
    it may hold a shape too). ``rescale=False`` (``--peaks spec``) runs it as written.

    >>> c = Candidate("cosine", Shape("cosine(init=P, steps=N)"))
    >>> c.at(460, 0.1)
    cosine(init=0.1, steps=460)
    >>> Candidate("half", Shape("cosine(init=1, steps=N/2)")).at(100, 0.5)
    0.5 * cosine(init=1, steps=50.0)

    A **baseline** (``optimizer`` set: ``sf-sgd``, ``sf-adamw``, ``prodigy``) is an
    optimizer at a constant rate: at grid peak ``P`` it runs ``constant(rate(P))``, at the
    same factor around its own ``centre`` as ``P`` around the grid's ``middle``::

        rate(P) = round_sig(centre * f),   f = P / middle

    where ``f`` is replaced by the nearest of the grid's exact ``factors`` within 1 % (the
    peaks are rounded to 3 digits, the factors are not: 0.0338 / 0.2705 is 1/8).

    >>> b = Candidate("prodigy", Shape("constant(P)"), optimizer="prodigy", middle=0.2705,
    ...               factors=(0.125, 0.25, 1.0, 2.0))
    >>> b.at(100, 0.0338), b.rate(0.541), b.rate(0.1), b.kind
    (constant(0.125), 2.0, 0.37, 'optimizer')
    """

    label: str
    source: Shape | Path
    rescale: bool = True
    optimizer: str | None = None
    centre: float = 1.0
    middle: float = 1.0
    factors: tuple[float, ...] = ()

    @property
    def kind(self) -> str:
        """``"schedule"``, or ``"optimizer"`` for a baseline."""
        return "schedule" if self.optimizer is None else "optimizer"

    def rate(self, peak: float | None) -> float | None:
        """The peak this entry runs at grid peak ``peak``: itself for a schedule."""
        if self.optimizer is None or peak is None:
            return peak
        f = peak / self.middle
        near = min(self.factors, key=lambda g: abs(math.log(g / f)), default=f)
        return round_sig(self.centre * (near if abs(math.log(near / f)) < 0.01 else f))

    def at(self, n: int, peak: float | None) -> Schedule:
        """The schedule run for ``n`` total steps at ``peak`` (``None``: as written)."""
        peak = self.rate(peak)
        names = {"N": n} if peak is None else {"N": n, "P": peak}
        s = self.source.bind(names) if isinstance(self.source, Shape) else read(
            self.source, names)
        if not self.rescale or peak is None:
            return s
        top = float(np.max(s.values(n)))
        if not (math.isfinite(top) and top > 0):
            raise InputError(
                f"schedule {self.describe!r}: its largest value over the {n} steps is {top!r}; "
                "a shape to rescale must have a positive maximum"
            )
        return s if top == peak else (peak / top) * s

    @property
    def describe(self) -> str:
        """The shape as written, or the file's path."""
        return self.source.text if isinstance(self.source, Shape) else str(self.source)


def parse_candidates(items: Sequence[str] | None, *, rescale: bool = True) -> list[Candidate]:
    """Candidates from ``--schedules`` items (``None`` or empty: the defaults).

    An item is a default name (``cosine``), a baseline (``sf-sgd``, ``sf-adamw``,
    ``prodigy``: an optimizer at a constant rate), ``label=spec`` or ``label=FILE``,
    a spec string (a shape: it may use ``N`` and ``P``) or a schedule file
    (:func:`lrkit.spec.read` tells them apart). Every item is read here, so that
    a bad one fails before anything runs.

    >>> [c.label for c in parse_candidates(["cosine", "fast=cosine(init=1, steps=N/2)"])]
    ['cosine', 'fast']
    """
    if not items:
        items = list(DEFAULT_SHAPES)
    out: list[Candidate] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise InputError(f"--schedules: an empty schedule spec {item!r}")
        label, text = _split_label(item.strip())
        if text in BASELINES:
            if not rescale:
                raise InputError(
                    f"--schedules {text!r} is an optimizer tuned over peaks, and --peaks spec "
                    "runs schedules as written: choose peaks (auto, or numbers)"
                )
            out.append(Candidate(label or text, Shape("constant(P)"), optimizer=text))
            continue
        if text in DEFAULT_SHAPES:
            if not rescale:
                raise InputError(
                    f"--schedules {text!r} is a shape without a peak, and --peaks spec runs "
                    f"schedules as written: give a full spec such as {DEFAULT_SHAPES[text]!r} "
                    "with numbers, or choose peaks"
                )
            out.append(Candidate(label or text, Shape(DEFAULT_SHAPES[text])))
            continue
        source = _source(text)
        if not isinstance(source, Shape):  # a file
            label = label or source.stem
        elif not rescale and "P" in source.names:
            raise InputError(
                f"--schedules {text!r} uses P ({SHAPE_NAMES['P']}), and --peaks spec runs "
                "schedules as written: write the peak as a number, or choose peaks"
            )
        out.append(Candidate(label or text, source, rescale))
    labels = [c.label for c in out]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise InputError(f"--schedules: duplicate label(s) {', '.join(dup)}; name them label=spec")
    return out


def _source(text: str) -> Shape | Path:
    """A spec's :class:`~lrkit.Shape` (using no names but ``N`` and ``P``), else a schedule
    file, as :func:`lrkit.spec.read` decides (it reads the file here, once, with trial
    values, so that a missing file, a bad file or a bad spec fails now)."""
    try:
        shape: Shape | None = Shape(text)
    except SpecError:
        shape = None
    if shape is not None and shape.names <= SHAPE_NAMES.keys():
        return shape
    try:
        read(text, dict.fromkeys(SHAPE_NAMES, TRIAL))  # a file, or else an error
    except SpecError as e:
        if shape is None:
            raise SpecError(f"--schedules {text!r}: {e}") from None
        names = ", ".join(sorted(shape.names - SHAPE_NAMES.keys()))
        known = " and ".join(f"{k} ({v})" for k, v in SHAPE_NAMES.items())
        raise SpecError(f"--schedules {text!r}: unknown name(s) {names}; a shape may use "
                        f"{known}") from None
    from pathlib import Path

    return Path(text)


_LABEL = re.compile(r"^([A-Za-z_][\w.-]*)=(?!=)(.+)$", re.S)


def _split_label(item: str) -> tuple[str | None, str]:
    m = _LABEL.match(item)
    if m and "(" not in m.group(1):
        return m.group(1), m.group(2).strip()
    return None, item


def parse_peaks(text: str | None) -> tuple[str, tuple[float, ...]]:
    """``--peaks``: ``("auto", factors)``, ``("spec", ())`` or ``("fixed", peaks)``.

    ``auto`` multiplies the range test's suggestion by ``AUTO_FACTORS``;
    ``auto:0.5,1,2`` by the given factors; ``0.01,0.1`` are absolute peaks.

    >>> parse_peaks("auto")[0], parse_peaks("0.01, 0.1")
    ('auto', ('fixed', (0.01, 0.1)))
    """
    t = "auto" if text is None else str(text).strip().lower()
    if t == "spec":
        return "spec", ()
    kind, body = ("auto", t[5:]) if t.startswith("auto:") else ("fixed", t)
    if t == "auto":
        return "auto", AUTO_FACTORS
    try:
        vals = tuple(float(v) for v in body.split(",") if v.strip())
    except ValueError:
        vals = ()
    if not vals or not all(math.isfinite(v) and v > 0 for v in vals):
        raise InputError(
            f"--peaks must be 'auto', 'auto:F1,F2,..', 'spec' or positive numbers like "
            f"'0.01,0.1', got {text!r}"
        )
    return kind, tuple(dict.fromkeys(vals))


def round_sig(x: float, digits: int = PEAK_DIGITS) -> float:
    """``x`` rounded to ``digits`` significant digits (peaks read better so).

    >>> round_sig(0.0123456)
    0.0123
    """
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))
