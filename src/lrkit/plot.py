"""Pictures of schedules: matplotlib figures, PNG bytes, terminal charts.

matplotlib is imported only inside the functions that need it (with the
non-interactive ``Agg`` backend unless one is already chosen); the terminal
chart needs nothing but NumPy.

Every picture shows ``t`` from ``0`` to ``steps`` inclusive (the last point
is where a finite schedule of that length has arrived), x = step, y =
learning rate. Schedules are sampled at every integer step when there are at
most :data:`MAX_POINTS` of them, otherwise at :data:`MAX_POINTS` evenly
spaced (fractional) steps.

>>> import lrkit
>>> from lrkit.plot import terminal
>>> chart = terminal(lrkit.cosine(0.1, steps=100), 100, width=40, height=8, color=False)
>>> len(chart.splitlines())
8
>>> for line in chart.splitlines():
...     print(line.rstrip())
 0.1 ┤⠉⠉⠉⠙⠒⠒⠦⠤⣄⣀
     │         ⠈⠉⠓⠲⢤⣀
0.05 ┤              ⠈⠙⠒⠦⣄⡀
     │                   ⠉⠙⠲⠤⣄⡀
   0 ┤                        ⠉⠉⠓⠲⠤⠤⢤⣀⣀⣀
     └┬────────────────┬───────────────┬
     0               50              100
      ── cosine(init=0.1, steps=100)
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError, InputTypeError
from .schedule import Schedule
from .spec import as_schedule

if TYPE_CHECKING:  # pathlib and the file writer load when a figure is saved
    from pathlib import Path

MAX_POINTS = 20_001
"""The most points a matplotlib curve is sampled at."""

DEFAULT_HORIZON = 1000
"""Steps shown by :func:`png_bytes` for a schedule that never settles and has no
time-like parameter to go by."""

_TIME_FIELDS = ("steps", "every", "at", "cycle_steps", "up_steps", "down_steps", "delay",
                "warmup_steps", "decay_steps")
_LABEL_WIDTH = 60
_MARKERS = "*+ox#%@="
_COLOURS = (36, 33, 35, 32, 31, 34, 96, 93)  # ANSI: cyan, yellow, magenta, green, red, blue, ...
# Braille dot bits by [row][column] inside one 2x4 character cell.
_BRAILLE = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


# -- inputs ---------------------------------------------------------------------------
def _schedules(schedules: Any) -> list[Schedule]:
    """One schedule, a spec string, or a sequence of them -> a non-empty list of schedules."""
    items = [schedules] if isinstance(schedules, (Schedule, str)) else list(schedules)
    if not items:
        raise InputError("plot: schedules must hold at least one schedule, got none")
    return [as_schedule(s, f"plot: schedules[{i}]") for i, s in enumerate(items)]


def _steps(steps: Any) -> float:
    if isinstance(steps, bool) or not isinstance(steps, (int, float, np.integer, np.floating)):
        raise InputTypeError(f"plot: steps must be a number > 0, got {steps!r}")
    if not (math.isfinite(steps) and steps > 0):
        raise InputError(f"plot: steps must be a finite number > 0, got {steps!r}")
    return float(steps)


def _labels(schedules: Sequence[Schedule], labels: Iterable[str] | None) -> list[str]:
    if labels is None:
        return [_shorten(repr(s)) for s in schedules]
    out = [str(x) for x in labels]
    if len(out) != len(schedules):
        raise InputError(
            f"plot: labels needs one label per schedule ({len(schedules)}), got {len(out)}"
        )
    return out


def _shorten(text: str, width: int = _LABEL_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def sample_steps(steps: float, max_points: int = MAX_POINTS) -> np.ndarray:
    """The ``t`` at which a curve over ``[0, steps]`` is drawn: every integer if few enough."""
    if steps + 1 <= max_points and float(steps).is_integer():
        return np.arange(int(steps) + 1, dtype=np.float64)
    return np.linspace(0.0, steps, max_points)


def horizon(schedule: Schedule) -> int:
    """How many steps :func:`png_bytes` shows when none are given.

    A schedule that settles at ``L > 0`` is shown up to ``ceil(1.1 * L)`` so that the
    hold after its end is visible. One that never settles is shown over four times its
    largest time-like parameter (``steps``, ``every``, ``at``, ``*_steps``, ``delay``,
    anywhere inside it), or :data:`DEFAULT_HORIZON` steps if it has none.

    >>> import lrkit
    >>> horizon(lrkit.cosine(0.1, steps=1000)), horizon(lrkit.constant(0.1))
    (1100, 1000)
    >>> horizon(lrkit.cyclic(0.001, peak=0.006, up_steps=2000))
    8000
    """
    n = schedule.length
    if n:
        return max(2, math.ceil(round(1.1 * n, 6)))
    times = list(_time_values(schedule.to_dict()))
    return max(2, math.ceil(4 * max(times))) if times else DEFAULT_HORIZON


def _time_values(data: Any) -> Iterable[float]:
    if isinstance(data, dict):
        for key, v in data.items():
            if key in _TIME_FIELDS:
                yield from (x for x in _numbers(v) if x > 0)
            else:
                yield from _time_values(v)
    elif isinstance(data, list):
        for v in data:
            yield from _time_values(v)


def _numbers(v: Any) -> Iterable[float]:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        yield float(v)
    elif isinstance(v, list):
        for x in v:
            yield from _numbers(x)


# -- matplotlib -----------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot(schedules: Any, steps: float, *, log: bool = False, ax: Any = None,
         labels: Iterable[str] | None = None) -> Any:
    """Draw schedules over ``t = 0 .. steps`` on a matplotlib ``Axes`` and return it.

    ``schedules`` is one schedule or spec string, or a sequence of them; they are
    overlaid with a legend (labels default to each spec, shortened to 60 characters).
    ``log=True`` puts the learning rate on a log scale; otherwise the y axis starts
    at 0. Without ``ax`` a new figure is made.
    """
    items = _schedules(schedules)
    names = _labels(items, labels)
    n = _steps(steps)
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(7, 4), layout="constrained")
    ts = sample_steps(n)
    top = 0.0
    for s, name in zip(items, names):
        ys = s.values(ts)
        top = max(top, float(np.nanmax(ys, initial=0.0)))
        ax.plot(ts, ys, label=name, linewidth=1.5)
    if log:
        ax.set_yscale("log")
    elif math.isfinite(top):  # learning rates are >= 0: show how far from zero they are
        ax.set_ylim(0, top * 1.05 if top > 0 else 1.0)
    ax.set_xlim(0, n)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def _figure(schedules: Any, steps: float, log: bool, labels: Iterable[str] | None,
            size: tuple[float, float], legend: bool) -> Any:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    try:
        plot(schedules, steps, log=log, ax=ax, labels=labels)
        if not legend:
            ax.get_legend().remove()
    except BaseException:
        plt.close(fig)
        raise
    return fig


def save(schedules: Any, steps: float, path: str | Path, *, log: bool = False,
         labels: Iterable[str] | None = None, size: tuple[float, float] = (7.0, 4.0),
         dpi: int = 100, legend: bool = True) -> Path:
    """Plot (see :func:`plot`) into an image file; the format follows the extension
    (``.png``, ``.svg``, ``.pdf``, ...). Returns the path written."""
    from pathlib import Path

    from ._files import save_figure

    p = Path(path)
    if not p.parent.is_dir():  # fail before drawing anything
        raise FileNotFoundError(2, "No such file or directory", str(p.parent))
    fig = _figure(schedules, steps, log, labels, size, legend)
    try:
        fmt = p.suffix[1:].lower()
        supported = fig.canvas.get_supported_filetypes()
        if fmt not in supported:
            raise InputError(
                f"plot: cannot write {str(p)!r}: unknown image format {p.suffix!r}; "
                f"use one of {', '.join('.' + k for k in sorted(supported))}"
            )
        save_figure(fig, p, dpi=dpi)  # atomically: a failure leaves the old file
    finally:
        _pyplot().close(fig)
    return p


def png_bytes(schedule: Any, steps: float | None = None, *,
              size: tuple[float, float] = (5.0, 3.0), dpi: int = 80) -> bytes:
    """A PNG of one schedule (or several), as bytes.

    In Jupyter, ``IPython.display.Image(png_bytes(s))`` shows it (a schedule
    itself displays as its spec: the core has no plotting hook).

    ``steps`` defaults to :func:`horizon` of the (first) schedule: ``1.1 x`` its
    length when it settles, so the hold is visible, else a span from its parameters
    (or 1000 steps).

    >>> import lrkit
    >>> png_bytes(lrkit.cosine(0.1, steps=100))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    import io

    items = _schedules(schedule)
    n = horizon(items[0]) if steps is None else steps
    fig = _figure(items, n, False, None, size, len(items) > 1)
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        _pyplot().close(fig)
    return buf.getvalue()


