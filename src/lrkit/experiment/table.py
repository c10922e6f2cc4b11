"""The compare table's layout for a terminal of a given width (text only, no rich).

:func:`fit` takes the table as text (:func:`lrkit.experiment.report.rows`) and
a width in columns and decides what is shown, so that every schedule's rank
and label stay visible at 80 columns:

1. headers are stacked on two lines (``best`` over ``peak``, ``steps to`` over
   the target), so a column is as wide as its numbers;
2. columns are dropped while the table is too wide, least useful first
   (:data:`DROP_ORDER`: oscillation, steps to target, diverged, best peak,
   vs #1, val acc), then a dropped one that fits again comes back; ``#``,
   ``schedule`` and ``val loss`` always stay;
3. a label longer than the room left is cut with ``…`` and written in full in a
   note under the table (``#3 = warmup(cosine(...), ...)``), never wrapped.

Three spaces separate columns (rich with ``box.SIMPLE_HEAD``, ``show_edge=False``).

>>> header = ["#", "schedule", "val loss", "oscill."]
>>> lay = fit(header, [["1", "a-very-long-schedule-label", "0.1234 ± 0.010", "0.5"]], 30)
>>> lay.header, lay.body, lay.dropped, lay.notes
(['#', 'schedule', 'val loss'], [['1', 'a-very-long…', '0.1234 ± 0.010']], ['oscill.'], \
['#1 = a-very-long-schedule-label'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

GAP = 3
"""Columns between two table columns (rich: padding 1, a blank divider, padding 1)."""

MIN_LABEL = 12
"""The narrowest the schedule column gets before other columns are dropped."""

DROP_ORDER = ("oscill.", "steps to", "diverged", "best peak", "vs #1", "val acc")
"""Which columns go first when the terminal is narrow (matched by the header's start)."""

_STACKED = {"best peak": "best\npeak", "diverged": "div-\nerged", "oscill.": "oscil-\nlation"}


@dataclass(frozen=True)
class Layout:
    """What to show: the headers (``\\n`` stacks a header), the rows, the label column's
    width, the headers left out and the notes giving cut labels in full."""

    header: list[str]
    body: list[list[str]]
    label_width: int
    dropped: list[str]
    notes: list[str]


def stacked(head: str) -> str:
    """A header on two lines where that makes it narrower.

    >>> stacked("steps to acc≥0.95"), stacked("val loss")
    ('steps to\\nacc≥0.95', 'val loss')
    """
    if head.startswith("steps to "):
        return "steps to\n" + head[len("steps to "):]
    return _STACKED.get(head, head)


def _width(cells: Sequence[str]) -> int:
    return max((len(line) for c in cells for line in c.split("\n")), default=0)


def fit(header: Sequence[str], body: Sequence[Sequence[str]], width: int) -> Layout:
    """The layout of the table ``header`` / ``body`` (column 0 the rank, column 1 the
    label) in ``width`` columns; see the module docstring."""
    heads = [stacked(h) for h in header]
    widths = [_width([h, *(r[i] for r in body)]) for i, h in enumerate(heads)]
    keep = list(range(len(heads)))
    full_label = widths[1]
    min_label = min(full_label, max(MIN_LABEL, len("schedule")))

    def total(label: int) -> int:
        return sum(widths[i] for i in keep if i != 1) + label + GAP * (len(keep) - 1)

    dropped: list[int] = []
    for name in DROP_ORDER:
        if total(min_label) <= width:
            break
        dropped += [i for i in keep if header[i].startswith(name)]
        keep = [i for i in keep if i not in dropped]
    for i in reversed(dropped):  # a narrower column dropped early may fit again
        keep, before = sorted([*keep, i]), keep
        if total(min_label) > width:
            keep = before
    label = max(min_label, min(full_label, width - total(0)))
    notes, rows = [], []
    for r in body:
        cells = [r[i] for i in keep]
        if len(r[1]) > label:
            cells[keep.index(1)] = r[1][:label - 1] + "\u2026"
            notes.append(f"#{r[0]} = {r[1]}")
        rows.append(cells)
    left_out = [header[i] for i in range(len(header)) if i not in keep]
    return Layout([heads[i] for i in keep], rows, label, left_out, notes)
