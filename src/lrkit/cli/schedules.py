"""``lrkit plot``, ``values``, ``show`` and ``list``: look at schedules.

A SPEC argument is a spec string (``"warmup(cosine(init=0.1, steps=1000), warmup_steps=100)"``)
or the path of a ``.json``/``.yaml``/``.yml``/``.toml`` schedule file, told apart by
:func:`lrkit.spec.read`. In a SPEC, ``N`` stands for ``--steps`` (the number of steps
shown) and ``P`` for ``--peak`` (default 1): ``lrkit plot "cosine(init=P, steps=N)" --steps 460``.
"""

from __future__ import annotations

import inspect
import math
import os
import sys

import click

from ..schedule import REGISTRY, Schedule
from ..spec import dumps, read
from . import UserError, main

peak_option = click.option("--peak", type=float, default=1.0, show_default=True,
                           help="The number P stands for in a SPEC (a peak learning rate).")


def read_spec(text: str, steps: int | None, peak: float) -> Schedule:
    """A schedule from a spec string or a schedule file's path (:func:`lrkit.spec.read`),
    with ``N`` bound to ``steps`` (when given) and ``P`` to ``peak``."""
    if not math.isfinite(peak):
        raise UserError(f"--peak must be a finite number, got {peak!r}")
    names = {"P": peak} if steps is None else {"N": steps, "P": peak}
    try:
        return read(text, names)
    except OSError as e:  # unreadable (a missing file is a SpecError already)
        raise UserError(f"cannot read {text!r}: {e.strerror or e}") from None


def positive_steps(steps: int | None, *, required: bool = True) -> int | None:
    if steps is None:
        if required:
            raise UserError("--steps is required")
        return None
    if steps <= 0:
        raise UserError(f"--steps must be a positive integer, got {steps}")
    return steps


def default_steps(schedules: list[Schedule]) -> int:
    """The longest finite length among ``schedules`` (rounded up); if none settles,
    the longest of :func:`lrkit.plot.horizon` (four times the largest period)."""
    lengths = [s.length for s in schedules if s.length]
    if not lengths:
        from ..plot import horizon

        return max(horizon(s) for s in schedules)
    return math.ceil(max(n for n in lengths if n is not None))


# -- the catalogue -----------------------------------------------------------------
COMBINATORS = ("join", "warmup", "repeat", "shift", "stretch", "mul", "add", "min", "max",
               "plateau")
"""Registry names that build on other schedules rather than being a curve of their own."""


def summary(cls: type[Schedule], markdown: bool = False) -> str:
    """The first paragraph of the class docstring on one line (without reST markup)."""
    doc = inspect.getdoc(cls) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    if first.endswith("::"):
        first = first[:-2] + "."
    return first.replace("``", "`" if markdown else "")


def signature(cls: type[Schedule]) -> str:
    """How a schedule is written in a spec, e.g. ``cosine(init, *, steps, end=0.0, ...)``."""
    parts: list[str] = []
    star = False
    for p in inspect.signature(cls).parameters.values():
        if p.name == "_":
            continue
        if cls.name == "join" and p.name == "pieces":
            parts.append("*pieces")
            star = True
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        parts.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return f"{cls.name}({', '.join(parts)})"


def catalogue() -> list[tuple[str, str, str, str]]:
    """``(kind, name, summary, signature)`` for every registered name, schedules first."""
    rows = []
    for name, cls in REGISTRY.items():
        kind = "combinator" if name in COMBINATORS else "schedule"
        rows.append((kind, name, summary(cls), signature(cls)))
    rows.sort(key=lambda r: (r[0] != "schedule", r[1]))
    return rows


# -- commands -----------------------------------------------------------------------
@main.command("plot")
@click.argument("specs", nargs=-1, required=True, metavar="SPEC [SPEC ...]")
@click.option("--steps", type=int,
              help="Plot t = 0 .. N; N in a SPEC stands for it.  "
                   "[default: the longest finite length]")
@peak_option
@click.option("--out", type=click.Path(dir_okay=False),
              help="Write an image (.png, .svg, .pdf) instead of drawing in the terminal.")
@click.option("--log", is_flag=True, help="Logarithmic learning-rate axis.")
@click.option("--label", "--labels", "labels", multiple=True,
              help="Legend label of each SPEC, in order (repeat the option once per SPEC).")