# -- terminal -------------------------------------------------------------------------
def use_colour(stream: Any = None) -> bool:
    """Whether ``stream`` (default stdout) is a terminal that wants colour (``NO_COLOR`` unset)."""
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and "NO_COLOR" not in os.environ and \
        os.environ.get("TERM") != "dumb"


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _fmt_step(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e9 else f"{v:.4g}"


def _pixels(ts: np.ndarray, ys: np.ndarray, span: float, nx: int, ny: int,
            lo: float, hi: float) -> list[tuple[int, int]]:
    """Pixels (x, y from the top) of a curve on an ``nx`` x ``ny`` grid, joined column to column.

    A column that no sample falls in (fewer steps than columns) holds the previous
    step's value, so a short schedule is drawn as the staircase the optimizer sees;
    a column whose samples are all non-finite (``<= 0`` on a log scale) stays empty.
    """
    ok = np.isfinite(ys)
    xs = np.minimum((ts / span * nx).astype(np.int64), nx - 1)
    py = np.rint((ys - lo) / (hi - lo) * (ny - 1)) if hi > lo else np.zeros_like(ys)
    py = np.clip(np.where(ok, py, 0), 0, ny - 1).astype(np.int64)
    sampled = np.zeros(nx, dtype=bool)
    sampled[xs] = True
    out: list[tuple[int, int]] = []
    last: int | None = None
    for x in range(nx):
        if not sampled[x]:
            if last is not None:
                out.append((x, ny - 1 - last))
            continue
        sel = py[(xs == x) & ok]
        if sel.size == 0:
            last = None
            continue
        a, b = int(sel.min()), int(sel.max())
        if last is not None:
            a, b = min(a, last), max(b, last)
        out.extend((x, ny - 1 - y) for y in range(a, b + 1))
        last = int(sel[-1])
    return out


def terminal(schedules: Any, steps: float, width: int | None = None,
             height: int | None = None, log: bool = False, *,
             labels: Iterable[str] | None = None, color: bool | None = None) -> str:
    """A text chart of schedules over ``t = 0 .. steps``, exactly ``height`` lines of
    ``width`` columns (ANSI colour codes aside).

    Curves are drawn in braille dots (2 x 4 per character), each in its own colour when
    ``color`` is true (default: when stdout is a colour terminal). Without colour, several
    schedules are drawn one character per point with distinct markers ``* + o x ...``
    so that they stay apart. The y axis shows the maximum, middle and minimum value
    (log10-spaced with ``log=True``, where values <= 0 are not drawn); a flat curve is
    drawn on ``0 .. value`` (``0 .. 1`` if it is 0; a decade around it with ``log=True``),
    so ``constant(0.1)`` is a line at the top of an axis labelled 0.1, 0.05, 0. The x axis
    ``0``, ``steps/2`` and ``steps``; a legend line per schedule comes last.
    ``width`` defaults to the terminal's width (at most 100), ``height`` to 20 lines
    plus the legend.
    """
    items = _schedules(schedules)
    names = _labels(items, labels)
    span = _steps(steps)
    colour = use_colour() if color is None else bool(color)
    if width is None:
        import shutil

        width = min(shutil.get_terminal_size((80, 24)).columns, 100)
    if height is None:
        height = 20 + len(items)
    rows = height - 2 - len(items)
    if rows < 3 or width < 24:
        raise InputError(
            f"terminal: a chart of {len(items)} schedule(s) needs width >= 24 and "
            f"height >= {5 + len(items)}, got width={width!r}, height={height!r}"
        )

    ts = sample_steps(span, 16 * width)
    with np.errstate(divide="ignore", invalid="ignore"):
        ys = [np.log10(np.where(v > 0, v, np.nan)) if log else v
              for v in (s.values(ts) for s in items)]
    finite = np.concatenate([y[np.isfinite(y)] for y in ys])
    if finite.size == 0:
        raise InputError("terminal: nothing to draw: no schedule has a value > 0 on a log scale")
    lo, hi = float(finite.min()), float(finite.max())
    if hi == lo:  # a flat line: from 0 to it (0 .. 1 if it is 0); a decade around it on log
        lo, hi = (lo - 0.5, hi + 0.5) if log else (0.0, hi if hi > 0 else 1.0)

    def label(y: float) -> str:
        return _fmt(10**y if log else y)

    ylabels = {0: label(hi), rows - 1: label(lo)}
    if rows >= 5:
        ylabels[(rows - 1) // 2] = label(hi - (hi - lo) * ((rows - 1) // 2) / (rows - 1))
    gutter = max(len(v) for v in ylabels.values())
    cols = width - gutter - 2

    braille = colour or len(items) == 1
    sx, sy = (2, 4) if braille else (1, 1)
    bits = np.zeros((rows, cols), dtype=np.int64)
    owner = np.full((rows, cols), -1, dtype=np.int64)
    for i, y in enumerate(ys):
        for px, py in _pixels(ts, y, span, cols * sx, rows * sy, lo, hi):
            r, c = py // sy, px // sx
            bits[r, c] |= _BRAILLE[py % sy][px % sx] if braille else 1
            owner[r, c] = i

    def paint(text: str, i: int) -> str:
        return f"\x1b[{_COLOURS[i % len(_COLOURS)]}m{text}\x1b[0m" if colour else text

    def row(r: int) -> str:
        out, c = [], 0
        while c < cols:  # one colour code per run of cells drawn by the same schedule
            i, start = int(owner[r, c]), c
            while c < cols and owner[r, c] == i:
                c += 1
            if i < 0:
                out.append(" " * (c - start))
            elif braille:
                out.append(paint("".join(chr(0x2800 + int(b)) for b in bits[r, start:c]), i))
            else:
                out.append(paint(_MARKERS[i % len(_MARKERS)] * (c - start), i))
        return "".join(out)

    lines = []
    for r in range(rows):
        axis = "┤" if r in ylabels else "│"
        lines.append(f"{ylabels.get(r, ''):>{gutter}} {axis}{row(r)}")

    xl = [(0, "0"), (cols // 2, _fmt_step(span / 2)), (cols - 1, _fmt_step(span))]
    axis_line = ["─"] * cols
    text = [" "] * (cols + 1)
    for pos, s in xl:
        axis_line[pos] = "┬"
        start = min(max(pos - len(s) // 2, 0), cols + 1 - len(s))
        if " " * len(s) == "".join(text[start:start + len(s)]):
            text[start:start + len(s)] = list(s)
    lines.append(" " * gutter + " └" + "".join(axis_line))
    lines.append(" " * (gutter + 1) + "".join(text))
    for i, name in enumerate(names):
        mark = "──" if braille else _MARKERS[i % len(_MARKERS)] * 2
        entry = _shorten(f"{mark} {name}", width - gutter - 2)
        pad = " " * (width - gutter - 2 - len(entry))
        lines.append(" " * (gutter + 2) + paint(entry[:2], i) + entry[2:] + pad)
    return "\n".join(lines)
