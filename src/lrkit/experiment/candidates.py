"""What is compared: ``--schedules`` items -> candidates, and ``--peaks``.

A :class:`Candidate` is one schedule of the comparison: a label and a *shape*,
a spec in which ``N`` stands for the run's total number of optimizer steps
and ``P`` for the peak being tried (``cosine(peak=P, steps=N)``), or a fixed
schedule read from a file. For ``N`` steps at peak ``p`` the run's schedule is
the shape with ``N = n`` and ``P = p``, rescaled so that its largest value over
``t = 0 .. N-1`` is the peak unless it already is::

    run(shape, p) = s                  if max_{t<N} s(t) == p
                    (p / max_{t<N} s(t)) * s   otherwise,   s = shape(N=n, P=p)

so a shape without ``P`` (``cosine(peak=1, steps=N)``, a file) is rescaled and
one written with ``P`` is run as it reads. With ``--peaks spec`` nothing is
rescaled: each schedule runs as written (and may not use ``P``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..schedule import Schedule
from ..spec import SpecError, load, parse
from .recipe import AUTO_FACTORS, DEFAULT_SHAPES, PEAK_DIGITS, SHAPE_NAMES


def bind(shape: str, n: int, peak: float | None) -> Schedule:
    """The schedule a shape describes for ``n`` total steps at ``peak`` (the one place a
    shape's names get their values).

    >>> bind("cosine(peak=P, steps=N)", 460, 0.1)
    cosine(peak=0.1, steps=460)
    """
    text = _NAME_N.sub(str(int(n)), shape)
    if peak is not None:
        text = _NAME_P.sub(repr(float(peak)), text)
    return parse(text)


_NAME_N, _NAME_P = re.compile(r"\bN\b"), re.compile(r"\bP\b")


def _uses_peak(shape: str) -> bool:
    return _NAME_P.search(shape) is not None


@dataclass(frozen=True)
class Candidate:
    """One schedule of the comparison: a ``shape`` (a spec with ``N`` and ``P``) or a
    ``fixed`` schedule (from a file). ``rescale=False`` (``--peaks spec``) runs it as
    written."""

    label: str
    shape: str | None = None
    fixed: Schedule | None = None
    rescale: bool = True

    def at(self, n: int, peak: float | None) -> Schedule:
        """The schedule run for ``n`` total steps at ``peak`` (``None``: as written)."""
        if self.shape is not None:
            s = bind(self.shape, n, peak)
        else:
            assert self.fixed is not None
            s = self.fixed
        if not self.rescale or peak is None:
            return s
        top = float(np.max(s.values(n)))
        if not (math.isfinite(top) and top > 0):
            raise ValueError(
                f"schedule {self.describe!r}: its largest value over the {n} steps is {top!r}; "
                "a shape to rescale must have a positive maximum"
            )
        return s if top == peak else (peak / top) * s

    @property
    def describe(self) -> str:
        """The shape as written (a file's schedule as its spec)."""
        return self.shape if self.shape is not None else repr(self.fixed)


def parse_candidates(items: Sequence[str] | None, *, rescale: bool = True) -> list[Candidate]:
    """Candidates from ``--schedules`` items (``None`` or empty: the defaults).

    An item is a default name (``cosine``), ``label=spec`` or ``label=FILE``,
    a schedule file (``.json``/``.yaml``/``.yml``/``.toml``) or a spec string.
    Every spec is read here (with ``N = 1000``, ``P = 1``) so that a bad one
    fails before anything runs.

    >>> [c.label for c in parse_candidates(["cosine", "fast=cosine(peak=1, steps=N/2)"])]
    ['cosine', 'fast']
    """
    if not items:
        items = list(DEFAULT_SHAPES)
    out: list[Candidate] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"--schedules: an empty schedule spec {item!r}")
        label, text = _split_label(item.strip())
        if text in DEFAULT_SHAPES:
            if not rescale:
                raise ValueError(
                    f"--schedules {text!r} is a shape without a peak, and --peaks spec runs "
                    f"schedules as written: give a full spec such as {DEFAULT_SHAPES[text]!r} "
                    "with numbers, or choose peaks"
                )
            out.append(Candidate(label or text, DEFAULT_SHAPES[text]))
            continue
        if _is_file(text):
            out.append(Candidate(label or os.path.splitext(os.path.basename(text))[0],
                                 fixed=load(text), rescale=rescale))
            continue
        if not rescale and _uses_peak(text):
            raise ValueError(
                f"--schedules {text!r} uses P ({SHAPE_NAMES['P']}), and --peaks spec runs "
                "schedules as written: write the peak as a number, or choose peaks"
            )
        try:
            bind(text, 1000, 1.0)
        except SpecError as e:
            raise SpecError(f"--schedules {text!r}: {e}") from None
        out.append(Candidate(label or text, text, rescale=rescale))
    labels = [c.label for c in out]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ValueError(f"--schedules: duplicate label(s) {', '.join(dup)}; name them label=spec")
    return out


_LABEL = re.compile(r"^([A-Za-z_][\w.-]*)=(?!=)(.+)$", re.S)


def _split_label(item: str) -> tuple[str | None, str]:
    m = _LABEL.match(item)
    if m and "(" not in m.group(1):
        return m.group(1), m.group(2).strip()
    return None, item


def _is_file(text: str) -> bool:
    return os.path.splitext(text)[1].lower() in (".json", ".yaml", ".yml", ".toml") or (
        "(" not in text and os.path.isfile(text)
    )


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
        raise ValueError(
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