@click.option("--width", type=int, help="Terminal chart width in columns.")
@click.option("--height", type=int, help="Terminal chart height in lines.")
def plot_cmd(specs: tuple[str, ...], steps: int | None, peak: float, out: str | None,
             log: bool, labels: tuple[str, ...], width: int | None,
             height: int | None) -> None:
    """Overlay schedules (spec strings or schedule files) with a legend.

    \b
      lrkit plot "warmup(cosine(init=0.1, steps=10000), warmup_steps=500)" \\
                 "step_decay(0.1, factor=0.5, every=2000)" --out schedules.png
      lrkit plot "warmup(cosine(init=P, steps=N), warmup_steps=N/20)" --steps 460 --peak 0.1
    """
    from .. import plot

    steps = positive_steps(steps, required=False)
    schedules = [read_spec(s, steps, peak) for s in specs]
    n = steps or default_steps(schedules)
    if labels and len(labels) != len(schedules):
        raise UserError(f"--label given {len(labels)} times for {len(schedules)} SPECs; "
                        "give one per SPEC or none")
    names = list(labels) if labels else None
    if out is None:
        chart = plot.terminal(schedules, n, width, height, log, labels=names,
                              color=plot.use_colour())
        click.echo(chart)
        return
    try:
        plot.save(schedules, n, out, log=log, labels=names)
    except OSError as e:
        raise UserError(f"cannot write {str(out)!r}: {e.strerror or e}") from None
    click.echo(f"wrote {out}")


@main.command("values")
@click.argument("spec")
@click.option("--steps", type=int,
              help="Print the values at t = 0 .. N-1; N in the SPEC stands for it.  [required]")
@peak_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list instead of lines.")
def values_cmd(spec: str, steps: int | None, peak: float, as_json: bool) -> None:
    """Print a schedule's values at full precision (Python's repr of each float)."""
    n = positive_steps(steps)
    assert n is not None  # required
    values = read_spec(spec, n, peak).values(n).tolist()
    if as_json:
        import json

        click.echo(json.dumps(values))
    else:
        click.echo("\n".join(map(repr, values)))


@main.command("show")
@click.argument("spec")
@click.option("--format", "fmt", type=click.Choice(["dsl", "json", "yaml"]), default="dsl",
              show_default=True, help="The spec language, or the data form as JSON or YAML.")
@click.option("--steps", type=int, help="The number N stands for in the SPEC.")
@peak_option
def show_cmd(spec: str, fmt: str, steps: int | None, peak: float) -> None:
    """Print a schedule in the spec language or its data form."""
    s = read_spec(spec, positive_steps(steps, required=False), peak)
    click.echo(dumps(s, fmt).rstrip("\n"))


@main.command("list")
@click.option("--plain", is_flag=True, hidden=True,
              help="Accepted and ignored: the catalogue is always plain text.")
def list_cmd(plain: bool) -> None:
    """The catalogue: every schedule and combinator, with its parameters."""
    import shutil

    # wrapped to a terminal (or to $COLUMNS); piped, a line each, for grep
    to_width = sys.stdout.isatty() or "COLUMNS" in os.environ
    width = shutil.get_terminal_size().columns if to_width else 0
    click.echo(catalogue_text(catalogue(), width))


NAME_COLUMN = 15
"""The width of ``lrkit list``'s name column (``cosine_restarts``); a longer name has a line
of its own."""


def catalogue_text(rows: list[tuple[str, str, str, str]], width: int = 0) -> str:
    """The catalogue as text: a section per kind, each name with its summary, and under
    the summary its spec signature, wrapped to ``width`` columns (at least 60; 0: no
    wrapping, one line each, for grep). A signature breaks after a comma, its continuation
    lines aligned after the ``(``.

    >>> print(catalogue_text([("schedule", "linear", "Linear from init to end.",
    ...                        "linear(init, *, end, steps)")]))
    Schedules (lrkit.NAME, or NAME in a spec; help(lrkit.NAME) for the formula)
    <BLANKLINE>
    linear   Linear from init to end.
               linear(init, *, end, steps)
    """
    import textwrap

    name_width = min(max(len(r[1]) for r in rows), NAME_COLUMN) + 3
    width = max(width, 60) if width else 0
    lead = " " * name_width
    out: list[str] = []
    for kind in ("schedule", "combinator"):
        group = [r for r in rows if r[0] == kind]
        if not group:
            continue
        if out:
            out.append("")
        out += [f"{kind.capitalize()}s (lrkit.NAME, or NAME in a spec; help(lrkit.NAME) for "
                "the formula)" if kind == "schedule" else "Combinators (they take schedules)",
                ""]
        for _, name, text, sig in group:
            lines = (textwrap.wrap(text, width - name_width, break_on_hyphens=False,
                                  break_long_words=False) if width else [text])
            lines = [lead + line for line in lines or [""]] + [
                lead + "  " + line for line in _wrap_signature(sig, width - name_width - 2)]
            if len(name) <= NAME_COLUMN:
                lines[0] = name.ljust(name_width) + lines[0][name_width:]
            else:  # a long name (a user's schedule) has a line of its own
                lines.insert(0, name)
            out += [line.rstrip() for line in lines]
    return "\n".join(out)


def _wrap_signature(sig: str, width: int) -> list[str]:
    """``sig`` on lines of at most ``width`` characters (when it can), broken after commas."""
    if width <= 0 or len(sig) <= width:
        return [sig]
    indent = " " * (sig.index("(") + 1)
    first, *parts = sig.split(", ")
    lines = [first]
    for part in parts:
        if len(lines[-1]) + 2 + len(part) > width:
            lines[-1] += ","
            lines.append(indent + part)
        else:
            lines[-1] += ", " + part
    return lines
